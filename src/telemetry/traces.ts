// SPDX-License-Identifier: Apache-2.0
/**
 * The trace output: spans go by OTLP gRPC (outputs.otlp.traces), e.g. to Tempo through the
 * Collector. Spans are built whole by their producer (the process sensor builds each one
 * as a ReadableSpan when it ends; no tracer, no context propagation) and handed to a
 * BatchSpanProcessor, which batches them (at most one export a second) and bounds its queue;
 * the SDK reports its own drops (otel.sdk.* metrics, as for log records).
 */
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { SERVICE_NAME, grpcMetadata } from './otel.js';
import { TraceFlags } from '@opentelemetry/api';
import type { Attributes, EventRecord, SeverityName } from './record.js';
import type { ExportTally } from './export-tally.js';
import { readBootId, type ImageId } from './trace-ids.js';

/** Spans queued for export at most; beyond, the SDK drops them (otel.sdk.processor.span.processed). */
export const SPAN_QUEUE_SIZE = 16384;
export const SPAN_BATCH_SIZE = 1024;
export const SPAN_EXPORT_DELAY_MS = 1000;

/** What the exec sensor knows of a process image that the process sensor does not. */
export interface ExecImageDetails {
  cgroupId: bigint;
  image: ImageId;
  /** The executable as the container sees it ('' when unknown). */
  exePath: string;
  /** As passed to exec. */
  filename: string;
  argv: string[];
  argsTruncated: boolean;
}

/** The trace context a log record carries (hex ids, W3C trace flags). */
export interface LogTraceContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** What a record adds to the span of its process (e.g. `file.open`, `network.connect`). */
export interface SpanEventIn {
  name: string;
  /** When it happened (kernel CLOCK_MONOTONIC ns). */
  atNs: bigint;
  /** Record attributes (the OTLP escaping rule applies, as to span attributes). */
  attributes: Attributes;
  /** The process's comm, for a span made from its records (one that began before the agent). */
  comm?: string;
}

/** What the process sensor offers other producers of records, once it runs. */
export interface ProcessTraceHooks {
  /** An exec record's details (called as the record is decoded, before attribution). */
  execDetails(details: ExecImageDetails): void;
  /** The trace context of a record about `image` at `atNs` (kernel clock), or null when not traced. */
  logContext(containerId: string, cgroupId: bigint, image: ImageId, atNs: bigint): LogTraceContext | null;
  /** An event of the span of `image` in the run of `cgroupId` (bounded per span and in all). */
  spanEvent(cgroupId: bigint, image: ImageId, event: SpanEventIn): void;
  /** Every record the agent emits (a WARN record makes its container's run traced). */
  observe(record: EventRecord): void;
}

/** The trace fields of an EventRecord: the trace and the span of the process image it is about. */
export type RecordTraceFields = Pick<EventRecord, 'traceId' | 'spanId' | 'traceFlags'>;

/**
 * The trace fields of a record of `severity` about `image` of a container's run (none without
 * the process sensor, or for a host task). A WARN record is flagged sampled: it makes its run
 * traced (ProcessTraceHooks.observe) as it is emitted.
 */
export function recordTraceFields(
  hooks: ProcessTraceHooks | null | undefined,
  containerId: string | undefined,
  cgroupId: bigint,
  image: ImageId,
  atNs: bigint,
  severity: SeverityName,
): RecordTraceFields {
  if (!hooks || !containerId || image.pid === 0) return {};
  const t = hooks.logContext(containerId, cgroupId, image, atNs);
  if (!t) return {};
  return { traceId: t.traceId, spanId: t.spanId, traceFlags: severity === 'WARN' ? TraceFlags.SAMPLED : t.traceFlags };
}

export interface TraceOutputOptions {
  endpoint: string;
  headers: Record<string, string>;
  resource: Resource;
  /** The agent's version (the spans' instrumentation scope is contguard@version). */
  version: string;
  /** For the SDK's own metrics of the span processor (otel.sdk.*). */
  meterProvider: MeterProvider;
  /** Tests pass an in-memory exporter; by default OTLP/gRPC to `endpoint`. */
  exporter?: SpanExporter;
  /** Counts the exports (contguard.otlp.exports). */
  exportTally?: ExportTally;
}

export class TraceOutput {
  /** This boot (part of every trace id). */
  readonly bootId = readBootId();
  readonly resource: Resource;
  readonly scope: { name: string; version: string };
  /** Set by the process sensor while it runs. */
  processes: ProcessTraceHooks | null = null;
  private readonly processor: BatchSpanProcessor;

  constructor(opts: TraceOutputOptions) {
    this.resource = opts.resource;
    this.scope = { name: SERVICE_NAME, version: opts.version };
    const exporter = opts.exporter ?? new OTLPTraceExporter({ url: opts.endpoint, metadata: grpcMetadata(opts.headers) });
    opts.exportTally?.wrap(exporter, 'traces');
    // sdk-trace-base's BufferConfig does not declare selfObsMeterProvider, which the processor
    // it extends takes (the options object is passed through whole).
    const config = {
      maxQueueSize: SPAN_QUEUE_SIZE,
      maxExportBatchSize: SPAN_BATCH_SIZE,
      scheduledDelayMillis: SPAN_EXPORT_DELAY_MS,
      selfObsMeterProvider: opts.meterProvider,
    };
    this.processor = new BatchSpanProcessor(exporter, config as ConstructorParameters<typeof BatchSpanProcessor>[1]);
  }

  /** Queues one ended span (a span without the sampled flag is ignored by the processor). */
  export(span: ReadableSpan): void {
    this.processor.onEnd(span);
  }

  /** Every record the agent emits. */
  observe(record: EventRecord): void {
    this.processes?.observe(record);
  }

  flush(): Promise<void> {
    return this.processor.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.processor.shutdown();
  }
}
