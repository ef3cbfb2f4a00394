// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { DOCKER_DEFAULT_PROFILE_PATHS, findDockerDefaultProfile } from '../../src/seccomp/command.js';
import {
  ARCH_MAP,
  DOCKER_DEFAULT_CAPS,
  RUNC_BASE_SYSCALLS,
  checkUsage,
  generateProfile,
  resolveProfile,
  ruleApplies,
  type HostEnv,
  type ResolvedProfile,
  type SeccompProfile,
  type SeccompRule,
} from '../../src/seccomp/profile.js';
import type { Recording } from '../../src/seccomp/recordings.js';
import { hostSyscallArch, isKnownSyscall, syscallNumber, type SyscallArch } from '../../src/sensors/syscalls/names.js';
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from '../../src/sensors/syscalls/syscall-names.gen.js';
import { libseccompUnavailable, parsePfc, profileToPfc } from './helpers/libseccomp.mjs';
import { requireOrSkip } from '../support/require.js';

/** Docker's default profile, found where `contguard seccomp` looks for it (scripts/setup-host.sh puts it there). */
const DEFAULT_JSON: string | null = findDockerDefaultProfile();
const dockerDefault: SeccompProfile | null = DEFAULT_JSON ? (JSON.parse(fs.readFileSync(DEFAULT_JSON, 'utf8')) as SeccompProfile) : null;
const NO_DEFAULT = `Docker's default profile not found at ${DOCKER_DEFAULT_PROFILE_PATHS.join(' or ')} (run scripts/setup-host.sh)`;
const NO_LIBSECCOMP: string | null = libseccompUnavailable();

/** clone without any CLONE_NEW* namespace flag: Docker's mask (0x7e020000). */
const CLONE_NS_MASK = 2114060288;

function env(arch: SyscallArch, extraCaps: string[] = [], kernel: [number, number] = [6, 1], baseCaps: readonly string[] = DOCKER_DEFAULT_CAPS): HostEnv {
  return { arch, caps: new Set([...baseCaps, ...extraCaps]), kernel };
}

function needDefault(ctx: TestContext): SeccompProfile {
  requireOrSkip(ctx, !dockerDefault && NO_DEFAULT);
  return dockerDefault!;
}

function rec(workload: string[], runtime: string[] = [], over: Partial<Recording> = {}): Recording {
  return {
    containerId: 'ab'.repeat(32),
    imageTags: [],
    arch: 'x86_64',
    workload: Object.fromEntries(workload.map((n, i) => [n, i + 1])),
    runtime: Object.fromEntries(runtime.map((n) => [n, 1])),
    startedAt: '2026-11-28T09:00:00.000000000Z',
    snapshotAt: '2026-11-28T09:01:00.000000000Z',
    final: true,
    joinedRunning: false,
    ...over,
  };
}

const allNames = (table: readonly (string | null)[]) => table.filter((n): n is string => n !== null);

