// SPDX-License-Identifier: Apache-2.0
/** `contguard doctor` probes every hook type for real and exits 0 when the agent can run. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { AGENT_BIN } from '../support/agent-process.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  required: boolean;
}

function doctor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [AGENT_BIN, 'doctor', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('contguard doctor (real kernel)', () => {
  it('reports tracepoints available, names each unavailable hook with its errno, and exits 0', async () => {
    const r = await doctor(['--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { canRun: boolean; checks: Check[] };
    expect(report.canRun).toBe(true);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    for (const hook of ['hook tracepoint', 'hook raw_tracepoint', 'hook tp_btf']) {
      expect(byName.get(hook)?.ok, hook).toBe(true);
    }
    expect(byName.get('BTF')?.ok).toBe(true);
    expect(byName.get('ring buffer')?.ok).toBe(true);
    expect(byName.get('capabilities')?.ok).toBe(true);
    // What this kernel needs, said plainly: an ok line names nothing as missing.
    const caps = byName.get('capabilities')!.detail;
    expect(caps).not.toMatch(/missing/);
    expect(caps).toMatch(/^eBPF: (CAP_BPF \+ CAP_PERFMON|CAP_SYS_ADMIN, which covers CAP_\w+( and CAP_\w+)? \(not in this process's set\));/);
    const [major = 0, minor = 0] = release().split('.').map(Number);
    if (major > 5 || (major === 5 && minor >= 11)) {
      expect(caps).toContain(`memlock: CAP_SYS_RESOURCE not needed (kernel ${major}.${minor} >= 5.11 charges BPF memory to the memory cgroup`);
    }
    // The other runtimes' metadata sources, as this host has them.
    for (const [name, dir] of [['containerd', '/run/containerd'], ['cri-o', '/run/containers/storage']] as const) {
      expect(byName.get(name)?.ok, name).toBe(existsSync(dir) && statSync(dir).isDirectory());
      expect(byName.get(name)?.detail).toContain(dir);
    }
    expect(byName.get('podman')?.detail).toMatch(/^\/run\/podman\/podman\.sock (answers|does not answer)/);
    // Whatever fails, fails with the program, the hook and the errno.
    for (const c of report.checks.filter((x) => x.name.startsWith('hook ') && !x.ok)) {
      expect(c.detail).toMatch(/^(load|attach) \S+ \(program probe_\w+\): .+ \(E[A-Z]+\)$/);
    }
    // A kernel without the kprobe PMU (this VM class) has neither kprobes nor fentry nor LSM programs.
    if (!existsSync('/sys/bus/event_source/devices/kprobe')) {
      for (const hook of ['hook kprobe', 'hook fentry', 'hook lsm']) expect(byName.get(hook)?.ok, hook).toBe(false);
    }
  });

  it('prints a readable report', async () => {
    const r = await doctor([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok\s+hook tracepoint\s+loads and attaches$/m);
    expect(r.stdout).toMatch(/^ok\s+capabilities\s+eBPF: \S/m);
    expect(r.stdout).toContain('the agent can run here');
  });
});
