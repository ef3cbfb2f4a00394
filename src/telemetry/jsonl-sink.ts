// SPDX-License-Identifier: Apache-2.0
/** JSON lines on disk, the embedded default when no collector exists; rotated with a size cap. */
import { mkdirSync, accessSync, constants } from 'node:fs';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { EventRecord, EventSink } from './record.js';

export const JSONL_FILE = 'contguard.jsonl';

/** Rotated files: contguard.jsonl (current), contguard.1.jsonl (newest) ... contguard.N.jsonl. */
export function rotatedName(index: number | null): string {
  return index ? `contguard.${index}.jsonl` : JSONL_FILE;
}

export function toJsonLine(r: EventRecord): string {
  return JSON.stringify({
    time: nanosToIso(r.timeUnixNano),
    event: r.eventName,
    severity: r.severity,
    body: r.body,
    attributes: r.attributes,
  });
}

/** ISO 8601 with nanoseconds, e.g. 2026-11-28T09:01:16.123456789Z. */
export function nanosToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export class JsonLinesSink implements EventSink {
  private readonly stream: RotatingFileStream;
  private failed: Error | null = null;

  constructor(
    readonly dir: string,
    maxFileBytes: number,
    maxFiles: number,
    private readonly onError: (err: Error) => void,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    accessSync(dir, constants.W_OK);
    // With `rotate`, the generator receives only the rotation index (or nothing for the live file).
    this.stream = createStream((index: number | Date | null) => rotatedName(typeof index === 'number' ? index : null), {
      path: dir,
      size: `${Math.max(1, Math.floor(maxFileBytes / 1024))}K`,
      rotate: maxFiles,
      mode: 0o640,
    });
    this.stream.on('error', (err: Error) => {
      this.failed = err;
      this.onError(err);
    });
  }

  write(r: EventRecord): void {
    if (this.failed) return;
    this.stream.write(toJsonLine(r) + '\n');
  }

  /** Resolves once every record written before it has reached the file. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.failed) return resolve();
      this.stream.write('', () => resolve());
    });
  }

  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.stream.end(() => resolve());
      setTimeout(resolve, 2000).unref();
    });
  }
}