describe("Docker's default profile", () => {
  it('is looked for where setup-host.sh extracts it, then where Debian installs it', () => {
    expect(DOCKER_DEFAULT_PROFILE_PATHS).toEqual([
      '/usr/local/share/contguard/docker-default-seccomp.json',
      '/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json',
    ]);
    const has = (...present: string[]) => (p: string) => present.includes(p);
    const [local, debian] = DOCKER_DEFAULT_PROFILE_PATHS;
    expect(findDockerDefaultProfile(DOCKER_DEFAULT_PROFILE_PATHS, has(local!, debian!))).toBe(local);
    expect(findDockerDefaultProfile(DOCKER_DEFAULT_PROFILE_PATHS, has(debian!))).toBe(debian);
    expect(findDockerDefaultProfile(DOCKER_DEFAULT_PROFILE_PATHS, has())).toBeNull();
  });

  // Not skipped when missing: every comparison with Docker's profile depends on it.
  it('is installed on this host (scripts/setup-host.sh) and is a seccomp profile', () => {
    expect(DEFAULT_JSON, NO_DEFAULT).not.toBeNull();
    expect(dockerDefault?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(dockerDefault?.syscalls?.some((r) => r.names.includes('read') && r.action === 'SCMP_ACT_ALLOW')).toBe(true);
  });
});

describe('constants', () => {
  it("Docker's default capabilities (moby oci/caps/defaults.go): 14, no CAP_SYS_ADMIN", () => {
    expect(DOCKER_DEFAULT_CAPS).toHaveLength(14);
    expect(new Set(DOCKER_DEFAULT_CAPS).size).toBe(14);
    expect(DOCKER_DEFAULT_CAPS).toContain('CAP_SYS_CHROOT');
    expect(DOCKER_DEFAULT_CAPS).not.toContain('CAP_SYS_ADMIN');
    expect(DOCKER_DEFAULT_CAPS).not.toContain('CAP_SYS_PTRACE');
  });

  it('the runc base set names real x86_64 syscalls', () => {
    for (const n of RUNC_BASE_SYSCALLS) expect(isKnownSyscall('x86_64', n), n).toBe(true);
    expect(new Set(RUNC_BASE_SYSCALLS).size).toBe(RUNC_BASE_SYSCALLS.length);
  });
});

describe('ruleApplies', () => {
  const r = (over: Partial<SeccompRule>): SeccompRule => ({ names: ['x'], action: 'SCMP_ACT_ALLOW', ...over });

  it('applies a rule without includes/excludes (or with empty ones) everywhere', () => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      expect(ruleApplies(r({}), env(arch))).toBe(true);
      expect(ruleApplies(r({ includes: {}, excludes: {} }), env(arch))).toBe(true);
      expect(ruleApplies(r({ includes: { arches: [], caps: [] }, excludes: { arches: [], caps: [] } }), env(arch))).toBe(true);
    }
  });

  it('matches includes.arches with Docker names (amd64, arm64)', () => {
    const x86 = r({ includes: { arches: ['amd64', 'x32'] } });
    const arm = r({ includes: { arches: ['arm', 'arm64'] } });
    const s390 = r({ includes: { arches: ['s390', 's390x'] } });
    expect(ruleApplies(x86, env('x86_64'))).toBe(true);
    expect(ruleApplies(x86, env('aarch64'))).toBe(false);
    expect(ruleApplies(arm, env('x86_64'))).toBe(false);
    expect(ruleApplies(arm, env('aarch64'))).toBe(true);
    expect(ruleApplies(s390, env('x86_64'))).toBe(false);
    expect(ruleApplies(s390, env('aarch64'))).toBe(false);
    // libseccomp/kernel names are not Docker's arch names.
    expect(ruleApplies(r({ includes: { arches: ['x86_64'] } }), env('x86_64'))).toBe(false);
    expect(ruleApplies(r({ includes: { arches: ['aarch64'] } }), env('aarch64'))).toBe(false);
  });

  it('matches excludes.arches with Docker names', () => {
    const notX86 = r({ excludes: { arches: ['amd64'] } });
    expect(ruleApplies(notX86, env('x86_64'))).toBe(false);
    expect(ruleApplies(notX86, env('aarch64'))).toBe(true);
    const notS390 = r({ excludes: { arches: ['s390', 's390x'] } });
    expect(ruleApplies(notS390, env('x86_64'))).toBe(true);
    expect(ruleApplies(notS390, env('aarch64'))).toBe(true);
  });

  it('needs all of includes.caps', () => {
    const admin = r({ includes: { caps: ['CAP_SYS_ADMIN'] } });
    expect(ruleApplies(admin, env('x86_64'))).toBe(false);
    expect(ruleApplies(admin, env('x86_64', ['CAP_SYS_ADMIN']))).toBe(true);
    const both = r({ includes: { caps: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] } });
    expect(ruleApplies(both, env('x86_64', [], [6, 1], ['CAP_CHOWN']))).toBe(false);
    expect(ruleApplies(both, env('x86_64', [], [6, 1], ['CAP_SYS_ADMIN']))).toBe(false);
    expect(ruleApplies(both, env('x86_64', [], [6, 1], ['CAP_CHOWN', 'CAP_SYS_ADMIN']))).toBe(true);
    expect(ruleApplies(r({ includes: { caps: ['CAP_SYS_CHROOT'] } }), env('x86_64'))).toBe(true);
    expect(ruleApplies(r({ includes: { caps: ['CAP_SYS_CHROOT'] } }), env('x86_64', [], [6, 1], []))).toBe(false);
  });

  it('drops the rule when any of excludes.caps is held', () => {
    const ex = r({ excludes: { caps: ['CAP_SYS_ADMIN', 'CAP_NET_RAW'] } });
    expect(ruleApplies(ex, env('x86_64'))).toBe(false); // CAP_NET_RAW is a default cap
    expect(ruleApplies(ex, env('x86_64', [], [6, 1], ['CAP_CHOWN']))).toBe(true);
    expect(ruleApplies(ex, env('x86_64', [], [6, 1], ['CAP_SYS_ADMIN']))).toBe(false);
  });

  it('compares includes.minKernel as major.minor', () => {
    const k48 = r({ includes: { minKernel: '4.8' } });
    expect(ruleApplies(k48, env('x86_64', [], [4, 8]))).toBe(true);
    expect(ruleApplies(k48, env('x86_64', [], [4, 7]))).toBe(false);
    expect(ruleApplies(k48, env('x86_64', [], [4, 19]))).toBe(true);
    expect(ruleApplies(k48, env('x86_64', [], [5, 0]))).toBe(true);
    expect(ruleApplies(k48, env('x86_64', [], [3, 19]))).toBe(false);
    const k510 = r({ includes: { minKernel: '5.10' } });
    expect(ruleApplies(k510, env('x86_64', [], [5, 9]))).toBe(false); // 10 > 9 numerically, not as text
    expect(ruleApplies(k510, env('x86_64', [], [5, 10]))).toBe(true);
    expect(ruleApplies(k510, env('x86_64', [], [6, 0]))).toBe(true);
    const k5 = r({ includes: { minKernel: '5' } });
    expect(ruleApplies(k5, env('x86_64', [], [5, 0]))).toBe(true);
    expect(ruleApplies(k5, env('x86_64', [], [4, 99]))).toBe(false);
  });

  it('drops the rule on kernels at or above excludes.minKernel', () => {
    const old = r({ excludes: { minKernel: '5.0' } });
    expect(ruleApplies(old, env('x86_64', [], [4, 19]))).toBe(true);
    expect(ruleApplies(old, env('x86_64', [], [5, 0]))).toBe(false);
    expect(ruleApplies(old, env('x86_64', [], [6, 8]))).toBe(false);
  });

  it("selects Docker's clone and clone3 rules the way Docker does", (ctx) => {
    const p = needDefault(ctx);
    const find = (name: string, pred: (x: SeccompRule) => boolean) => p.syscalls!.filter((x) => x.names.includes(name) && pred(x));
    const [cloneNoAdmin] = find('clone', (x) => !!x.args?.length && !x.includes?.arches?.length);
    const [cloneS390] = find('clone', (x) => !!x.args?.length && !!x.includes?.arches?.includes('s390x'));
    const [clone3Enosys] = find('clone3', (x) => x.action === 'SCMP_ACT_ERRNO' && x.errnoRet === 38);
    const [adminRule] = find('clone3', (x) => x.action === 'SCMP_ACT_ALLOW');
    for (const arch of ['x86_64', 'aarch64'] as const) {
      expect(ruleApplies(cloneNoAdmin, env(arch)), arch).toBe(true);
      expect(ruleApplies(cloneNoAdmin, env(arch, ['CAP_SYS_ADMIN'])), arch).toBe(false);
      expect(ruleApplies(cloneS390, env(arch)), arch).toBe(false);
      expect(ruleApplies(clone3Enosys, env(arch)), arch).toBe(true);
      expect(ruleApplies(clone3Enosys, env(arch, ['CAP_SYS_ADMIN'])), arch).toBe(false);
      expect(ruleApplies(adminRule, env(arch)), arch).toBe(false);
      expect(ruleApplies(adminRule, env(arch, ['CAP_SYS_ADMIN'])), arch).toBe(true);
    }
  });
});

