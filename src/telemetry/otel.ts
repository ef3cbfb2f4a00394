// SPDX-License-Identifier: Apache-2.0
/** OpenTelemetry providers: metrics (Prometheus pull + optional OTLP push) and logs (OTLP). */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ROOT_CONTEXT, TraceFlags, diag, DiagLogLevel, trace, type Meter } from '@opentelemetry/api';
import type { AgentLogger } from '../log.js';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { Metadata } from '@grpc/grpc-js';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { Logger } from '@opentelemetry/api-logs';
import type { EventRecord, EventSink } from './record.js';
import { Severity } from './record.js';
import { otlpLogFields } from './escape.js';
import type { ExportTally } from './export-tally.js';

export const SERVICE_NAME = 'contguard';
/** Series one instrument may have (4096 containers x ~25 syscall names each, say). */
export const METRIC_SERIES_LIMIT = 100_000;

/**
 * Recognises an OTLP/gRPC export that failed because no collector answers (gRPC status
 * 14 UNAVAILABLE, or 4 DEADLINE_EXCEEDED) and returns a short reason, e.g.
 * `connect ECONNREFUSED 127.0.0.1:4317`; null for any other message.
 */
export function collectorUnreachableReason(text: string): string | null {
  if (/\b4 DEADLINE_EXCEEDED\b/.test(text)) return 'no answer before the export deadline';
  if (!/\b14 UNAVAILABLE\b/.test(text)) return null;
  const resolution = /Name resolution failed for target (?:dns:)?([^\s)]+)/.exec(text);
  if (resolution) return `cannot resolve ${resolution[1]}`;
  const lastError = /Last error: (?:Error: )?(.*?)\.? Resolution note/.exec(text)?.[1];
  if (lastError && lastError !== 'null') return lastError;
  if (/No connection established/i.test(text)) return 'no connection established';
  const details = (/14 UNAVAILABLE: ([^)]*)/.exec(text)?.[1] ?? '').replace(/\.?\s*Resolution note:.*$/, '').trim();
  return details ? details.slice(0, 100) : 'unavailable';
}

export interface OtelDiagnosticsOptions {
  /** How often one message may be logged (default 60 s). */
  intervalMs?: number;
  /** Most distinct messages remembered for throttling (default 256); the oldest is forgotten first. */
  maxTracked?: number;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

/**
 * Routes the OTel SDK's own warnings (an unreachable collector, dropped records) to the agent's
 * log, each distinct message at most once per interval so a down collector cannot flood it.
 * Export failures because no collector answers, from the log and the metric exporters alike,
 * are one message: `otlp export to <endpoint> failed: collector unreachable (<reason>); retrying`.
 * Messages older than the interval are forgotten, and at most `maxTracked` are remembered.
 * @param endpoint the OTLP endpoint exported to, named in the message (null: not named)
 * @returns how many messages are remembered right now (tests)
 */
export function routeOtelDiagnostics(
  logger: AgentLogger,
  endpoint: string | null = null,
  opts: OtelDiagnosticsOptions = {},
): { tracked(): number } {
  const intervalMs = opts.intervalMs ?? 60_000;
  const maxTracked = Math.max(1, opts.maxTracked ?? 256);
  const now = opts.now ?? (() => performance.now());
  // Last time each message was logged, oldest first (a key is re-inserted when logged again).
  const last = new Map<string, number>();
  const admit = (key: string, t: number): boolean => {
    for (const [k, at] of last) {
      if (at + intervalMs > t) break;
      last.delete(k);
    }
    if (last.has(key)) return false;
    if (last.size >= maxTracked) last.delete(last.keys().next().value as string);
    last.set(key, t);
    return true;
  };
  // The SDK often passes a JSON-serialised error (with its stack): keep its message only.
  const readable = (x: unknown): string => {
    if (x instanceof Error) return x.message;
    if (typeof x !== 'string') return '';
    try {
      const parsed = JSON.parse(x) as { message?: unknown };
      if (parsed && typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON: the text itself
    }
    return x;
  };
  const target = endpoint ? ` to ${endpoint}` : '';
  const throttled = (log: (m: string) => void) => (message: string, ...args: unknown[]) => {
    const text = [message, ...args].map(readable).filter(Boolean).join(' ').split('\n')[0] ?? '';
    const reason = collectorUnreachableReason(text);
    if (reason !== null) {
      if (admit('\0collector unreachable', now())) logger.warn(`otlp export${target} failed: collector unreachable (${reason}); retrying`);
      return;
    }
    if (admit(text.slice(0, 200), now())) log(`otel: ${text}`);
  };
  diag.setLogger(
    {
      error: throttled((m) => logger.error(m)),
      warn: throttled((m) => logger.warn(m)),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  return { tracked: () => last.size };
}

/** The agent's Resource; OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME (e.g. k8s.node.name) are merged over it. */
export function agentResource(version: string): Resource {
  const own = resourceFromAttributes({
    'service.name': SERVICE_NAME,
    'service.version': version,
    'service.instance.id': randomUUID(),
    'host.name': hostname(),
    'os.type': 'linux',
  });
  return own.merge(detectResources({ detectors: [envDetector] }));
}

/** outputs.otlp.headers as gRPC metadata (OTEL_EXPORTER_OTLP_HEADERS is read by the exporters too). */
export function grpcMetadata(headers: Record<string, string>): Metadata | undefined {
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  const m = new Metadata();
  for (const [k, v] of entries) m.set(k.toLowerCase(), v);
  return m;
}

export interface MetricsOptions {
  resource: Resource;
  prometheus: { host: string; port: number; path: string } | null;
  otlp: { endpoint: string; intervalMs: number; headers: Record<string, string> } | null;
  /** Counts the OTLP metric exports (contguard.otlp.exports). */
  exportTally?: ExportTally;
}

export interface Metrics {
  provider: MeterProvider;
  meter: Meter;
  /** Resolves once the Prometheus endpoint listens (or rejects with why it cannot). */
  ready: Promise<void>;
  shutdown(): Promise<void>;
}

export function createMetrics(opts: MetricsOptions, version: string): Metrics {
  const readers: IMetricReader[] = [];
  let ready: Promise<void> = Promise.resolve();
  if (opts.prometheus) {
    const { host, port, path } = opts.prometheus;
    ready = new Promise((resolve, reject) => {
      const exporter = new PrometheusExporter({ host, port, endpoint: path }, (err) => (err ? reject(err) : resolve()));
      readers.push(exporter);
    });
  }
  if (opts.otlp) {
    const exporter = new OTLPMetricExporter({ url: opts.otlp.endpoint, metadata: grpcMetadata(opts.otlp.headers) });
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: opts.exportTally ? opts.exportTally.wrap(exporter, 'metrics') : exporter,
        exportIntervalMillis: opts.otlp.intervalMs,
      }),
    );
  }
  // The SDK's default (2000 series per instrument, then `otel.metric.overflow`) is a few dozen
  // containers for contguard.syscalls; per-container series are bounded by registry.max_containers.
  const provider = new MeterProvider({
    resource: opts.resource,
    readers,
    views: [{ instrumentName: '*', aggregationCardinalityLimit: METRIC_SERIES_LIMIT }],
  });
  return {
    provider,
    meter: provider.getMeter(SERVICE_NAME, version),
    ready,
    shutdown: () => provider.shutdown(),
  };
}

/** OTel log records exported by OTLP gRPC; the SDK reports its own drops as otel.sdk.* metrics. */
export class OtlpLogSink implements EventSink {
  /** The SDK reports its own drops (otel.sdk.* metrics); this sink drops nothing itself. */
  readonly dropped = 0;
  private readonly provider: LoggerProvider;
  private readonly logger: Logger;

