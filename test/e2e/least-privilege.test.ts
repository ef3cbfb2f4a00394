// SPDX-License-Identifier: Apache-2.0
/**
 * Least privilege, for real: the agent runs as `nobody` through setpriv with only the documented
 * capabilities (CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_NET_ADMIN; ambient, bounding set
 * the same) and the docker group, attaches every sensor, and reports a container's exec, a
 * bind-mounted file open and its network bytes. Without the eBPF or file capabilities it refuses
 * to start in one line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, TEST_IMAGE } from '../support/docker.js';
import { requireOrSkip } from '../support/require.js';
import { metricValue, scrape, waitFor } from '../support/metrics.js';

/** The documented set (README "Privileges", deploy/contguard.service), as setpriv names them. */
const MINIMAL = ['bpf', 'perfmon', 'dac_read_search', 'net_admin'];
const CAP_BIT: Record<string, number> = { dac_read_search: 2, net_admin: 12, sys_ptrace: 19, perfmon: 38, bpf: 39 };
const mask = (caps: string[]) => caps.reduce((m, c) => m | (1n << BigInt(CAP_BIT[c]!)), 0n);
const NOBODY = 65534;

function dockerGid(): number | null {
  try {
    return Number(execFileSync('getent', ['group', 'docker'], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    return null;
  }
}

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (to switch to nobody)';
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'setpriv (util-linux) missing';
  }
  if (dockerGid() === null) return 'no docker group';
  return null;
}

function statusField(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim() ?? '';
}

describe('the agent as nobody with only the documented capabilities (real kernel, real Docker)', () => {
  let agent: AgentHandle | undefined;
  let port: number;
  const ids: string[] = [];
  const name = uniqueName('cg-leastpriv');
  const marker = `lp-${randomBytes(4).toString('hex')}`;
  const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-lp-shared-')));

  beforeAll(async () => {
    if (missing()) return;
    await ensureTestImage();
    chmodSync(shared, 0o755);
    writeFileSync(join(shared, 'data.txt'), 'data\n');
    port = await freePort();
    // Docker metadata may be slow on a loaded machine: wait for it rather than report without it.
    const cfgDir = mkdtempSync(join(tmpdir(), 'cg-lp-cfg-'));
    chmodSync(cfgDir, 0o755);
    writeFileSync(join(cfgDir, 'contguard.yaml'), 'docker:\n  metadata_wait_ms: 10000\n', { mode: 0o644 });
    agent = await startAgent({ args: ['--config', join(cfgDir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${port}`], runAs: { uid: NOBODY, gid: NOBODY, groups: [dockerGid()!], caps: MINIMAL } });
    // Traffic once the per-container cgroup programs are attached (a moment after the start), on
    // the container's own loopback; it keeps running until afterAll removes it.
    const script = `/bin/cat /mnt/data/data.txt; /bin/true ${marker}; /bin/httpd -p 127.0.0.1:8080 -h /mnt/data; sleep 2; for i in 1 2 3 4 5; do wget -q -O /dev/null http://127.0.0.1:8080/data.txt; sleep 1; done; sleep 60`;
    ids.push(await dockerRun(['--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', script]));
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
    rmSync(shared, { recursive: true, force: true });
  });

  it('runs as uid 65534 with exactly those capabilities, effective and bounding', (ctx) => {
    requireOrSkip(ctx, missing());
    expect(statusField(agent!.pid, 'Uid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(BigInt(`0x${statusField(agent!.pid, 'CapEff')}`)).toBe(mask(MINIMAL));
    expect(BigInt(`0x${statusField(agent!.pid, 'CapBnd')}`)).toBe(mask(MINIMAL));
  });

  it('attaches every sensor and logs no warning or error', (ctx) => {
    requireOrSkip(ctx, missing());
    const stderr = agent!.stderr();
    for (const s of ['registry', 'sensor exec', 'sensor syscalls', 'sensor io_uring', 'sensor file_open', 'sensor network']) expect(stderr).toMatch(new RegExp(`${s} \\([a-z_]+\\): attached `));
    expect(stderr.split('\n').filter((l) => /^contguard (warn|error):/.test(l))).toEqual([]);
  });

  it('reports the container`s exec (with Docker metadata), its bind-mounted file open and its network bytes', async (ctx) => {
    requireOrSkip(ctx, missing());
    const exec = await waitForJsonLine(agent!.logDir, (r) => r.event === 'contguard.process.exec' && r.attributes['process.command_args']?.[1] === marker, 15_000);
    expect(exec.attributes['container.name']).toBe(name);
    expect(exec.attributes['container.id']).toBe(ids[0]);
    const open = await waitForJsonLine(agent!.logDir, (r) => r.event === 'contguard.file.open' && r.attributes['container.name'] === name && r.attributes['file.path'] === '/mnt/data/data.txt', 15_000);
    expect(open.attributes['contguard.file.host_path']).toBe(join(shared, 'data.txt'));
    // cgroup_skb programs attached to the container's cgroup (CAP_NET_ADMIN) counted its bytes.
    const bytes = await waitFor('container_network_io_total of the container', async () => {
      const v = metricValue(await scrape(port), 'container_network_io_total', { container_name: name });
      return v > 0 ? v : null;
    });
    expect(bytes).toBeGreaterThan(0);
  });

  it('stops cleanly on SIGTERM', async (ctx) => {
    requireOrSkip(ctx, missing());
    expect(await agent!.stop()).toBe(0);
  });
});

describe('without the documented capabilities the agent refuses to start, in one line', () => {
  it.for([
    [['dac_read_search', 'net_admin'], /contguard: insufficient privileges: eBPF: missing CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\): cannot load or attach eBPF programs \(README "Privileges"\)\n/],
    [['bpf', 'perfmon', 'net_admin'], /contguard: insufficient privileges: files: missing CAP_DAC_READ_SEARCH: uid 65534 cannot read tracefs \(root-only\) to attach tracepoints \(README "Privileges"\)\n/],
  ] as Array<[string[], RegExp]>)('with only %j: exit 1', async ([caps, line], ctx) => {
    requireOrSkip(ctx, missing());
    const started = startAgent({ args: ['--prometheus', 'off'], runAs: { uid: NOBODY, gid: NOBODY, caps }, readyTimeoutMs: 30_000 });
    await expect(started).rejects.toThrow(/exited early \(code 1, signal null\)/);
    await expect(started).rejects.toThrow(line);
  });

  it('a log dir that user cannot write: exit 1 naming it, before any program loads', async (ctx) => {
    requireOrSkip(ctx, missing());
    const rootOwned = mkdtempSync(join(tmpdir(), 'cg-lp-rootlogs-'));
    chmodSync(rootOwned, 0o755);
    const started = startAgent({ args: ['--prometheus', 'off'], logDir: rootOwned, runAs: { uid: NOBODY, gid: NOBODY, groups: [dockerGid()!], caps: MINIMAL } });
    await expect(started).rejects.toThrow(/exited early \(code 1, signal null\)/);
    rmSync(rootOwned, { recursive: true, force: true });
    await expect(started).rejects.toThrow(new RegExp(`stderr:\\ncontguard: log dir ${rootOwned}: EACCES: permission denied, access '${rootOwned}'\\n\\s*stdout:\\s*$`));
  });
});
