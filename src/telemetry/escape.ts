// SPDX-License-Identifier: Apache-2.0
/**
 * Kernel strings (comm, argv, paths, cgroup and container names) are attacker-controlled bytes.
 * One rule per stage, each applied exactly once:
 *
 * - Decoding (src/sensors/decode.ts): valid UTF-8 decodes normally; each byte that is not part
 *   of valid UTF-8 becomes the lone surrogate U+DC80-U+DCFF (U+DC00 + byte), "surrogateescape"
 *   as in Python's os.fsdecode, so no byte is lost. Records (body and attributes) hold these
 *   strings UNESCAPED: sensors build plain text, each output escapes it for its own format.
 * - Console (and the agent's own log lines on stderr), escapeControl(): `\` becomes `\\`;
 *   `\xNN` is the byte NN: an ASCII control (C0 U+0000-U+001F, DEL U+007F) or a byte that is not
 *   valid UTF-8 (NN = 80-ff); `\uNNNN` (`\u{NNNNN}` above U+FFFF) is any other invisible or
 *   layout-changing character: C1 controls (U+0080-U+009F), format characters (Unicode Cf: bidi
 *   embeddings/overrides/isolates U+202A-U+202E and U+2066-U+2069, marks, zero-width characters,
 *   U+FEFF, tag characters), U+2028, U+2029 and any other unpaired surrogate. Everything else
 *   (printable text in any script, spaces, emoji) is shown as is. The output is unambiguous and
 *   one line per event.
 * - JSON lines: JSON.stringify escapes what JSON requires (controls as `\n`, `\u001b`, ...) and
 *   writes an escaped byte as `\udcNN` (well-formed JSON.stringify): the lines are valid JSON and
 *   a consumer gets the byte back as 0xNN from the decoded code unit U+DCNN.
 * - OTLP: protobuf strings must be valid UTF-8. A string holding escaped bytes is sent with each
 *   such byte written as `\xNN` (nothing else changes), plus an attribute `<key>_raw` holding
 *   the exact bytes (AnyValue bytes_value); for the body, `contguard.body_raw`. For a string
 *   array (process.command_args), elements are escaped the same way and `<key>_raw` holds the
 *   bytes of every element, each followed by a NUL (the /proc/PID/cmdline format). Strings
 *   without escaped bytes are sent unchanged.
 */
import type { AttributeValue, Attributes } from './record.js';

/**
 * Characters the console shows escaped: backslash, Cc (C0, DEL, C1), Cf, Zl, Zp and unpaired
 * surrogates (with the u flag a surrogate pair is one code point, never matched by \p{Cs}).
 */
const UNSAFE = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const UNSAFE_TEST = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
/** String.prototype.isWellFormed (ES2024, native in Node 20): no unpaired surrogate. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

function escapeChar(c: string): string {
  if (c === '\\') return '\\\\';
  const cp = c.codePointAt(0)!;
  if (cp < 0x80) return `\\x${hex2(cp)}`; // C0, DEL
  if (cp >= 0xdc80 && cp <= 0xdcff) return `\\x${hex2(cp - 0xdc00)}`; // a byte that is not UTF-8
  return cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\u{${cp.toString(16)}}`;
}

/** The console rule (see the top of this file): every hostile character shown once, visibly. */
export function escapeControl(s: string): string {
  return UNSAFE_TEST.test(s) ? s.replace(UNSAFE, escapeChar) : s;
}

/**
 * Quotes an argv element for display, shell-style, when it is not a plain word. It does NOT
 * escape: the output escapes the whole line once. A single quote inside becomes '"'"' (no
 * backslash, so the console's doubling of `\` does not make it harder to read).
 */
