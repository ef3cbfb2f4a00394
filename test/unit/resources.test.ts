// SPDX-License-Identifier: Apache-2.0
/**
 * The resource collector on fixture cgroup trees (files as the kernel writes them, in a temp
 * dir): layout detection and per-controller paths on v2, v1 and hybrid hosts, one read of each,
 * and the collector end to end through a real MeterProvider: values, attributes, one set of series
 * per container, errors of vanished cgroups, and series retired after resources.retire_after_ms.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import type { AgentLogger } from '../../src/log.js';
import type { ContainerInfo } from '../../src/containers/attributor.js';
import type { RegistryEntry } from '../../src/registry/index.js';
import { detectLayout, dirsComplete, readSample, resolveContainerDirs, USER_HZ } from '../../src/resources/cgroup-stats.js';
import { ResourceCollector, resourcesTelemetry } from '../../src/resources/index.js';

const ID = 'a'.repeat(64);
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cg-res-'));
  temps.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

const PRESSURE = {
  cpu: 'some avg10=12.50 avg60=3.00 avg300=1.00 total=2500000\nfull avg10=2.25 avg60=0.50 avg300=0.10 total=500000\n',
  memory: 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=400\n',
  io: 'some avg10=0.10 avg60=0.00 avg300=0.00 total=90\nfull avg10=0.05 avg60=0.00 avg300=0.00 total=60\n',
};

/** A cgroup v2 host (systemd driver): everything in one hierarchy. */
function v2Tree(): { root: string; rel: string } {
  const rel = `/system.slice/docker-${ID}.scope`;
  const c = `cg${rel}`;
  const root = tree({
    'cg/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
    'cg/cgroup.procs': '1\n',
    [`${c}/cgroup.procs`]: '4242\n4243\n',
    [`${c}/cpu.stat`]: 'usage_usec 2500000\nuser_usec 1500000\nsystem_usec 1000000\nnice_usec 0\nnr_periods 120\nnr_throttled 7\nthrottled_usec 350000\nnr_bursts 0\nburst_usec 0\n',
    [`${c}/memory.current`]: '26214400\n',
    [`${c}/memory.stat`]: 'anon 20971520\nfile 4194304\nkernel 1048576\nshmem 0\nactive_anon 20000000\ninactive_anon 971520\nactive_file 3145728\ninactive_file 1048576\nunevictable 0\n',
    [`${c}/memory.events`]: 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n',
    [`${c}/io.stat`]: '8:0 rbytes=4096 wbytes=8388608 rios=1 wios=8 dbytes=0 dios=0\n253:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n',
    [`${c}/pids.current`]: '3\n',
    [`${c}/cpu.pressure`]: PRESSURE.cpu,
    [`${c}/memory.pressure`]: PRESSURE.memory,
    [`${c}/io.pressure`]: PRESSURE.io,
  });
  return { root: join(root, 'cg'), rel };
}

