// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { syscallNumber } from '../../src/sensors/syscalls/names.js';
import { CPU_ROWS_MAX, MAX_NR, PHASES, PHASE_RUNTIME, PHASE_WORKLOAD, SlotHistory, clearSlot, countsEntries, cpuRowsFor, readSlot } from '../../src/sensors/syscalls/recorder.js';

const SLOTS = 4;

/** The kernel's layout: counts[(slot * PHASES + phase) * MAX_NR + nr]. */
function at(slot: number, phase: number, nr: number): number {
  return (slot * PHASES + phase) * MAX_NR + nr;
}

function countsArray(): BigUint64Array {
  return new BigUint64Array(SLOTS * PHASES * MAX_NR);
}

function nr(name: string, arch: 'x86_64' | 'aarch64' = 'x86_64'): number {
  const n = syscallNumber(arch, name);
  if (n === undefined) throw new Error(`no ${name} on ${arch}`);
  return n;
}

describe('counts layout', () => {
  it('is [slot][phase][nr] with two phases of 512 numbers', () => {
    expect(MAX_NR).toBe(512);
    expect(PHASES).toBe(2);
    expect(PHASE_WORKLOAD).toBe(0);
    expect(PHASE_RUNTIME).toBe(1);
  });
});

describe('readSlot', () => {
  it('an empty slot reads as nothing', () => {
    const c = readSlot(countsArray(), 2, 'x86_64');
    expect(c).toEqual({ workload: {}, runtime: {}, total: 0, seen: new Set() });
  });

  it('puts workload and runtime counts in their own maps, by libseccomp name', () => {
    const counts = countsArray();
    counts[at(1, PHASE_WORKLOAD, nr('read'))] = 10n;
    counts[at(1, PHASE_WORKLOAD, nr('write'))] = 3n;
    counts[at(1, PHASE_WORKLOAD, nr('execve'))] = 1n;
    counts[at(1, PHASE_RUNTIME, nr('execve'))] = 1n;
    counts[at(1, PHASE_RUNTIME, nr('capset'))] = 2n;
    counts[at(1, PHASE_RUNTIME, nr('clone3'))] = 4n;

    const c = readSlot(counts, 1, 'x86_64');
    expect(c.workload).toEqual({ read: 10, write: 3, execve: 1 });
    expect(c.runtime).toEqual({ execve: 1, capset: 2, clone3: 4 });
    expect(c.total).toBe(10 + 3 + 1 + 1 + 2 + 4);
    // A number used in both phases is one entry in `seen`.
    expect([...c.seen].sort((a, b) => a - b)).toEqual([0, 1, 59, 126, 435]);
  });

  it('names numbers with the architecture of the host it ran on', () => {
    const counts = countsArray();
    counts[at(0, PHASE_WORKLOAD, 56)] = 7n;
    counts[at(0, PHASE_WORKLOAD, 63)] = 2n;
    expect(readSlot(counts, 0, 'aarch64').workload).toEqual({ openat: 7, read: 2 });
    expect(readSlot(counts, 0, 'x86_64').workload).toEqual({ clone: 7, uname: 2 });
  });

  it('keeps numbers libseccomp cannot name as numbers, up to the last index', () => {
    const counts = countsArray();
    counts[at(3, PHASE_WORKLOAD, 511)] = 5n;
    counts[at(3, PHASE_RUNTIME, 400)] = 1n; // an unassigned x86_64 number
    counts[at(3, PHASE_WORKLOAD, 0)] = 1n;
    const c = readSlot(counts, 3, 'x86_64');
    expect(c.workload).toEqual({ read: 1, '511': 5 });
    expect(c.runtime).toEqual({ '400': 1 });
    expect(c.total).toBe(7);
    expect(c.seen).toEqual(new Set([0, 400, 511]));
  });

  it('reads only its own slot (no bleed from neighbours at the phase and slot edges)', () => {
    const counts = countsArray();
    // Last number of slot 0 runtime and first number of slot 2 workload, around slot 1.
    counts[at(0, PHASE_RUNTIME, MAX_NR - 1)] = 9n;
    counts[at(2, PHASE_WORKLOAD, 0)] = 9n;
    counts[at(1, PHASE_WORKLOAD, MAX_NR - 1)] = 1n;
    counts[at(1, PHASE_RUNTIME, 0)] = 2n;
    const c = readSlot(counts, 1, 'x86_64');
    expect(c.workload).toEqual({ '511': 1 });
    expect(c.runtime).toEqual({ read: 2 });
    expect(c.total).toBe(3);
  });

  it('converts 64-bit counts to numbers', () => {
    const counts = countsArray();
    counts[at(0, PHASE_WORKLOAD, nr('futex'))] = 2n ** 40n;
    const c = readSlot(counts, 0, 'x86_64');
    expect(c.workload.futex).toBe(2 ** 40);
    expect(c.total).toBe(2 ** 40);
  });
});