describe('resolveProfile', () => {
  it('reads an allow-by-default profile as a deny-list over every syscall libseccomp knows', () => {
    for (const defaultAction of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']) {
      const r = resolveProfile(
        {
          defaultAction,
          syscalls: [
            { names: ['read'], action: 'SCMP_ACT_ALLOW' },
            { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
            { names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }] },
          ],
        },
        env('x86_64'),
      );
      expect(r.unconfined).toBe(false);
      expect(r.allowed.has('read')).toBe(true);
      expect(r.allowed.has('openat')).toBe(true);
      expect(r.allowed.has('mkdir')).toBe(false);
      expect(r.allowed.has('clone')).toBe(false);
      expect([...r.conditional.keys()]).toEqual(['clone']);
      expect(r.allowed.size).toBe(X86_64_SYSCALLS.filter((n) => n !== null).length - 2);
    }
  });

  it('flattens a hand-written profile: unconditional, conditional, errno, and rules that do not apply', () => {
    const p: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['exit_group'], action: 'SCMP_ACT_ALLOW', args: [] }, // empty args: unconditional
        { names: ['getpid'], action: 'SCMP_ACT_ALLOW', args: null },
        { names: ['openat'], action: 'SCMP_ACT_LOG' }, // logged is allowed
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
        // Allowed conditionally by one rule and unconditionally by another: unconditional wins.
        { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] }, // conditional errno: not listed
        { names: ['reboot'], action: 'SCMP_ACT_KILL' },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
        { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, excludes: { caps: ['CAP_CHOWN'] } },
      ],
    };
    const x = resolveProfile(p, env('x86_64'));
    expect(x.unconfined).toBe(false);
    expect([...x.allowed].sort()).toEqual(['arch_prctl', 'exit_group', 'getpid', 'kill', 'openat', 'read', 'write']);
    expect([...x.conditional.keys()]).toEqual(['personality']);
    expect(x.conditional.get('personality')!.map((c) => c.args![0].value)).toEqual([0, 8]);
    expect(x.errno).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);

    const a = resolveProfile(p, env('aarch64', ['CAP_SYS_ADMIN'], [6, 1], ['CAP_KILL']));
    expect([...a.allowed].sort()).toEqual(['bpf', 'exit_group', 'getpid', 'kill', 'openat', 'read', 'set_tls', 'write']);
    expect(a.errno.map((r) => r.names[0])).toEqual(['clone3', 'mkdir']);
  });

  it('handles a profile without syscalls', () => {
    const r = resolveProfile({ defaultAction: 'SCMP_ACT_ERRNO' }, env('x86_64'));
    expect(r).toEqual({ allowed: new Set(), conditional: new Map(), errno: [], unconfined: false });
  });

  describe("Docker's default profile", () => {
    it('x86_64 with the default capabilities', (ctx) => {
      const r = resolveProfile(needDefault(ctx), env('x86_64'));
      expect(r.unconfined).toBe(false);
      for (const n of ['read', 'write', 'openat', 'open', 'mkdir', 'execve', 'exit_group', 'arch_prctl', 'modify_ldt', 'chroot', 'io_uring_setup', 'socket']) {
        expect(r.allowed.has(n), n).toBe(true);
      }
      for (const n of ['bpf', 'mount', 'unshare', 'setns', 'kexec_load', 'reboot', 'clone3', 'syslog', 'clock_settime', 'open_by_handle_at', 'set_tls']) {
        expect(r.allowed.has(n), n).toBe(false);
        expect(r.conditional.has(n), n).toBe(false);
      }
      // clone only without namespace flags (argument 0 on x86_64).
      expect(r.allowed.has('clone')).toBe(false);
      expect(r.conditional.get('clone')!.map((c) => c.args)).toEqual([[{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }]]);
      expect(r.conditional.get('personality')!.map((c) => c.args![0].value)).toEqual([0, 8, 131072, 131080, 4294967295]);
      expect([...r.conditional.keys()].sort()).toEqual(['clone', 'personality']);
      // clone3 -> ENOSYS so that glibc falls back to clone.
      expect(r.errno).toHaveLength(1);
      expect(r.errno[0]).toMatchObject({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
      // ptrace: allowed from kernel 4.8 (seccomp can no longer be bypassed through it).
      expect(r.allowed.has('ptrace')).toBe(true);
    });

    it('aarch64: no x86-only syscalls, the arm ones instead', (ctx) => {
      const r = resolveProfile(needDefault(ctx), env('aarch64'));
      expect(r.allowed.has('read')).toBe(true);
      expect(r.allowed.has('arch_prctl')).toBe(false);
      expect(r.conditional.has('arch_prctl')).toBe(false);
      expect(r.allowed.has('modify_ldt')).toBe(false);
      expect(r.allowed.has('set_tls')).toBe(true);
      expect(r.conditional.get('clone')!.map((c) => c.args![0].index)).toEqual([0]);
      expect(r.errno.map((e) => [e.names, e.errnoRet])).toEqual([[['clone3'], 38]]);
    });

    it('CAP_SYS_ADMIN allows bpf, mount, clone and clone3 outright', (ctx) => {
      const r = resolveProfile(needDefault(ctx), env('x86_64', ['CAP_SYS_ADMIN']));
      for (const n of ['bpf', 'mount', 'unshare', 'setns', 'clone', 'clone3', 'syslog']) expect(r.allowed.has(n), n).toBe(true);
      expect(r.conditional.has('clone')).toBe(false);
      expect(r.errno).toEqual([]);
    });

    it('ptrace needs kernel 4.8 or CAP_SYS_PTRACE', (ctx) => {
      const p = needDefault(ctx);
      expect(resolveProfile(p, env('x86_64', [], [4, 7])).allowed.has('ptrace')).toBe(false);
      expect(resolveProfile(p, env('x86_64', [], [4, 8])).allowed.has('ptrace')).toBe(true);
      expect(resolveProfile(p, env('x86_64', ['CAP_SYS_PTRACE'], [4, 7])).allowed.has('ptrace')).toBe(true);
    });

    it('capabilities Docker does not grant by default keep their syscalls out', (ctx) => {
      const p = needDefault(ctx);
      const noChroot = resolveProfile(p, env('x86_64', [], [6, 1], DOCKER_DEFAULT_CAPS.filter((c) => c !== 'CAP_SYS_CHROOT')));
      expect(noChroot.allowed.has('chroot')).toBe(false);
      const time = resolveProfile(p, env('x86_64', ['CAP_SYS_TIME']));
      expect(['settimeofday', 'clock_settime'].every((n) => time.allowed.has(n))).toBe(true);
    });
  });
});

