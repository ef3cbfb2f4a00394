// SPDX-License-Identifier: Apache-2.0
/** ImageModel: the noise floors and the quiet-window rule, on synthetic windows of a steady web server. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_OPTIONS, ImageModel, resourceValues, type Sample } from '../../src/anomaly/model.js';
import type { WindowSummary } from '../../src/anomaly/features.js';
import { seededRandom } from '../../src/anomaly/forest.js';

/** A 2 s window of an httpd serving `requests` requests (each: accept, read, write, close...). */
function httpd(requests: number, extra: Partial<WindowSummary> = {}): Sample {
  const per = { accept: 1, read: 2, write: 2, close: 2, rt_sigaction: 2, alarm: 1, dup2: 1, openat: 1, fstat: 1 };
  const syscalls = new Map(Object.entries(per).map(([k, v]) => [k, v * requests] as [string, number]));
  const summary: WindowSummary = {
    containerId: 'c', containerName: 'web', image: 'web', endMs: 0, seconds: 2, syscalls,
    execs: 0, executables: new Map(), treeDepth: 0, sensitiveOpens: 0, hostSharedOpens: 0, connections: 0,
    peers: new Map(), failedConnects: 0, policyViolations: 0, networkBytes: 0,
    cpuSeconds: 0.0002 * requests, memoryBytes: 1e6, diskBytes: 0, throttledSeconds: 0, tasks: 1, ...extra,
  } as WindowSummary;
  return { summary, smoothed: resourceValues(summary, 2) };
}

const rand = seededRandom(3);
// 5-20 requests per window: shares exactly steady, counts varying.
const baseline = Array.from({ length: 300 }, () => httpd(5 + Math.floor(rand() * 16)));

describe('ImageModel options', () => {
  it('scores a window quieter than the baseline exactly as one at its 5th percentile (quiet_as_baseline)', () => {
    // The baseline's quietest 5 % serve 5 requests a window (p5 of every count and level).
    const p5 = httpd(5);
    for (const options of [DEFAULT_MODEL_OPTIONS, { ...DEFAULT_MODEL_OPTIONS, damping: false, weighted: false, modifiedPath: false }]) {
      const m = ImageModel.fit('web', baseline, options, 2);
      expect(m.score(httpd(1)).score).toBe(m.score(p5).score);
      expect(m.score(httpd(0.5)).score).toBe(m.score(p5).score);
      // The rule off: the quiet window's own values reach the forest.
      const off = ImageModel.fit('web', baseline, { ...options, quietAsBaseline: false }, 2);
      expect(Array.from(off.score(httpd(1)).raw)).toEqual(Array.from(m.score(httpd(1)).raw));
    }
  });

  it('a block write under the disk floor is not new; one far above it is', () => {
    const m = ImageModel.fit('web', baseline, DEFAULT_MODEL_OPTIONS, 2);
    const small = httpd(10, { diskBytes: 4096 });
    const big = httpd(10, { diskBytes: 50e6 });
    expect(m.score({ summary: small.summary, smoothed: resourceValues(small.summary, 2) }).score).toBeLessThan(0.6);
    expect(m.score({ summary: big.summary, smoothed: resourceValues(big.summary, 2) }).score).toBeGreaterThan(0.9);
    const noFloor = ImageModel.fit('web', baseline, { ...DEFAULT_MODEL_OPTIONS, noiseFloors: { share: 0, cpuMs: 0, diskBytes: 0, networkBytes: 0, throttledMs: 0 } }, 2);
    expect(noFloor.score({ summary: small.summary, smoothed: resourceValues(small.summary, 2) }).score).toBeGreaterThan(0.9);
  });
});
