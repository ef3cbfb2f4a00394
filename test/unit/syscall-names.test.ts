// SPDX-License-Identifier: Apache-2.0
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hostSyscallArch, isKnownSyscall, syscallName, syscallNumber, type SyscallArch } from '../../src/sensors/syscalls/names.js';
import { AARCH64_SYSCALLS, LIBSECCOMP_VERSION, X86_64_SYSCALLS } from '../../src/sensors/syscalls/syscall-names.gen.js';
import { MAX_NR } from '../../src/sensors/syscalls/recorder.js';
import { libseccompUnavailable, resolveNameArch } from './helpers/libseccomp.mjs';
import { requireOrSkip } from '../support/require.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GEN_FILE = fileURLToPath(new URL('../../src/sensors/syscalls/syscall-names.gen.ts', import.meta.url));
const TABLES: Record<SyscallArch, readonly (string | null)[]> = { x86_64: X86_64_SYSCALLS, aarch64: AARCH64_SYSCALLS };

describe('syscall name tables', () => {
  it.each([
    [0, 'read'],
    [1, 'write'],
    [2, 'open'],
    [56, 'clone'],
    [57, 'fork'],
    [59, 'execve'],
    [83, 'mkdir'],
    [158, 'arch_prctl'],
    [231, 'exit_group'],
    [257, 'openat'],
    [317, 'seccomp'],
    [321, 'bpf'],
    [435, 'clone3'],
  ])('x86_64 %i is %s', (nr, name) => {
    expect(syscallName('x86_64', nr)).toBe(name);
    expect(syscallNumber('x86_64', name)).toBe(nr);
    expect(isKnownSyscall('x86_64', name)).toBe(true);
  });

  it.each([
    [34, 'mkdirat'],
    [56, 'openat'],
    [63, 'read'],
    [64, 'write'],
    [94, 'exit_group'],
    [220, 'clone'],
    [221, 'execve'],
    [277, 'seccomp'],
    [280, 'bpf'],
    [435, 'clone3'],
  ])('aarch64 %i is %s (asm-generic table)', (nr, name) => {
    expect(syscallName('aarch64', nr)).toBe(name);
    expect(syscallNumber('aarch64', name)).toBe(nr);
    expect(isKnownSyscall('aarch64', name)).toBe(true);
  });

  it('the same number means different syscalls on the two architectures', () => {
    expect(syscallName('x86_64', 56)).toBe('clone');
    expect(syscallName('aarch64', 56)).toBe('openat');
    expect(syscallNumber('x86_64', 'openat')).not.toBe(syscallNumber('aarch64', 'openat'));
  });

  it.each(['open', 'mkdir', 'fork', 'vfork', 'stat', 'arch_prctl', 'epoll_wait', 'creat'])('aarch64 has no legacy %s', (name) => {
    expect(syscallNumber('aarch64', name)).toBeUndefined();
    expect(isKnownSyscall('aarch64', name)).toBe(false);
    expect(isKnownSyscall('x86_64', name)).toBe(true);
  });

  it('unknown names are unknown on both architectures', () => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      expect(syscallNumber(arch, 'no_such_syscall')).toBeUndefined();
      expect(isKnownSyscall(arch, 'no_such_syscall')).toBe(false);
      expect(isKnownSyscall(arch, '511')).toBe(false);
      expect(isKnownSyscall(arch, '')).toBe(false);
    }
  });

  it('keeps numbers libseccomp does not name as numbers', () => {
    expect(syscallName('x86_64', 511)).toBe('511');
    expect(syscallName('aarch64', 511)).toBe('511');
    // Gaps inside the tables: x86_64 335..423 are unassigned, aarch64 244..259 are arch-private.
    expect(X86_64_SYSCALLS[335]).toBeNull();
    expect(syscallName('x86_64', 335)).toBe('335');
    expect(AARCH64_SYSCALLS[244]).toBeNull();
    expect(syscallName('aarch64', 244)).toBe('244');
    // Past the end of the generated array.
    expect(syscallName('x86_64', X86_64_SYSCALLS.length)).toBe(String(X86_64_SYSCALLS.length));
  });

  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: syscallNumber and syscallName round-trip for every named entry`, () => {
      const table = TABLES[arch];
      let named = 0;
      for (let nr = 0; nr < table.length; nr++) {
        const name = table[nr];
        if (name === null) {
          expect(syscallName(arch, nr)).toBe(String(nr));
          continue;
        }
        named++;
        expect(syscallName(arch, nr), `nr ${nr}`).toBe(name);
        expect(syscallNumber(arch, name), name).toBe(nr);
        expect(isKnownSyscall(arch, name)).toBe(true);
      }
      // Both tables hold the few hundred syscalls of a current kernel.
      expect(named).toBeGreaterThan(300);
    });

    it(`${arch}: names are unique, well-formed and every number fits the sensor's MAX_NR`, () => {
      const names = TABLES[arch].filter((n): n is string => n !== null);
      expect(new Set(names).size).toBe(names.length);
      for (const n of names) expect(n).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(TABLES[arch].length).toBeLessThanOrEqual(MAX_NR);
      // The generator trims trailing nulls.
      expect(TABLES[arch].at(-1)).not.toBeNull();
    });
  }

  it('records the libseccomp version it was generated from', () => {
    expect(LIBSECCOMP_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(readFileSync(GEN_FILE, 'utf8')).toContain(`from libseccomp ${LIBSECCOMP_VERSION}. DO NOT EDIT.`);
  });
});

describe('hostSyscallArch', () => {
  it('maps Node architecture names', () => {
    expect(hostSyscallArch('x64')).toBe('x86_64');
    expect(hostSyscallArch('arm64')).toBe('aarch64');
  });

  it.each(['ia32', 'arm', 'riscv64', 's390x', 'ppc64', ''])('rejects %j', (a) => {
    expect(() => hostSyscallArch(a)).toThrow(/unsupported architecture.*x86_64 and aarch64/);
  });

  it('defaults to process.arch', () => {
    if (process.arch === 'x64' || process.arch === 'arm64') expect(hostSyscallArch()).toBe(hostSyscallArch(process.arch));
    else expect(() => hostSyscallArch()).toThrow(/unsupported architecture/);
  });
});

describe('generated tables against libseccomp', () => {
  const unavailable: string | null = libseccompUnavailable();

  it('scripts/gen-syscall-names.mjs --check: the committed file matches the installed libseccomp', (ctx) => {
    requireOrSkip(ctx, unavailable && `${unavailable}: the generator reads libseccomp's tables`);
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['scripts/gen-syscall-names.mjs', '--check'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    } catch (err) {
      const e = err as { status?: number; stderr?: Buffer };
      status = e.status ?? -1;
      stderr = e.stderr?.toString() ?? String(err);
    }
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });

  it("spot checks agree with libseccomp's per-architecture resolver", (ctx) => {
    requireOrSkip(ctx, unavailable);
    const archName = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' } as const;
    for (const arch of ['x86_64', 'aarch64'] as const) {
      for (const name of ['read', 'write', 'execve', 'clone', 'clone3', 'exit_group', 'seccomp', 'openat', 'mkdirat', 'bpf']) {
        expect(resolveNameArch(archName[arch], name), `${arch} ${name}`).toBe(syscallNumber(arch, name));
      }
    }
    // libseccomp answers a negative pseudo number for a syscall an architecture lacks.
    expect(resolveNameArch('SCMP_ARCH_AARCH64', 'open')).toBeLessThan(0);
    expect(resolveNameArch('SCMP_ARCH_AARCH64', 'mkdir')).toBeLessThan(0);
  });
});