describe('clearSlot', () => {
  it('zeroes both phases of one slot and leaves the others alone', () => {
    const counts = countsArray();
    for (let slot = 0; slot < SLOTS; slot++) {
      for (const phase of [PHASE_WORKLOAD, PHASE_RUNTIME]) {
        counts[at(slot, phase, 0)] = BigInt(slot + 1);
        counts[at(slot, phase, MAX_NR - 1)] = BigInt(slot + 10);
      }
    }
    clearSlot(counts, 2);
    expect(readSlot(counts, 2, 'x86_64')).toEqual({ workload: {}, runtime: {}, total: 0, seen: new Set() });
    for (let i = at(2, 0, 0); i < at(3, 0, 0); i++) expect(counts[i]).toBe(0n);
    for (const slot of [0, 1, 3]) {
      const c = readSlot(counts, slot, 'x86_64');
      expect(c.workload).toEqual({ read: slot + 1, '511': slot + 10 });
      expect(c.runtime).toEqual({ read: slot + 1, '511': slot + 10 });
    }
  });

  it('clears the first and the last slot without touching out-of-range memory', () => {
    const counts = countsArray();
    counts.fill(1n);
    clearSlot(counts, 0);
    clearSlot(counts, SLOTS - 1);
    expect(counts.length).toBe(SLOTS * PHASES * MAX_NR);
    expect(counts.slice(0, PHASES * MAX_NR).every((v) => v === 0n)).toBe(true);
    expect(counts.slice((SLOTS - 1) * PHASES * MAX_NR).every((v) => v === 0n)).toBe(true);
    expect(counts.slice(PHASES * MAX_NR, (SLOTS - 1) * PHASES * MAX_NR).every((v) => v === 1n)).toBe(true);
  });
});

