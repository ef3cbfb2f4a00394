// SPDX-License-Identifier: Apache-2.0
/**
 * Per-container resource metrics end to end (real agent, real Docker, this host's cgroups): a
 * container burns CPU, fills tmpfs and writes to disk with O_DIRECT, then idles; /metrics must
 * match the cgroup files the test reads itself and `docker stats` within tolerance. An OOM kill
 * is counted, and the series of a removed container go after resources.retire_after_ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Docker from 'dockerode';
import { freePort, startAgent, type AgentHandle } from '../support/agent-process.js';
import { waitFor as waitForShared } from '../support/metrics.js';
import { docker, dockerInspect, dockerLogs, dockerRm, dockerRun, ensureTestImage, uniqueName, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type FlatPoint, type OtlpReceiver } from '../support/otlp-receiver.js';

const INTERVAL_MS = 500;
const RETIRE_MS = 4000;
const CGROUP = '/sys/fs/cgroup';

/** The series this feature exports (Prometheus names). */
const RESOURCE_SERIES = [
  'container_cpu_time_total',
  'container_memory_usage',
  'container_memory_working_set',
  'container_memory_rss',
  'container_disk_io_total',
  'contguard_container_pids',
  'contguard_container_cpu_periods_total',
  'contguard_container_cpu_throttled_periods_total',
  'contguard_container_cpu_throttled_time_total',
  'contguard_container_memory_events_total',
  'contguard_container_pressure',
  'contguard_container_pressure_stall_time_total',
];

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/** The value of the one sample of `name` whose labels include every given label (NaN: none). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const hits = text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits.length ? hits[0] : NaN;
}

/** Lines of the resource series that name this container. */
function seriesOf(text: string, id: string): string[] {
  return text.split('\n').filter((l) => RESOURCE_SERIES.some((n) => l.startsWith(`${n}{`)) && l.includes(`container_id="${id}"`));
}

/** This file's waits default to 30 s (the shared helper's to 20 s). */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000) => waitForShared(what, probe, timeoutMs);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The test's own view of a container's cgroup files, independent of src/resources: each
 * controller's directory from /proc/<pid>/cgroup (v1 controller lines, else the unified one).
 */
