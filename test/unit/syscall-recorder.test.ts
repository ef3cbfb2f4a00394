// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { syscallNumber } from '../../src/sensors/syscalls/names.js';
import { MAX_NR, PHASES, PHASE_RUNTIME, PHASE_WORKLOAD, SlotHistory, countsBytes, countsEntries, countsKey, readSlot } from '../../src/sensors/syscalls/recorder.js';
import { SYSCALLS_COUNTS_SIZE, SyscallsCountsLayout } from '../../src/sensors/syscalls/layout.gen.js';

/** What two lookups of one slot return: per phase, `cpus` copies of MAX_NR counts. */
function slotValues(cpus = 1): BigUint64Array[] {
  return [new BigUint64Array(cpus * MAX_NR), new BigUint64Array(cpus * MAX_NR)];
}

/** The kernel's layout of one lookup: CPU `cpu`'s copy starts at cpu * MAX_NR. */
function set(v: BigUint64Array[], phase: number, n: number, value: bigint, cpu = 0): void {
  v[phase][cpu * MAX_NR + n] = value;
}

function nr(name: string, arch: 'x86_64' | 'aarch64' = 'x86_64'): number {
  const n = syscallNumber(arch, name);
  if (n === undefined) throw new Error(`no ${name} on ${arch}`);
  return n;
}

describe('counts layout', () => {
  it('is a per-CPU array: element slot * PHASES + phase holds 512 u64 counts', () => {
    expect(MAX_NR).toBe(512);
    expect(PHASES).toBe(2);
    expect(PHASE_WORKLOAD).toBe(0);
    expect(PHASE_RUNTIME).toBe(1);
    // The element's layout comes from the kernel object's BTF (struct syscalls_counts).
    expect(SYSCALLS_COUNTS_SIZE).toBe(MAX_NR * 8);
    expect(SyscallsCountsLayout.n).toEqual({ offset: 0, size: MAX_NR * 8, kind: 'u64[]' });
    expect(countsKey(0, PHASE_WORKLOAD)).toBe(0);
    expect(countsKey(0, PHASE_RUNTIME)).toBe(1);
    expect(countsKey(3, PHASE_RUNTIME)).toBe(7);
    expect(countsEntries(256)).toBe(512);
  });

  it('takes 8 KiB per container slot on each possible CPU', () => {
    expect(countsBytes(256, 2)).toBe(4 * 2 ** 20);
    expect(countsBytes(256, 16)).toBe(32 * 2 ** 20);
    expect(countsBytes(1, 1)).toBe(8192);
  });
});

describe('readSlot', () => {
  it('an empty slot reads as nothing', () => {
    const c = readSlot(slotValues(2), 2, 'x86_64');
    expect(c).toEqual({ workload: {}, runtime: {}, total: 0, seen: new Set() });
  });

  it('puts workload and runtime counts in their own maps, by libseccomp name', () => {
    const v = slotValues();
    set(v, PHASE_WORKLOAD, nr('read'), 10n);
    set(v, PHASE_WORKLOAD, nr('write'), 3n);
    set(v, PHASE_WORKLOAD, nr('execve'), 1n);
    set(v, PHASE_RUNTIME, nr('execve'), 1n);
    set(v, PHASE_RUNTIME, nr('capset'), 2n);
    set(v, PHASE_RUNTIME, nr('clone3'), 4n);

    const c = readSlot(v, 1, 'x86_64');
    expect(c.workload).toEqual({ read: 10, write: 3, execve: 1 });
    expect(c.runtime).toEqual({ execve: 1, capset: 2, clone3: 4 });
    expect(c.total).toBe(10 + 3 + 1 + 1 + 2 + 4);
    // A number used in both phases is one entry in `seen`.
    expect([...c.seen].sort((a, b) => a - b)).toEqual([0, 1, 59, 126, 435]);
  });

  it('names numbers with the architecture of the host it ran on', () => {
    const v = slotValues();
    set(v, PHASE_WORKLOAD, 56, 7n);
    set(v, PHASE_WORKLOAD, 63, 2n);
    expect(readSlot(v, 1, 'aarch64').workload).toEqual({ openat: 7, read: 2 });
    expect(readSlot(v, 1, 'x86_64').workload).toEqual({ clone: 7, uname: 2 });
  });

  it('keeps numbers libseccomp cannot name as numbers, up to the last index', () => {
    const v = slotValues();
    set(v, PHASE_WORKLOAD, 511, 5n);
    set(v, PHASE_RUNTIME, 400, 1n); // an unassigned x86_64 number
    set(v, PHASE_WORKLOAD, 0, 1n);
    const c = readSlot(v, 1, 'x86_64');
    expect(c.workload).toEqual({ read: 1, '511': 5 });
    expect(c.runtime).toEqual({ '400': 1 });
    expect(c.total).toBe(7);
    expect(c.seen).toEqual(new Set([0, 400, 511]));
  });

  it('sums every CPU\'s copy, number by number, with no bleed at the copies\' edges', () => {
    const cpus = 3;
    const v = slotValues(cpus);
    set(v, PHASE_WORKLOAD, nr('read'), 5n, 0);
    set(v, PHASE_WORKLOAD, nr('read'), 7n, 1);
    set(v, PHASE_WORKLOAD, nr('read'), 1n, 2);
    set(v, PHASE_RUNTIME, nr('capset'), 2n, 2);
    set(v, PHASE_WORKLOAD, MAX_NR - 1, 1n, 0); // CPU 0's last number, next to CPU 1's first
    set(v, PHASE_WORKLOAD, 1, 4n, 1); // write
    const c = readSlot(v, cpus, 'x86_64');
    expect(c.workload).toEqual({ read: 13, write: 4, '511': 1 });
    expect(c.runtime).toEqual({ capset: 2 });
    expect(c.total).toBe(20);
    // Fewer CPUs than the buffers hold: only those copies count.
    expect(readSlot(v, 1, 'x86_64').workload).toEqual({ read: 5, '511': 1 });
  });

  it('converts 64-bit counts to numbers', () => {
    const v = slotValues(2);
    set(v, PHASE_WORKLOAD, nr('futex'), 2n ** 40n, 1);
    const c = readSlot(v, 2, 'x86_64');
    expect(c.workload.futex).toBe(2 ** 40);
    expect(c.total).toBe(2 ** 40);
  });
});