describe('counts in CPU rows ([row][slot][phase][nr])', () => {
  const layout = { slots: SLOTS, cpuRows: 3 };
  const rowAt = (row: number, slot: number, phase: number, n: number) => row * SLOTS * PHASES * MAX_NR + at(slot, phase, n);

  it('sizes the array for every CPU row and the shared row', () => {
    expect(countsEntries(layout)).toBe(4 * SLOTS * PHASES * MAX_NR);
    expect(countsEntries({ slots: SLOTS, cpuRows: 0 })).toBe(SLOTS * PHASES * MAX_NR);
  });

  it('sums a slot over the CPU rows and the shared row, phase by phase', () => {
    const counts = new BigUint64Array(countsEntries(layout));
    counts[rowAt(0, 2, PHASE_WORKLOAD, nr('read'))] = 5n;
    counts[rowAt(1, 2, PHASE_WORKLOAD, nr('read'))] = 7n;
    counts[rowAt(3, 2, PHASE_WORKLOAD, nr('read'))] = 1n; // the shared row
    counts[rowAt(2, 2, PHASE_RUNTIME, nr('capset'))] = 2n;
    counts[rowAt(1, 1, PHASE_WORKLOAD, nr('write'))] = 9n; // another slot
    const c = readSlot(counts, 2, 'x86_64', layout);
    expect(c.workload).toEqual({ read: 13 });
    expect(c.runtime).toEqual({ capset: 2 });
    expect(c.total).toBe(15);
    expect(readSlot(counts, 1, 'x86_64', layout).workload).toEqual({ write: 9 });
  });

  it('clears a slot in every row and nothing else', () => {
    const counts = new BigUint64Array(countsEntries(layout)).fill(1n);
    clearSlot(counts, 1, layout);
    for (let row = 0; row <= layout.cpuRows; row++) {
      for (let slot = 0; slot < SLOTS; slot++) {
        const first = counts[rowAt(row, slot, PHASE_WORKLOAD, 0)];
        const last = counts[rowAt(row, slot, PHASE_RUNTIME, MAX_NR - 1)];
        expect([first, last]).toEqual(slot === 1 ? [0n, 0n] : [1n, 1n]);
      }
    }
    expect(readSlot(counts, 1, 'x86_64', layout).total).toBe(0);
  });

  it('gives a row to each online CPU id up to the highest, at most CPU_ROWS_MAX', () => {
    expect(cpuRowsFor('0-1\n')).toBe(2);
    expect(cpuRowsFor('0')).toBe(1);
    expect(cpuRowsFor('0-3,8-11')).toBe(12); // ids, not a count: CPU 11 needs row 11
    expect(cpuRowsFor('0-63')).toBe(CPU_ROWS_MAX);
    expect(cpuRowsFor('')).toBe(0); // unreadable list: the shared row only
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
    const counts = countsArray();
    const h = new SlotHistory(START);

    // Nothing counted yet: nothing new.
    expect(h.observe(readSlot(counts, 0, 'x86_64'), START + 1n)).toBe(false);
    expect(h.lastNewUnixNano).toBeNull();

    counts[at(0, PHASE_RUNTIME, nr('execve'))] = 1n;
    counts[at(0, PHASE_WORKLOAD, nr('read'))] = 1n;
    expect(h.observe(readSlot(counts, 0, 'x86_64'), START + 10n)).toBe(true);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    // Higher counts of the same numbers: not new.
    counts[at(0, PHASE_WORKLOAD, nr('read'))] = 500n;
    expect(h.observe(readSlot(counts, 0, 'x86_64'), START + 20n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    // execve seen in the runtime phase first, now in the workload phase: same number, not new.
    counts[at(0, PHASE_WORKLOAD, nr('execve'))] = 1n;
    expect(h.observe(readSlot(counts, 0, 'x86_64'), START + 30n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 10n);

    counts[at(0, PHASE_WORKLOAD, nr('mkdir'))] = 1n;
    expect(h.observe(readSlot(counts, 0, 'x86_64'), START + 40n)).toBe(true);
    expect(h.lastNewUnixNano).toBe(START + 40n);
  });

  it('remembers numbers across reads even when the counts are cleared', () => {
    const counts = countsArray();
    const h = new SlotHistory(START);
    counts[at(1, PHASE_WORKLOAD, nr('openat'))] = 3n;
    expect(h.observe(readSlot(counts, 1, 'x86_64'), START + 5n)).toBe(true);
    clearSlot(counts, 1);
    expect(h.observe(readSlot(counts, 1, 'x86_64'), START + 6n)).toBe(false);
    counts[at(1, PHASE_WORKLOAD, nr('openat'))] = 1n;
    expect(h.observe(readSlot(counts, 1, 'x86_64'), START + 7n)).toBe(false);
    expect(h.lastNewUnixNano).toBe(START + 5n);
  });

  it('keeps one history per slot', () => {
    const counts = countsArray();
    const a = new SlotHistory(START);
    const b = new SlotHistory(START);
    counts[at(0, PHASE_WORKLOAD, nr('read'))] = 1n;
    counts[at(1, PHASE_WORKLOAD, nr('read'))] = 1n;
    expect(a.observe(readSlot(counts, 0, 'x86_64'), START + 1n)).toBe(true);
    expect(b.observe(readSlot(counts, 1, 'x86_64'), START + 2n)).toBe(true);
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
    expect(BigInt(CPU_ROWS_MAX)).toBe(define('SYSCALLS_CPU_ROWS_MAX'));
  });
});
