// SPDX-License-Identifier: Apache-2.0
/**
 * src/telemetry/sdk-telemetry.ts names what the OTel SDK reports about the agent's OTLP log
 * output: run that output (OtlpLogSink, as the agent builds it) once against a receiver and
 * once against a port nothing listens on, and compare the metrics the SDK really reports.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OtlpLogSink } from '../../src/telemetry/otel.js';
import { sdkLogMetrics } from '../../src/telemetry/sdk-telemetry.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import { freePort } from '../support/agent-process.js';

class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** name -> attribute keys seen, and the error.type values seen. */
function summarise(rm: ResourceMetrics): Map<string, { keys: Set<string>; errors: Set<string>; total: number }> {
  const out = new Map<string, { keys: Set<string>; errors: Set<string>; total: number }>();
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      const e = out.get(m.descriptor.name) ?? { keys: new Set<string>(), errors: new Set<string>(), total: 0 };
      for (const dp of m.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>) {
        for (const k of Object.keys(dp.attributes)) e.keys.add(k);
        if (typeof dp.attributes['error.type'] === 'string') e.errors.add(dp.attributes['error.type']);
        if (typeof dp.value === 'number') e.total += dp.value;
      }
      out.set(m.descriptor.name, e);
    }
  }
  return out;
}

describe('OTel SDK self-metrics of the OTLP log output', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of closers) await c().catch(() => undefined);
  });

  it('are the metrics sdk-telemetry.ts lists, with its attributes, and count failed exports', async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    closers.push(() => provider.shutdown());
    const resource = resourceFromAttributes({ 'service.name': 'contguard-test' });
    const rx = await startOtlpReceiver();
    closers.push(() => rx.close());
    const good = new OtlpLogSink(rx.endpoint, {}, resource, provider, 'test');
    const bad = new OtlpLogSink(`http://127.0.0.1:${await freePort()}`, {}, resource, provider, 'test');
    closers.push(() => good.shutdown(), () => bad.shutdown());
    const record = { eventName: 'contguard.test', timeUnixNano: 1n, severity: 'INFO' as const, body: 'x', attributes: {} };
    for (let i = 0; i < 3; i++) {
      good.write(record);
      bad.write(record);
    }
    await good.flush();
    await bad.flush().catch(() => undefined);
    expect(rx.logs.filter((l) => l.eventName === 'contguard.test')).toHaveLength(3);

    const { resourceMetrics } = await reader.collect();
    const seen = summarise(resourceMetrics);
    const sdkNames = [...seen.keys()].filter((n) => n.startsWith('otel.sdk.')).sort();
    expect(sdkNames).toEqual(sdkLogMetrics.map((m) => m.name).sort());
    for (const m of sdkLogMetrics) {
      // Every attribute the SDK set is documented (error.type, rpc.response.status_code only on failures).
      for (const k of seen.get(m.name)?.keys ?? []) expect(m.attributes, `${m.name}: ${k}`).toContain(k);
    }
    expect(seen.get('otel.sdk.log.created')?.total).toBe(6);
    // The three records sent to nobody are counted as failed exports, the other three not.
    const exported = seen.get('otel.sdk.exporter.log.exported');
    expect(exported?.errors.size).toBe(1);
    expect(exported?.total).toBe(6);
  }, 30_000);
});