describe('SlotHistory', () => {
  const START = 1_795_856_476_000_000_000n;

  it('starts with nothing new', () => {
    const h = new SlotHistory(START);
    expect(h.startedUnixNano).toBe(START);
    expect(h.lastNewUnixNano).toBeNull();
    expect(h.lastSnapshotTotal).toBe(-1);
  });

  it('marks lastNewUnixNano only when a number appears for the first time', () => {
    const v = slotValues();
    const h = new SlotHistory(START);

    // Nothing counted yet: nothing new.
    expect(h.observe(readSlot(v, 1, 'x86_64'), START + 1n)).toBe(false);
    expect(h.lastNewUnixNano).toBeNull();

    set(v, PHASE_RUNTIME, nr('execve'), 1n);
    set(v, PHASE_WORKLOAD, nr('read'), 1n);
    expect(h.observe(readSlot(v, 1, 'x86_64'), START + 10n)).toBe(true);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    // Higher counts of the same numbers: not new.
    set(v, PHASE_WORKLOAD, nr('read'), 500n);
    expect(h.observe(readSlot(v, 1, 'x86_64'), START + 20n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    // execve seen in the runtime phase first, now in the workload phase: same number, not new.
    set(v, PHASE_WORKLOAD, nr('execve'), 1n);
    expect(h.observe(readSlot(v, 1, 'x86_64'), START + 30n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    set(v, PHASE_WORKLOAD, nr('mkdir'), 1n);
    expect(h.observe(readSlot(v, 1, 'x86_64'), START + 40n)).toBe(true);
    expect(h.lastNewUnixNano).toBe(START + 40n);
  });

  it('remembers numbers across reads even when the counts are cleared', () => {
    const w = slotValues();
    const h = new SlotHistory(START);
    set(w, PHASE_WORKLOAD, nr('openat'), 3n);
    expect(h.observe(readSlot(w, 1, 'x86_64'), START + 5n)).toBe(true);
    for (const phase of w) phase.fill(0n); // the slot cleared (CountsMap.clear)
    expect(h.observe(readSlot(w, 1, 'x86_64'), START + 6n)).toBe(false);
    set(w, PHASE_WORKLOAD, nr('openat'), 1n);
    expect(h.observe(readSlot(w, 1, 'x86_64'), START + 7n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 5n);
  });

  it('keeps one history per slot', () => {
    const [v, w] = [slotValues(), slotValues()];
    const a = new SlotHistory(START);
    const b = new SlotHistory(START);
    set(v, PHASE_WORKLOAD, nr('read'), 1n);
    set(w, PHASE_WORKLOAD, nr('read'), 1n);
    expect(a.observe(readSlot(v, 1, 'x86_64'), START + 1n)).toBe(true);
    expect(b.observe(readSlot(w, 1, 'x86_64'), START + 2n)).toBe(true);
    expect(a.lastNewUnixNano).toBe(START + 1n);
    expect(b.lastNewUnixNano).toBe(START + 2n);
  });
});

describe('counts layout: user space and bpf/syscalls.h agree', () => {
  it('uses the header’s syscall number range, phases and stats', async () => {
    const { readFileSync } = await import('node:fs');
    const header = readFileSync(new URL('../../bpf/syscalls.h', import.meta.url), 'utf8');
    const define = (name: string) => {
      const m = new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(header);
      if (!m) throw new Error(`no #define ${name}`);
      return BigInt(m[1]);
    };
    expect(BigInt(MAX_NR)).toBe(define('SYSCALLS_MAX_NR'));
    expect(BigInt(PHASES)).toBe(define('SYSCALLS_PHASES'));
    expect(BigInt(PHASE_WORKLOAD)).toBe(define('SYSCALLS_PHASE_WORKLOAD'));
    expect(BigInt(PHASE_RUNTIME)).toBe(define('SYSCALLS_PHASE_RUNTIME'));
  });
});
