// SPDX-License-Identifier: Apache-2.0
/**
 * A tiny OTLP/gRPC receiver for tests: decodes with the official OTLP protos
 * (see otlp-codec.ts) and keeps flattened log records, metric data points and spans.
 *
 *   const rx = await startOtlpReceiver();
 *   // point the agent / SDK at rx.endpoint (http://127.0.0.1:PORT)
 *   const rec = await rx.waitForLog((l) => l.eventName === 'contguard.process.exec', 10_000);
 *   await rx.close();
 */
import * as grpc from '@grpc/grpc-js';
import { loadOtlpCodec, type OtlpCodec } from './otlp-codec.js';

export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
export const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const TRACES_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** A flattened OTLP AnyValue. int64 values become numbers (decimal strings if beyond 2^53). */
export type FlatValue =
  | string
  | number
  | boolean
  | null
  | FlatValue[]
  | { [key: string]: FlatValue };
export type FlatAttributes = Record<string, FlatValue>;

export interface FlatLog {
  eventName: string;
  severityNumber: number;
  severityText: string;
  /** String body as is; other body kinds JSON-encoded; '' when absent. */
  body: string;
  /** Nanoseconds since the epoch as a decimal string ('0' when unset). */
  timeUnixNano: string;
  observedTimeUnixNano: string;
  attributes: FlatAttributes;
  resource: FlatAttributes;
  scope: { name: string; version: string; attributes: FlatAttributes };
  /** Hex trace/span id, '' when absent. */
  traceId: string;
  spanId: string;
  /** W3C trace flags in the low 8 bits (1: sampled); 0 when absent. */
  flags: number;
}

export type MetricKind = 'sum' | 'gauge' | 'histogram';

export interface FlatPoint {
  name: string;
  unit: string;
  description: string;
  kind: MetricKind;
  attributes: FlatAttributes;
  /** Sum/gauge: the value (asInt as number, or asDouble). Histogram: the sum (0 if absent). */
  value: number;
  /** Histogram only. */
  count?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  min?: number;
  max?: number;
  /** Sum/histogram: e.g. 'AGGREGATION_TEMPORALITY_CUMULATIVE'. */
  temporality?: string;
  isMonotonic?: boolean;
  startTimeUnixNano: string;
  timeUnixNano: string;
  resource: FlatAttributes;
  scope: { name: string; version: string };
}

export interface FlatSpan {
  /** Hex ids; parentSpanId '' for a root span. */
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** e.g. 'SPAN_KIND_INTERNAL'. */
  kind: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: FlatAttributes;
  /** code e.g. 'STATUS_CODE_ERROR' ('STATUS_CODE_UNSET' when absent). */
  status: { code: string; message: string };
  links: Array<{ traceId: string; spanId: string; attributes: FlatAttributes }>;
  events: Array<{ name: string; timeUnixNano: string; attributes: FlatAttributes }>;
  /** Events the producer left out of the span (over its limit). */
  droppedEventsCount: number;
  /** W3C trace flags in the low 8 bits, plus the OTLP HAS_IS_REMOTE/IS_REMOTE bits. */
  flags: number;
  resource: FlatAttributes;
  scope: { name: string; version: string };
}

export interface ReceiverState {
  logs: FlatLog[];
  metrics: FlatPoint[];
  spans: FlatSpan[];
}

