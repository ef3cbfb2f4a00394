// SPDX-License-Identifier: Apache-2.0
/** Docker/OCI seccomp profiles: resolving one for this host, and generating one from recordings. */
import type { SyscallArch } from '../sensors/syscalls/names.js';
import { allSyscallNames, isKnownSyscall } from '../sensors/syscalls/names.js';
import type { Recording } from './recordings.js';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
export interface SeccompRule {
  names: string[];
  action: string;
  args?: SeccompArg[] | null;
  errnoRet?: number;
  comment?: string;
  includes?: { arches?: string[]; caps?: string[]; minKernel?: string };
  excludes?: { arches?: string[]; caps?: string[]; minKernel?: string };
}
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: Array<{ architecture: string; subArchitectures: string[] }>;
  architectures?: string[];
  syscalls?: SeccompRule[];
}

/** archMap entries: the native architecture with the ones its kernel also runs. */
export const ARCH_MAP: Record<SyscallArch, { architecture: string; subArchitectures: string[] }> = {
  x86_64: { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
  aarch64: { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
};
/** Docker's names in includes/excludes.arches. */
const DOCKER_ARCHES: Record<SyscallArch, string[]> = { x86_64: ['amd64'], aarch64: ['arm64'] };

/** Capabilities Docker grants by default (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/**
 * What runc itself needs between installing the filter and exec'ing the entrypoint, used
 * only when no recording observed the runtime (e.g. all runs were unconfined). runc 1.x on
 * x86_64, as in the Security Profiles Operator's runc base profile.
 */
export const RUNC_BASE_SYSCALLS = [
  'arch_prctl', 'brk', 'capget', 'capset', 'chdir', 'close', 'close_range', 'epoll_ctl', 'epoll_pwait', 'execve',
  'exit_group', 'faccessat2', 'fcntl', 'fstat', 'fstatfs', 'futex', 'getcwd', 'getdents64', 'getpid', 'getppid',
  'getuid', 'mmap', 'mprotect', 'nanosleep', 'newfstatat', 'openat', 'prctl', 'read', 'recvfrom', 'rt_sigreturn',
  'sched_yield', 'set_tid_address', 'setgid', 'setgroups', 'setuid', 'tgkill', 'write',
];

export interface HostEnv {
  arch: SyscallArch;
  caps: Set<string>;
  kernel: [number, number];
}

function kernelAtLeast(env: HostEnv, min: string): boolean {
  const [maj, minr] = min.split('.').map(Number);
  return env.kernel[0] > maj || (env.kernel[0] === maj && env.kernel[1] >= (minr ?? 0));
}

/** Whether a rule's includes/excludes select it on this host (Docker's semantics). */
export function ruleApplies(rule: SeccompRule, env: HostEnv): boolean {
  const archNames = DOCKER_ARCHES[env.arch];
  const inc = rule.includes ?? {};
  if (inc.arches?.length && !inc.arches.some((a) => archNames.includes(a))) return false;
  if (inc.caps?.length && !inc.caps.every((c) => env.caps.has(c))) return false;
  if (inc.minKernel && !kernelAtLeast(env, inc.minKernel)) return false;
  const exc = rule.excludes ?? {};
  if (exc.arches?.length && exc.arches.some((a) => archNames.includes(a))) return false;
  if (exc.caps?.length && exc.caps.some((c) => env.caps.has(c))) return false;
  if (exc.minKernel && kernelAtLeast(env, exc.minKernel)) return false;
  return true;
}

export interface ResolvedProfile {
  /** Allowed whatever the arguments. */
  allowed: Set<string>;
  /** Allowed only for some argument values (e.g. clone without namespace flags). */
  conditional: Map<string, SeccompRule[]>;
  /** Explicit errno rules (e.g. clone3 -> ENOSYS so libc falls back to clone). */
  errno: SeccompRule[];
  /** No filter at all (privileged or seccomp=unconfined): nothing can be blocked. */
  unconfined: boolean;
}

/** Flattens a profile for this host: which syscalls it allows, and how. */
export function resolveProfile(p: SeccompProfile, env: HostEnv): ResolvedProfile {
  const out: ResolvedProfile = { allowed: new Set(), conditional: new Map(), errno: [], unconfined: false };
  const rules = (p.syscalls ?? []).filter((r) => ruleApplies(r, env));
  const permissive = (action: string) => action === 'SCMP_ACT_ALLOW' || action === 'SCMP_ACT_LOG';
  if (permissive(p.defaultAction)) {
    // A deny-list: everything libseccomp knows here, except what a rule denies.
    for (const name of allSyscallNames(env.arch)) out.allowed.add(name);
    for (const r of rules) {
      if (permissive(r.action)) continue;
      for (const name of r.names) {
        if (r.args && r.args.length) {
          // Denied for some arguments only: allowed under a condition.
          if (out.allowed.delete(name)) out.conditional.set(name, [r]);
        } else {
          out.allowed.delete(name);
          out.conditional.delete(name);
        }
      }
    }
    return out;
  }
  for (const r of rules) {
    const allow = permissive(r.action);
    for (const name of r.names) {
      if (allow && !(r.args && r.args.length)) out.allowed.add(name);
      else if (allow) out.conditional.set(name, [...(out.conditional.get(name) ?? []), r]);
    }
    if (r.action === 'SCMP_ACT_ERRNO' && !(r.args && r.args.length)) out.errno.push(r);
  }
  for (const name of out.allowed) out.conditional.delete(name);
  return out;
}

export interface GeneratedProfile {
  profile: SeccompProfile;
  allowed: string[];
  workloadNames: string[];
  runtimeNames: string[];
  runtimeSource: 'recorded' | 'builtin';
  /** Numbers libseccomp cannot name: they cannot be allowed by name. */
  unnamed: string[];
  conditionalCopied: string[];
}

/**
 * An allow-list profile from recordings: everything the workload and the runtime (after its
 * filter) used. Where the reference profile allows a used syscall only for some arguments,
 * that condition is kept; its errno rules (clone3 -> ENOSYS) are kept for syscalls not allowed.
 */
export function generateProfile(recordings: Recording[], allRecordings: Recording[], env: HostEnv, reference: ResolvedProfile | null): GeneratedProfile {
  const workload = new Set<string>();
  const runtime = new Set<string>();
  for (const r of recordings) {
    for (const name of Object.keys(r.workload)) workload.add(name);
    for (const name of Object.keys(r.runtime)) runtime.add(name);
  }
  let runtimeSource: 'recorded' | 'builtin' = 'recorded';
  if (runtime.size === 0) {
    // This image never ran under a filter while recorded: the same runtime on this host did.
    for (const r of allRecordings) for (const name of Object.keys(r.runtime)) runtime.add(name);
    if (runtime.size === 0) {
      for (const name of RUNC_BASE_SYSCALLS) if (isKnownSyscall(env.arch, name)) runtime.add(name);
      runtimeSource = 'builtin';
    }
  }
  const used = new Set([...workload, ...runtime]);
  const unnamed = [...used].filter((n) => !isKnownSyscall(env.arch, n)).sort();
  const rules: SeccompRule[] = [];
  const unconditional: string[] = [];
  const conditionalCopied: string[] = [];
  for (const name of [...used].filter((n) => isKnownSyscall(env.arch, n)).sort()) {
    const conds = reference && !reference.unconfined && !reference.allowed.has(name) ? reference.conditional.get(name) : undefined;
    if (conds?.length) {
      conditionalCopied.push(name);
      for (const c of conds) rules.push({ names: [name], action: 'SCMP_ACT_ALLOW', args: c.args ?? [] });
    } else {
      unconditional.push(name);
    }
  }
  const allowRule: SeccompRule = { names: unconditional, action: 'SCMP_ACT_ALLOW' };
  const errnoRules = (reference?.errno ?? [])
    .map((r) => ({ ...r, names: r.names.filter((n) => !used.has(n) && isKnownSyscall(env.arch, n)) }))
    .filter((r) => r.names.length > 0)
    .map((r) => ({ names: r.names, action: r.action, errnoRet: r.errnoRet, args: [] as SeccompArg[] }));
  return {
    profile: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [ARCH_MAP[env.arch]],
      syscalls: [allowRule, ...rules, ...errnoRules],
    },
    allowed: [...unconditional, ...conditionalCopied].sort(),
    workloadNames: [...workload].sort(),
    runtimeNames: [...runtime].sort(),
    runtimeSource,
    unnamed,
    conditionalCopied,
  };
}

export interface CheckReport {
  wouldBeBlocked: string[];
  allowedNeverUsed: string[];
  conditional: string[];
}

/** What a container used against what its profile allows. */
export function checkUsage(used: Set<string>, profile: ResolvedProfile, arch: SyscallArch): CheckReport {
  if (profile.unconfined) return { wouldBeBlocked: [], allowedNeverUsed: [], conditional: [] };
  const wouldBeBlocked = [...used].filter((n) => !profile.allowed.has(n) && !profile.conditional.has(n)).sort();
  // Names of other architectures (chown32, _llseek) are in Docker's list but not callable here.
  const allowedNeverUsed = [...profile.allowed].filter((n) => !used.has(n) && isKnownSyscall(arch, n)).sort();
  const conditional = [...used].filter((n) => profile.conditional.has(n)).sort();
  return { wouldBeBlocked, allowedNeverUsed, conditional };
}
