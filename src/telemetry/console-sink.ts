// SPDX-License-Identifier: Apache-2.0
/** Readable console stream: one escaped line per event, written once per batch. */
import type { Attributes, BatchOptions, EventRecord, EventSink } from './record.js';
import { ContainerEventRecord, LineBatcher, isoSecondBytes } from './record.js';
import { escapeControl } from './escape.js';
import { LineWriter, perEventBytes } from './line-writer.js';


/** `[name id image]` of a record's container (`[host]` without one), escaped by the console rule. */
function where(a: Readonly<Attributes>): string {
  const id = typeof a['container.id'] === 'string' ? a['container.id'].slice(0, 12) : '';
  const str = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : '');
  // A Kubernetes container without a runtime name (containerd): namespace/pod/container.
  const pod = str('k8s.pod.name') ? [str('k8s.namespace.name'), str('k8s.pod.name'), str('k8s.container.name')].filter(Boolean).join('/') : '';
  const name = str('container.name') || pod;
  const image = typeof a['container.image.name'] === 'string' ? a['container.image.name'] : '';
  return escapeControl(id ? `[${name || id}${name ? ` ${id}` : ''}${image ? ` ${image}` : ''}]` : '[host]');
}

/** where() per container attributes object (one shared object per container) as bytes, the last one first. */
const wheres = new WeakMap<object, Buffer>();
let lastContainer: object | null = null;
let lastWhere: Buffer = Buffer.alloc(0);

function containerWhere(a: Readonly<Attributes>): Buffer {
  if (a === lastContainer) return lastWhere;
  let w = wheres.get(a);
  if (w === undefined) {
    w = Buffer.from(` ${where(a)} `, 'utf8');
    wheres.set(a, w);
  }
  lastContainer = a;
  lastWhere = w;
  return w;
}

/** ` <severity> <event>` as shown (the event without `contguard.`, escaped), per event name and severity. */
const label = perEventBytes((name, severity) => Buffer.from(` ${severity.padEnd(4)} ${escapeControl(name.replace(/^contguard\./, ''))}`, 'utf8'));

/** ISO 8601 with milliseconds, as Date.toISOString() writes it. */
function writeIsoMillis(w: LineWriter, ns: bigint): void {
  const ms = Number(ns / 1_000_000n);
  const second = Math.floor(ms / 1000);
  w.bytes(isoSecondBytes(second));
  w.fixedDigits(ms - second * 1000, 3);
  w.byte(0x5a);
}

/** Text by the console rule: printable ASCII without `\` (most bodies) copied as it is. */
function writeEscaped(w: LineWriter, s: string): void {
  const n = s.length;
  w.reserve(n);
  const b = w.buf;
  const o = w.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x5c) return w.utf8(escapeControl(s));
    b[o + i] = c;
  }
  w.length = o + n;
}

/**
 * The console line of a record, by the console rule (see escape.ts): each part escaped on its
 * own (the same as escaping the line: the rule is per character); the container's part once per
 * container, the severity and event once per pair.
 */
export function writeConsoleLine(w: LineWriter, r: EventRecord): void {
  writeIsoMillis(w, r.timeUnixNano);
  w.bytes(label(r.eventName, r.severity));
  // The container's part when the record has one: no merge of its attributes for the console.
  if (r instanceof ContainerEventRecord) w.bytes(containerWhere(r.containerAttributes));
  else w.utf8(` ${where(r.attributes)} `);
  writeEscaped(w, r.body);
}

const scratch = new LineWriter(4096);

/** ISO 8601 with milliseconds, as the console writes it (tests). */
export const isoMillis = (ns: bigint): string => scratch.textOf(writeIsoMillis, ns);

/** The console line of a record as text (tests; the sink writes bytes). */
export const formatConsoleLine = (r: EventRecord): string => scratch.textOf(writeConsoleLine, r);

export class ConsoleSink implements EventSink {
  private readonly batch: LineBatcher;

  constructor(out: NodeJS.WritableStream = process.stdout, opts: BatchOptions = {}) {
    this.batch = new LineBatcher(out, opts);
  }

  /** Records dropped because the console could not keep up (over maxPendingBytes) or was closed. */
  get dropped(): number {
    return this.batch.dropped;
  }

  write(r: EventRecord): void {
    const w = this.batch.beginLine();
    if (!w) return;
    writeConsoleLine(w, r);
    this.batch.endLine();
  }

  endBatch(): void {
    this.batch.endBatch();
  }

  flush(): Promise<void> {
    return this.batch.flush();
  }

  /** Like flush, but waits at most 2 s for a console nobody reads (the stream is not ours to end). */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      void this.batch.flush().then(resolve);
      setTimeout(resolve, 2000).unref();
    });
  }
}
