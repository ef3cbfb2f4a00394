// SPDX-License-Identifier: Apache-2.0
/** A real Prometheus server scrapes the agent's /metrics; its query API sees container series. */
import { underCi } from '../support/require.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, startAgent, type AgentHandle } from '../support/agent-process.js';
import { dockerInspect, dockerLogs, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';

const CGROUP = '/sys/fs/cgroup';
const RESOURCES_INTERVAL_MS = 500;

/**
 * The test's own reading of a container's CPU time (s, by mode) and memory usage (bytes) from its
 * cgroup files, independent of src/resources: the unified cpu.stat where there is one (v2, hybrid),
 * else v1 cpuacct.stat; v1 memory.usage_in_bytes where the memory controller is v1, else memory.current.
 */
function cgroupReading(pid: number): { user: number; system: number; memory: number } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean);
  const v2 = existsSync(join(CGROUP, 'cgroup.controllers'));
  const unifiedRoot = v2 ? CGROUP : existsSync(join(CGROUP, 'unified', 'cgroup.procs')) ? join(CGROUP, 'unified') : null;
  const unified = lines.find((x) => x.startsWith('0::'));
  const v1Dir = (c: string) => {
    const l = lines.find((x) => x.split(':')[1]?.split(',').includes(c));
    return l ? join(CGROUP, c, l.split(':').slice(2).join(':')) : '/nonexistent';
  };
  const keyed = (text: string, key: string) => Number(text.split('\n').find((l) => l.startsWith(`${key} `))?.split(' ')[1]);
  const stat = unified && unifiedRoot ? join(unifiedRoot, unified.slice(3), 'cpu.stat') : '';
  let user: number;
  let system: number;
  if (stat && existsSync(stat)) {
    const t = readFileSync(stat, 'utf8');
    user = keyed(t, 'user_usec') / 1e6;
    system = keyed(t, 'system_usec') / 1e6;
  } else {
    const t = readFileSync(join(v1Dir('cpuacct'), 'cpuacct.stat'), 'utf8');
    user = keyed(t, 'user') / 100;
    system = keyed(t, 'system') / 100;
  }
  const memory =
    !v2 && existsSync(join(CGROUP, 'memory', 'tasks'))
      ? Number(readFileSync(join(v1Dir('memory'), 'memory.usage_in_bytes'), 'utf8'))
      : Number(readFileSync(join(unifiedRoot ?? CGROUP, (unified ?? '0::/').slice(3), 'memory.current'), 'utf8'));
  return { user, system, memory };
}

const within = (actual: number, expected: number, rel: number, abs = 0) => Math.abs(actual - expected) <= Math.max(abs, Math.abs(expected) * rel);

