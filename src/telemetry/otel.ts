// SPDX-License-Identifier: Apache-2.0
/** OpenTelemetry providers: metrics (Prometheus pull + optional OTLP push) and logs (OTLP). */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { diag, DiagLogLevel, type Meter } from '@opentelemetry/api';
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

export const SERVICE_NAME = 'contguard';

/**
 * Routes the OTel SDK's own warnings (an unreachable collector, dropped records) to the agent's
 * log, each distinct message at most once a minute so a down collector cannot flood it.
 */
export function routeOtelDiagnostics(logger: AgentLogger, intervalMs = 60_000): void {
  const last = new Map<string, number>();
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
  const throttled = (log: (m: string) => void) => (message: string, ...args: unknown[]) => {
    const text = [message, ...args].map(readable).filter(Boolean).join(' ').split('\n')[0];
    const key = text.slice(0, 200);
    const now = Date.now();
    if ((last.get(key) ?? -Infinity) + intervalMs > now) return;
    last.set(key, now);
    log(`otel: ${text}`);
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
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: opts.otlp.endpoint, metadata: grpcMetadata(opts.otlp.headers) }),
        exportIntervalMillis: opts.otlp.intervalMs,
      }),
    );
  }
  const provider = new MeterProvider({ resource: opts.resource, readers });
  return {
    provider,
    meter: provider.getMeter(SERVICE_NAME, version),
    ready,
    shutdown: () => provider.shutdown(),
  };
}

/** OTel log records exported by OTLP gRPC; the SDK reports its own drops as otel.sdk.* metrics. */
export class OtlpLogSink implements EventSink {
  private readonly provider: LoggerProvider;
  private readonly logger: Logger;

  constructor(endpoint: string, headers: Record<string, string>, resource: Resource, metrics: MeterProvider, version: string) {
    this.provider = new LoggerProvider({
      resource,
      processors: [
        new BatchLogRecordProcessor({
          exporter: new OTLPLogExporter({ url: endpoint, metadata: grpcMetadata(headers) }),
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
    this.logger.emit({
      eventName: r.eventName,
      timestamp: [seconds, nanos],
      severityNumber: Severity[r.severity],
      severityText: r.severity,
      body: r.body,
      attributes: r.attributes,
    });
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
