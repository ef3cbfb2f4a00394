// SPDX-License-Identifier: Apache-2.0
/** Readable console stream: one escaped line per event, written once per batch. */
import type { Attributes, BatchOptions, EventRecord, EventSink } from './record.js';
import { ContainerEventRecord, LineBatcher, isoSecondPrefix } from './record.js';
import { escapeControl } from './escape.js';

/** ISO 8601 with milliseconds, as Date.toISOString() writes it. */
export function isoMillis(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const second = Math.floor(ms / 1000);
  return `${isoSecondPrefix(second)}.${String(ms - second * 1000).padStart(3, '0')}Z`;
}

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

/** where() per container attributes object (one shared object per container), the last one first. */
const wheres = new WeakMap<object, string>();
let lastContainer: object | null = null;
let lastWhere = '';

function containerWhere(a: Readonly<Attributes>): string {
  if (a === lastContainer) return lastWhere;
  let w = wheres.get(a);
  if (w === undefined) {
    w = where(a);
    wheres.set(a, w);
  }
  lastContainer = a;
  lastWhere = w;
  return w;
}

/** Event names as shown (without `contguard.`, escaped); names are the sensors' constants, the cache is capped anyway. */
const eventLabels = new Map<string, string>();

function eventLabel(name: string): string {
  let label = eventLabels.get(name);
  if (label === undefined) {
    label = escapeControl(name.replace(/^contguard\./, ''));
    if (eventLabels.size < 1024) eventLabels.set(name, label);
  }
  return label;
}

/**
 * The console line of a record, by the console rule (see escape.ts). Each part is escaped on
 * its own (the same as escaping the line: the rule is per character); the container's part
 * once per container.
 */
export function formatConsoleLine(r: EventRecord): string {
  const time = isoMillis(r.timeUnixNano);
  // The container's part when the record has one: no merge of its attributes for the console.
  const w = r instanceof ContainerEventRecord ? containerWhere(r.containerAttributes) : where(r.attributes);
  return `${time} ${r.severity.padEnd(4)} ${eventLabel(r.eventName)} ${w} ${escapeControl(r.body)}`;
}

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
    this.batch.push(formatConsoleLine(r));
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
