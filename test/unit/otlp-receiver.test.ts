// SPDX-License-Identifier: Apache-2.0
/**
 * The test OTLP receiver decodes what the real OTel SDK + OTLP/gRPC exporters send.
 * First run downloads the official codec once (npm pack, cached in test/.cache/).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { TraceOutput } from '../../src/telemetry/traces.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { loadOtlpCodec } from '../support/otlp-codec.js';

describe('OTLP/gRPC test receiver', () => {
  let rx: OtlpReceiver;

  beforeAll(async () => {
    rx = await startOtlpReceiver();
  }, 240_000);

  afterAll(async () => {
    await rx?.close();
  });

  it('listens on an ephemeral loopback port', () => {
    expect(rx.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(rx.port).toBeGreaterThan(0);
  });

  it('decodes a log record exported by sdk-logs + OTLPLogExporter', async () => {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'contguard-test' }),
      // sdk-logs 0.223: processors take an options object ({ exporter }), not the exporter itself.
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: rx.endpoint }) })],
    });
    try {
      const time = Date.now();
      provider.getLogger('contguard.test.scope', '1.2.3').emit({
        eventName: 'contguard.test',
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: 'hello from the SDK',
        timestamp: time,
        attributes: {
          'container.id': 'abc123',
          'process.pid': 4242,
          'process.exit.ok': true,
          'contguard.ratio': 0.5,
          'process.command_args': ['/bin/sh', '-c', 'echo hi'],
        },
      });
      await provider.forceFlush();
      const log = await rx.waitForLog((l) => l.eventName === 'contguard.test', 10_000);

      expect(log.severityNumber).toBe(13);
      expect(log.severityText).toBe('WARN');
      expect(log.body).toBe('hello from the SDK');
      expect(log.timeUnixNano).toBe(`${BigInt(time) * 1_000_000n}`);
      expect(log.attributes).toEqual({
        'container.id': 'abc123',
        'process.pid': 4242,
        'process.exit.ok': true,
        'contguard.ratio': 0.5,
        'process.command_args': ['/bin/sh', '-c', 'echo hi'],
      });
      expect(log.resource['service.name']).toBe('contguard-test');
      expect(log.scope).toMatchObject({ name: 'contguard.test.scope', version: '1.2.3' });
      expect(rx.errors).toEqual([]);
    } finally {
      await provider.shutdown();
    }
  });

  it('decodes a counter exported by sdk-metrics + OTLPMetricExporter', async () => {
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: rx.endpoint }),
      exportIntervalMillis: 60_000,
      exportTimeoutMillis: 10_000,
    });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'contguard-test' }),
      readers: [reader],
    });
    try {
      const meter = provider.getMeter('contguard.test.meter');
      const counter = meter.createCounter('contguard.test.events', { unit: '{event}' });
      counter.add(3, { 'event.name': 'contguard.test' });
      counter.add(2, { 'event.name': 'contguard.test' });
      const hist = meter.createHistogram('contguard.test.latency', { unit: 's' });
      hist.record(0.25);
      hist.record(0.75);
      await provider.forceFlush();

      const point = await rx.waitForMetric((p) => p.name === 'contguard.test.events', 10_000);
      expect(point).toMatchObject({
        kind: 'sum',
        unit: '{event}',
        value: 5,
        isMonotonic: true,
        temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
        attributes: { 'event.name': 'contguard.test' },
      });
      expect(point.resource['service.name']).toBe('contguard-test');

      const h = await rx.waitForMetric((p) => p.name === 'contguard.test.latency', 10_000);
      expect(h).toMatchObject({ kind: 'histogram', unit: 's', value: 1, count: 2, min: 0.25, max: 0.75 });
      expect(h.bucketCounts!.reduce((a, b) => a + b, 0)).toBe(2);
      expect(rx.errors).toEqual([]);
    } finally {
      await provider.shutdown();
    }
  });

  it('decodes spans the agent\'s trace output (BatchSpanProcessor + OTLPTraceExporter) sends', async () => {
    const metrics = new MeterProvider();
    const out = new TraceOutput({ endpoint: rx.endpoint, headers: {}, resource: resourceFromAttributes({ 'service.name': 'contguard-test', 'container.name': 'web' }), version: '9.9.9', meterProvider: metrics });
    const traceId = '0123456789abcdef0123456789abcdef';
    const base = { traceId, traceFlags: TraceFlags.SAMPLED };
    try {
      out.export({
        name: 'exec ls',
        kind: SpanKind.INTERNAL,
        spanContext: () => ({ ...base, spanId: '1111111111111111' }),
        parentSpanContext: { ...base, spanId: '2222222222222222' },
        startTime: [1_700_000_000, 5],
        endTime: [1_700_000_001, 7],
        duration: [1, 2],
        status: { code: SpanStatusCode.ERROR, message: 'exit code 2' },
        attributes: { 'process.pid': 42, 'process.command_args': ['/bin/ls', '/x'], 'process.exit.code': 2 },
        links: [{ context: { ...base, spanId: '3333333333333333' }, attributes: { 'contguard.link': 'previous_segment' } }],
        events: [],
        ended: true,
        resource: out.resource,
        instrumentationScope: out.scope,
        droppedAttributesCount: 0,
        droppedEventsCount: 0,
        droppedLinksCount: 0,
      });
      await out.flush();
      const span = await rx.waitForSpan((x) => x.name === 'exec ls', 10_000);
      expect(span).toMatchObject({
        traceId,
        spanId: '1111111111111111',
        parentSpanId: '2222222222222222',
        kind: 'SPAN_KIND_INTERNAL',
        startTimeUnixNano: '1700000000000000005',
        endTimeUnixNano: '1700000001000000007',
        status: { code: 'STATUS_CODE_ERROR', message: 'exit code 2' },
        attributes: { 'process.pid': 42, 'process.command_args': ['/bin/ls', '/x'], 'process.exit.code': 2 },
        links: [{ traceId, spanId: '3333333333333333', attributes: { 'contguard.link': 'previous_segment' } }],
        resource: { 'service.name': 'contguard-test', 'container.name': 'web' },
        scope: { name: 'contguard', version: '9.9.9' },
      });
      expect(span.flags & 0xff).toBe(TraceFlags.SAMPLED);
      expect(rx.errors).toEqual([]);
    } finally {
      await out.shutdown();
      await metrics.shutdown();
    }
  });

  it('round-trips a hand-made request through the codec (int64 precision, kvlist, bytes)', async () => {
    const codec = await loadOtlpCodec();
    const buf = codec.encodeLogsRequest({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: '1700000000123456789',
                  severityNumber: 'SEVERITY_NUMBER_ERROR',
                  eventName: 'contguard.codec',
                  body: { kvlistValue: { values: [{ key: 'k', value: { intValue: '9007199254740993' } }] } },
                  attributes: [{ key: 'b', value: { bytesValue: Buffer.from('hi').toString('base64') } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const obj = codec.decodeLogsRequest(buf);
    const lr = obj.resourceLogs[0].scopeLogs[0].logRecords[0];
    expect(lr.timeUnixNano).toBe('1700000000123456789');
    expect(lr.severityNumber).toBe('SEVERITY_NUMBER_ERROR');
    expect(lr.eventName).toBe('contguard.codec');
    expect(lr.body.kvlistValue.values[0].value.intValue).toBe('9007199254740993');
    expect(lr.attributes[0].value.bytesValue).toBe(Buffer.from('hi').toString('base64'));
  });
});