export interface OtlpReceiver extends ReceiverState {
  /** `http://127.0.0.1:PORT`, usable as OTLP gRPC exporter url. */
  endpoint: string;
  port: number;
  /** Raw decoded requests (toObject form), in arrival order. */
  logRequests: Record<string, any>[];
  metricRequests: Record<string, any>[];
  traceRequests: Record<string, any>[];
  /** Requests that failed to decode. */
  errors: Error[];
  /**
   * Resolves with pred's first truthy result; pred is evaluated now and after each export.
   * Rejects after timeoutMs with a summary of what was received.
   */
  waitFor<T>(pred: (state: ReceiverState) => T | null | undefined | false, timeoutMs?: number): Promise<T>;
  /** Resolves with the first log record matching pred. */
  waitForLog(pred: (log: FlatLog) => boolean, timeoutMs?: number): Promise<FlatLog>;
  /** Resolves with the latest data point matching pred. */
  waitForMetric(pred: (point: FlatPoint) => boolean, timeoutMs?: number): Promise<FlatPoint>;
  /** Resolves with the first span matching pred. */
  waitForSpan(pred: (span: FlatSpan) => boolean, timeoutMs?: number): Promise<FlatSpan>;
  /** Forgets everything received so far. */
  clear(): void;
  close(): Promise<void>;
}

// ---- flattening ------------------------------------------------------------------------------

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

function int64(v: string | number): number | string {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : String(v);
}

