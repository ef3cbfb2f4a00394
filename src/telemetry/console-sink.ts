// SPDX-License-Identifier: Apache-2.0
/** Readable console stream: one escaped line per event, written once per batch. */
import type { BatchOptions, EventRecord, EventSink } from './record.js';
import { ContainerEventRecord, LineBatcher, isoSecondPrefix } from './record.js';
import { escapeControl } from './escape.js';

/** ISO 8601 with milliseconds, as Date.toISOString() writes it. */
export function isoMillis(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const second = Math.floor(ms / 1000);
  return `${isoSecondPrefix(second)}.${String(ms - second * 1000).padStart(3, '0')}Z`;
}

/** The console line of a record: escaped once here, by the console rule (see escape.ts). */
export function formatConsoleLine(r: EventRecord): string {
  const time = isoMillis(r.timeUnixNano);
  // The container's part when the record has one: no merge of its attributes for the console.
  const a = r instanceof ContainerEventRecord ? r.containerAttributes : r.attributes;
  const id = typeof a['container.id'] === 'string' ? a['container.id'].slice(0, 12) : '';
  const str = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : '');
  // A Kubernetes container without a runtime name (containerd): namespace/pod/container.
  const pod = str('k8s.pod.name') ? [str('k8s.namespace.name'), str('k8s.pod.name'), str('k8s.container.name')].filter(Boolean).join('/') : '';
  const name = str('container.name') || pod;
  const image = typeof a['container.image.name'] === 'string' ? a['container.image.name'] : '';
  const where = id ? `[${name || id}${name ? ` ${id}` : ''}${image ? ` ${image}` : ''}]` : '[host]';
  const event = r.eventName.replace(/^contguard\./, '');
  return escapeControl(`${time} ${r.severity.padEnd(4)} ${event} ${where} ${r.body}`);
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
