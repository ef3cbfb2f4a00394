// SPDX-License-Identifier: Apache-2.0
/**
 * forgetSeries against the installed @opentelemetry/sdk-metrics: a forgotten attribute set leaves
 * every reader's next collection, the others keep exact cumulative values, and a set observed
 * again starts afresh. The first test documents the SDK behaviour that makes forgetSeries needed:
 * when it fails, the SDK drops unobserved sets itself and forget-series.ts can go.
 */
import { describe, expect, it } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { canForgetSeries, forgetSeries } from '../../src/telemetry/forget-series.js';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

async function points(reader: MetricReader, name: string): Promise<Map<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const metric: MetricData | undefined = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  const out = new Map<string, number>();
  for (const p of (metric?.dataPoints ?? []) as Array<DataPoint<number>>) out.set(String(p.attributes.k), p.value);
  return out;
}

function setup() {
  const a = new TestReader();
  const b = new TestReader();
  const provider = new MeterProvider({ readers: [a, b] });
  const meter = provider.getMeter('test');
  const values = new Map<string, number>();
  const counter = meter.createObservableCounter('c');
  const gauge = meter.createObservableGauge('g');
  const updown = meter.createObservableUpDownCounter('u');
  counter.addCallback((r) => values.forEach((v, k) => r.observe(v, { k })));
  gauge.addCallback((r) => values.forEach((v, k) => r.observe(v, { k })));
  updown.addCallback((r) => values.forEach((v, k) => r.observe(v, { k })));
  return { a, b, provider, values, instruments: [counter, gauge, updown] };
}

describe('forgetSeries (sdk-metrics internals)', () => {
  it('is needed: without it the SDK exports an attribute set the callback stopped observing', async () => {
    const { a, values } = setup();
    values.set('x', 1).set('y', 2);
    await points(a, 'c');
    values.delete('y');
    expect([...(await points(a, 'c')).keys()].sort(), 'the SDK now drops unobserved sets: forget-series.ts is no longer needed').toEqual(['x', 'y']);
  });

  it('recognises the SDK instruments and nothing else', () => {
    const { instruments } = setup();
    for (const i of instruments) expect(canForgetSeries(i)).toBe(true);
    expect(canForgetSeries({})).toBe(false);
    expect(canForgetSeries(null)).toBe(false);
    expect(canForgetSeries({ _metricStorages: [{}] })).toBe(false);
    expect(forgetSeries({ _metricStorages: 'x' }, () => true)).toBe(false);
  });

  it('drops a forgotten set from every reader and instrument kind; the others keep exact values', async () => {
    const { a, b, values, instruments } = setup();
    values.set('x', 10).set('y', 5);
    for (const r of [a, b]) for (const n of ['c', 'g', 'u']) await points(r, n);
    values.set('x', 15);
    await points(a, 'c'); // a collected x=15; b has it stashed
    values.delete('y');
    const isY = (attrs: Attributes) => attrs.k === 'y';
    for (const i of instruments) expect(forgetSeries(i, isY)).toBe(true);
    values.set('x', 20);
    for (const r of [a, b]) {
      for (const n of ['c', 'g', 'u']) expect(Object.fromEntries(await points(r, n)), `${n}`).toEqual({ x: 20 });
    }
    // Later collections: still exact, y still absent.
    values.set('x', 26);
    for (const r of [a, b]) expect(Object.fromEntries(await points(r, 'c'))).toEqual({ x: 26 });
  });

  it('starts a set observed again afresh (a counter is not added to its old value)', async () => {
    const { a, b, values, instruments } = setup();
    values.set('y', 100);
    await points(a, 'c');
    await points(b, 'c');
    values.delete('y');
    for (const i of instruments) forgetSeries(i, (attrs) => attrs.k === 'y');
    expect((await points(a, 'c')).has('y')).toBe(false);
    values.set('y', 3);
    expect(Object.fromEntries(await points(a, 'c'))).toEqual({ y: 3 });
    expect(Object.fromEntries(await points(b, 'c'))).toEqual({ y: 3 });
    values.set('y', 4);
    expect(Object.fromEntries(await points(a, 'c'))).toEqual({ y: 4 });
  });

  it('keeps the memory bounded: 2050 sets observed and forgotten in turn never overflow', async () => {
    const run = async (forget: boolean) => {
      const { a, values, instruments } = setup();
      let last = new Map<string, number>();
      for (let i = 0; i < 2050; i++) {
        values.clear();
        values.set(`s${i}`, i);
        last = await points(a, 'c');
        if (forget) for (const inst of instruments) forgetSeries(inst, (attrs) => attrs.k === `s${i}`);
      }
      return last;
    };
    expect(Object.fromEntries(await run(true))).toEqual({ s2049: 2049 });
    // Without forgetting, the SDK's limit of 2000 sets per instrument folds new ones into overflow.
    const without = await run(false);
    expect(without.size).toBeGreaterThan(1);
    expect(without.has('s2049')).toBe(false);
  });
});
