// SPDX-License-Identifier: Apache-2.0
/**
 * exec sensor end to end: real eBPF programs, a real container, all three outputs
 * (JSON lines, OTLP gRPC decoded with the official protos, Prometheus /metrics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { startAgent, freePort, readJsonLines, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

const IMAGE_NAME = TEST_IMAGE.split(':')[0];
const WORKLOAD = '/bin/cat /etc/hostname; /bin/ls /tmp';

/** Ids of the BPF programs a process holds (its fds: programs and links name them in fdinfo). */
function programIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

function programs(): Array<{ id: number; name?: string }> {
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
}

const isExec = (r: any, container: string) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === container;

describe('exec sensor (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let otlp: OtlpReceiver;
  let promPort: number;
  const containers: string[] = [];
  const name = uniqueName('cg-exec');
  const hostMarker = `cg-host-marker-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    await ensureTestImage();
    otlp = await startOtlpReceiver();
    promPort = await freePort();
    agent = await startAgent({ args: ['--prometheus', `127.0.0.1:${promPort}`, '--otlp-endpoint', otlp.endpoint] });
    // Started after the agent: its entrypoint is its very first exec.
    execFileSync('/bin/echo', [hostMarker]);
    containers.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]));
    await waitForExit(name);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await otlp?.close();
    await dockerRm(containers);
  });

  it('writes the entrypoint and every exec with container name, image, path and argv to the JSON lines', async () => {
    const entry = await waitForJsonLine(agent.logDir, (r) => isExec(r, name) && r.attributes['process.command_args'][2] === WORKLOAD);
    expect(entry.severity).toBe('INFO');
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(entry.attributes['container.image.name']).toBe(IMAGE_NAME);
    expect(entry.attributes['container.image.tags']).toEqual(['latest']);
    expect(entry.attributes['container.runtime.name']).toBe('docker');
    expect(entry.attributes['container.id']).toBe(containers[0]);
    // As passed to exec, and the file itself as the container sees it (sh is busybox).
    expect(entry.attributes['contguard.process.exec_filename']).toBe('/bin/sh');
    expect(entry.attributes['process.executable.path']).toBe('/bin/busybox');
    expect(entry.attributes['process.command_args']).toEqual(['sh', '-c', WORKLOAD]);
    expect(entry.attributes['process.vpid']).toBe(1);

    const ls = await waitForJsonLine(agent.logDir, (r) => isExec(r, name) && r.attributes['contguard.process.exec_filename'] === '/bin/ls');
    expect(ls.attributes['process.executable.path']).toBe('/bin/busybox');
    expect(ls.attributes['process.command_args']).toEqual(['/bin/ls', '/tmp']);
    expect(ls.attributes['container.image.name']).toBe(IMAGE_NAME);
    const cat = await waitForJsonLine(agent.logDir, (r) => isExec(r, name) && r.attributes['process.command_args'][0] === '/bin/cat');
    expect(cat.attributes['process.command_args']).toEqual(['/bin/cat', '/etc/hostname']);
    expect(cat.attributes['contguard.process.caller.name']).toBe('sh');
    expect(agent.stderr()).toContain('sensor exec (sched_prepare_exec): attached tracepoint/sched/sched_prepare_exec');
    expect(cat.attributes['process.parent_pid']).toBe(entry.attributes['process.pid']);
    expect(agent.stdout()).toContain(`process.exec [${name} `);
  });

  it('does not report host processes', async () => {
    await waitForJsonLine(agent.logDir, (r) => isExec(r, name));
    const all = readJsonLines(agent.logDir);
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((r) => JSON.stringify(r).includes(hostMarker))).toEqual([]);
    expect(all.every((r) => typeof r.attributes['container.id'] === 'string')).toBe(true);
  });

  it('exports OTel log records over OTLP gRPC', async () => {
    const log = await otlp.waitForLog(
      (l) => l.eventName === 'contguard.process.exec' && l.attributes['container.name'] === name && (l.attributes['process.command_args'] as string[])?.[0] === '/bin/ls',
      15_000,
    );
    expect(log.severityNumber).toBe(9);
    expect(log.attributes['container.image.name']).toBe(IMAGE_NAME);
    expect(log.attributes['container.id']).toBe(containers[0]);
    expect(log.attributes['process.command_args']).toEqual(['/bin/ls', '/tmp']);
    expect(log.attributes['contguard.process.exec_filename']).toBe('/bin/ls');
    expect(log.attributes['process.executable.path']).toBe('/bin/busybox');
    expect(log.resource['service.name']).toBe('contguard');
  });

  it('counts execs per container on /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('contguard_process_execs_total{') && l.includes(`container_name="${name}"`));
    expect(line).toBeDefined();
    expect(line).toContain(`container_image_name="${IMAGE_NAME}"`);
    expect(Number(line!.split(' ').pop())).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/^contguard_events_lost_total\{sensor="exec".*\} 0$/m);
  });

  it('detaches every program on SIGTERM and exits 0', async () => {
    const ids = programIdsOf(agent.pid);
    const mine = programs().filter((p) => ids.has(p.id));
    expect(mine.map((p) => p.name)).toEqual(expect.arrayContaining(['cg_exec']));
    const code = await agent.stop('SIGTERM');
    expect(code).toBe(0);
    // Every program it held is gone (none pinned or leaked).
    expect(programs().filter((p) => ids.has(p.id)).map((p) => p.name)).toEqual([]);
  });
});

describe('attribution fallbacks', () => {
  const containers: string[] = [];
  afterAll(async () => {
    await dockerRm(containers);
  });

  async function runWith(configYaml: string): Promise<{ agent: AgentHandle; name: string }> {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'cg-cfg-'));
    writeFileSync(join(dir, 'contguard.yaml'), configYaml);
    const agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', 'off'] });
    const name = uniqueName('cg-fallback');
    containers.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/true marker']));
    await waitForExit(name);
    return { agent, name };
  }

  it('identifies containers through the cgroup v1 memory hierarchy (cgroup_mode: v1)', async () => {
    const { agent, name } = await runWith('cgroup_mode: v1\n');
    try {
      const r = await waitForJsonLine(agent.logDir, (x) => isExec(x, name) && x.attributes['process.command_args'][0] === '/bin/true');
      expect(r.attributes['container.id']).toBe(containers[containers.length - 1]);
      expect(agent.stderr()).toContain('cgroup v1');
    } finally {
      await agent.cleanup();
    }
  });

  it('takes the caller from the execve entry tracepoints on kernels without sched_prepare_exec', async () => {
    const { agent, name } = await runWith('sensors:\n  exec:\n    caller_hook: sys_enter_execve\n');
    try {
      expect(agent.stderr()).toContain('sensor exec (sys_enter_execve): attached tracepoint/syscalls/sys_enter_execve');
      const r = await waitForJsonLine(agent.logDir, (x) => isExec(x, name) && x.attributes['process.command_args'][0] === '/bin/true');
      expect(r.attributes['contguard.process.caller.name']).toBe('sh');
    } finally {
      await agent.cleanup();
    }
  });

  it('runs without a Docker socket, with cgroup-derived ids, and says so once', async () => {
    const { agent } = await runWith('docker:\n  socket: /nonexistent/docker.sock\n');
    try {
      const id = containers[containers.length - 1];
      const r = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.process.exec' && x.attributes['container.id'] === id && x.attributes['process.command_args'][0] === '/bin/true');
      expect(r.attributes['container.name']).toBeUndefined();
      expect(r.attributes['container.runtime.name']).toBe('docker');
      expect(agent.stderr().match(/no Docker daemon/g)?.length).toBe(1);
    } finally {
      await agent.cleanup();
    }
  });
});
