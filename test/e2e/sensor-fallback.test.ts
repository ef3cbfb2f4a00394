// SPDX-License-Identifier: Apache-2.0
/**
 * A sensor variant that fails after it started (its attach, here its start) falls back to the
 * next, and the failed variant's metric callbacks go with its object: nothing reads the maps of a
 * closed object at collection (in process, real kernel, a real Prometheus scrape).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { Sensor } from '../../src/sensors/sensor.js';
import { freePort } from '../support/agent-process.js';
import { REPO_ROOT } from '../support/docker.js';

function buildObject(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'cg-fallback-')), 'cgroup_count.bpf.o');
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
  execFileSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-Ibpf/build', '-Ibpf/include', '-Ibpf', '-c', 'test/e2e/fixtures/cgroup_count.bpf.c', '-o', out], { cwd: REPO_ROOT, timeout: 60_000 });
  return out;
}

describe('sensor variant fallback (in process, real kernel)', () => {
  let agent: RunningAgent | undefined;
  let port = 0;
  const calls = { broken: 0, working: 0 };
  const lines: string[] = [];

  beforeAll(async () => {
    const objectPath = buildObject();
    const sensor: Sensor = {
      name: 'fallback_test',
      objectPath,
      telemetry: { metrics: [], events: [] },
      enabled: () => true,
      variants: () => ['broken', 'working'],
      start(obj, ctx, variant) {
        const fd = obj.mapFd('test_egress');
        ctx.meter.createObservableGauge(`contguard.test.${variant}`).addCallback((r) => {
          calls[variant as 'broken' | 'working']++;
          r.observe(fd);
        });
        if (variant === 'broken') throw new Error('this variant cannot attach here');
        return { rings: [], lossMaps: [] };
      },
    };
    port = await freePort();
    const cfg = parseConfig(
      `outputs:\n  console:\n    enabled: false\n  jsonl:\n    enabled: false\n  prometheus:\n    port: ${port}\nsensors:\n  exec:\n    enabled: false\n  syscalls:\n    enabled: false\nresources:\n  enabled: false\n`,
      'test',
    );
    agent = await startAgent(cfg, { logger: createLogger('warn', (l) => void lines.push(l)), sensors: [sensor] });
  });

  afterAll(async () => {
    await agent?.stop();
  });

  it('falls back, says so once, and only the running variant is observed at collection', async () => {
    expect(agent!.sensorVariants['fallback_test']).toBe('working');
    expect(lines.filter((l) => l.includes('fallback_test: broken unavailable (this variant cannot attach here); falling back to working'))).toHaveLength(1);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^contguard_test_working\{.*\} \d+$/m);
    expect(text).not.toMatch(/^contguard_test_broken\{/m);
    expect(calls.working).toBeGreaterThan(0);
    expect(calls.broken).toBe(0);
  });
});
