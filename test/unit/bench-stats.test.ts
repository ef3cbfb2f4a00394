// SPDX-License-Identifier: Apache-2.0
// The benchmark harness's pure helpers (bench/stats.mjs): what the suite's verdicts are computed from.
import { describe, expect, it } from 'vitest';
import { median, mergeConfig, metricSum, parseLabels, roundRatios, slope } from '../../bench/stats.mjs';

const METRICS = `# HELP contguard_events_received_total Records user space received
# TYPE contguard_events_received_total counter
contguard_events_received_total{sensor="exec"} 3002
contguard_events_received_total{sensor="file_open"} 45741
contguard_events_received_total{sensor="exec_extra"} 7
contguard_events_lost_total{sensor="file_open"} 154265
contguard_events_lost_total{sensor="exec"} 0
contguard_output_dropped_total{output="jsonl"} 12311
contguard_syscalls_total{container_id="abc",container_name="we\\"ird,name",syscall_name="getppid"} 5
`;

describe('metricSum', () => {
  it('sums every sample of a series, or those whose labels match exactly', () => {
    expect(metricSum(METRICS, 'contguard_events_received_total')).toBe(3002 + 45741 + 7);
    expect(metricSum(METRICS, 'contguard_events_received_total', { sensor: 'exec' })).toBe(3002);
    expect(metricSum(METRICS, 'contguard_events_lost_total', { sensor: 'file_open' })).toBe(154265);
    expect(metricSum(METRICS, 'contguard_output_dropped_total', { output: 'jsonl' })).toBe(12311);
  });

  it('does not match a series whose name only starts with the one asked for', () => {
    expect(metricSum(METRICS, 'contguard_events')).toBe(0);
  });

  it('reads escaped quotes and commas inside label values', () => {
    expect(metricSum(METRICS, 'contguard_syscalls_total', { container_name: 'we"ird,name', syscall_name: 'getppid' })).toBe(5);
    expect(parseLabels('a="x\\\\y",b="line\\nnext"')).toEqual(new Map([['a', 'x\\y'], ['b', 'line\nnext']]));
  });
});

describe('median and slope', () => {
  it('median ignores null and NaN, and averages the middle pair', () => {
    expect(median([3, null, 1, Number.NaN, 2, 10])).toBe(2.5);
    expect(median([null])).toBeNull();
  });

  it('slope is the least-squares slope; null without two distinct x', () => {
    expect(slope([0, 10, 20, 30], [100, 102, 104, 106])).toBeCloseTo(0.2, 12);
    expect(slope([0, 10, 20], [5, 1, 5])).toBeCloseTo(0, 12);
    expect(slope([5], [1])).toBeNull();
    expect(slope([5, 5], [1, 2])).toBeNull();
  });
});

describe('mergeConfig', () => {
  it('merges nested objects, the second winning; arrays replace', () => {
    const a = { outputs: { jsonl: { enabled: true, dir: '/a' }, prometheus: { port: 1 } }, list: [1, 2] };
    const b = { outputs: { jsonl: { max_file_bytes: 4096 } }, list: [3] };
    expect(mergeConfig(a, b)).toEqual({ outputs: { jsonl: { enabled: true, dir: '/a', max_file_bytes: 4096 }, prometheus: { port: 1 } }, list: [3] });
    expect(a.outputs.jsonl).toEqual({ enabled: true, dir: '/a' });
  });
});

describe('roundRatios', () => {
  it('divides what a configuration adds by what the reference adds, round by round', () => {
    // rounds of bench/results/syscalls-2026-11-30-cpu-rows-atomic.json (agent, empty tp_btf, baseline)
    const r = roundRatios([228.465, 229.286, 228.741, 229.559], [211.246, 210.707, 213.915, 213.032], [159.601, 159.245, 159.928, 161.051]);
    expect(r.map((x) => Number(x!.toFixed(3)))).toEqual([1.333, 1.361, 1.275, 1.318]);
    expect(median(r as number[])).toBeCloseTo(1.326, 3);
  });

  it('gives null for a round that lacks a figure or whose reference adds nothing', () => {
    expect(roundRatios([230, 231, 232], [210, undefined as unknown as number, 160], [160, 160, 160])).toEqual([1.4, null, null]);
    expect(roundRatios([230], [], [160])).toEqual([null]);
  });
});