describe('generateProfile', () => {
  it.each<[SyscallArch, string, string[]]>([
    ['x86_64', 'SCMP_ARCH_X86_64', ['SCMP_ARCH_X86', 'SCMP_ARCH_X32']],
    ['aarch64', 'SCMP_ARCH_AARCH64', ['SCMP_ARCH_ARM']],
  ])('%s: an allow-list with archMap %s + %j, default ERRNO(EPERM)', (arch, architecture, subArchitectures) => {
    expect(ARCH_MAP[arch]).toEqual({ architecture, subArchitectures });
    const g = generateProfile([rec(['read', 'write'], ['execve'], { arch })], [], env(arch), null);
    expect(g.profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(g.profile.defaultErrnoRet).toBe(1);
    expect(g.profile.archMap).toEqual([{ architecture, subArchitectures }]);
    expect(g.profile.architectures).toBeUndefined();
    expect(g.profile.syscalls).toEqual([{ names: ['execve', 'read', 'write'], action: 'SCMP_ACT_ALLOW' }]);
    // The JSON is what Docker reads: no undefined left behind, stable through a round trip.
    expect(JSON.parse(JSON.stringify(g.profile))).toEqual(g.profile);
  });

  it('allows the union of workload and runtime over every run', () => {
    const runs = [
      rec(['read', 'write', 'epoll_wait'], ['execve', 'capset']),
      rec(['read', 'openat', 'mkdir'], ['execve', 'futex'], { containerId: 'cd'.repeat(32) }),
    ];
    const g = generateProfile(runs, runs, env('x86_64'), null);
    expect(g.workloadNames).toEqual(['epoll_wait', 'mkdir', 'openat', 'read', 'write']);
    expect(g.runtimeNames).toEqual(['capset', 'execve', 'futex']);
    expect(g.runtimeSource).toBe('recorded');
    expect(g.allowed).toEqual(['capset', 'epoll_wait', 'execve', 'futex', 'mkdir', 'openat', 'read', 'write']);
    expect(g.profile.syscalls).toEqual([{ names: g.allowed, action: 'SCMP_ACT_ALLOW' }]);
    expect(g.unnamed).toEqual([]);
    expect(g.conditionalCopied).toEqual([]);
  });

  it('reports numbers libseccomp cannot name, and names the architecture lacks, instead of allowing them', () => {
    const x = generateProfile([rec(['read', '511', '400'], ['333'])], [], env('x86_64'), null);
    expect(x.unnamed).toEqual(['333', '400', '511']);
    expect(x.allowed).toEqual(['read']);
    expect(x.profile.syscalls![0].names).toEqual(['read']);
    expect(x.workloadNames).toEqual(['400', '511', 'read']);

    const a = generateProfile([rec(['read', 'open', 'mkdir', 'mkdirat'], ['execve'], { arch: 'aarch64' })], [], env('aarch64'), null);
    expect(a.unnamed).toEqual(['mkdir', 'open']);
    expect(a.allowed).toEqual(['execve', 'mkdirat', 'read']);
  });

  it("keeps Docker's argument conditions for clone and personality, and clone3 -> ENOSYS when clone3 is unused", (ctx) => {
    const ref = resolveProfile(needDefault(ctx), env('x86_64'));
    const g = generateProfile([rec(['read', 'write', 'clone', 'personality', 'wait4'], ['execve'])], [], env('x86_64'), ref);
    expect(g.conditionalCopied).toEqual(['clone', 'personality']);
    expect(g.allowed).toEqual(['clone', 'execve', 'personality', 'read', 'wait4', 'write']);
    const rules = g.profile.syscalls!;
    expect(rules[0]).toEqual({ names: ['execve', 'read', 'wait4', 'write'], action: 'SCMP_ACT_ALLOW' });
    expect(rules.filter((r) => r.names.includes('clone'))).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(rules.filter((r) => r.names.includes('personality')).map((r) => r.args)).toEqual(
      [0, 8, 131072, 131080, 4294967295].map((value) => [{ index: 0, value, op: 'SCMP_CMP_EQ' }]),
    );
    expect(rules.at(-1)).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [] });
    expect(rules).toHaveLength(1 + 1 + 5 + 1);
    // No includes/excludes/comment leak into the generated profile.
    for (const r of rules) expect(Object.keys(r).every((k) => ['names', 'action', 'args', 'errnoRet'].includes(k))).toBe(true);
  });

  it('drops the clone3 ENOSYS rule when clone3 was used (and allows it)', (ctx) => {
    const ref = resolveProfile(needDefault(ctx), env('x86_64'));
    const g = generateProfile([rec(['read', 'clone3'], ['execve'])], [], env('x86_64'), ref);
    expect(g.allowed).toContain('clone3');
    expect(g.profile.syscalls!.some((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(false);
    expect(g.profile.syscalls).toEqual([{ names: ['clone3', 'execve', 'read'], action: 'SCMP_ACT_ALLOW' }]);
  });

  it('copies no condition where the reference allows the syscall outright (CAP_SYS_ADMIN)', (ctx) => {
    const ref = resolveProfile(needDefault(ctx), env('x86_64', ['CAP_SYS_ADMIN']));
    const g = generateProfile([rec(['clone', 'read'], ['execve'])], [], env('x86_64'), ref);
    expect(g.conditionalCopied).toEqual([]);
    expect(g.profile.syscalls).toEqual([{ names: ['clone', 'execve', 'read'], action: 'SCMP_ACT_ALLOW' }]);
  });

  it('uses a hand-written reference the same way', () => {
    const ref = resolveProfile(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW' },
          { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
          { names: ['clone3', 'io_uring_setup', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        ],
      },
      env('x86_64'),
    );
    const g = generateProfile([rec(['read', 'kill', 'io_uring_setup'])], [rec([], ['execve'])], env('x86_64'), ref);
    expect(g.profile.syscalls).toEqual([
      { names: ['execve', 'io_uring_setup', 'read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
      // used (io_uring_setup) and unknown (no_such_syscall) names are dropped from the errno rule
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [] },
    ]);
  });

  it('reference null or unconfined: no conditions, no errno rules', () => {
    for (const ref of [null, resolveProfile({ defaultAction: 'SCMP_ACT_ALLOW' }, env('x86_64'))] as (ResolvedProfile | null)[]) {
      const g = generateProfile([rec(['read', 'clone', 'personality'], ['execve'])], [], env('x86_64'), ref);
      expect(g.conditionalCopied).toEqual([]);
      expect(g.profile.syscalls).toEqual([{ names: ['clone', 'execve', 'personality', 'read'], action: 'SCMP_ACT_ALLOW' }]);
    }
  });

  it("falls back to other recordings' runtime sets when the target's runs never ran under a filter", () => {
    const target = [rec(['read', 'write'], [], { containerId: 'aa'.repeat(32) }), rec(['openat'], [], { containerId: 'bb'.repeat(32) })];
    const others = [rec(['x'], ['execve', 'prctl']), rec(['y'], ['capset', 'execve'])];
    const g = generateProfile(target, [...target, ...others], env('x86_64'), null);
    expect(g.runtimeSource).toBe('recorded');
    expect(g.runtimeNames).toEqual(['capset', 'execve', 'prctl']);
    expect(g.workloadNames).toEqual(['openat', 'read', 'write']);
    expect(g.allowed).toEqual(['capset', 'execve', 'openat', 'prctl', 'read', 'write']);
    // Others' workloads are not borrowed.
    expect(g.allowed).not.toContain('x');
  });

  it('falls back to the built-in runc base set when nothing was recorded under a filter', () => {
    const target = [rec(['read', 'mkdir'])];
    const g = generateProfile(target, [...target, rec(['write'])], env('x86_64'), null);
    expect(g.runtimeSource).toBe('builtin');
    expect(g.runtimeNames).toEqual([...RUNC_BASE_SYSCALLS].sort());
    expect(g.allowed).toEqual([...new Set([...RUNC_BASE_SYSCALLS, 'read', 'mkdir'])].sort());
    expect(g.unnamed).toEqual([]);
  });

  it('aarch64: the built-in runc base set allows what exists there', () => {
    const g = generateProfile([rec(['read'], [], { arch: 'aarch64' })], [], env('aarch64'), null);
    expect(g.runtimeSource).toBe('builtin');
    expect(g.allowed).toEqual(RUNC_BASE_SYSCALLS.filter((n) => n !== 'arch_prctl').sort());
  });

  it('aarch64: the built-in runtime set adds nothing to `unnamed`', () => {
    const g = generateProfile([rec(['read'], [], { arch: 'aarch64' })], [], env('aarch64'), null);
    expect(g.unnamed).toEqual([]);
  });

  it('the generated profile passes its own check: nothing used would be blocked', (ctx) => {
    const ref = resolveProfile(needDefault(ctx), env('x86_64'));
    const r = rec(['read', 'write', 'clone', 'personality', 'openat', '511'], ['execve', 'capset']);
    const g = generateProfile([r], [r], env('x86_64'), ref);
    const resolved = resolveProfile(g.profile, env('x86_64'));
    const used = new Set([...Object.keys(r.workload), ...Object.keys(r.runtime)]);
    const report = checkUsage(used, resolved, 'x86_64');
    expect(report.wouldBeBlocked).toEqual(['511']); // the unnamed number, reported by generateProfile too
    expect(report.allowedNeverUsed).toEqual([]);
    expect(report.conditional).toEqual(['clone', 'personality']);
    expect(resolved.errno.map((e) => e.names)).toEqual([['clone3']]);
  });
});

describe('checkUsage', () => {
  const small: ResolvedProfile = resolveProfile(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NS_MASK, op: 'SCMP_CMP_MASKED_EQ' }] },
      ],
    },
    env('x86_64'),
  );

  it('lists what would be blocked, what is allowed but unused, and what depends on arguments', () => {
    expect(checkUsage(new Set(['read', 'clone', 'mkdir', 'bpf', '511']), small, 'x86_64')).toEqual({
      wouldBeBlocked: ['511', 'bpf', 'mkdir'],
      allowedNeverUsed: ['exit_group', 'write'],
      conditional: ['clone'],
    });
    expect(checkUsage(new Set(), small, 'x86_64')).toEqual({ wouldBeBlocked: [], allowedNeverUsed: ['exit_group', 'read', 'write'], conditional: [] });
  });

  it('an allow-everything profile blocks nothing and reports every other syscall as unused', () => {
    const open = resolveProfile({ defaultAction: 'SCMP_ACT_ALLOW' }, env('x86_64'));
    const report = checkUsage(new Set(['bpf', 'mount', 'read']), open, 'x86_64');
    expect(report.wouldBeBlocked).toEqual([]);
    expect(report.conditional).toEqual([]);
    expect(report.allowedNeverUsed).not.toContain('read');
    expect(report.allowedNeverUsed).toContain('mkdir');
    expect(report.allowedNeverUsed.length).toBeGreaterThan(300);
  });

  it('a truly unconfined container (no filter) blocks nothing and reports nothing', () => {
    const none: ResolvedProfile = { allowed: new Set(), conditional: new Map(), errno: [], unconfined: true };
    expect(checkUsage(new Set(['bpf']), none, 'x86_64')).toEqual({ wouldBeBlocked: [], allowedNeverUsed: [], conditional: [] });
  });

  it('a deny-list profile (default ALLOW + ERRNO rules) reports the denied syscall', () => {
    const denyList = resolveProfile(
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] },
      env('x86_64'),
    );
    expect(checkUsage(new Set(['read', 'mkdir']), denyList, 'x86_64').wouldBeBlocked).toEqual(['mkdir']);
  });

  it("against Docker's default profile (x86_64, default capabilities)", (ctx) => {
    const ref = resolveProfile(needDefault(ctx), env('x86_64'));
    const report = checkUsage(new Set(['read', 'write', 'clone', 'clone3', 'bpf', 'mount', 'personality', 'arch_prctl']), ref, 'x86_64');
    expect(report.wouldBeBlocked).toEqual(['bpf', 'clone3', 'mount']);
    expect(report.conditional).toEqual(['clone', 'personality']);
    expect(report.allowedNeverUsed).toContain('openat');
    expect(report.allowedNeverUsed).not.toContain('read');
    expect(report.allowedNeverUsed).not.toContain('arch_prctl');
    // Names of other architectures (chown32, _llseek) are not reported as unused here.
    expect(report.allowedNeverUsed).not.toContain('chown32');
    expect(report.allowedNeverUsed).toHaveLength([...ref.allowed].filter((n) => isKnownSyscall('x86_64', n)).length - 3);
  });
});

