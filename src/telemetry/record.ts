// SPDX-License-Identifier: Apache-2.0
/** One behaviour observed in a container, as every output receives it. */
import { LineWriter } from './line-writer.js';

export type AttributeValue = string | number | boolean | string[] | Record<string, number>;
export type Attributes = Record<string, AttributeValue>;

/** OTel severity numbers used by ContGuard (lowest value of each range). */
export const Severity = {
  INFO: 9,
  WARN: 13,
  ERROR: 17,
} as const;
export type SeverityName = keyof typeof Severity;

export interface EventRecord {
  /** Static, project-prefixed OTel EventName, e.g. `contguard.process.exec`. */
  eventName: string;
  /** When it happened (kernel clock converted to wall-clock), nanoseconds since the epoch. */
  timeUnixNano: bigint;
  severity: SeverityName;
  /**
   * Short display string, plain text: NOT escaped (kernel bytes that are not UTF-8 are
   * surrogate-escaped, see src/telemetry/escape.ts); each output escapes it by its own rule.
   */
  body: string;
  /** Semantic-convention attributes: container.*, process.*, ... */
  attributes: Attributes;
  /**
   * The trace and span of what the record is about (hex, 32 and 16 digits; e.g. the span of
   * the process image an exec started, src/telemetry/trace-ids.ts), when traces are on.
   * JSON lines write them as top-level `trace_id`/`span_id`; OTLP sets the log record's context.
   */
  traceId?: string;
  spanId?: string;
  /** W3C trace flags of that span (1: sampled, its trace is exported); default 1. */
  traceFlags?: number;
}

let isoSecond = NaN;
let isoBytes: Buffer = Buffer.alloc(0);

/**
 * `YYYY-MM-DDTHH:MM:SS.` of a second since the epoch, as Date.toISOString() writes it, as bytes
 * (the text outputs write the fraction after it); made once a second (every output writes each
 * record's time).
 */
export function isoSecondBytes(second: number): Buffer {
  if (second !== isoSecond) {
    isoSecond = second;
    isoBytes = Buffer.from(`${new Date(second * 1000).toISOString().slice(0, 19)}.`, 'latin1');
  }
  return isoBytes;
}

/** A record's fields besides its attributes. */
export type RecordFields = Omit<EventRecord, 'attributes'>;

/**
 * A record about a container, holding its attributes as two parts: the container's (one shared
 * object per container) and the record's own. `attributes` merges them on first read (then
 * frozen: a record is not changed after it is built). Outputs that can use the parts as they are
 * (JSON lines: the container's part formatted once per container; the console: the container's
 * name) never pay for the merge, which copies every container attribute, labels included.
 */
export class ContainerEventRecord implements EventRecord {
  eventName: string;
  timeUnixNano: bigint;
  severity: SeverityName;
  body: string;
  traceId?: string;
  spanId?: string;
  traceFlags?: number;
  private merged: Attributes | undefined = undefined;

  constructor(
    fields: RecordFields,
    readonly containerAttributes: Readonly<Attributes>,
    readonly ownAttributes: Readonly<Attributes>,
  ) {
    this.eventName = fields.eventName;
    this.timeUnixNano = fields.timeUnixNano;
    this.severity = fields.severity;
    this.body = fields.body;
    if (fields.traceId !== undefined) this.traceId = fields.traceId;
    if (fields.spanId !== undefined) this.spanId = fields.spanId;
    if (fields.traceFlags !== undefined) this.traceFlags = fields.traceFlags;
  }

  /**
   * The container's attributes, then the record's own (own keys win). Object.assign, not
   * `{ ...a, ...b }`: on Node 20 (V8 11.3) a spread of two objects takes 30-50 us, assign < 1 us
   * (bench/attributes.mjs measures both).
   */
  get attributes(): Attributes {
    return (this.merged ??= Object.freeze(Object.assign({}, this.containerAttributes, this.ownAttributes)) as Attributes);
  }
}

/** Where event records go: console, JSON lines, OTel logs. */
export interface EventSink {
  /** Takes one record (formatted once, kept in the current batch); never blocks. */
  write(record: EventRecord): void;
  /** End of a batch (the agent calls it after each ring-buffer drain): one write of the batch. */
  endBatch(): void;
  /** Writes the batch and resolves once every record accepted before the call is out. */
  flush(): Promise<void>;
  /** flush(), then closes the output. */
  shutdown(): Promise<void>;
  /**
   * Records dropped by this output: over its memory cap while its stream applied backpressure,
   * or after its stream closed or failed. Always 0 for OTLP (the SDK counts its own: otel.sdk.*).
   */
  readonly dropped: number;
}

/** Records a sink may hold while its stream applies backpressure, per sink. */
export const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;

export interface BatchOptions {
  /** Bytes of formatted records held while the stream is busy; beyond, records are dropped. */
  maxPendingBytes?: number;
}

interface RotationState {
  /** The stream rotates after the write that brings the file to this size (rotating-file-stream). */
  size: number;
  /** Bytes in the live file. */
  current: number;
}

