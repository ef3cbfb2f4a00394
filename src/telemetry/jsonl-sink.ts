// SPDX-License-Identifier: Apache-2.0
/** JSON lines on disk, the embedded default when no collector exists; rotated with a size cap. */
import { mkdirSync, accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { BatchOptions, EventRecord, EventSink } from './record.js';
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

export function toJsonLine(r: EventRecord): string {
  const line = jsonLine(r);
  // Format characters above U+FFFF (tag characters) are a surrogate pair: each half escaped.
  return JSON_UNSAFE_TEST.test(line) ? line.replace(JSON_UNSAFE, (c) => c.split('').map(unicodeEscape).join('')) : line;
}

function jsonLine(r: EventRecord): string {
  // Built as JSON.stringify would write the object {time, event, severity, body, attributes,
  // trace_id?, span_id?} (test/unit/output-format.test.ts compares the two).
  let line = `{"time":"${nanosToIso(r.timeUnixNano)}","event":${JSON.stringify(r.eventName)},"severity":${JSON.stringify(r.severity)},"body":${JSON.stringify(r.body)},"attributes":${attributesJson(r)}`;
  if (r.traceId !== undefined) line += `,"trace_id":${JSON.stringify(r.traceId)}`;
  if (r.spanId !== undefined) line += `,"span_id":${JSON.stringify(r.spanId)}`;
  return `${line}}`;
}

/** A container's attributes as JSON without the braces (null: not appendable), per container attributes object. */
const fragments = new WeakMap<object, string | null>();

/**
 * Whether o's keys can follow another object's in one JSON object and read as Object.assign
 * would merge them: none is also a key of `before` (its value would be written twice) and none
 * may be an array index (JavaScript orders those first).
 */
function appendable(o: object, before: object): boolean {
  for (const k in o) {
    const c = k.charCodeAt(0);
    if ((c >= 48 && c <= 57) || k in before) return false;
  }
  return true;
}

/**
 * JSON of a record's attributes: for a ContainerEventRecord, its container's part (JSON made
 * once per container, while the record's own part is appendable) followed by its own,
 * without merging them; otherwise JSON.stringify(attributes). Same text either way.
 */
export function attributesJson(r: EventRecord): string {
  if (!(r instanceof ContainerEventRecord)) return JSON.stringify(r.attributes);
  const container = r.containerAttributes;
  let frag = fragments.get(container);
  if (frag === undefined) {
    frag = appendable(container, {}) ? JSON.stringify(container).slice(1, -1) : null;
    fragments.set(container, frag);
  }
  const own = r.ownAttributes;
  if (frag === null || !appendable(own, container)) return JSON.stringify(r.attributes);
  const ownJson = JSON.stringify(own);
  if (frag === '') return ownJson;
  return ownJson === '{}' ? `{${frag}}` : `{${frag},${ownJson.slice(1)}`;
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