  constructor(
    endpoint: string,
    headers: Record<string, string>,
    resource: Resource,
    metrics: MeterProvider,
    version: string,
    /** Tests pass an in-memory exporter; by default OTLP/gRPC to `endpoint`. */
    exporter: ConstructorParameters<typeof BatchLogRecordProcessor>[0]['exporter'] = new OTLPLogExporter({
      url: endpoint,
      metadata: grpcMetadata(headers),
      // otel.sdk.exporter.log.exported{error.type}: records whose export failed (src/telemetry/sdk-telemetry.ts).
      selfObsMeterProvider: metrics,
    }),
    /** Counts the exports (contguard.otlp.exports). */
    exportTally?: ExportTally,
  ) {
    if (exportTally) exportTally.wrap(exporter, 'logs');
    this.provider = new LoggerProvider({
      resource,
      processors: [
        new BatchLogRecordProcessor({
          exporter,
          maxQueueSize: 16384,
          maxExportBatchSize: 1024,
          scheduledDelayMillis: 500,
          selfObsMeterProvider: metrics,
        }),
      ],
      meterProvider: metrics,
    });
    this.logger = this.provider.getLogger(SERVICE_NAME, version);
  }

  write(r: EventRecord): void {
    const seconds = Number(r.timeUnixNano / 1_000_000_000n);
    const nanos = Number(r.timeUnixNano % 1_000_000_000n);
    // Protobuf strings are UTF-8: bytes that are not (surrogate-escaped) go as \xNN + `<key>_raw`.
    const { body, attributes } = otlpLogFields(r.body, r.attributes);
    this.logger.emit({
      eventName: r.eventName,
      timestamp: [seconds, nanos],
      severityNumber: Severity[r.severity],
      severityText: r.severity,
      body,
      attributes,
      // The record's trace and span (e.g. of its process image): the log record's traceId/spanId.
      ...(r.traceId && r.spanId
        ? { context: trace.setSpanContext(ROOT_CONTEXT, { traceId: r.traceId, spanId: r.spanId, traceFlags: r.traceFlags ?? TraceFlags.SAMPLED }) }
        : {}),
    });
  }

  /** Nothing to do: the BatchLogRecordProcessor batches exports itself. */
  endBatch(): void {}

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
