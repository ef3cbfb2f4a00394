// SPDX-License-Identifier: Apache-2.0
/** JSON lines on disk, the embedded default when no collector exists; rotated with a size cap. */
import { mkdirSync, accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { Attributes, BatchOptions, EventRecord, EventSink } from './record.js';
import { ContainerEventRecord, LineBatcher, isoSecondBytes } from './record.js';
import { LineWriter, perEventBytes } from './line-writer.js';

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

/** Printable ASCII without `"` and `\`: JSON.stringify writes such a string as it is, quoted. */
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** Strings up to this length are checked while copied; longer ones by one PLAIN_JSON_STRING test first. */
const COPY_CHECK_MAX = 64;

const ascii = (s: string) => Buffer.from(s, 'latin1');
const TRUE = ascii('true');
const FALSE = ascii('false');
const NULL = ascii('null');
const TIME_OPEN = ascii('{"time":"');
const ATTRIBUTES = ascii(',"attributes":');
const TRACE_ID = ascii(',"trace_id":');
const SPAN_ID = ascii(',"span_id":');

/** JSON text from JSON.stringify, with the characters JSON_UNSAFE names escaped. */
function safeJson(json: string): string {
  // Format characters above U+FFFF (tag characters) are a surrogate pair: each half escaped.
  return JSON_UNSAFE_TEST.test(json) ? json.replace(JSON_UNSAFE, (c) => c.split('').map(unicodeEscape).join('')) : json;
}

/** s as JSON.stringify writes it (then made safe), copied byte by byte when it is plain ASCII. */
function writeString(w: LineWriter, s: string): void {
  const n = s.length;
  if (n <= COPY_CHECK_MAX) {
    w.reserve(n + 2);
    const b = w.buf;
    let o = w.length;
    b[o++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return w.utf8(safeJson(JSON.stringify(s)));
      b[o++] = c;
    }
    b[o++] = 0x22;
    w.length = o;
  } else if (PLAIN_JSON_STRING.test(s)) {
    w.reserve(n + 2);
    w.byte(0x22);
    w.ascii(s);
    w.byte(0x22);
  } else {
    w.utf8(safeJson(JSON.stringify(s)));
  }
}

/** The usual attribute values: written here, not by JSON.stringify. */
type DirectValue = string | number | boolean | string[];

function isDirect(v: unknown): v is DirectValue {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
}

function writeDirect(w: LineWriter, v: DirectValue): void {
  if (typeof v === 'string') writeString(w, v);
  else if (typeof v === 'number') {
    // -0 is written 0, as JSON.stringify writes it.
    if (Number.isSafeInteger(v) && v >= 0) w.uint(v);
    else if (Number.isFinite(v)) w.ascii(String(v));
    else w.bytes(NULL);
  } else if (typeof v === 'boolean') w.bytes(v ? TRUE : FALSE);
  else {
    w.byte(0x5b);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) w.byte(0x2c);
      writeString(w, v[i]!);
    }
    w.byte(0x5d);
  }
}

/** `"key":` per attribute key, as bytes; keys are the sensors' own (a bounded set), the cache is capped anyway. */
const keyBytesCache = new Map<string, Buffer>();
const MAX_KEYS_CACHED = 4096;

function keyBytes(k: string): Buffer {
  let b = keyBytesCache.get(k);
  if (b === undefined) {
    b = Buffer.from(`${safeJson(JSON.stringify(k))}:`, 'utf8');
    if (keyBytesCache.size < MAX_KEYS_CACHED) keyBytesCache.set(k, b);
  }
  return b;
}

/**
 * The members of `o` as JSON.stringify writes them (without the braces), after `first` (false:
 * members were written before, a comma comes first). Returns whether none was written yet.
 */
function writeMembers(w: LineWriter, o: Readonly<Attributes>, first: boolean): boolean {
  for (const k of Object.keys(o)) {
    const v: unknown = o[k];
    const direct = isDirect(v);
    // What JSON.stringify writes for any other value; undefined (a value it leaves out, as
    // undefined or a function) leaves out the key too.
    const json = direct ? '' : (JSON.stringify(v) as string | undefined);
    if (json === undefined) continue;
    if (!first) w.byte(0x2c);
    first = false;
    w.bytes(keyBytes(k));
    if (direct) writeDirect(w, v);
    else w.utf8(safeJson(json));
  }
  return first;
}

/**
 * A container's attributes as JSON members (no braces) and its keys, per container attributes
 * object. null: they cannot be written as a prefix (a key for which cannotFollow holds).
 */
interface Fragment {
  bytes: Buffer;
  keys: ReadonlySet<string>;
}
const fragments = new WeakMap<object, Fragment | null>();
let lastContainer: object | null = null;
let lastFragment: Fragment | null | undefined;
/** Where fragments are written (once per container), and single lines as text. */
const fragmentScratch = new LineWriter(4096);
const scratch = new LineWriter(4096);

