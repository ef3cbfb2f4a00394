// SPDX-License-Identifier: Apache-2.0
/** JSON lines on disk, the embedded default when no collector exists; rotated with a size cap. */
import { mkdirSync, accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { Attributes, BatchOptions, EventRecord, EventSink } from './record.js';
import { ContainerEventRecord, LineBatcher, isoSecondPrefix } from './record.js';

export const JSONL_FILE = 'contguard.jsonl';

/** Rotated files: contguard.jsonl (current), contguard.1.jsonl (newest) ... contguard.N.jsonl. */
export function rotatedName(index: number | null): string {
  return index ? `contguard.${index}.jsonl` : JSONL_FILE;
}

/**
 * Characters JSON allows raw in strings that still break or disguise lines for other readers:
 * U+2028/U+2029 (line breaks to JavaScript before ES2019 and to Python's str.splitlines()), C1
 * controls and format characters (bidi overrides: a `tail -f` shows text in another order).
 * JSON's structure is ASCII, so each one stands in a string and `\uNNNN` is the same value.
 */
const JSON_UNSAFE = /[\u0080-\u009f\p{Cf}\u2028\u2029]/gu;
const JSON_UNSAFE_TEST = /[\u0080-\u009f\p{Cf}\u2028\u2029]/u;
const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Rotated files to keep so the live file plus them stay within maxTotalBytes (each file holds
 * at most maxFileBytes, plus less than one record): at most maxFiles, at least 1.
 */
export function rotatedFilesKept(maxFileBytes: number, maxFiles: number, maxTotalBytes: number | null): number {
  if (maxTotalBytes === null) return maxFiles;
  return Math.max(1, Math.min(maxFiles, Math.floor(maxTotalBytes / maxFileBytes) - 1));
}

/**
 * Whether a string written by the helpers below was all ASCII. Cleared by toJsonLine, set by
 * any part that may hold other characters: a line known to be ASCII needs neither the
 * unsafe-character pass (every such character is above U+007F) nor a byte count (one byte each).
 */
let nonAscii = false;

/** Bytes of the line toJsonLine returned last (UTF-8). */
let lastLineBytes = 0;

/** Printable ASCII without `"` and `\`: JSON.stringify writes such a string as it is, quoted. */
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** JSON.stringify(s), without its call for the usual plain string. */
function jsonString(s: string): string {
  if (PLAIN_JSON_STRING.test(s)) return `"${s}"`;
  nonAscii = true;
  return JSON.stringify(s);
}

/** JSON of an attribute value as JSON.stringify writes it; undefined for a value it leaves out. */
function valueJson(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonString(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return `[${v.map(jsonString).join(',')}]`;
      nonAscii = true; // whatever JSON.stringify writes (nested maps, null, undefined, ...)
      return JSON.stringify(v);
  }
}

/** `"key":` per attribute key; keys are the sensors' own (a bounded set), the cache is capped anyway. */
const keyPrefixes = new Map<string, string>();
const MAX_KEY_PREFIXES = 4096;

function keyPrefix(k: string): string {
  let p = keyPrefixes.get(k);
  if (p === undefined) {
    p = `${JSON.stringify(k)}:`;
    if (!PLAIN_JSON_STRING.test(k)) nonAscii = true;
    else if (keyPrefixes.size < MAX_KEY_PREFIXES) keyPrefixes.set(k, p);
  }
  return p;
}

/**
 * JSON.stringify(o) for a record's attributes (string, number, boolean and string-array values
 * written here, anything else by JSON.stringify): the same text, faster on Node 20
 * (test/unit/output-format.test.ts compares the two for any attributes).
 */
export function attributesObjectJson(o: Readonly<Attributes>): string {
  return `{${objectBody(o, null)!}}`;
}

/**
 * The JSON of `o` without its braces; null when `after` is given and a key of `o` is one of its
 * keys or looks like an array index (then o cannot be written after another object's keys as
 * Object.assign would merge them: the value twice, or in another order).
 */
function objectBody(o: Readonly<Attributes>, after: ReadonlySet<string> | null): string | null {
  let out = '';
  for (const k of Object.keys(o)) {
    if (after !== null) {
      const c = k.charCodeAt(0);
      if ((c >= 48 && c <= 57) || after.has(k)) return null;
    }
    const v = valueJson(o[k]);
    if (v === undefined) continue;
    out += out === '' ? keyPrefix(k) + v : `,${keyPrefix(k)}${v}`;
  }
  return out;
}

/** The record's JSON line; its UTF-8 size is then in lastLineBytes. */
export function toJsonLine(r: EventRecord): string {
  nonAscii = false;
  const line = jsonLine(r);
  if (!nonAscii) {
    lastLineBytes = line.length;
    return line;
  }
  // Format characters above U+FFFF (tag characters) are a surrogate pair: each half escaped.
  const safe = JSON_UNSAFE_TEST.test(line) ? line.replace(JSON_UNSAFE, (c) => c.split('').map(unicodeEscape).join('')) : line;
  lastLineBytes = Buffer.byteLength(safe);
  return safe;
}

function jsonLine(r: EventRecord): string {
  // Built as JSON.stringify would write the object {time, event, severity, body, attributes,
  // trace_id?, span_id?} (test/unit/output-format.test.ts compares the two).
  let line = `{"time":"${nanosToIso(r.timeUnixNano)}","event":${jsonString(r.eventName)},"severity":${jsonString(r.severity)},"body":${jsonString(r.body)},"attributes":${attributesJson(r)}`;
  if (r.traceId !== undefined) line += `,"trace_id":${jsonString(r.traceId)}`;
  if (r.spanId !== undefined) line += `,"span_id":${jsonString(r.spanId)}`;
  return `${line}}`;
}

/**
 * A container's attributes as JSON without the braces, whether that text is all ASCII, and its
 * keys; per container attributes object. null: the container's attributes cannot be written
 * as a prefix (a key that looks like an array index).
 */
interface Fragment {
  json: string;
  ascii: boolean;
  keys: ReadonlySet<string>;
}
const fragments = new WeakMap<object, Fragment | null>();
let lastContainer: object | null = null;
let lastFragment: Fragment | null | undefined;

function fragmentOf(container: Readonly<Attributes>): Fragment | null {
  // Consecutive records mostly come from one container: one compare before the WeakMap.
  if (container === lastContainer) return lastFragment!;
  let frag = fragments.get(container);
  if (frag === undefined) {
    const was = nonAscii;
    nonAscii = false;
    const json = objectBody(container, new Set());
    frag = json === null ? null : { json, ascii: !nonAscii, keys: new Set(Object.keys(container)) };
    nonAscii = was;
    fragments.set(container, frag);
  }
  lastContainer = container;
  lastFragment = frag;
  return frag;
}

/**
 * JSON of a record's attributes: for a ContainerEventRecord, its container's part (JSON made
 * once per container) followed by its own, without merging them, when the own keys allow it;
 * otherwise as JSON.stringify(attributes) writes them. Same text either way.
 */
export function attributesJson(r: EventRecord): string {
  if (!(r instanceof ContainerEventRecord)) return attributesObjectJson(r.attributes);
  const frag = fragmentOf(r.containerAttributes);
  const own = frag === null ? null : objectBody(r.ownAttributes, frag.keys);
  if (frag === null || own === null) return attributesObjectJson(r.attributes);
  if (!frag.ascii) nonAscii = true;
  if (frag.json === '') return `{${own}}`;
  return own === '' ? `{${frag.json}}` : `{${frag.json},${own}}`;
}

/** ISO 8601 with nanoseconds, e.g. 2026-11-28T09:01:16.123456789Z. */
export function nanosToIso(ns: bigint): string {
  return `${isoSecondPrefix(Number(ns / 1_000_000_000n))}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/**
 * One JSON line per record, written once per batch (see LineBatcher). Strings are written as
 * JSON.stringify writes them: a byte that is not UTF-8 (surrogate-escaped) appears as `\udcNN`.
 */
export class JsonLinesSink implements EventSink {
  private readonly stream: RotatingFileStream;
  private readonly batch: LineBatcher;
  private failed: Error | null = null;

  constructor(
    readonly dir: string,
    maxFileBytes: number,
    maxFiles: number,
    private readonly onError: (err: Error) => void,
    opts: BatchOptions = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    accessSync(dir, constants.W_OK);
    const sizeK = Math.max(1, Math.floor(maxFileBytes / 1024));
    // With `rotate`, the generator receives only the rotation index (or nothing for the live file).
    this.stream = createStream((index: number | Date | null) => rotatedName(typeof index === 'number' ? index : null), {
      path: dir,
      size: `${sizeK}K`,
      rotate: maxFiles,
      mode: 0o640,
    });
    this.stream.on('error', (err: Error) => {
      this.failed = err;
      this.onError(err);
    });
    // The stream rotates after a write that brings the live file to `size` (an existing file at
    // or over it is rotated first): batches are cut at those points, as one write per record did.
    const size = sizeK * 1024;
    let current = 0;
    try {
      current = statSync(join(dir, JSONL_FILE)).size;
    } catch {
      // no live file yet
    }
    this.batch = new LineBatcher(this.stream, opts, { size, current: current >= size ? 0 : current });
  }

  /** Records dropped: the disk could not keep up (over maxPendingBytes) or the file failed. */
  get dropped(): number {
    return this.batch.dropped;
  }

  write(r: EventRecord): void {
    if (this.failed) {
      this.batch.dropped++;
      return;
    }
    const line = toJsonLine(r);
    this.batch.push(line, lastLineBytes);
  }

  endBatch(): void {
    this.batch.endBatch();
  }

  /** Resolves once every record accepted before it has reached the file. */
  async flush(): Promise<void> {
    if (this.failed) return;
    await this.batch.flush();
  }

  /** Writes what is held, then ends the file; gives up waiting after 2 s (a stuck disk). */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      setTimeout(resolve, 2000).unref();
      void this.batch.flush().finally(() => this.stream.end(() => resolve()));
    });
  }
}