describe('generated profiles compiled by libseccomp', () => {
  const need = (ctx: TestContext) => requireOrSkip(ctx, NO_LIBSECCOMP);
  const tables: Record<SyscallArch, readonly (string | null)[]> = { x86_64: X86_64_SYSCALLS, aarch64: AARCH64_SYSCALLS };
  const pfcArch: Record<SyscallArch, string> = { x86_64: 'x86_64', aarch64: 'aarch64' };

  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: every named syscall allowed lands on its own number in libseccomp's filter`, (ctx) => {
      need(ctx);
      const names = allNames(tables[arch]);
      const g = generateProfile([rec(names, ['execve'], { arch })], [], env(arch), null);
      expect(g.unnamed).toEqual([]);
      const pfc = parsePfc(profileToPfc(g.profile));
      const sub = ARCH_MAP[arch].subArchitectures.map((a) => a.replace('SCMP_ARCH_', '').toLowerCase());
      expect([...pfc.keys()].sort()).toEqual([pfcArch[arch], ...sub].sort());
      const native = pfc.get(pfcArch[arch])!;
      expect(native.size).toBe(names.length);
      for (const n of names) {
        expect(native.get(n)?.nr, n).toBe(syscallNumber(arch, n));
        expect(native.get(n)?.body, n).toBe('action ALLOW;\n');
      }
    });

    it(`${arch}: default ERRNO(1), and a syscall not used is simply absent`, (ctx) => {
      need(ctx);
      const g = generateProfile([rec(['read', 'write', 'exit_group'], ['execve'], { arch })], [], env(arch), null);
      const text = profileToPfc(g.profile);
      const pfc = parsePfc(text);
      expect([...pfc.get(pfcArch[arch])!.keys()].sort()).toEqual(['execve', 'exit_group', 'read', 'write']);
      expect(text.match(/# default action\n\s+action ERRNO\(1\);/g)).toHaveLength(1 + ARCH_MAP[arch].subArchitectures.length);
    });
  }

  it("x86_64: Docker's clone condition and the clone3 ENOSYS rule compile to what the kernel will check", (ctx) => {
    need(ctx);
    const ref = resolveProfile(needDefault(ctx), env('x86_64'));
    const g = generateProfile([rec(['read', 'write', 'clone', 'personality', 'exit_group'], ['execve'])], [], env('x86_64'), ref);
    const pfc = parsePfc(profileToPfc(g.profile));
    const x86_64 = pfc.get('x86_64')!;
    expect(x86_64.get('clone')!.nr).toBe(56);
    // 64-bit argument: the high half must be 0 under the mask, the low half too.
    expect(x86_64.get('clone')!.body).toMatch(/if \(\$a0\.hi32 & 0x00000000 == 0\)\nif \(\$a0\.lo32 & 0x7e020000 == 0\)\naction ALLOW;/);
    expect(x86_64.get('clone3')).toEqual({ nr: 435, body: 'action ERRNO(38);\n' });
    expect(x86_64.get('personality')!.body.match(/action ALLOW;/g)).toHaveLength(5);
    expect(x86_64.has('mkdir')).toBe(false);
    // The 32-bit x86 ABI gets the same rules under its own numbers.
    expect(pfc.get('x86')!.get('clone')!.nr).toBe(120);
    expect(pfc.get('x86')!.get('clone')!.body).toMatch(/if \(\$a0 & 0x7e020000 == 0\)\naction ALLOW;/);
  });

  it("aarch64: the same conditions on the asm-generic numbers", (ctx) => {
    need(ctx);
    const ref = resolveProfile(needDefault(ctx), env('aarch64'));
    const g = generateProfile([rec(['read', 'clone', 'exit_group'], ['execve'], { arch: 'aarch64' })], [], env('aarch64'), ref);
    const a64 = parsePfc(profileToPfc(g.profile)).get('aarch64')!;
    expect(a64.get('clone')!.nr).toBe(220);
    expect(a64.get('clone')!.body).toContain('0x7e020000 == 0');
    expect(a64.get('clone3')).toEqual({ nr: 435, body: 'action ERRNO(38);\n' });
    expect(a64.get('read')!.nr).toBe(63);
  });
});