/** Flattens an OTLP AnyValue in toObject form. */
export function flattenAnyValue(v: Record<string, any> | null | undefined): FlatValue {
  if (v == null) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return int64(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('bytesValue' in v) return v.bytesValue; // base64
  if ('arrayValue' in v) return (v.arrayValue?.values ?? []).map(flattenAnyValue);
  if ('kvlistValue' in v) return flattenAttributes(v.kvlistValue?.values);
  return null;
}

/** Flattens repeated KeyValue (toObject form) into a record. */
export function flattenAttributes(kvs: Array<Record<string, any>> | undefined): FlatAttributes {
  const out: FlatAttributes = {};
  for (const kv of kvs ?? []) out[kv.key ?? ''] = flattenAnyValue(kv.value);
  return out;
}

function b64ToHex(b64: string | undefined): string {
  return b64 ? Buffer.from(b64, 'base64').toString('hex') : '';
}

export function flattenLogsRequest(req: Record<string, any>, codec: OtlpCodec): FlatLog[] {
  const out: FlatLog[] = [];
  for (const rl of req.resourceLogs ?? []) {
    const resource = flattenAttributes(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      const scope = {
        name: sl.scope?.name ?? '',
        version: sl.scope?.version ?? '',
        attributes: flattenAttributes(sl.scope?.attributes),
      };
      for (const lr of sl.logRecords ?? []) {
        const sev = lr.severityNumber;
        const severityNumber =
          typeof sev === 'number' ? sev : typeof sev === 'string' ? Number(codec.SeverityNumber[sev] ?? 0) : 0;
        const body = flattenAnyValue(lr.body);
        out.push({
          eventName: lr.eventName ?? '',
          severityNumber,
          severityText: lr.severityText ?? '',
          body: body == null ? '' : typeof body === 'string' ? body : JSON.stringify(body),
          timeUnixNano: String(lr.timeUnixNano ?? '0'),
          observedTimeUnixNano: String(lr.observedTimeUnixNano ?? '0'),
          attributes: flattenAttributes(lr.attributes),
          resource,
          scope,
          traceId: b64ToHex(lr.traceId),
          spanId: b64ToHex(lr.spanId),
          flags: toNumber(lr.flags),
        });
      }
    }
  }
  return out;
}

export function flattenMetricsRequest(req: Record<string, any>): FlatPoint[] {
  const out: FlatPoint[] = [];
  for (const rm of req.resourceMetrics ?? []) {
    const resource = flattenAttributes(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      const scope = { name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' };
      for (const m of sm.metrics ?? []) {
        const base = { name: m.name ?? '', unit: m.unit ?? '', description: m.description ?? '', resource, scope };
        const times = (dp: Record<string, any>) => ({
          startTimeUnixNano: String(dp.startTimeUnixNano ?? '0'),
          timeUnixNano: String(dp.timeUnixNano ?? '0'),
        });
        const numberValue = (dp: Record<string, any>) =>
          'asInt' in dp ? toNumber(dp.asInt) : 'asDouble' in dp ? toNumber(dp.asDouble) : 0;
        if (m.sum) {
          for (const dp of m.sum.dataPoints ?? []) {
            out.push({
              ...base,
              kind: 'sum',
              attributes: flattenAttributes(dp.attributes),
              value: numberValue(dp),
              temporality: m.sum.aggregationTemporality ?? 'AGGREGATION_TEMPORALITY_UNSPECIFIED',
              isMonotonic: m.sum.isMonotonic ?? false,
              ...times(dp),
            });
          }
        } else if (m.gauge) {
          for (const dp of m.gauge.dataPoints ?? []) {
            out.push({ ...base, kind: 'gauge', attributes: flattenAttributes(dp.attributes), value: numberValue(dp), ...times(dp) });
          }
        } else if (m.histogram || m.exponentialHistogram) {
          const h = m.histogram ?? m.exponentialHistogram;
          for (const dp of h.dataPoints ?? []) {
            const p: FlatPoint = {
              ...base,
              kind: 'histogram',
              attributes: flattenAttributes(dp.attributes),
              value: toNumber(dp.sum),
              count: toNumber(dp.count),
              temporality: h.aggregationTemporality ?? 'AGGREGATION_TEMPORALITY_UNSPECIFIED',
              ...times(dp),
            };
            if (m.histogram) {
              p.bucketCounts = (dp.bucketCounts ?? []).map(toNumber);
              p.explicitBounds = (dp.explicitBounds ?? []).map(toNumber);
            }
            if ('min' in dp) p.min = toNumber(dp.min);
            if ('max' in dp) p.max = toNumber(dp.max);
            out.push(p);
          }
        }
        // Summary points are not used by ContGuard and are ignored.
      }
    }
  }
  return out;
}

export function flattenTracesRequest(req: Record<string, any>): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = flattenAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' };
      for (const sp of ss.spans ?? []) {
        out.push({
          traceId: b64ToHex(sp.traceId),
          spanId: b64ToHex(sp.spanId),
          parentSpanId: b64ToHex(sp.parentSpanId),
          name: sp.name ?? '',
          kind: String(sp.kind ?? 'SPAN_KIND_UNSPECIFIED'),
          startTimeUnixNano: String(sp.startTimeUnixNano ?? '0'),
          endTimeUnixNano: String(sp.endTimeUnixNano ?? '0'),
          attributes: flattenAttributes(sp.attributes),
          status: { code: String(sp.status?.code ?? 'STATUS_CODE_UNSET'), message: sp.status?.message ?? '' },
          links: (sp.links ?? []).map((l: Record<string, any>) => ({
            traceId: b64ToHex(l.traceId),
            spanId: b64ToHex(l.spanId),
            attributes: flattenAttributes(l.attributes),
          })),
          events: (sp.events ?? []).map((e: Record<string, any>) => ({
            name: e.name ?? '',
            timeUnixNano: String(e.timeUnixNano ?? '0'),
            attributes: flattenAttributes(e.attributes),
          })),
          droppedEventsCount: toNumber(sp.droppedEventsCount),
          flags: toNumber(sp.flags),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

// ---- server ----------------------------------------------------------------------------------

const DEFAULT_WAIT_MS = 10_000;
const SHUTDOWN_GRACE_MS = 2_000;

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const codec = await loadOtlpCodec();

  const logs: FlatLog[] = [];
  const metrics: FlatPoint[] = [];
  const logRequests: Record<string, any>[] = [];
  const metricRequests: Record<string, any>[] = [];
  const spans: FlatSpan[] = [];
  const traceRequests: Record<string, any>[] = [];
  const errors: Error[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };

  const decoding = (fn: (buf: Buffer) => Record<string, any>) => (buf: Buffer) => {
    try {
      return fn(buf);
    } catch (err) {
      errors.push(err as Error);
      throw err;
    }
  };

  const unary = (
    path: string,
    decode: (buf: Buffer) => Record<string, any>,
    emptyResponse: () => Buffer,
  ): grpc.MethodDefinition<Record<string, any>, object> => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: () => {
      throw new Error('receiver does not send requests');
    },
    requestDeserialize: decoding(decode),
    responseSerialize: () => emptyResponse(),
    responseDeserialize: () => ({}),
  });

  const logsService: grpc.ServiceDefinition = {
    Export: unary(LOGS_EXPORT_PATH, codec.decodeLogsRequest, codec.emptyLogsResponse),
  };
  const metricsService: grpc.ServiceDefinition = {
    Export: unary(METRICS_EXPORT_PATH, codec.decodeMetricsRequest, codec.emptyMetricsResponse),
  };
  const tracesService: grpc.ServiceDefinition = {
    Export: unary(TRACES_EXPORT_PATH, codec.decodeTracesRequest, codec.emptyTracesResponse),
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  server.addService(logsService, {
    Export: (call: grpc.ServerUnaryCall<Record<string, any>, object>, cb: grpc.sendUnaryData<object>) => {
      logRequests.push(call.request);
      for (const l of flattenLogsRequest(call.request, codec)) logs.push(l);
      cb(null, {});
      notify();
    },
  });
  server.addService(metricsService, {
    Export: (call: grpc.ServerUnaryCall<Record<string, any>, object>, cb: grpc.sendUnaryData<object>) => {
      metricRequests.push(call.request);
      for (const p of flattenMetricsRequest(call.request)) metrics.push(p);
      cb(null, {});
      notify();
    },
  });
  server.addService(tracesService, {
    Export: (call: grpc.ServerUnaryCall<Record<string, any>, object>, cb: grpc.sendUnaryData<object>) => {
      traceRequests.push(call.request);
      for (const sp of flattenTracesRequest(call.request)) spans.push(sp);
      cb(null, {});
      notify();
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );

  let closed = false;
  const state: ReceiverState = { logs, metrics, spans };

  const summary = () => {
    const names = [...new Set(logs.map((l) => l.eventName))].slice(0, 20);
    const mnames = [...new Set(metrics.map((m) => m.name))].slice(0, 20);
    return (
      `received ${logs.length} log record(s) [eventNames: ${names.join(', ') || '-'}], ` +
      `${metrics.length} data point(s) [metrics: ${mnames.join(', ') || '-'}], ${spans.length} span(s), ${errors.length} decode error(s)`
    );
  };

  function waitFor<T>(pred: (s: ReceiverState) => T | null | undefined | false, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        listeners.delete(check);
        clearTimeout(timer);
        fn();
      };
      // Runs now, after every export, and on close().
      const check = () => {
        if (settled) return;
        let r: T | null | undefined | false;
        try {
          r = pred(state);
        } catch (err) {
          finish(() => reject(err));
          return;
        }
        if (r) finish(() => resolve(r as T));
        else if (closed) finish(() => reject(new Error(`OTLP receiver closed while waiting; ${summary()}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; ${summary()}`))),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });
  }

  const findLast = <T>(arr: T[], pred: (x: T) => boolean): T | undefined => {
    for (let i = arr.length - 1; i >= 0; i--) if (pred(arr[i]!)) return arr[i];
    return undefined;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    logs,
    metrics,
    spans,
    logRequests,
    metricRequests,
    traceRequests,
    errors,
    waitFor,
    waitForLog: (pred, timeoutMs) => waitFor((s) => s.logs.find(pred), timeoutMs),
    waitForMetric: (pred, timeoutMs) => waitFor((s) => findLast(s.metrics, pred), timeoutMs),
    waitForSpan: (pred, timeoutMs) => waitFor((s) => s.spans.find(pred), timeoutMs),
    clear() {
      logs.length = 0;
      metrics.length = 0;
      spans.length = 0;
      logRequests.length = 0;
      metricRequests.length = 0;
      traceRequests.length = 0;
      errors.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      notify();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