export function quoteArg(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`;
}

/** A lone surrogate anywhere (decode() makes only U+DC80-U+DCFF, other code may make others). */
const LONE_SURROGATE = /\p{Cs}/gu;

/** True when `s` holds a surrogate-escaped byte (or any unpaired surrogate). */
export function hasEscapedBytes(s: string): boolean {
  return !isWellFormed(s);
}

/**
 * `s` as valid UTF-8 text: each escaped byte as `\xNN`, any other unpaired surrogate as `\uNNNN`;
 * returns `s` itself when it is well-formed.
 */
export function escapeBytesAsText(s: string): string {
  if (isWellFormed(s)) return s;
  return s.replace(LONE_SURROGATE, (c) => {
    const u = c.charCodeAt(0);
    return u >= 0xdc80 && u <= 0xdcff ? `\\x${hex2(u - 0xdc00)}` : `\\u${u.toString(16)}`;
  });
}

const utf8 = new TextEncoder();

/**
 * The bytes a surrogate-escaped string was decoded from (Python's os.fsencode): U+DC80-U+DCFF
 * become the bytes 0x80-0xFF, everything else is UTF-8 (another unpaired surrogate, which
 * decode never makes, becomes U+FFFD).
 */
export function surrogateEscapedBytes(s: string): Uint8Array {
  if (isWellFormed(s)) return utf8.encode(s);
  const out: number[] = [];
  let start = 0;
  const flush = (end: number) => {
    if (end > start) for (const b of utf8.encode(s.slice(start, end))) out.push(b);
  };
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a pair: encoded with its text
      continue;
    }
    if (u >= 0xdc80 && u <= 0xdcff) {
      flush(i);
      out.push(u - 0xdc00);
      start = i + 1;
    }
  }
  flush(s.length);
  return Uint8Array.from(out);
}

/** OTLP attribute values: the record's, plus the exact bytes (AnyValue bytes_value) of `_raw` keys. */
export type OtlpAttributeValue = AttributeValue | Uint8Array;

/** The OTLP attribute holding the exact bytes of a body that contains escaped bytes. */
export const OTLP_BODY_RAW_KEY = 'contguard.body_raw';

/** The bytes of a string array, each element followed by a NUL (/proc/PID/cmdline format). */
export function nulTerminatedBytes(values: readonly string[]): Uint8Array {
  const parts = values.map(surrogateEscapedBytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1; // the NUL is already there
  }
  return out;
}

/**
 * Body and attributes as sent over OTLP (the OTLP rule at the top of this file): a string with
 * escaped bytes is sent with them as `\xNN`, plus `<key>_raw` (for the body `contguard.body_raw`)
 * with its exact bytes; a string array likewise, its `<key>_raw` being the NUL-terminated
 * elements; map keys with escaped bytes are written with `\xNN` (no raw copy). Without any
 * escaped byte (the usual case) the inputs are returned as they are, not copied.
 */
export function otlpLogFields(
  body: string,
  attributes: Attributes,
): { body: string; attributes: Record<string, OtlpAttributeValue> } {
  let out: Record<string, OtlpAttributeValue> | null = null;
  for (const key in attributes) {
    const v = attributes[key]!;
    if (typeof v === 'string') {
      if (isWellFormed(v)) continue;
      out ??= { ...attributes };
      out[key] = escapeBytesAsText(v);
      out[`${key}_raw`] = surrogateEscapedBytes(v);
    } else if (Array.isArray(v)) {
      if (v.every(isWellFormed)) continue;
      out ??= { ...attributes };
      out[key] = v.map(escapeBytesAsText);
      out[`${key}_raw`] = nulTerminatedBytes(v);
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      if (keys.every(isWellFormed)) continue;
      out ??= { ...attributes };
      out[key] = Object.fromEntries(keys.map((k) => [escapeBytesAsText(k), v[k]!]));
    }
  }
  if (!isWellFormed(body)) {
    out ??= { ...attributes };
    out[OTLP_BODY_RAW_KEY] = surrogateEscapedBytes(body);
    body = escapeBytesAsText(body);
  }
  return { body, attributes: out ?? (attributes as Record<string, OtlpAttributeValue>) };
}
