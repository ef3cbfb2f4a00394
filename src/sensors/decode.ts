// SPDX-License-Identifier: Apache-2.0
/**
 * Readers for kernel byte strings: hostile input, bounded by the field and the record.
 *
 * Bytes become strings by "surrogateescape" (Python's os.fsdecode): valid UTF-8 decodes
 * normally, and each byte that is not part of a valid UTF-8 sequence (0x80-0xFF only: ASCII is
 * always valid) becomes the lone low surrogate U+DC80-U+DCFF (U+DC00 + byte). No byte is lost:
 * surrogateEscapedBytes() in src/telemetry/escape.ts gives the original bytes back, and each
 * output shows such a byte as itself (see the rules at the top of escape.ts).
 */

// Native decoding; invalid input shows as U+FFFD, then decoded again by the escaping decoder
// (a fatal decoder's exception would cost ~12 us per hostile string, this costs ~0.1 us).
// ignoreBOM: a leading U+FEFF is part of the kernel string, not a byte order mark to drop.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

// Buffer's native latin1 slice, applied to any Uint8Array (ASCII only here: latin1 = ASCII there).
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/** Up to this length an ASCII string is built in JavaScript; longer ones by Buffer#latin1Slice. */
const SHORT = 24;

/**
 * bytes[start, end) -> string, surrogate-escaping every byte that is not valid UTF-8. `high`:
 * the bytes OR-ed together, as a caller that scanned them for a NUL already knows (< 0x80: ASCII,
 * the usual kernel string, decoded without TextDecoder).
 */
function decodeRange(bytes: Uint8Array, start: number, end: number, high: number): string {
  if (end <= start) return '';
  if (high >= 0x80) return decodeLong(bytes.subarray(start, end));
  if (end - start <= SHORT) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  return latin1Slice.call(bytes, start, end);
}

/** Kernel bytes -> string, surrogate-escaping every byte that is not valid UTF-8. */
export function decodeBytes(bytes: Uint8Array): string {
  let high = 0;
  for (let i = 0; i < bytes.length; i++) high |= bytes[i]!;
  return decodeRange(bytes, 0, bytes.length, high);
}

function decodeLong(bytes: Uint8Array): string {
  const s = utf8.decode(bytes);
  // No U+FFFD: the bytes were valid UTF-8. With one, invalid bytes (or a real U+FFFD, which the
  // escaping decoder keeps as such).
  return s.indexOf('\ufffd') < 0 ? s : decodeEscaping(bytes);
}

/**
 * The slow path: a UTF-8 decoder (WHATWG/Unicode well-formedness: no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF) that escapes each byte not part of a valid sequence.
 */
function decodeEscaping(b: Uint8Array): string {
  const n = b.length;
  const units: number[] = [];
  let out = '';
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    let cp = -1;
    let len = 1;
    if (c < 0x80) {
      cp = c;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 < n && (b[i + 1]! & 0xc0) === 0x80) {
        cp = ((c & 0x1f) << 6) | (b[i + 1]! & 0x3f);
        len = 2;
      }
    } else if (c >= 0xe0 && c <= 0xef) {
      const c1 = i + 1 < n ? b[i + 1]! : 0;
      const lo = c === 0xe0 ? 0xa0 : 0x80; // no overlong forms
      const hi = c === 0xed ? 0x9f : 0xbf; // no encoded surrogates
      if (c1 >= lo && c1 <= hi && i + 2 < n && (b[i + 2]! & 0xc0) === 0x80) {
        cp = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (b[i + 2]! & 0x3f);
        len = 3;
      }
    } else if (c >= 0xf0 && c <= 0xf4) {
      const c1 = i + 1 < n ? b[i + 1]! : 0;
      const lo = c === 0xf0 ? 0x90 : 0x80; // no overlong forms
      const hi = c === 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
      if (c1 >= lo && c1 <= hi && i + 3 < n && (b[i + 2]! & 0xc0) === 0x80 && (b[i + 3]! & 0xc0) === 0x80) {
        cp = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
        len = 4;
      }
    }
    if (cp < 0) {
      units.push(0xdc00 + c); // not part of valid UTF-8: surrogate-escaped
    } else if (cp < 0x10000) {
      units.push(cp);
    } else {
      units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    }
    i += len;
    if (units.length >= 4096) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

/**
 * Checks that a record holds the `min` bytes its decoder reads, so a short record is one clear
 * error (the ring buffer poller logs it) rather than a DataView bounds error.
 * @throws RangeError `<struct>: record of N bytes at offset B, expected at least MIN`.
 */
export function checkRecord(v: DataView, base: number, min: number, struct: string): void {
  if (!(base >= 0) || v.byteLength - base < min) {
    throw new RangeError(`${struct}: record of ${v.byteLength} bytes at offset ${base}, expected at least ${min}`);
  }
}

/** A NUL-terminated string in a fixed `char[max]`, surrogate-escaped (see the top of this file). */
export function cString(v: DataView, offset: number, max: number): string {
  const end = Math.min(offset + max, v.byteLength);
  if (offset >= end) return '';
  const bytes = new Uint8Array(v.buffer, v.byteOffset, end);
  // One pass finds the NUL and whether every byte is ASCII (a JS loop: indexOf on a typed array
  // is a runtime call, and TextDecoder another).
  let high = 0;
  let i = offset;
  for (; i < end; i++) {
    const c = bytes[i]!;
    if (c === 0) break;
    high |= c;
  }
  return decodeRange(bytes, offset, i, high);
}

/** The bytes of a large `char[max]`, as far as the record reaches (variable-size records). */
export function cBytes(v: DataView, offset: number, max: number): Uint8Array {
  const end = Math.min(offset + max, v.byteLength);
  if (offset >= end) return new Uint8Array(0);
  return new Uint8Array(v.buffer, v.byteOffset + offset, end - offset);
}

/** Splits NUL-separated strings (argv), keeping at most `maxCount`; each is surrogate-escaped. */
export function splitNulStrings(bytes: Uint8Array, maxCount: number): { values: string[]; truncated: boolean } {
  const values: string[] = [];
  let start = 0;
  let len = bytes.length;
  while (len > 0 && bytes[len - 1] === 0) len--; // trailing NULs end the list, not empty args
  if (len === 0) return { values, truncated: false };
  for (;;) {
    let i = start;
    let high = 0;
    for (; i < len; i++) {
      const c = bytes[i]!;
      if (c === 0) break;
      high |= c;
    }
    if (values.length === maxCount) return { values, truncated: true };
    values.push(decodeRange(bytes, start, i, high));
    if (i === len) break;
    start = i + 1;
  }
  return { values, truncated: false };
}
