// SPDX-License-Identifier: Apache-2.0
/**
 * Container churn (real kernel, real Docker): 300 short-lived containers, a few at a time. Each
 * one's entrypoint exec carries its own name; afterwards the agent's state goes back to where it
 * was: registry slots (the kernel map, read by bpftool), the per-container caches
 * (contguard.agent.cache.entries), the series on /metrics and, within a bound, its live heap.
 *
 * Other containers may run on this host meanwhile (other tests, benches): they are tracked too,
 * so "back to baseline" allows a few entries of slack (CHURN_SLACK); a leak of the churned
 * containers would be hundreds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, readJsonLines, startAgent, type AgentHandle } from '../support/agent-process.js';
import { docker, dockerExec, dockerRm, dockerRun, ensureTestImage, uniqueName, REPO_ROOT, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';
import { metricValue, scrape, waitFor } from '../support/metrics.js';
import { registrySlotsInUse } from '../support/bpf.js';
import { liveHeap, rssBytes } from '../support/agent-memory.js';

const CONTAINERS = 300;
const PARALLEL = 10;
/** Entries other containers on this host may add meanwhile. */
const CHURN_SLACK = 8;
/** Short retire and forget periods, so the test sees the end state within seconds. */
const GRACE_MS = 2000;
/**
 * Memory: the live heap (the least contguard.agent.memory{memory.type="heap_used"} seen over a few
 * seconds, i.e. just after a collection) may grow by at most this over the churn. RSS is only
 * reported: V8 and the allocator keep memory they grew into (+30 to +60 MiB here under other
 * tests' load), whatever is live. 300 containers' records, series (~40 each) and cache entries
 * kept would be tens of MiB of heap; 24 MiB leaves room for the young generation's noise.
 */
