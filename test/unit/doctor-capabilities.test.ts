// SPDX-License-Identifier: Apache-2.0
/** `contguard doctor`'s capabilities line: what this kernel needs, and why what is absent is fine. */
import { describe, expect, it } from 'vitest';
import { capabilityCheck, capabilityNames, parseKernelRelease } from '../../src/doctor.js';

const ROOT_CAPS_6_X = 0x000001ffffffffffn; // every capability up to CAP_CHECKPOINT_RESTORE (40)
const bit = (n: number) => 1n << BigInt(n);
const caps = (...names: string[]) => new Set(names);
const ALL = ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_DAC_READ_SEARCH', 'CAP_DAC_OVERRIDE', 'CAP_SYS_PTRACE', 'CAP_NET_ADMIN'];

describe('capabilityNames', () => {
  it('reads the bits the agent cares about from a CapEff mask', () => {
    expect(capabilityNames(ROOT_CAPS_6_X)).toEqual(new Set(ALL));
    expect(capabilityNames(0n)).toEqual(new Set());
    // Root in this VM: everything but CAP_SYS_RESOURCE (000001fffeffffff).
    expect(capabilityNames(0x000001fffeffffffn).has('CAP_SYS_RESOURCE')).toBe(false);
    // A root whose bounding set predates CAP_PERFMON/CAP_BPF (bits 38, 39).
    expect([...capabilityNames(0x0000003fffffffffn)].sort()).toEqual(['CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_RESOURCE']);
    expect(capabilityNames(bit(39) | bit(38))).toEqual(new Set(['CAP_BPF', 'CAP_PERFMON']));
  });
});

describe('parseKernelRelease', () => {
  it.each<[string, [number, number]]>([
    ['6.18.44-fc-v782', [6, 18]],
    ['5.10.0-28-amd64', [5, 10]],
    ['5.11.0', [5, 11]],
    ['4.19.0-26-cloud-amd64', [4, 19]],
    ['garbage', [0, 0]],
  ])('%s', (rel, want) => {
    expect(parseKernelRelease(rel)).toEqual(want);
  });
});

describe('capabilityCheck', () => {
  it('root with CAP_SYS_ADMIN but without CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE on 6.18: ok, and says why', () => {
    const c = capabilityCheck(caps('CAP_SYS_ADMIN', 'CAP_DAC_READ_SEARCH', 'CAP_DAC_OVERRIDE', 'CAP_SYS_PTRACE'), [6, 18], 0);
    expect(c).toMatchObject({ name: 'capabilities', ok: true, required: true });
    expect(c.detail).toBe(
      "eBPF: CAP_SYS_ADMIN, which covers CAP_BPF and CAP_PERFMON (not in this process's set); " +
        'memlock: CAP_SYS_RESOURCE not needed (kernel 6.18 >= 5.11 charges BPF memory to the memory cgroup, not RLIMIT_MEMLOCK); ' +
        'files: uid 0 reads tracefs and cgroupfs; CAP_SYS_PTRACE present',
    );
    expect(c.detail).not.toMatch(/missing/);
  });

  it('the deploy/ unit (uid != 0, CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH CAP_NET_ADMIN CAP_SYS_PTRACE) on 6.1: ok', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE'), [6, 1], 998);
    expect(c.ok).toBe(true);
    expect(c.detail).toBe(
      'eBPF: CAP_BPF + CAP_PERFMON; ' +
        'memlock: CAP_SYS_RESOURCE not needed (kernel 6.1 >= 5.11 charges BPF memory to the memory cgroup, not RLIMIT_MEMLOCK); ' +
        'files: CAP_DAC_READ_SEARCH reads tracefs (root-only) as uid 998; CAP_SYS_PTRACE present',
    );
  });

  it('covers only the absent one of CAP_BPF/CAP_PERFMON with CAP_SYS_ADMIN', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_SYS_ADMIN'), [6, 1], 0);
    expect(c.ok).toBe(true);
    expect(c.detail).toMatch(/^eBPF: CAP_SYS_ADMIN, which covers CAP_PERFMON \(not in this process's set\);/);
  });

  it('fails without a way to load eBPF programs, naming what is missing', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_DAC_READ_SEARCH'), [6, 18], 0);
    expect(c.ok).toBe(false);
    expect(c.detail).toMatch(/^eBPF: missing CAP_PERFMON \(or CAP_SYS_ADMIN\): cannot load or attach eBPF programs;/);
    expect(capabilityCheck(caps(), [6, 18], 0).detail).toMatch(/^eBPF: missing CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\)/);
  });

  it('needs CAP_SYS_RESOURCE below 5.11 only (RLIMIT_MEMLOCK)', () => {
    const without = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON'), [5, 10], 0);
    expect(without.ok).toBe(false);
    expect(without.detail).toContain('memlock: missing CAP_SYS_RESOURCE: kernel 5.10 < 5.11 charges BPF memory to RLIMIT_MEMLOCK, which libbpf cannot raise without it');
    const withIt = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_RESOURCE'), [5, 10], 0);
    expect(withIt.ok).toBe(true);
    expect(withIt.detail).toContain('memlock: CAP_SYS_RESOURCE raises RLIMIT_MEMLOCK (kernel 5.10 < 5.11 charges BPF memory to it)');
    expect(capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON'), [5, 11], 0).ok).toBe(true);
  });

  it('before 5.8 only CAP_SYS_ADMIN loads programs', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_RESOURCE'), [5, 4], 0);
    expect(c.ok).toBe(false);
    expect(c.detail).toMatch(/^eBPF: missing CAP_SYS_ADMIN \(kernel 5\.4 < 5\.8 has no CAP_BPF\/CAP_PERFMON\)/);
    const admin = capabilityCheck(caps('CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE'), [5, 4], 0);
    expect(admin.ok).toBe(true);
    expect(admin.detail).toMatch(/^eBPF: CAP_SYS_ADMIN \(kernel 5\.4 < 5\.8 has no CAP_BPF\/CAP_PERFMON\);/);
  });

  it('a non-root uid needs CAP_DAC_READ_SEARCH (or CAP_DAC_OVERRIDE) for tracefs', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON'), [6, 18], 1000);
    expect(c.ok).toBe(false);
    expect(c.detail).toContain('files: missing CAP_DAC_READ_SEARCH: uid 1000 cannot read tracefs (root-only) to attach tracepoints');
    expect(capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_OVERRIDE'), [6, 18], 1000).ok).toBe(true);
  });

  it('reports a missing CAP_NET_ADMIN (cgroup_skb) without requiring it; CAP_SYS_ADMIN covers it', () => {
    const without = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH'), [6, 18], 998);
    expect(without.ok).toBe(true);
    expect(without.detail).toContain('no CAP_NET_ADMIN (the network sensor cannot attach its cgroup_skb programs: no container.network.io)');
    expect(capabilityCheck(caps('CAP_SYS_ADMIN'), [6, 18], 0).detail).not.toContain('NET_ADMIN');
  });

  it('reports CAP_SYS_PTRACE without requiring it', () => {
    const c = capabilityCheck(caps('CAP_BPF', 'CAP_PERFMON'), [6, 18], 0);
    expect(c.ok).toBe(true);
    expect(c.detail.endsWith("no CAP_SYS_PTRACE (only for /proc/<pid> of other users' processes)")).toBe(true);
  });
});