const V1_FILES = (dir: (c: string) => string): Record<string, string> => ({
  [`${dir('cpuacct')}/cpuacct.usage_user`]: '1739975063\n',
  [`${dir('cpuacct')}/cpuacct.usage_sys`]: '9875190753\n',
  [`${dir('cpuacct')}/cpuacct.stat`]: 'user 173\nsystem 986\n',
  [`${dir('cpu')}/cpu.stat`]: 'nr_periods 40\nnr_throttled 4\nthrottled_time 123000000\nnr_bursts 0\nburst_time 0\n',
  [`${dir('memory')}/memory.usage_in_bytes`]: '23068672\n',
  [`${dir('memory')}/memory.stat`]:
    'cache 2097152\nrss 20971520\nshmem 0\ninactive_file 1000\nactive_file 12288\ntotal_cache 2097152\ntotal_rss 20971520\ntotal_shmem 0\ntotal_inactive_anon 45056\ntotal_active_anon 4096\ntotal_inactive_file 2097152\ntotal_active_file 0\nhierarchical_memory_limit 9223372036854771712\n',
  [`${dir('memory')}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  [`${dir('blkio')}/blkio.throttle.io_service_bytes_recursive`]: '8:0 Read 1048576\n8:0 Write 8388608\n8:0 Sync 8388608\n8:0 Async 1048576\n8:0 Discard 0\n8:0 Total 9437184\nTotal 9437184\n',
  [`${dir('pids')}/pids.current`]: '2\n',
});

const V1_MOUNTS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];

/** A cgroup v1 host (cgroupfs driver): one hierarchy per controller, ids from the memory one. */
function v1Tree(): { root: string; rel: string } {
  const rel = `/docker/${ID}`;
  const files: Record<string, string> = {};
  for (const c of V1_MOUNTS) {
    files[`cg/${c}/tasks`] = '1\n';
    files[`cg/${c}/cgroup.procs`] = '1\n';
    files[`cg/${c}${rel}/cgroup.procs`] = '4242\n';
  }
  Object.assign(files, V1_FILES((c) => `cg/${c}${rel}`));
  return { root: join(tree(files), 'cg'), rel };
}

/**
 * A hybrid host: ids from the unified hierarchy, which holds only core files (cpu.stat without
 * throttling) and PSI; memory sits at another path in its v1 hierarchy, found through
 * /proc/<pid>/cgroup; the others at the same relative path.
 */
function hybridTree(): { root: string; proc: string; rel: string } {
  const rel = `/docker/${ID}`;
  const files: Record<string, string> = {
    'cg/unified/cgroup.procs': '1\n',
    [`cg/unified${rel}/cgroup.procs`]: '4242\n',
    [`cg/unified${rel}/cpu.stat`]: 'usage_usec 11598450\nuser_usec 1737471\nsystem_usec 9860979\nnice_usec 0\n',
    [`cg/unified${rel}/cpu.pressure`]: PRESSURE.cpu,
    [`cg/unified${rel}/memory.pressure`]: PRESSURE.memory,
    [`cg/unified${rel}/io.pressure`]: PRESSURE.io,
    'proc/4242/cgroup': `9:name=systemd:${rel}\n8:pids:${rel}\n7:blkio:${rel}\n4:memory:/elsewhere/${ID}\n2:cpuacct:${rel}\n1:cpu:${rel}\n0::${rel}\n`,
  };
  for (const c of V1_MOUNTS) files[`cg/${c}/tasks`] = '1\n';
  Object.assign(files, V1_FILES((c) => (c === 'memory' ? `cg/memory/elsewhere/${ID}` : `cg/${c}${rel}`)));
  // A decoy at the same relative path: /proc says memory is elsewhere.
  files[`cg/memory${rel}/memory.usage_in_bytes`] = '1\n';
  const root = tree(files);
  return { root: join(root, 'cg'), proc: join(root, 'proc'), rel };
}

describe('cgroup layout and per-controller directories', () => {
  it('cgroup v2: one hierarchy, every directory the container one', async () => {
    const { root, rel } = v2Tree();
    const layout = await detectLayout(root);
    expect(layout).toEqual({ unified: root, v1: {} });
    const dirs = await resolveContainerDirs(layout, root, rel);
    expect(dirs).toEqual({ unified: join(root, rel), v1: {} });
    expect(dirsComplete(layout, dirs)).toBe(true);
  });

  it('cgroup v1: a hierarchy per controller, found at the same relative path', async () => {
    const { root, rel } = v1Tree();
    const layout = await detectLayout(root);
    expect(layout.unified).toBeNull();
    expect(Object.keys(layout.v1).sort()).toEqual([...V1_MOUNTS].sort());
    const dirs = await resolveContainerDirs(layout, join(root, 'memory'), rel, '/nonexistent-proc');
    for (const c of V1_MOUNTS) expect(dirs.v1[c as 'cpu']).toBe(join(root, c, rel));
    expect(dirsComplete(layout, dirs)).toBe(true);
  });

  it('hybrid: v1 controllers where /proc/<pid>/cgroup of a task puts them, unified for the rest', async () => {
    const { root, proc, rel } = hybridTree();
    const layout = await detectLayout(root);
    expect(layout.unified).toBe(join(root, 'unified'));
    const dirs = await resolveContainerDirs(layout, join(root, 'unified'), rel, proc);
    expect(dirs.unified).toBe(join(root, 'unified', rel));
    expect(dirs.v1.memory).toBe(join(root, 'memory', 'elsewhere', ID));
    expect(dirs.v1.cpuacct).toBe(join(root, 'cpuacct', rel));
  });

  it('hybrid: falls back to the same relative path without a task, and rejects paths from another cgroup namespace', async () => {
    const { root, rel } = hybridTree();
    const layout = await detectLayout(root);
    const noTask = await resolveContainerDirs(layout, join(root, 'unified'), rel, '/nonexistent-proc');
    expect(noTask.v1.memory).toBe(join(root, 'memory', rel)); // the only candidate left
    const nsRoot = tree({ '4242/cgroup': `4:memory:/../../elsewhere/${ID}\n` });
    const outside = await resolveContainerDirs(layout, join(root, 'unified'), rel, nsRoot);
    expect(outside.v1.memory).toBe(join(root, 'memory', rel));
  });

  it('reports a hierarchy without the container as missing (incomplete)', async () => {
    const { root, rel } = v1Tree();
    rmSync(join(root, 'blkio', rel), { recursive: true });
    const layout = await detectLayout(root);
    const dirs = await resolveContainerDirs(layout, join(root, 'memory'), rel, '/nonexistent-proc');
    expect(dirs.v1.blkio).toBeUndefined();
    expect(dirsComplete(layout, dirs)).toBe(false);
  });
});

describe('readSample', () => {
  it('cgroup v2: every group from the unified files', async () => {
    const { root, rel } = v2Tree();
    const layout = await detectLayout(root);
    const s = await readSample(layout, await resolveContainerDirs(layout, root, rel));
    expect(s).toEqual({
      cpu: { user: 1.5, system: 1 },
      throttling: { periods: 120, throttledPeriods: 7, throttledTime: 0.35 },
      memory: { usage: 26_214_400, workingSet: 26_214_400 - 1_048_576, rss: 20_971_520 },
      memoryEvents: { oom: 2, oomKill: 1 },
      disk: { read: 4196, write: 8_388_808 },
      pids: 3,
      pressure: [
        { resource: 'cpu', kind: 'some', avg10: 12.5, stallTime: 2.5 },
        { resource: 'cpu', kind: 'full', avg10: 2.25, stallTime: 0.5 },
        { resource: 'memory', kind: 'some', avg10: 0, stallTime: 0.001 },
        { resource: 'memory', kind: 'full', avg10: 0, stallTime: 0.0004 },
        { resource: 'io', kind: 'some', avg10: 0.1, stallTime: 0.00009 },
        { resource: 'io', kind: 'full', avg10: 0.05, stallTime: 0.00006 },
      ],
    });
  });

  it('cgroup v1: every group from its controller; no PSI, no oom count', async () => {
    const { root, rel } = v1Tree();
    const layout = await detectLayout(root);
    const s = await readSample(layout, await resolveContainerDirs(layout, join(root, 'memory'), rel, '/nonexistent-proc'));
    expect(s).toEqual({
      cpu: { user: 173 / USER_HZ, system: 986 / USER_HZ }, // cpuacct.stat, not the raw usage_user/usage_sys
      throttling: { periods: 40, throttledPeriods: 4, throttledTime: 0.123 },
      memory: { usage: 23_068_672, workingSet: 23_068_672 - 2_097_152, rss: 20_971_520 },
      memoryEvents: { oomKill: 2 },
      disk: { read: 1_048_576, write: 8_388_608 },
      pids: 2,
    });
  });

  it('cgroup v1 without cpuacct.stat: no CPU time (the raw usage_user/usage_sys do not add up to the run time)', async () => {
    const { root, rel } = v1Tree();
    rmSync(join(root, 'cpuacct', rel, 'cpuacct.stat'));
    const layout = await detectLayout(root);
    const s = await readSample(layout, await resolveContainerDirs(layout, join(root, 'memory'), rel, '/nonexistent-proc'));
    expect(s.cpu).toBeUndefined();
    expect(s.memory).toBeDefined();
  });

  it('hybrid: v1 controllers (memory at its /proc path), PSI from the unified hierarchy', async () => {
    const { root, proc, rel } = hybridTree();
    const layout = await detectLayout(root);
    const s = await readSample(layout, await resolveContainerDirs(layout, join(root, 'unified'), rel, proc));
    expect(s.cpu).toEqual({ user: 1.737471, system: 9.860979 }); // the unified core cpu.stat (µs, adds up to usage_usec)
    expect(s.memory?.usage).toBe(23_068_672); // not the decoy
    expect(s.throttling).toEqual({ periods: 40, throttledPeriods: 4, throttledTime: 0.123 });
    expect(s.pids).toBe(2);
    expect(s.pressure?.map((p) => `${p.resource}/${p.kind}`)).toEqual(['cpu/some', 'cpu/full', 'memory/some', 'memory/full', 'io/some', 'io/full']);
  });

  it('hybrid without the unified cpu.stat: cpuacct.stat of the v1 hierarchy', async () => {
    const { root, proc, rel } = hybridTree();
    rmSync(join(root, 'unified', rel, 'cpu.stat'));
    const layout = await detectLayout(root);
    const dirs = await resolveContainerDirs(layout, join(root, 'unified'), rel, proc);
    const s = await readSample(layout, dirs);
    expect(s.cpu).toEqual({ user: 1.73, system: 9.86 });
  });

  it('a removed cgroup is an empty sample, not an error; other errors throw', async () => {
    const { root, rel } = v2Tree();
    const layout = await detectLayout(root);
    const dirs = await resolveContainerDirs(layout, root, rel);
    rmSync(join(root, rel), { recursive: true });
    expect(await readSample(layout, dirs)).toEqual({});
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    await expect(readSample(layout, dirs, () => Promise.reject(denied))).rejects.toThrow(/EACCES/);
  });

  it('reads one file at a time', async () => {
    const { root, rel } = v2Tree();
    const layout = await detectLayout(root);
    const dirs = await resolveContainerDirs(layout, root, rel);
    let inFlight = 0;
    let most = 0;
    const files: string[] = [];
    await readSample(layout, dirs, async (f) => {
      inFlight++;
      most = Math.max(most, inFlight);
      files.push(f.slice(f.lastIndexOf('/') + 1));
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return (await import('node:fs')).readFileSync(f, 'utf8');
    });
    expect(most).toBe(1);
    expect(files.filter((f) => f === 'cpu.stat')).toHaveLength(1); // read once for time and throttling
  });
});

// ---- the collector through a real MeterProvider ----------------------------------------------

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function logger(): AgentLogger & { lines: string[] } {
  const lines: string[] = [];
  const push = (l: string) => (m: string) => lines.push(`${l}: ${m}`);
  const seen = new Set<string>();
  return {
    lines,
    error: push('error'),
    warn: push('warn'),
    info: push('info'),
    debug: push('debug'),
    warnOnce: (k, m) => {
      if (!seen.has(k)) {
        seen.add(k);
        lines.push(`warn: ${m}`);
      }
    },
  };
}

function entry(slot: number, cgroupId: bigint, id: string, name: string | null): RegistryEntry {
  const attributes: Record<string, string> = { 'container.id': id, 'container.runtime.name': 'docker', 'container.label.x': 'not on metrics' };
  if (name) attributes['container.name'] = name;
  const container: ContainerInfo = { id, cgroupPath: '', runtime: 'docker', metadata: null, attributes, ready: Promise.resolve() };
  return { slot, cgroupId, ref: { cgroupId, name: '', parentName: '' }, container, attributed: Promise.resolve(), startedUnixNano: 0n, joinedRunning: false };
}

function collectorOn(root: string, paths: Map<bigint, string>, opts: { retireMs?: number } = {}) {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const entries = new Map<number, RegistryEntry>();
  const log = logger();
  let now = 1_000_000;
  const collector = new ResourceCollector(
    {
      meter: provider.getMeter('test'),
      logger: log,
      cgroups: { hierarchyRoot: root, resolveAsync: async (id: bigint) => paths.get(id) ?? null },
      registryEntries: entries,
    },
    { interval_ms: 1000, retire_after_ms: opts.retireMs ?? 5000 },
    { root, procRoot: '/nonexistent-proc', now: () => now },
  );
  const collect = async () => {
    const { resourceMetrics } = await reader.collect();
    const out = new Map<string, Array<{ attributes: Record<string, unknown>; value: number }>>();
    for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)) {
      out.set(
        m.descriptor.name,
        (m.dataPoints as Array<DataPoint<number>>).map((p) => ({ attributes: p.attributes, value: p.value })),
      );
    }
    return out;
  };
  return { collector, entries, log, collect, advance: (ms: number) => (now += ms), provider };
}

describe('ResourceCollector', () => {
  it('reports every metric of its telemetry spec with the container attributes', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect } = collectorOn(root, new Map([[7n, rel]]));
    entries.set(0, entry(0, 7n, ID, 'web'));
    expect((await collect()).size).toBe(0); // nothing read yet
    await collector.tick();
    const m = await collect();
    expect([...m.keys()].sort()).toEqual(resourcesTelemetry.metrics.map((s) => s.name).sort());
    const base = { 'container.id': ID, 'container.name': 'web', 'container.runtime.name': 'docker' };
    expect(m.get('container.cpu.time')).toEqual([
      { attributes: { ...base, 'cpu.mode': 'user' }, value: 1.5 },
      { attributes: { ...base, 'cpu.mode': 'system' }, value: 1 },
    ]);
    expect(m.get('container.memory.usage')).toEqual([{ attributes: base, value: 26_214_400 }]);
    expect(m.get('container.memory.working_set')?.[0].value).toBe(25_165_824);
    expect(m.get('container.memory.rss')?.[0].value).toBe(20_971_520);
    expect(m.get('container.disk.io')?.map((p) => [p.attributes['disk.io.direction'], p.value])).toEqual([
      ['read', 4196],
      ['write', 8_388_808],
    ]);
    expect(m.get('contguard.container.pids')?.[0].value).toBe(3);
    expect(m.get('contguard.container.cpu.periods')?.[0].value).toBe(120);
    expect(m.get('contguard.container.cpu.throttled_periods')?.[0].value).toBe(7);
    expect(m.get('contguard.container.cpu.throttled_time')?.[0].value).toBeCloseTo(0.35);
    expect(m.get('contguard.container.memory.events')?.map((p) => [p.attributes.event, p.value])).toEqual([
      ['oom', 2],
      ['oom_kill', 1],
    ]);
    const cpuSome = m.get('contguard.container.pressure')?.find((p) => p.attributes.resource === 'cpu' && p.attributes['contguard.pressure.kind'] === 'some');
    expect(cpuSome?.value).toBe(12.5);
    expect(m.get('contguard.container.pressure.stall_time')).toHaveLength(6);
    // Declared attributes only (no labels, no arrays).
    for (const spec of resourcesTelemetry.metrics) {
      for (const p of m.get(spec.name) ?? []) for (const k of Object.keys(p.attributes)) expect(spec.attributes, `${spec.name}: ${k}`).toContain(k);
    }
  });

  it('counters follow the files; a vanished cgroup keeps its last values without a warning', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect, log } = collectorOn(root, new Map([[7n, rel]]));
    entries.set(0, entry(0, 7n, ID, 'web'));
    await collector.tick();
    writeFileSync(join(root, rel, 'cpu.stat'), 'usage_usec 0\nuser_usec 4000000\nsystem_usec 2000000\n');
    await collector.tick();
    let cpu = (await collect()).get('container.cpu.time');
    expect(cpu?.map((p) => p.value)).toEqual([4, 2]);
    rmSync(join(root, rel), { recursive: true });
    await collector.tick();
    cpu = (await collect()).get('container.cpu.time');
    expect(cpu?.map((p) => p.value)).toEqual([4, 2]);
    expect(log.lines.filter((l) => l.startsWith('warn') || l.startsWith('error'))).toEqual([]);
  });

  it('retires a container the registry dropped: last values for retire_after_ms, then no series at all', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect, advance } = collectorOn(root, new Map([[7n, rel]]), { retireMs: 5000 });
    entries.set(0, entry(0, 7n, ID, 'web'));
    await collector.tick();
    expect((await collect()).get('container.memory.usage')).toHaveLength(1);
    entries.delete(0);
    await collect(); // the registry drop is noticed here
    advance(4999);
    expect((await collect()).get('container.memory.usage')).toHaveLength(1);
    await collector.tick(); // reads nothing for it, keeps it
    advance(1);
    const after = await collect();
    expect([...after.values()].flat()).toEqual([]);
    expect(collector.size).toBe(0);
  });

  it('retire_after_ms 0: the series go at the first collection after the registry drop', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect } = collectorOn(root, new Map([[7n, rel]]), { retireMs: 0 });
    entries.set(0, entry(0, 7n, ID, 'web'));
    await collector.tick();
    entries.delete(0);
    expect([...(await collect()).values()].flat()).toEqual([]);
  });

  it('one set of series per container id: the outermost cgroup, and a restart (new cgroup) replaces the retiring one', async () => {
    const { root, rel } = v2Tree();
    const nested = `${rel}/init`;
    mkdirSync(join(root, nested));
    writeFileSync(join(root, nested, 'memory.current'), '4096\n');
    const paths = new Map([
      [7n, rel],
      [8n, nested],
    ]);
    const { collector, entries, collect, advance } = collectorOn(root, paths);
    entries.set(1, entry(1, 8n, ID, 'web'));
    entries.set(0, entry(0, 7n, ID, 'web'));
    await collector.tick();
    expect((await collect()).get('container.memory.usage')).toEqual([{ attributes: expect.objectContaining({ 'container.id': ID }), value: 26_214_400 }]);
    // Restart: the old cgroups go, a new one (same container id) comes.
    entries.clear();
    await collect();
    const fresh = `/system.slice/docker-${ID}.scope-restarted`;
    mkdirSync(join(root, fresh));
    writeFileSync(join(root, fresh, 'memory.current'), '8192\n');
    paths.set(9n, fresh);
    entries.set(2, entry(2, 9n, ID, 'web'));
    await collector.tick();
    expect((await collect()).get('container.memory.usage')?.map((p) => p.value)).toEqual([8192]);
    advance(10_000); // the old cgroups retire; the id lives on in the new one
    expect((await collect()).get('container.memory.usage')?.map((p) => p.value)).toEqual([8192]);
  });

  it('new attributes (a rename, late metadata) end the series under the old ones', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect } = collectorOn(root, new Map([[7n, rel]]));
    const e = entry(0, 7n, ID, null);
    entries.set(0, e);
    await collector.tick();
    expect((await collect()).get('container.memory.usage')?.map((p) => p.attributes['container.name'])).toEqual([undefined]);
    e.container!.attributes = { ...e.container!.attributes, 'container.name': 'renamed' };
    expect((await collect()).get('container.memory.usage')?.map((p) => p.attributes['container.name'])).toEqual(['renamed']);
  });

  it('skips entries without a container (non-container cgroups, attribution pending) and unresolved paths', async () => {
    const { root, rel } = v2Tree();
    const { collector, entries, collect } = collectorOn(root, new Map([[7n, rel]]));
    entries.set(0, { ...entry(0, 7n, ID, 'web'), container: null });
    entries.set(1, entry(1, 99n, 'b'.repeat(64), 'unresolved'));
    await collector.tick();
    expect([...(await collect()).values()].flat()).toEqual([]);
  });

  it('never runs two ticks at once, and reads nothing after stop()', async () => {
    const { root, rel } = v2Tree();
    let reads = 0;
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const entries = new Map<number, RegistryEntry>([[0, entry(0, 7n, ID, 'web')]]);
    const collector = new ResourceCollector(
      { meter: provider.getMeter('t'), logger: logger(), cgroups: { hierarchyRoot: root, resolveAsync: async () => rel }, registryEntries: entries },
      { interval_ms: 1000, retire_after_ms: 0 },
      {
        root,
        read: async (f) => {
          reads++;
          await new Promise((r) => setTimeout(r, 2));
          return (await import('node:fs')).readFileSync(f, 'utf8');
        },
      },
    );
    const a = collector.tick();
    const b = collector.tick();
    expect(b).toBe(a);
    await a;
    const once = reads;
    expect(once).toBeGreaterThan(5);
    await collector.stop();
    await collector.tick();
    expect(reads).toBe(once);
  });

  it('warns once and reads nothing when the cgroup hierarchy is not mounted', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const log = logger();
    const c = new ResourceCollector({ meter: provider.getMeter('t'), logger: log, cgroups: null, registryEntries: new Map() }, { interval_ms: 1000, retire_after_ms: 0 });
    await c.tick();
    await c.tick();
    expect(log.lines).toEqual(['warn: resources: the cgroup hierarchy is not mounted: no per-container resource metrics']);
  });
});