function cgroupFiles(pid: number) {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean);
  const v2 = existsSync(join(CGROUP, 'cgroup.controllers'));
  const unifiedRoot = v2 ? CGROUP : existsSync(join(CGROUP, 'unified', 'cgroup.procs')) ? join(CGROUP, 'unified') : null;
  const pathOf = (controller: string): string | null => {
    if (!v2 && existsSync(join(CGROUP, controller, 'tasks'))) {
      const l = lines.find((x) => x.split(':')[1]?.split(',').includes(controller));
      return l ? join(CGROUP, controller, l.split(':').slice(2).join(':')) : null;
    }
    const u = lines.find((x) => x.startsWith('0::'));
    return u && unifiedRoot ? join(unifiedRoot, u.slice(3)) : null;
  };
  const read = (dir: string | null, f: string) => readFileSync(join(dir ?? '/nonexistent', f), 'utf8');
  const keyed = (text: string, key: string) => Number(text.split('\n').find((l) => l.startsWith(`${key} `))?.split(' ')[1]);
  const v1 = (c: string) => !v2 && existsSync(join(CGROUP, c, 'tasks'));
  return {
    /** CPU time by mode: the unified cpu.stat (v2, and hybrid hosts' cgroup core file), else cpuacct.stat. */
    cpu(mode: 'user' | 'system'): number {
      const u = lines.find((x) => x.startsWith('0::'));
      const stat = u && unifiedRoot ? join(unifiedRoot, u.slice(3), 'cpu.stat') : '';
      if (stat && existsSync(stat)) return keyed(readFileSync(stat, 'utf8'), `${mode}_usec`) / 1e6;
      return keyed(read(pathOf('cpuacct'), 'cpuacct.stat'), mode) / 100;
    },
    /** Exact run time: cpu.stat usage_usec, or v1 cpuacct.usage. */
    cpuTotal(): number {
      if (v1('cpuacct')) return Number(read(pathOf('cpuacct'), 'cpuacct.usage')) / 1e9;
      return keyed(read(pathOf('cpu'), 'cpu.stat'), 'usage_usec') / 1e6;
    },
    memoryUsage(): number {
      return v1('memory') ? Number(read(pathOf('memory'), 'memory.usage_in_bytes')) : Number(read(pathOf('memory'), 'memory.current'));
    },
    diskWrite(): number {
      return this.diskBytes('Write', 'wbytes=');
    },
    diskRead(): number {
      return this.diskBytes('Read', 'rbytes=');
    },
    diskBytes(v1Op: 'Read' | 'Write', v2Key: 'rbytes=' | 'wbytes='): number {
      if (v1('blkio')) {
        return read(pathOf('blkio'), 'blkio.throttle.io_service_bytes_recursive')
          .split('\n')
          .map((l) => l.split(' '))
          .filter((f) => f.length === 3 && f[1] === v1Op)
          .reduce((s, f) => s + Number(f[2]), 0);
      }
      return read(pathOf('io'), 'io.stat')
        .split('\n')
        .flatMap((l) => l.split(' ').filter((f) => f.startsWith(v2Key)))
        .reduce((s, f) => s + Number(f.slice(v2Key.length)), 0);
    },
    /** A PSI file's `some`/`full` line: avg10 (percent) and total (stall time, seconds). */
    pressure(resource: string, kind: string): { avg10: number; total: number } {
      const u = lines.find((x) => x.startsWith('0::'))!;
      const line = readFileSync(join(unifiedRoot!, u.slice(3), `${resource}.pressure`), 'utf8').split('\n').find((l) => l.startsWith(`${kind} `)) ?? '';
      const field = (k: string) => Number(new RegExp(`(?:^| )${k}=([\\d.]+)`).exec(line)?.[1]);
      return { avg10: field('avg10'), total: field('total') / 1e6 };
    },
    pids(): number {
      return Number(read(pathOf('pids'), 'pids.current'));
    },
    oomKills(): number {
      return v1('memory') ? keyed(read(pathOf('memory'), 'memory.oom_control'), 'oom_kill') : keyed(read(pathOf('memory'), 'memory.events'), 'oom_kill');
    },
    hasPressure(): boolean {
      const u = lines.find((x) => x.startsWith('0::'));
      return !!u && !!unifiedRoot && existsSync(join(unifiedRoot, u.slice(3), 'cpu.pressure'));
    },
  };
}

/** `docker stats` sizes: `20.4MiB`, `1.5GB`, `0B`. */
function bytesOf(s: string): number {
  const m = /^([\d.]+)\s*([kKMGT]?i?B)$/.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  const unit: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  return Number(m[1]) * (unit[m[2]] ?? NaN);
}

/**
 * On cgroup v1 (and hybrid) hosts this kernel keeps blkio byte counts only for a device blk-throttle
 * is active on (with no rule: "Total 0", and `docker stats` shows 0B too). A rule far above what the
 * test writes (--device-write-bps/--device-read-bps DISK:1gb on the disk under Docker's root) turns the accounting on.
 * Returns those docker run arguments, or [] on a v2 host (io.stat always counts) or an unknown disk.
 */
async function blkioAccountingArgs(): Promise<string[]> {
  if (existsSync(join(CGROUP, 'cgroup.controllers')) || !existsSync(join(CGROUP, 'blkio', 'tasks'))) return [];
  try {
    const root = (await docker(['info', '--format', '{{.DockerRootDir}}'])).trim();
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '));
    const mount = mounts.filter((f) => f.length > 4 && (root === f[4] || root.startsWith(f[4].endsWith('/') ? f[4] : `${f[4]}/`))).sort((a, b) => b[4].length - a[4].length)[0];
    if (!mount) return [];
    let dev = join('/sys/dev/block', mount[2]);
    if (existsSync(join(dev, 'partition'))) dev = join(dev, '..');
    const name = /^DEVNAME=(.+)$/m.exec(readFileSync(join(dev, 'uevent'), 'utf8'))?.[1];
    return name && existsSync(`/dev/${name}`) ? ['--device-write-bps', `/dev/${name}:1gb`, '--device-read-bps', `/dev/${name}:1gb`] : [];
  } catch {
    return [];
  }
}

const within = (actual: number, expected: number, rel: number, abs = 0) => Math.abs(actual - expected) <= Math.max(abs, Math.abs(expected) * rel);