const HEAP_GROWTH_BOUND = 24 * 1024 * 1024;

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-churn-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** contguard.agent.cache.entries by cache name. */
function caches(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^contguard_agent_cache_entries\{cache="([^"]+)"[^}]*\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('container churn (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let port = 0;
  const prefix = uniqueName('cg-churn');

  beforeAll(async () => {
    await ensureTestImage();
    port = await freePort();
    const cfg = configFile(
      [
        'outputs:',
        '  console: { enabled: false }',
        'registry:',
        `  forget_after_ms: ${GRACE_MS}`,
        '  reconcile_interval_ms: 5000',
        'sensors:',
        `  syscalls: { snapshot_interval_ms: 1000, retire_after_ms: ${GRACE_MS} }`,
        `  io_uring: { retire_after_ms: ${GRACE_MS} }`,
        'resources:',
        '  interval_ms: 1000',
        `  retire_after_ms: ${GRACE_MS}`,
        '',
      ].join('\n'),
    );
    agent = await startAgent({ args: ['--config', cfg, '--prometheus', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    if (agent?.exited()) console.error(`agent exited; stderr:\n${agent.stderr().slice(-4000)}`);
    await agent?.cleanup();
  });

  it(`runs ${CONTAINERS} short-lived containers: each entrypoint exec named, then every per-container state back to baseline`, async () => {
    // Baseline once the agent has settled (its first collections and reads are done).
    await new Promise((r) => setTimeout(r, 3000));
    const base = caches(await scrape(port));
    const baseSlots = registrySlotsInUse(agent.pid);
    const baseRss = rssBytes(agent.pid);
    const baseHeap = await liveHeap(port);
    expect(baseHeap).toBeGreaterThan(0);
    expect(base.get('attributor.containers')).toBeDefined();
    expect(base.get('syscalls.recordings')).toBeDefined();

    const names = Array.from({ length: CONTAINERS }, (_, i) => `${prefix}-${i}`);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await docker(['run', '--rm', '--label', TEST_LABEL, '--network', 'none', '--name', name, TEST_IMAGE, '/bin/echo', name], 60_000);
      }
    };
    try {
      await Promise.all(Array.from({ length: PARALLEL }, worker));
    } finally {
      await dockerRm(names); // only ever ours: --rm removed them unless a run failed
    }
    const rssAfterChurn = rssBytes(agent.pid);

    // Every entrypoint: the container's pid 1, named with the name it echoes.
    const entrypoints = await waitFor(
      'an entrypoint exec record of every container',
      async () => {
        const seen = new Map<string, any>();
        for (const r of readJsonLines(agent.logDir)) {
          if (r.event !== 'contguard.process.exec') continue;
          const args = r.attributes['process.command_args'];
          if (args?.[0] === '/bin/echo' && typeof args[1] === 'string' && args[1].startsWith(`${prefix}-`)) seen.set(args[1], r);
        }
        return seen.size === CONTAINERS ? seen : null;
      },
      30_000,
    ).catch(async (err) => {
      const seen = new Set(readJsonLines(agent.logDir).filter((r) => r.event === 'contguard.process.exec').map((r) => r.attributes['process.command_args']?.[1]));
      throw new Error(`${(err as Error).message}; missing: ${names.filter((n) => !seen.has(n)).slice(0, 10).join(', ')}`);
    });
    const misnamed = [...entrypoints].filter(([name, r]) => r.attributes['container.name'] !== name || r.attributes['process.vpid'] !== 1);
    expect(misnamed.map(([name, r]) => `${name}: ${r.attributes['container.name']} vpid ${r.attributes['process.vpid']}`)).toEqual([]);
    expect(new Set([...entrypoints.values()].map((r) => r.attributes['container.id'])).size).toBe(CONTAINERS);

    // Then, once the grace periods are over: no series of any of them on /metrics ...
    const text = await waitFor(
      'the series of the churned containers to leave /metrics',
      async () => {
        const t = await scrape(port);
        return t.includes(prefix) ? null : t;
      },
      30_000,
    ).catch(async (err) => {
      const stale = (await scrape(port)).split('\n').filter((l) => l.includes(prefix));
      throw new Error(`${(err as Error).message}: ${stale.length} series left, of ${[...new Set(stale.map((l) => l.split('{')[0]))].join(', ')}`);
    });
    // ... every cache back to its baseline (within the slack of other containers) ...
    const settled = await waitFor(
      'the caches to shrink back',
      async () => {
        const now = caches(await scrape(port));
        const over = [...now].filter(([k, v]) => v > (base.get(k) ?? 0) + CHURN_SLACK);
        return over.length === 0 ? now : null;
      },
      30_000,
    ).catch(async (err) => {
      const now = caches(await scrape(port));
      throw new Error(`${(err as Error).message}: baseline ${JSON.stringify(Object.fromEntries(base))}, now ${JSON.stringify(Object.fromEntries(now))}`);
    });
    expect(settled.get('attributor.containers')).toBeLessThanOrEqual((base.get('attributor.containers') ?? 0) + CHURN_SLACK);
    // ... the kernel's registry: slots in use (the map itself) and the gauge ...
    const slots = registrySlotsInUse(agent.pid);
    expect(slots).toBeLessThanOrEqual(baseSlots + CHURN_SLACK);
    expect(metricValue(text, 'contguard_registry_containers')).toBeLessThanOrEqual(baseSlots + CHURN_SLACK);
    expect(metricValue(text, 'contguard_registry_untracked_containers_total')).toBe(0);
    // ... and memory within its bound.
    const rss = rssBytes(agent.pid);
    const heap = await liveHeap(port);
    console.log(
      `churn: ${CONTAINERS} containers; live heap ${(baseHeap / 2 ** 20).toFixed(1)} -> ${(heap / 2 ** 20).toFixed(1)} MiB; RSS ${(baseRss / 2 ** 20).toFixed(1)} MiB before, ${(rssAfterChurn / 2 ** 20).toFixed(1)} MiB right after, ${(rss / 2 ** 20).toFixed(1)} MiB settled; registry slots ${baseSlots} -> ${slots}; caches ${JSON.stringify(Object.fromEntries(settled))}`,
    );
    expect(heap - baseHeap).toBeLessThan(HEAP_GROWTH_BOUND);
    expect(agent.exited()).toBe(false);
  }, 300_000);

  it('drops a removed container\'s io_uring and syscall series after retire_after_ms', async () => {
    // The io_uring fixture of io-uring.test.ts, static so it runs in the busybox image.
    const bin = join(mkdtempSync(join(tmpdir(), 'cg-churn-uring-')), 'uring-open');
    execFileSync('clang', ['-static', '-O2', '-Wall', '-o', bin, join(REPO_ROOT, 'test/e2e/fixtures/uring-open.c')], { timeout: 60_000 });
    const name = uniqueName('cg-churn-uring');
    // Docker's default seccomp profile may block io_uring_setup: this test is about series, not seccomp.
    const id = await dockerRun(['--name', name, '--network', 'none', '--security-opt', 'seccomp=unconfined', TEST_IMAGE, 'sleep', '600']);
    try {
      await docker(['cp', bin, `${id}:/uring-open`]);
      await dockerExec(id, ['/uring-open', '/etc/hostname']);
      const series = (t: string, metric: string) => t.split('\n').filter((l) => l.startsWith(metric) && l.includes(`container_name="${name}"`));
      await waitFor('its io_uring and syscall series', async () => {
        const t = await scrape(port);
        return series(t, 'contguard_io_uring_submissions_total').length > 0 && series(t, 'contguard_syscalls_total').length > 0;
      }, 20_000);
      await dockerRm(id);
      await waitFor('its series to leave /metrics', async () => {
        const t = await scrape(port);
        return ['contguard_io_uring_submissions_total', 'contguard_io_uring_instances_total', 'contguard_syscalls_total', 'contguard_process_execs_total'].every((m) => series(t, m).length === 0);
      }, 30_000);
    } finally {
      await dockerRm(id);
    }
  }, 120_000);
});
