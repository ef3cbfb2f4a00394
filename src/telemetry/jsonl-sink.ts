// SPDX-License-Identifier: Apache-2.0
/** JSON lines on disk, the embedded default when no collector exists; rotated with a size cap. */
import { mkdirSync, accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { BatchOptions, EventRecord, EventSink } from './record.js';
import { LineBatcher } from './record.js';
import { attributeParts } from './container-attributes.js';

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

export function toJsonLine(r: EventRecord): string {
  const line = jsonLine(r);
  // Format characters above U+FFFF (tag characters) are a surrogate pair: each half escaped.
  return JSON_UNSAFE_TEST.test(line) ? line.replace(JSON_UNSAFE, (c) => c.split('').map(unicodeEscape).join('')) : line;
}

function jsonLine(r: EventRecord): string {
  // Built as JSON.stringify would write the object {time, event, severity, body, attributes,
  // trace_id?, span_id?} (test/unit/jsonl-sink.test.ts compares the two).
  let line = `{"time":"${nanosToIso(r.timeUnixNano)}","event":${JSON.stringify(r.eventName)},"severity":${JSON.stringify(r.severity)},"body":${JSON.stringify(r.body)},"attributes":${attributesJson(r.attributes)}`;
  if (r.traceId !== undefined) line += `,"trace_id":${JSON.stringify(r.traceId)}`;
  if (r.spanId !== undefined) line += `,"span_id":${JSON.stringify(r.spanId)}`;
  return `${line}}`;
}

/** A container's attributes as JSON without the braces, and how many keys they hold. */
interface Fragment {
  json: string;
  keys: number;
}
const fragments = new WeakMap<object, Fragment>();

/** Own keys of o; -1 when one may be an array index (JavaScript orders those first: no concatenation then). */
function keyCount(o: object): number {
  let n = 0;
  // for-in: plain objects inherit no enumerable keys (and it needs no array, as Object.keys does).
  for (const k in o) {
    const c = k.charCodeAt(0);
    if (c >= 48 && c <= 57) return -1;
    n++;
  }
  return n;
}

/**
 * JSON of a record's attributes. Built by recordAttributes, they are the container's (the same
 * object for every record of that container: its JSON is made once) followed by the record's
 * own; when the key count shows a key was shared or added afterwards, the whole object is
 * written instead. Same text as JSON.stringify(attributes).
 */
export function attributesJson(a: object): string {
  const parts = attributeParts(a);
  if (!parts) return JSON.stringify(a);
  let frag = fragments.get(parts.container);
  if (!frag) {
    frag = { json: JSON.stringify(parts.container).slice(1, -1), keys: keyCount(parts.container) };
    fragments.set(parts.container, frag);
  }
  const ownKeys = keyCount(parts.own);
  if (frag.keys < 0 || ownKeys < 0 || keyCount(a) !== frag.keys + ownKeys) return JSON.stringify(a);
  const own = JSON.stringify(parts.own);
  if (frag.keys === 0) return own;
  return ownKeys === 0 ? `{${frag.json}}` : `{${frag.json},${own.slice(1)}`;
}

let isoSecond = NaN;
let isoPrefix = '';

/** ISO 8601 with nanoseconds, e.g. 2026-11-28T09:01:16.123456789Z (the date part made once a second). */
export function nanosToIso(ns: bigint): string {
  const second = Number(ns / 1_000_000_000n);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19);
  }
  return `${isoPrefix}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
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
    this.batch.push(toJsonLine(r));
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