describe('per-container resource metrics (real agent, real Docker)', () => {
  const ids: string[] = [];
  let agent: AgentHandle | undefined;
  let port = 0;
  const name = uniqueName('cg-res');
  let id = '';
  let pid = 0;
  let blkioArgs: string[] = [];
  const measured: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'cg-res-'));
    writeFileSync(join(dir, 'contguard.yaml'), `resources:\n  interval_ms: ${INTERVAL_MS}\n  retire_after_ms: ${RETIRE_MS}\noutputs:\n  console:\n    enabled: false\n`);
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${port}`] });
    // 20 MB into tmpfs (charged to the container, held), 8 MiB written with O_DIRECT (block I/O),
    // a bounded CPU burn, then idle so the counters stand still while they are compared.
    const script =
      'dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; ' +
      'dd if=/dev/zero of=/tmp/direct bs=1M count=8 oflag=direct 2>/dev/null; ' +
      'dd if=/tmp/direct of=/dev/null bs=1M count=4 iflag=direct 2>/dev/null; ' +
      'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; exec sleep 600';
    blkioArgs = await blkioAccountingArgs();
    id = await dockerRun(['--name', name, ...blkioArgs, TEST_IMAGE, 'sh', '-c', script]);
    ids.push(id);
    await waitFor('the container to finish its work', async () => (await dockerLogs(id)).stdout.includes('done'), 60_000);
    pid = (await dockerInspect(id)).State.Pid as number;
    // Two reads after the work ended: the agent's cache holds the settled values.
    await sleep(3 * INTERVAL_MS);
  });

  afterAll(async () => {
    if (measured.length) process.stdout.write(`resources e2e measurements:\n  ${measured.join('\n  ')}\n`);
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it('reports CPU time by mode within tolerance of the cgroup files and of the Docker stats API', async () => {
    const files = cgroupFiles(pid);
    const fileUser = files.cpu('user');
    const fileSystem = files.cpu('system');
    const fileTotal = files.cpuTotal();
    const text = await waitFor('container_cpu_time_total', async () => {
      const t = await scrape(port);
      return sample(t, 'container_cpu_time_total', { container_name: name, cpu_mode: 'user' }) > 0 ? t : null;
    });
    const user = sample(text, 'container_cpu_time_total', { container_name: name, cpu_mode: 'user' });
    const system = sample(text, 'container_cpu_time_total', { container_name: name, cpu_mode: 'system' });
    measured.push(`cpu user: agent ${user.toFixed(4)} s, cgroup file ${fileUser.toFixed(4)} s`);
    measured.push(`cpu system: agent ${system.toFixed(4)} s, cgroup file ${fileSystem.toFixed(4)} s`);
    expect(user).toBeGreaterThan(0.05); // the burn is user time
    expect(within(user, fileUser, 0.02, 0.02), `user ${user} vs file ${fileUser}`).toBe(true);
    expect(within(system, fileSystem, 0.02, 0.02), `system ${system} vs file ${fileSystem}`).toBe(true);
    // The modes add up to the exact run time (within cpuacct.stat's 10 ms steps on v1).
    measured.push(`cpu user+system: agent ${(user + system).toFixed(4)} s, run time ${fileTotal.toFixed(4)} s`);
    expect(within(user + system, fileTotal, 0.01, 0.021), `user+system ${user + system} vs run time ${fileTotal}`).toBe(true);
    // What `docker stats` computes from: the Engine API's stats (user mode from USER_HZ ticks on v1).
    const stats = (await new Docker({ socketPath: '/var/run/docker.sock' }).getContainer(id).stats({ stream: false })) as {
      cpu_stats: { cpu_usage: { total_usage: number; usage_in_usermode: number } };
    };
    const dUser = stats.cpu_stats.cpu_usage.usage_in_usermode / 1e9;
    const dTotal = stats.cpu_stats.cpu_usage.total_usage / 1e9;
    measured.push(`cpu: agent user ${user.toFixed(3)} s vs docker usage_in_usermode ${dUser.toFixed(3)} s; agent user+system ${(user + system).toFixed(3)} s vs docker total_usage ${dTotal.toFixed(3)} s`);
    expect(within(user, dUser, 0.02, 0.021), `user ${user} vs docker ${dUser}`).toBe(true);
    expect(within(user + system, dTotal, 0.01, 0.021), `total ${user + system} vs docker ${dTotal}`).toBe(true);
  });

  it('reports memory within tolerance of the cgroup file, and a working set docker stats agrees with', async () => {
    const text = await scrape(port);
    const usage = sample(text, 'container_memory_usage', { container_name: name });
    const workingSet = sample(text, 'container_memory_working_set', { container_name: name });
    const rss = sample(text, 'container_memory_rss', { container_name: name });
    const fileUsage = cgroupFiles(pid).memoryUsage();
    const stats = JSON.parse((await docker(['stats', '--no-stream', '--format', '{{json .}}', id])).trim()) as { MemUsage: string; PIDs: string };
    const dockerMem = bytesOf(stats.MemUsage.split('/')[0]);
    measured.push(`memory usage: agent ${usage} B, cgroup file ${fileUsage} B; working set: agent ${workingSet} B, docker stats ${stats.MemUsage.split('/')[0].trim()} (${Math.round(dockerMem)} B); rss ${rss} B`);
    expect(usage).toBeGreaterThan(20e6); // the tmpfs fill
    expect(within(usage, fileUsage, 0.1), `usage ${usage} vs file ${fileUsage}`).toBe(true);
    expect(workingSet).toBeLessThanOrEqual(usage);
    expect(within(workingSet, dockerMem, 0.2), `working set ${workingSet} vs docker stats ${dockerMem}`).toBe(true);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThan(usage); // tmpfs is not anonymous memory
    const tasks = sample(text, 'contguard_container_pids', { container_name: name });
    measured.push(`pids: agent ${tasks}, cgroup file ${cgroupFiles(pid).pids()}, docker stats ${stats.PIDs}`);
    expect(tasks).toBe(cgroupFiles(pid).pids());
    expect(tasks).toBe(Number(stats.PIDs));
  });

  it('reports block writes, tasks, throttling, memory events and (where the kernel has it) pressure', async () => {
    const text = await scrape(port);
    const write = sample(text, 'container_disk_io_total', { container_name: name, disk_io_direction: 'write' });
    const fileWrite = cgroupFiles(pid).diskWrite();
    const stats = JSON.parse((await docker(['stats', '--no-stream', '--format', '{{json .}}', id])).trim()) as { BlockIO: string };
    const dockerWrite = bytesOf(stats.BlockIO.split('/')[1]);
    measured.push(`disk write: agent ${write} B, cgroup file ${fileWrite} B, docker stats ${stats.BlockIO.split('/')[1].trim()}${blkioArgs.length ? ` (run with ${blkioArgs.join(' ')})` : ''}`);
    expect(within(write, fileWrite, 0.05), `write ${write} vs file ${fileWrite}`).toBe(true);
    expect(within(write, dockerWrite, 0.05), `write ${write} vs docker stats ${dockerWrite}`).toBe(true);
    // The 8 MiB written with O_DIRECT, where the kernel accounts block I/O (see blkioAccountingArgs).
    if (fileWrite > 0 || blkioArgs.length || existsSync(join(CGROUP, 'cgroup.controllers'))) expect(write).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    // Reads: the container is idle now, so the cached value equals the file's.
    const read = sample(text, 'container_disk_io_total', { container_name: name, disk_io_direction: 'read' });
    const fileRead = cgroupFiles(pid).diskRead();
    measured.push(`disk read: agent ${read} B, cgroup file ${fileRead} B`);
    expect(within(read, fileRead, 0.05), `read ${read} vs file ${fileRead}`).toBe(true);
    // The 4 MiB read back with O_DIRECT.
    if (fileRead > 0 || blkioArgs.length || existsSync(join(CGROUP, 'cgroup.controllers'))) expect(read).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(sample(text, 'contguard_container_cpu_throttled_periods_total', { container_name: name })).toBe(0); // no quota
    expect(sample(text, 'contguard_container_memory_events_total', { container_name: name, event: 'oom_kill' })).toBe(0);
    if (cgroupFiles(pid).hasPressure()) {
      const psi = (resource: string, kind: string) =>
        `${resource} ${kind} ${sample(text, 'contguard_container_pressure', { container_name: name, resource, contguard_pressure_kind: kind })}% ` +
        `(stall ${sample(text, 'contguard_container_pressure_stall_time_total', { container_name: name, resource, contguard_pressure_kind: kind })} s)`;
      measured.push(`pressure: ${['cpu', 'memory', 'io'].flatMap((r) => ['some', 'full'].map((k) => psi(r, k))).join(', ')}`);
      // Stall time only grows: the agent's cached total is at most the file's now, and an idle
      // container adds little between the two (2 s allows for two sampling intervals of full stall).
      for (const resource of ['cpu', 'memory', 'io']) {
        const file = cgroupFiles(pid).pressure(resource, 'some');
        const total = sample(text, 'contguard_container_pressure_stall_time_total', { container_name: name, resource, contguard_pressure_kind: 'some' });
        expect(total, resource).toBeLessThanOrEqual(file.total + 1e-6);
        expect(total, resource).toBeGreaterThanOrEqual(file.total - 2);
        const avg10 = sample(text, 'contguard_container_pressure', { container_name: name, resource, contguard_pressure_kind: 'some' });
        expect(avg10, resource).toBeGreaterThanOrEqual(0);
        expect(avg10, resource).toBeLessThanOrEqual(100);
        expect(Math.abs(avg10 - file.avg10), `${resource} avg10 ${avg10} vs file ${file.avg10}`).toBeLessThanOrEqual(10);
      }
    }
    // Every series carries the container attributes.
    expect(sample(text, 'container_memory_usage', { container_name: name, container_id: id, container_image_name: 'contguard-test/busybox', container_runtime_name: 'docker' })).toBeGreaterThan(0);
  });

  it('counts an OOM kill under a memory limit', { timeout: 150_000 }, async () => {
    const oomName = uniqueName('cg-res-oom');
    // The allocating pipeline raises its own oom_score_adj so the OOM killer picks it, never the
    // shell that goes on to print `done` (an unprivileged process may raise its own score).
    const hog = '(echo 1000 > /proc/self/oom_score_adj; exec sh -c "head -c 64000000 /dev/zero | tail >/dev/null"); echo done; exec sleep 600';
    const oomId = await dockerRun(['--name', oomName, '--memory', '16m', '--memory-swap', '16m', TEST_IMAGE, 'sh', '-c', hog]);
    ids.push(oomId);
    await waitFor('the OOM container to finish', async () => (await dockerLogs(oomId)).stdout.includes('done'), 60_000);
    const oomPid = (await dockerInspect(oomId)).State.Pid as number;
    const fileKills = cgroupFiles(oomPid).oomKills();
    const kills = await waitFor('contguard_container_memory_events_total{event="oom_kill"} >= 1', async () => {
      const v = sample(await scrape(port), 'contguard_container_memory_events_total', { container_name: oomName, event: 'oom_kill' });
      return v >= 1 ? v : null;
    });
    measured.push(`oom_kill: agent ${kills}, cgroup file ${fileKills}`);
    expect(kills).toBe(fileKills);
    await dockerRm(oomId);
  });

  it('keeps the series of a removed container for resources.retire_after_ms, then drops them', async () => {
    expect(seriesOf(await scrape(port), id).length).toBeGreaterThan(10);
    const removed = Date.now();
    await dockerRm(id);
    const rmMs = Date.now() - removed;
    // Still there within the grace period.
    await sleep(1000);
    expect(seriesOf(await scrape(port), id).length, 'series gone before retire_after_ms').toBeGreaterThan(10);
    const goneAfter = await waitFor(
      'the series of the removed container to go',
      async () => (seriesOf(await scrape(port), id).length === 0 ? Date.now() - removed : null),
      RETIRE_MS + 10_000,
    );
    measured.push(`removed container: docker rm took ${rmMs} ms; series gone ${goneAfter} ms after rm started (retire_after_ms ${RETIRE_MS}, interval_ms ${INTERVAL_MS})`);
    expect(goneAfter).toBeGreaterThanOrEqual(RETIRE_MS - 1000);
    expect(goneAfter).toBeLessThanOrEqual(RETIRE_MS + 2 * INTERVAL_MS + 3000);
    // Other containers' series are untouched, and the agent stops cleanly.
    expect(agent!.stderr()).not.toMatch(/resources: /);
    expect(await agent!.stop()).toBe(0);
  });
});

describe('per-container resource metrics over OTLP (real agent, real Docker, test OTLP receiver)', () => {
  const ids: string[] = [];
  let agent: AgentHandle | undefined;
  let rx: OtlpReceiver | undefined;
  const name = uniqueName('cg-res-otlp');
  let id = '';
  let pid = 0;
  const measured: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    rx = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'cg-res-otlp-'));
    writeFileSync(
      join(dir, 'contguard.yaml'),
      `resources:\n  interval_ms: ${INTERVAL_MS}\noutputs:\n  console:\n    enabled: false\n  otlp:\n    export_interval_ms: 1000\n`,
    );
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--otlp-endpoint', rx.endpoint] });
    // 20 MB into tmpfs (charged to the container, held), a bounded CPU burn, then idle.
    const script = 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; exec sleep 600';
    id = await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', script]);
    ids.push(id);
    await waitFor('the container to finish its work', async () => (await dockerLogs(id)).stdout.includes('done'), 60_000);
    pid = (await dockerInspect(id)).State.Pid as number;
    // Settled values in the agent's cache; then only exports from here on count.
    await sleep(3 * INTERVAL_MS);
    rx.clear();
  });

  afterAll(async () => {
    if (measured.length) process.stdout.write(`resources OTLP e2e measurements:\n  ${measured.join('\n  ')}\n`);
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  /** The latest data point of `metric` for this container (and the given extra attributes). */
  const latest = (points: FlatPoint[], metric: string, extra: Record<string, string> = {}): FlatPoint | undefined =>
    points.filter((p) => p.name === metric && p.attributes['container.name'] === name && Object.entries(extra).every(([k, v]) => p.attributes[k] === v)).at(-1);

  it('exports container.cpu.time by cpu.mode within tolerance of the cgroup files', async () => {
    const [user, system] = await rx!.waitFor((st) => {
      const u = latest(st.metrics, 'container.cpu.time', { 'cpu.mode': 'user' });
      const s = latest(st.metrics, 'container.cpu.time', { 'cpu.mode': 'system' });
      return u && s ? [u, s] : null;
    }, 15_000);
    const files = cgroupFiles(pid);
    const fileUser = files.cpu('user');
    const fileSystem = files.cpu('system');
    measured.push(`cpu user: OTLP ${user.value.toFixed(4)} s, cgroup file ${fileUser.toFixed(4)} s; system: OTLP ${system.value.toFixed(4)} s, cgroup file ${fileSystem.toFixed(4)} s`);
    expect(user.kind).toBe('sum');
    expect(user.isMonotonic).toBe(true);
    expect(user.temporality).toBe('AGGREGATION_TEMPORALITY_CUMULATIVE');
    expect(user.unit).toBe('s');
    expect(user.attributes['container.id']).toBe(id);
    expect(user.attributes['container.image.name']).toBe('contguard-test/busybox');
    expect(user.value).toBeGreaterThan(0.05); // the burn is user time
    expect(within(user.value, fileUser, 0.02, 0.02), `user ${user.value} vs file ${fileUser}`).toBe(true);
    expect(within(system.value, fileSystem, 0.02, 0.02), `system ${system.value} vs file ${fileSystem}`).toBe(true);
    expect(within(user.value + system.value, files.cpuTotal(), 0.01, 0.021), `user+system vs run time ${files.cpuTotal()}`).toBe(true);
  });

  it('exports container.memory.usage within tolerance of the cgroup file', async () => {
    const usage = await rx!.waitFor((st) => latest(st.metrics, 'container.memory.usage'), 15_000);
    const fileUsage = cgroupFiles(pid).memoryUsage();
    measured.push(`memory usage: OTLP ${usage.value} B, cgroup file ${fileUsage} B`);
    expect(usage.kind).toBe('sum');
    expect(usage.isMonotonic).toBe(false);
    expect(usage.unit).toBe('By');
    expect(usage.attributes['container.id']).toBe(id);
    expect(usage.value).toBeGreaterThan(20e6); // the tmpfs fill
    expect(within(usage.value, fileUsage, 0.1), `usage ${usage.value} vs file ${fileUsage}`).toBe(true);
    expect(await agent!.stop()).toBe(0);
  });
});
