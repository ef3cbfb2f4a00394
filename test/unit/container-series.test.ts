// SPDX-License-Identifier: Apache-2.0
/** ContainerSeries: the series of removed containers leave synchronous instruments (real SDK, real exporters). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { ContainerSeries } from '../../src/telemetry/container-series.js';

async function series(exporter: PrometheusExporter): Promise<string[]> {
  const { resourceMetrics } = await exporter.collect();
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints.map((d) => `${m.descriptor.name} ${String(d.attributes['container.id'])} ${JSON.stringify(d.value)}`)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(() => {
  vi.useRealTimers();
});

describe('ContainerSeries', () => {
  it.each([1, 2])('forgets a removed container on every counter and histogram after the delay (%i reader(s))', async (readers) => {
    const exporters = Array.from({ length: readers }, () => new PrometheusExporter({ preventServerStart: true }));
    const provider = new MeterProvider({ readers: exporters });
    const cs = new ContainerSeries(provider.getMeter('t'));
    const execs = cs.meter.createCounter('execs');
    const sizes = cs.meter.createHistogram('sizes');
    for (const id of ['a', 'b']) {
      execs.add(2, { 'container.id': id });
      sizes.record(5, { 'container.id': id });
    }
    for (const e of exporters) expect((await series(e)).filter((s) => s.includes(' a '))).toHaveLength(2);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    cs.retire('a', 20, () => false);
    expect(cs.pendingCount).toBe(1);
    vi.advanceTimersByTime(20);
    expect(cs.pendingCount).toBe(0);
    expect(cs.forgottenCount).toBe(1); // for another delay: late events are not counted
    for (const e of exporters) {
      const left = await series(e);
      expect(left.filter((s) => s.includes(' a '))).toEqual([]);
      expect(left.filter((s) => s.includes(' b '))).toHaveLength(2);
    }
    // A late event of the forgotten container is not counted (its series would stay for good) ...
    execs.add(1, { 'container.id': 'a' });
    expect((await series(exporters[0]!)).filter((s) => s.startsWith('execs a'))).toEqual([]);
    // ... until it runs again: then it counts from zero.
    cs.revive('a');
    execs.add(1, { 'container.id': 'a' });
    expect((await series(exporters[0]!)).find((s) => s.startsWith('execs a'))).toBe('execs a 1');
    expect(cs.forgottenCount).toBe(0);
    vi.useRealTimers();
    await provider.shutdown();
  });

  it('keeps a container that runs again (same id) and bounds pending retirements', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    const cs = new ContainerSeries(provider.getMeter('t'), 2);
    const execs = cs.meter.createCounter('execs');
    for (const id of ['a', 'b', 'c']) execs.add(1, { 'container.id': id });
    cs.retire('a', 10_000, () => false);
    cs.retire('b', 10_000, () => false);
    cs.retire('c', 20, () => true); // over the bound: a (the oldest) is forgotten at once
    expect(cs.pendingCount).toBe(2);
    expect((await series(exporter)).map((s) => s.split(' ')[1])).toEqual(['b', 'c']);
    await sleep(60);
    expect((await series(exporter)).map((s) => s.split(' ')[1])).toEqual(['b', 'c']); // c runs again: kept
    expect(cs.forgottenCount).toBe(0); // a's late window (20 ms) is over
    cs.stop();
    expect(cs.pendingCount).toBe(0);
    expect(cs.forgottenCount).toBe(0);
    await provider.shutdown();
  });
});