function fragmentOf(container: Readonly<Attributes>): Fragment | null {
  // Consecutive records mostly come from one container: one compare before the WeakMap.
  if (container === lastContainer) return lastFragment!;
  let frag = fragments.get(container);
  if (frag === undefined) {
    const keys = Object.keys(container);
    if (keys.some(cannotFollow)) frag = null;
    else {
      fragmentScratch.length = 0;
      writeMembers(fragmentScratch, container, true);
      frag = { bytes: Buffer.from(fragmentScratch.buf.subarray(0, fragmentScratch.length)), keys: new Set(keys) };
    }
    fragments.set(container, frag);
  }
  lastContainer = container;
  lastFragment = frag;
  return frag;
}

/**
 * A key Object.assign would not copy as the parts hold it: an array index ("0", "17", ...: an
 * object orders those first) or `__proto__` (assigned, it sets the merged object's prototype).
 * Sensors never make such keys (container labels are `container.label.<name>`).
 */
function cannotFollow(k: string): boolean {
  const c = k.charCodeAt(0);
  return (c >= 48 && c <= 57) || k === '__proto__';
}

/**
 * A record's attributes as JSON: for a ContainerEventRecord, its container's part (written once
 * per container) followed by its own, without merging them, when the own keys allow it (none is a
 * container key or looks like an array index: Object.assign would then place or merge it
 * otherwise); else as JSON.stringify(attributes) writes them. Same text either way.
 */
function writeAttributes(w: LineWriter, r: EventRecord): void {
  if (r instanceof ContainerEventRecord) {
    const frag = fragmentOf(r.containerAttributes);
    if (frag !== null && ownFollows(r.ownAttributes, frag.keys)) {
      w.byte(0x7b);
      w.bytes(frag.bytes);
      writeMembers(w, r.ownAttributes, frag.bytes.length === 0);
      w.byte(0x7d);
      return;
    }
  }
  writeObject(w, r.attributes);
}

function ownFollows(own: Readonly<Attributes>, containerKeys: ReadonlySet<string>): boolean {
  for (const k of Object.keys(own)) if (cannotFollow(k) || containerKeys.has(k)) return false;
  return true;
}

/** `","event":<name>,"severity":<severity>,"body":` per event name and severity. */
const eventPart = perEventBytes((eventName, severity) => Buffer.from(`",${safeJson(JSON.stringify({ event: eventName, severity }).slice(1, -1))},"body":`, 'utf8'));

/** ISO 8601 with nanoseconds (nanosToIso's text). */
function writeTime(w: LineWriter, ns: bigint): void {
  const second = ns / 1_000_000_000n;
  w.bytes(isoSecondBytes(Number(second)));
  w.fixedDigits(Number(ns - second * 1_000_000_000n), 9);
  w.byte(0x5a);
}

/**
 * The record's JSON line (without '\n'), as JSON.stringify would write the object {time, event,
 * severity, body, attributes, trace_id?, span_id?} (test/unit/output-format.test.ts compares the
 * two), then with the characters JSON_UNSAFE names escaped.
 */
export function writeJsonLine(w: LineWriter, r: EventRecord): void {
  w.bytes(TIME_OPEN);
  writeTime(w, r.timeUnixNano);
  w.bytes(eventPart(r.eventName, r.severity));
  writeString(w, r.body);
  w.bytes(ATTRIBUTES);
  writeAttributes(w, r);
  if (r.traceId !== undefined) {
    w.bytes(TRACE_ID);
    writeString(w, r.traceId);
  }
  if (r.spanId !== undefined) {
    w.bytes(SPAN_ID);
    writeString(w, r.spanId);
  }
  w.byte(0x7d);
}

/** The record's JSON line as text (tests and readers of single records; the sink writes bytes). */
export const toJsonLine = (r: EventRecord): string => scratch.textOf(writeJsonLine, r);

/** A record's attributes as the JSON line writes them. */
export const attributesJson = (r: EventRecord): string => scratch.textOf(writeAttributes, r);

function writeObject(w: LineWriter, o: Readonly<Attributes>): void {
  w.byte(0x7b);
  writeMembers(w, o, true);
  w.byte(0x7d);
}

/** JSON.stringify(o) for attributes, as the JSON line writes them (test/unit/output-format.test.ts). */
export const attributesObjectJson = (o: Readonly<Attributes>): string => scratch.textOf(writeObject, o);

/** Where nanosToIso writes (sensors call it while building records, not while a line is written). */
const timeScratch = new LineWriter(64);

/** ISO 8601 with nanoseconds, e.g. 2026-11-28T09:01:16.123456789Z, as the JSON lines write times. */
export const nanosToIso = (ns: bigint): string => timeScratch.textOf(writeTime, ns);

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
    const w = this.batch.beginLine();
    if (!w) return;
    writeJsonLine(w, r);
    this.batch.endLine();
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
