// SPDX-License-Identifier: Apache-2.0
/** Syscall numbers <-> names for the architectures we support (tables from libseccomp). */
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from './syscall-names.gen.js';

export type SyscallArch = 'x86_64' | 'aarch64';

const TABLES: Record<SyscallArch, readonly (string | null)[]> = { x86_64: X86_64_SYSCALLS, aarch64: AARCH64_SYSCALLS };
const BY_NAME: Record<SyscallArch, Map<string, number>> = {
  x86_64: new Map(X86_64_SYSCALLS.flatMap((n, i) => (n ? [[n, i] as [string, number]] : []))),
  aarch64: new Map(AARCH64_SYSCALLS.flatMap((n, i) => (n ? [[n, i] as [string, number]] : []))),
};

export function hostSyscallArch(nodeArch: string = process.arch): SyscallArch {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  throw new Error(`unsupported architecture ${nodeArch}: ContGuard supports x86_64 and aarch64`);
}

/** The libseccomp name, or the number as a string when libseccomp has none. */
export function syscallName(arch: SyscallArch, nr: number): string {
  return TABLES[arch][nr] ?? String(nr);
}

export function syscallNumber(arch: SyscallArch, name: string): number | undefined {
  return BY_NAME[arch].get(name);
}

/** Whether a name is one a seccomp profile can use on this architecture. */
export function isKnownSyscall(arch: SyscallArch, name: string): boolean {
  return BY_NAME[arch].has(name);
}

/** Every name libseccomp knows on this architecture. */
export function allSyscallNames(arch: SyscallArch): string[] {
  return [...BY_NAME[arch].keys()];
}