/**
 * Lines for one stream, written with one write() per batch. Each output writes a line's pieces
 * as bytes into the batch's LineWriter as it comes (beginLine/endLine). When write() returns false the lines accumulate (up to
 * maxPendingBytes; beyond, whole lines are dropped and counted) until 'drain', then go out in one
 * write. With `rotation`, a batch is cut where the file would reach its rotation size, so
 * rotation still happens at a line boundary near the configured size.
 */
export class LineBatcher {
  /** Lines dropped: over maxPendingBytes, or the stream closed before they could be written. */
  dropped = 0;
  /** The batch: `committed` bytes of whole lines, each ending in '\n' (beyond: a line being written). */
  private readonly writer = new LineWriter();
  private committed = 0;
  private lines = 0;
  /** Offsets in the batch where a write ends because the file reaches its rotation size there. */
  private cuts: number[] = [];
  private blocked = false;
  private closed = false;
  private scheduled: NodeJS.Immediate | null = null;
  /** write() calls whose callback has not come yet, and flush() calls waiting for none. */
  private inflight = 0;
  private waiters: Array<() => void> = [];
  private readonly maxBytes: number;

  constructor(
    private readonly out: NodeJS.WritableStream,
    opts: BatchOptions = {},
    private readonly rotation: RotationState | null = null,
  ) {
    this.maxBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    out.on('close', () => {
      this.closed = true;
      this.discard();
      this.wake();
    });
  }

  /** Bytes held, not yet handed to the stream. */
  get pendingBytes(): number {
    return this.committed;
  }

  /**
   * Starts a line: the caller writes it (without its '\n') into the returned writer, then calls
   * endLine(). Bytes of a line that was begun but not ended (its formatter threw) are discarded
   * here. null when the stream is closed (the line is counted as dropped).
   */
  beginLine(): LineWriter | null {
    if (this.isClosed()) {
      this.dropped++;
      return null;
    }
    this.writer.length = this.committed;
    return this.writer;
  }

  /** Ends the line begun last: kept, or dropped (false) when the batch would pass maxPendingBytes. */
  endLine(): boolean {
    const w = this.writer;
    if (w.length + 1 > this.maxBytes) {
      w.length = this.committed;
      this.dropped++;
      return false;
    }
    w.byte(0x0a);
    const n = w.length - this.committed;
    this.committed = w.length;
    this.lines++;
    const r = this.rotation;
    if (r) {
      r.current += n;
      if (r.current >= r.size) {
        this.cuts.push(this.committed);
        r.current = 0;
      }
    }
    // Records emitted after the drain's endBatch() (e.g. once container metadata resolves) go
    // out at the end of this event-loop turn: one immediate per batch, not per record.
    this.scheduled ??= setImmediate(this.onImmediate);
    return true;
  }

  /** Writes the batch in one write(), unless the stream asked to wait for 'drain'. */
  endBatch(): void {
    this.cancelImmediate();
    if (!this.blocked) this.writeOut();
  }

  /**
   * Writes everything held (even while the stream is busy: accepted lines are never dropped
   * here) and resolves once the stream has taken all of it (every write callback came), or closed.
   */
  flush(): Promise<void> {
    this.cancelImmediate();
    this.writeOut();
    if (this.inflight === 0 || this.isClosed()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private readonly onImmediate = () => {
    this.scheduled = null;
    if (!this.blocked) this.writeOut();
  };

  private readonly onWritten = () => {
    if (--this.inflight === 0) this.wake();
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private readonly onDrain = () => {
    this.blocked = false;
    this.writeOut();
  };

  /** Closed, or destroyed and about to emit 'close' (a write now would be lost uncounted). */
  private isClosed(): boolean {
    return this.closed || (this.out as NodeJS.WritableStream & { destroyed?: boolean }).destroyed === true;
  }

  private cancelImmediate(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
  }

  private discard(): void {
    this.dropped += this.lines;
    this.lines = 0;
    this.committed = 0;
    this.writer.length = 0;
    this.cuts = [];
  }

  private writeOut(): void {
    if (this.lines === 0) return;
    if (this.isClosed()) return this.discard();
    // The stream holds the bytes until its callback: the writer goes on in a new buffer.
    this.writer.length = this.committed;
    const batch = this.writer.take();
    const cuts = this.cuts;
    this.committed = 0;
    this.lines = 0;
    this.cuts = [];
    let ok = true;
    // One write per file: each cut ends a write (the line there brings the file to its rotation size).
    let start = 0;
    for (const end of cuts) {
      this.inflight++;
      ok = this.out.write(batch.subarray(start, end), this.onWritten) && ok;
      start = end;
    }
    if (start < batch.length) {
      this.inflight++;
      ok = this.out.write(batch.subarray(start), this.onWritten) && ok;
    }
    if (!ok && !this.blocked) {
      this.blocked = true;
      this.out.once('drain', this.onDrain);
    }
  }
}
