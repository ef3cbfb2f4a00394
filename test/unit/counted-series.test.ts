// SPDX-License-Identifier: Apache-2.0
/** CountedSeries: sums in user space, reported by a real meter's collection, forgettable. */
import { describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader, type CollectionResult } from '@opentelemetry/sdk-metrics';
import { CountedSeries } from '../../src/telemetry/counted-series.js';

class PullReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function points(reader: PullReader): Promise<Array<{ attributes: Record<string, unknown>; value: number }>> {
  const r: CollectionResult = await reader.collect();
  return r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number }))));
}

describe('CountedSeries', () => {
  it('reports each key once with its attributes and exact sum, as a monotonic counter', async () => {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    const c = new CountedSeries(provider.getMeter('t'), 'contguard.test.count', { unit: '{x}' });
    let built = 0;
    const attrsA = () => {
      built++;
      return { 'container.id': 'a' };
    };
    for (let i = 0; i < 1000; i++) c.add('a', attrsA);
    c.add('b', { 'container.id': 'b' }, 5);
    expect(built).toBe(1); // attributes are built once per series
    expect(c.value('a')).toBe(1000);
    const p = await points(reader);
    expect(p).toEqual(expect.arrayContaining([{ attributes: { 'container.id': 'a' }, value: 1000 }, { attributes: { 'container.id': 'b' }, value: 5 }]));
    expect(p).toHaveLength(2);
    const m = (await reader.collect()).resourceMetrics.scopeMetrics[0]!.metrics[0]!;
    expect((m as { isMonotonic?: boolean }).isMonotonic).toBe(true);
    await provider.shutdown();
  });

  it('forget() removes a series from the next collection, the others stay', async () => {
    const reader = new PullReader();
    const provider = new MeterProvider({ readers: [reader] });
    const c = new CountedSeries(provider.getMeter('t'), 'contguard.test.count', { unit: '{x}' });
    c.add('a', { 'container.id': 'a' }, 3);
    c.add('b', { 'container.id': 'b' }, 4);
    expect(await points(reader)).toHaveLength(2);
    c.forget('a');
    expect(c.size).toBe(1);
    expect(await points(reader)).toEqual([{ attributes: { 'container.id': 'b' }, value: 4 }]);
    await provider.shutdown();
  });
});