function hasPrometheus(): boolean {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function query(port: number, promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.status === 'success' ? body.data.result : [];
}

describe.skipIf(!hasPrometheus() && !underCi())('Prometheus scrape (real prometheus server)', () => {
  let agent: AgentHandle;
  let prom: ChildProcess;
  let promPort: number;
  const ids: string[] = [];
  const name = uniqueName('cg-scrape');
  const burnName = uniqueName('cg-scrape-burn');
  let burnPid = 0;
  const measured: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    const agentPort = await freePort();
    promPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'cg-prom-'));
    writeFileSync(join(dir, 'contguard.yaml'), `resources:\n  interval_ms: ${RESOURCES_INTERVAL_MS}\noutputs:\n  console:\n    enabled: false\n`);
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${agentPort}`] });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: contguard\n    static_configs:\n      - targets: ['127.0.0.1:${agentPort}']\n`,
    );
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/true a; /bin/true b; sleep 3']));
    // 20 MB into tmpfs (charged to the container, held), a bounded CPU burn, then idle.
    const burn = await dockerRun([
      '--name', burnName, TEST_IMAGE, 'sh', '-c',
      'dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; exec sleep 600',
    ]);
    ids.push(burn);
    await waitForExit(name, 20_000);
    const deadline = Date.now() + 60_000;
    while (!(await dockerLogs(burn)).stdout.includes('done')) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the burn container to finish its work');
      await new Promise((r) => setTimeout(r, 200));
    }
    burnPid = (await dockerInspect(burn)).State.Pid as number;
  });

  afterAll(async () => {
    if (measured.length) process.stdout.write(`prometheus scrape measurements:\n  ${measured.join('\n  ')}\n`);
    prom?.kill('SIGTERM');
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it('stores the exec counter and the syscall counter with the container labels', async () => {
    let execs: Awaited<ReturnType<typeof query>> = [];
    let syscalls: Awaited<ReturnType<typeof query>> = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      execs = await query(promPort, `contguard_process_execs_total{container_name="${name}"}`).catch(() => []);
      syscalls = await query(promPort, `contguard_syscalls_total{container_name="${name}",syscall_name="execve"}`).catch(() => []);
      if (execs.length && syscalls.length) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(execs).toHaveLength(1);
    expect(Number(execs[0].value[1])).toBeGreaterThanOrEqual(3);
    expect(execs[0].metric.job).toBe('contguard');
    expect(execs[0].metric.container_image_name).toBe('contguard-test/busybox');
    expect(syscalls).toHaveLength(1);
    expect(Number(syscalls[0].value[1])).toBeGreaterThanOrEqual(3);
    const up = await query(promPort, 'up{job="contguard"}');
    expect(up[0]?.value[1]).toBe('1');
  });

  it('stores CPU time by mode and memory usage of a busy container within tolerance of its cgroup files', async () => {
    // The container is idle now: wait (bounded) until Prometheus holds a scrape of the settled values.
    let user = NaN;
    let system = NaN;
    let memory = NaN;
    let file = cgroupReading(burnPid);
    let cpuSeries: Awaited<ReturnType<typeof query>> = [];
    let memSeries: Awaited<ReturnType<typeof query>> = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      file = cgroupReading(burnPid);
      cpuSeries = await query(promPort, `container_cpu_time_total{container_name="${burnName}"}`).catch(() => []);
      memSeries = await query(promPort, `container_memory_usage{container_name="${burnName}"}`).catch(() => []);
      user = Number(cpuSeries.find((r) => r.metric.cpu_mode === 'user')?.value[1] ?? NaN);
      system = Number(cpuSeries.find((r) => r.metric.cpu_mode === 'system')?.value[1] ?? NaN);
      memory = Number(memSeries[0]?.value[1] ?? NaN);
      if (within(user, file.user, 0.02, 0.02) && within(system, file.system, 0.02, 0.02) && within(memory, file.memory, 0.1)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    measured.push(`cpu user: PromQL ${user} s, cgroup file ${file.user} s; system: PromQL ${system} s, cgroup file ${file.system} s`);
    measured.push(`memory usage: PromQL ${memory} B, cgroup file ${file.memory} B`);
    expect(cpuSeries.map((r) => r.metric.cpu_mode).sort()).toEqual(['system', 'user']);
    expect(memSeries).toHaveLength(1);
    expect(cpuSeries[0].metric.job).toBe('contguard');
    expect(memSeries[0].metric.container_image_name).toBe('contguard-test/busybox');
    expect(user).toBeGreaterThan(0.05); // the burn is user time
    expect(within(user, file.user, 0.02, 0.02), `user ${user} vs file ${file.user}`).toBe(true);
    expect(within(system, file.system, 0.02, 0.02), `system ${system} vs file ${file.system}`).toBe(true);
    expect(memory).toBeGreaterThan(20e6); // the tmpfs fill
    expect(within(memory, file.memory, 0.1), `memory ${memory} vs file ${file.memory}`).toBe(true);
  });

  it("stores the agent's own CPU time by mode and RSS, close to what /proc says of its process", async () => {
    const procReading = () => {
      // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100/s); after the comm's ')'.
      const stat = readFileSync(`/proc/${agent.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1]);
      return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, rss: rssKb * 1024 };
    };
    let cpu: Awaited<ReturnType<typeof query>> = [];
    let rss = NaN;
    let proc = procReading();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      cpu = await query(promPort, 'process_cpu_time_total{job="contguard"}').catch(() => []);
      rss = Number((await query(promPort, 'process_memory_usage{job="contguard"}').catch(() => []))[0]?.value[1] ?? NaN);
      proc = procReading();
      if (cpu.length === 2 && within(rss, proc.rss, 0.3)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const total = cpu.reduce((sum, r) => sum + Number(r.value[1]), 0);
    measured.push(`agent cpu: PromQL ${total} s, /proc ${proc.cpu} s; rss: PromQL ${rss} B, /proc ${proc.rss} B`);
    expect(cpu.map((r) => r.metric.cpu_mode).sort()).toEqual(['system', 'user']);
    // Scraped earlier than /proc was read: at most what /proc says now, and not far behind it.
    expect(total).toBeGreaterThan(0.1);
    expect(total).toBeLessThanOrEqual(proc.cpu + 0.05);
    expect(total).toBeGreaterThan(proc.cpu * 0.5);
    expect(within(rss, proc.rss, 0.3), `rss ${rss} vs /proc ${proc.rss}`).toBe(true);
  });
});
