// SPDX-License-Identifier: Apache-2.0
/** The agent's meter provider: per-container series are not folded into otel.metric.overflow. */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { agentResource, createMetrics } from '../../src/telemetry/otel.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

describe('createMetrics', () => {
  it('keeps 5000 attribute sets of one instrument apart (the SDK default folds those past 2000)', async () => {
    const port = await freePort();
    const m = createMetrics({ resource: agentResource('0.0.0'), prometheus: { host: '127.0.0.1', port, path: '/metrics' }, otlp: null }, '0.0.0');
    await m.ready;
    try {
      const c = m.meter.createCounter('contguard.test.series');
      for (let i = 0; i < 5000; i++) c.add(1, { 'container.id': `c${i}` });
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const lines = text.split('\n').filter((l) => l.startsWith('contguard_test_series_total{'));
      expect(lines).toHaveLength(5000);
      expect(text).not.toContain('otel_metric_overflow');
    } finally {
      await m.shutdown();
    }
  });
});
