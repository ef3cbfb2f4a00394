// SPDX-License-Identifier: Apache-2.0
/**
 * syscalls sensor and `contguard seccomp` end to end: record a busybox workload under the
 * agent, generate its profile, run the same workload under it (it must start and succeed),
 * and show that a syscall it never used is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AGENT_BIN, freePort, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { docker, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

// Reads only: cat, ls, head. No mkdir, chmod or unlink anywhere in it.
const WORKLOAD = '/bin/cat /etc/hostname; /bin/ls -l /etc; /bin/head -c 64 /etc/passwd >/dev/null; echo workload-ok';

function contguard(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [AGENT_BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

async function runUnderProfile(profile: string, script: string): Promise<{ code: number; output: string }> {
  const name = uniqueName('cg-profiled');
  const id = await dockerRun(['--name', name, '--security-opt', `seccomp=${profile}`, TEST_IMAGE, 'sh', '-c', script]);
  try {
    const code = await waitForExit(id);
    const out = await docker(['logs', id]).catch(() => '');
    const err = await new Promise<string>((resolve) => execFile('docker', ['logs', id], (_e, o, e) => resolve(`${o}${e}`)));
    return { code, output: `${out}${err}` };
  } finally {
    await dockerRm([id]);
  }
}

describe('syscalls sensor and seccomp profiles (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let otlp: OtlpReceiver;
  let promPort: number;
  const recorded = uniqueName('cg-record');
  const ids: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'cg-seccomp-'));
  const profile = join(work, 'profile.json');

  beforeAll(async () => {
    await ensureTestImage();
    promPort = await freePort();
    const config = join(work, 'contguard.yaml');
    writeFileSync(config, 'outputs:\n  otlp:\n    export_interval_ms: 1000\nsensors:\n  syscalls:\n    snapshot_interval_ms: 500\n');
    otlp = await startOtlpReceiver();
    agent = await startAgent({ args: ['--config', config, '--prometheus', `127.0.0.1:${promPort}`, '--otlp-endpoint', otlp.endpoint] });
    ids.push(await dockerRun(['--name', recorded, TEST_IMAGE, 'sh', '-c', `${WORKLOAD}; sleep 2`]));
  });

  afterAll(async () => {
    await agent?.cleanup();
    await otlp?.close();
    await dockerRm(ids);
  });

  it('exports the syscall counter over OTLP too, per container and syscall name', async () => {
    const point = await otlp.waitForMetric(
      (p) => p.name === 'contguard.syscalls' && p.attributes['container.name'] === recorded && p.attributes['syscall.name'] === 'execve',
      15_000,
    );
    expect(point.kind).toBe('sum');
    expect(point.isMonotonic).toBe(true);
    expect(Number(point.value)).toBeGreaterThanOrEqual(1);
    expect(point.attributes['container.image.name']).toBe('contguard-test/busybox');
  });

  it('exports per-container syscall counts on /metrics, and no host process series', async () => {
    let text = '';
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
      if (text.includes(`container_name="${recorded}"`)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const series = text.split('\n').filter((l) => l.startsWith('contguard_syscalls_total{'));
    const mine = series.filter((l) => l.includes(`container_name="${recorded}"`));
    expect(mine.length).toBeGreaterThan(5);
    // The most used syscall of this workload has a series, with the container's name and image.
    const top = mine.map((l) => ({ name: /syscall_name="([^"]+)"/.exec(l)![1], n: Number(l.split(' ').pop()) })).sort((a, b) => b.n - a.n)[0];
    expect(top.n).toBeGreaterThan(0);
    expect(mine.find((l) => l.includes(`syscall_name="${top.name}"`))).toContain(`container_image_name="contguard-test/busybox"`);
    expect(mine.some((l) => l.includes('syscall_name="execve"'))).toBe(true);
    // Every series belongs to a container the daemon knows: no host process is counted.
    const known = new Set((await docker(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean));
    for (const l of series) {
      const id = /container_id="([0-9a-f]{64})"/.exec(l)?.[1];
      expect(id, l).toBeDefined();
      expect(known.has(id!), l).toBe(true);
    }
  });

  it('writes a final snapshot with workload and runtime counts when the container ends', async () => {
    await waitForExit(recorded, 30_000);
    const snap = await waitForJsonLine(
      agent.logDir,
      (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === recorded && r.attributes['contguard.syscalls.final'] === true,
      20_000,
    );
    const a = snap.attributes;
    expect(a['contguard.syscalls.arch']).toMatch(/^(x86_64|aarch64)$/);
    expect(a['contguard.syscalls.counts'].execve).toBeGreaterThanOrEqual(1);
    // The runtime's own set-up before its filter (mount, pivot_root) is not recorded at all.
    const all = { ...a['contguard.syscalls.counts'], ...a['contguard.syscalls.runtime_counts'] };
    expect(all.pivot_root).toBeUndefined();
    expect(all.mount).toBeUndefined();
    // What runc still does under the filter, until the entrypoint's exec, is.
    expect(Object.keys(a['contguard.syscalls.runtime_counts'])).toEqual(expect.arrayContaining(['execve', 'capset']));
  });

  it('generates a profile the same workload starts and succeeds under', async () => {
    const r = await contguard(['seccomp', recorded, '--log-dir', agent.logDir, '--out', profile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recorded 1 run\(s\) of image contguard-test\/busybox/);
    expect(r.stderr).toMatch(/removes \d+ syscalls that Docker's default profile allows/);
    const p = JSON.parse(readFileSync(profile, 'utf8'));
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.archMap[0].architecture).toMatch(/^SCMP_ARCH_(X86_64|AARCH64)$/);
    expect(p.syscalls[0].action).toBe('SCMP_ACT_ALLOW');
    expect(p.syscalls[0].names).not.toContain('mkdir');
    const run = await runUnderProfile(profile, WORKLOAD);
    expect(run.output).toContain('workload-ok');
    expect(run.code).toBe(0);
  });

  it('refuses a syscall the workload never used with "Operation not permitted"', async () => {
    const run = await runUnderProfile(profile, '/bin/mkdir /tmp/new-dir && echo made');
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('Operation not permitted');
    expect(run.output).not.toContain('made');
  });

  it('checks a running container against the profile it runs under', async () => {
    const name = uniqueName('cg-checked');
    const id = await dockerRun(['--name', name, '--security-opt', `seccomp=${profile}`, TEST_IMAGE, 'sh', '-c', `${WORKLOAD}; sleep 30`]);
    ids.push(id);
    await waitForJsonLine(agent.logDir, (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === name, 15_000);
    const r = await contguard(['seccomp', '--check', name, '--log-dir', agent.logDir]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.profile).toMatch(/custom profile/);
    expect(report.wouldBeBlocked).toEqual([]);
    // Allowed but never used: only names from the profile the agent saw this container not use.
    const profileNames = new Set<string>(JSON.parse(readFileSync(profile, 'utf8')).syscalls.flatMap((s: { names: string[] }) => s.names));
    expect(report.allowedNeverUsed.every((n: string) => profileNames.has(n)), report.allowedNeverUsed.join(',')).toBe(true);
    expect(report.used).toBeGreaterThan(10);
    expect(report.allowedNeverUsed.length).toBeLessThan(profileNames.size);

    // The same usage against Docker's default profile: nothing blocked, hundreds allowed but unused.
    const name2 = uniqueName('cg-default');
    const id2 = await dockerRun(['--name', name2, TEST_IMAGE, 'sh', '-c', `${WORKLOAD}; sleep 30`]);
    ids.push(id2);
    await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.syscalls.snapshot' && x.attributes['container.name'] === name2, 15_000);
    const r2 = await contguard(['seccomp', '--check', name2, '--log-dir', agent.logDir]);
    expect(r2.code, r2.stderr).toBe(0);
    const report2 = JSON.parse(r2.stdout);
    expect(report2.profile).toBe("Docker's default profile");
    expect(report2.allowedNeverUsed.length).toBeGreaterThan(200);
    // The recorded profile leaves far less allowed-but-unused than Docker's default.
    expect(report.allowedNeverUsed.length).toBeLessThan(report2.allowedNeverUsed.length / 4);
  });

  it("keeps `docker exec`'s runtime set-up out of the recording, and counts what the exec'd command does", async () => {
    const name = uniqueName('cg-exec-into');
    const id = await dockerRun(['--name', name, TEST_IMAGE, 'sleep', '30']);
    ids.push(id);
    await waitForJsonLine(agent.logDir, (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === name, 15_000);
    await docker(['exec', id, '/bin/cat', '/etc/hostname']);
    const snap = await waitForJsonLine(
      agent.logDir,
      (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === name && r.attributes['contguard.syscalls.counts'].sendfile >= 1,
      15_000,
    );
    const a = snap.attributes;
    // runc's exec joins the namespaces (setns) before its filter: never recorded.
    expect(a['contguard.syscalls.counts'].setns).toBeUndefined();
    expect(a['contguard.syscalls.runtime_counts'].setns).toBeUndefined();
    expect(a['contguard.syscalls.counts'].exit_group).toBeGreaterThanOrEqual(1);
  });

  it('fails with one clear line on bad input', async () => {
    const unknown = await contguard(['seccomp', 'no-such-container-xyz', '--log-dir', agent.logDir]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('no recorded syscalls for "no-such-container-xyz"');
    const noDir = await contguard(['seccomp', recorded, '--log-dir', join(work, 'missing')]);
    expect(noDir.code).not.toBe(0);
    expect(noDir.stderr).toMatch(/^contguard: seccomp: cannot read log dir .*ENOENT\n$/);
    const noContainer = await contguard(['seccomp', '--check', 'no-such-container-xyz', '--log-dir', agent.logDir]);
    expect(noContainer.code).not.toBe(0);
    expect(noContainer.stderr).toBe('contguard: seccomp: no such container: no-such-container-xyz\n');
  });
});

describe('syscalls sensor fallback: raw_tracepoint + hash maps', () => {
  it('counts a container the same way when tp_btf is not used', async () => {
    await ensureTestImage();
    const work = mkdtempSync(join(tmpdir(), 'cg-raw-'));
    const config = join(work, 'contguard.yaml');
    writeFileSync(config, 'registry:\n  hook: raw_tracepoint\nsensors:\n  syscalls:\n    snapshot_interval_ms: 500\n');
    const agent = await startAgent({ args: ['--config', config, '--prometheus', 'off'] });
    const name = uniqueName('cg-raw');
    let id = '';
    try {
      expect(agent.stderr()).toContain('sensor syscalls (raw_tracepoint): attached raw_tracepoint/sys_enter');
      id = await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]);
      await waitForExit(id);
      const snap = await waitForJsonLine(
        agent.logDir,
        (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === name && r.attributes['contguard.syscalls.final'] === true,
        20_000,
      );
      expect(snap.attributes['contguard.syscalls.counts'].execve).toBeGreaterThanOrEqual(1);
      expect(snap.attributes['contguard.syscalls.runtime_counts'].capset).toBeGreaterThanOrEqual(1);
      expect(snap.attributes['contguard.syscalls.runtime_counts'].mount).toBeUndefined();
    } finally {
      await agent.cleanup();
      await dockerRm([id]);
    }
  });
});