describe('a generated profile enforced by the kernel (child process)', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const CHILD = fileURLToPath(new URL('./helpers/seccomp-child.mjs', import.meta.url));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-seccomp-load-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  interface Probe {
    fsMkdir: string;
    mkdiratErrno: number;
    clone3Ret: number;
    clone3Errno: number;
    read: string;
  }

  function runChild(ctx: TestContext, profile: SeccompProfile, arch: SyscallArch): { before: Probe; after: Probe } {
    const file = path.join(work, `profile-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(profile));
    const scratch = fs.mkdtempSync(path.join(work, 'scratch-'));
    const nr = { mkdirat: syscallNumber(arch, 'mkdirat'), clone3: syscallNumber(arch, 'clone3') };
    const out = execFileSync(process.execPath, [CHILD, file, scratch, JSON.stringify(nr)], { cwd: ROOT, timeout: 30_000, encoding: 'utf8' });
    const res = JSON.parse(out.trim().split('\n').at(-1)!) as { loadRc: number; before: Probe; after: Probe | null };
    requireOrSkip(ctx, res.loadRc !== 0 && `seccomp_load failed with ${res.loadRc}: this environment does not allow installing seccomp filters`);
    return { before: res.before, after: res.after! };
  }

  /** Everything libseccomp names on this host except the probed syscalls. */
  function profileFor(arch: SyscallArch, allowMkdir: boolean): SeccompProfile {
    const skip = new Set(['clone3', ...(allowMkdir ? [] : ['mkdir', 'mkdirat'])]);
    const names = allNames(arch === 'x86_64' ? X86_64_SYSCALLS : AARCH64_SYSCALLS).filter((n) => !skip.has(n));
    const ref = resolveProfile(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }, { names: names, action: 'SCMP_ACT_ALLOW' }],
      },
      env(arch),
    );
    const half = Math.floor(names.length / 2);
    const runs = [rec(names.slice(0, half), [], { arch }), rec(names.slice(half), ['execve'], { arch })];
    return generateProfile(runs, runs, env(arch), ref).profile;
  }

  const hostArch = (): SyscallArch | null => {
    try {
      return hostSyscallArch();
    } catch {
      return null;
    }
  };

  it('blocks an unused syscall with EPERM, answers clone3 with ENOSYS, lets the rest through', (ctx) => {
    requireOrSkip(ctx, NO_LIBSECCOMP);
    const arch = hostArch();
    requireOrSkip(ctx, !arch && `host architecture ${process.arch} is not supported by ContGuard`);
    const { before, after } = runChild(ctx, profileFor(arch!, false), arch!);
    // Control, before the filter: mkdir works; clone3(NULL, 0) is refused by the kernel itself
    // (EINVAL), or ENOSYS when this test already runs under Docker's default profile.
    expect(before.fsMkdir).toBe('ok');
    expect(before.mkdiratErrno).toBe(0);
    expect([22, 38]).toContain(before.clone3Errno);
    expect(after).toEqual({ fsMkdir: 'EPERM', mkdiratErrno: 1, clone3Ret: -1, clone3Errno: 38, read: 'ok' });
  });

  it('lets mkdir through once a recording used it', (ctx) => {
    requireOrSkip(ctx, NO_LIBSECCOMP);
    const arch = hostArch();
    requireOrSkip(ctx, !arch && `host architecture ${process.arch} is not supported by ContGuard`);
    const { after } = runChild(ctx, profileFor(arch!, true), arch!);
    expect(after.fsMkdir).toBe('ok');
    expect(after.mkdiratErrno).toBe(0);
    expect(after.clone3Errno).toBe(38);
  });
});
