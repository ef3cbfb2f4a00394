// SPDX-License-Identifier: Apache-2.0
/** Readable console stream: one escaped line per event. */
import type { EventRecord, EventSink } from './record.js';
import { escapeControl } from './escape.js';

export function formatConsoleLine(r: EventRecord): string {
  const time = new Date(Number(r.timeUnixNano / 1_000_000n)).toISOString();
  const a = r.attributes;
  const id = typeof a['container.id'] === 'string' ? a['container.id'].slice(0, 12) : '';
  const name = typeof a['container.name'] === 'string' ? a['container.name'] : '';
  const image = typeof a['container.image.name'] === 'string' ? a['container.image.name'] : '';
  const where = id ? `[${name || id}${name ? ` ${id}` : ''}${image ? ` ${image}` : ''}]` : '[host]';
  const event = r.eventName.replace(/^contguard\./, '');
  return escapeControl(`${time} ${r.severity.padEnd(4)} ${event} ${where} ${r.body}`);
}

export class ConsoleSink implements EventSink {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  write(r: EventRecord): void {
    this.out.write(formatConsoleLine(r) + '\n');
  }

  async flush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
