// SPDX-License-Identifier: Apache-2.0
/** Types of the plain-JS libseccomp test helper (libseccomp.mjs). */
export declare const ARCH_TOKENS: Record<'SCMP_ARCH_X86_64' | 'SCMP_ARCH_X86' | 'SCMP_ARCH_X32' | 'SCMP_ARCH_AARCH64' | 'SCMP_ARCH_ARM', number>;
export declare function libseccompUnavailable(): string | null;
export declare function resolveNameArch(archName: keyof typeof ARCH_TOKENS, name: string): number;
export interface CompiledFilter {
  release(): void;
  load(): number;
  exportPfc(fd: number): number;
}
export declare function compileProfile(profile: unknown): CompiledFilter;
export declare function profileToPfc(profile: unknown): string;
/** arch name (as PFC prints it: x86_64, x86, x32, aarch64, arm) -> syscall name -> rule. */
export declare function parsePfc(pfc: string): Map<string, Map<string, { nr: number; body: string }>>;
