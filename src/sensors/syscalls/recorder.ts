// SPDX-License-Identifier: Apache-2.0
/**
 * Reads one container's counts out of the shared counts array and turns them into the
 * snapshot user space keeps: name -> count per phase, plus when something new appeared.
 */
import { readFileSync } from 'node:fs';
import { syscallName, type SyscallArch } from './names.js';

export const MAX_NR = 512;
export const PHASES = 2;
export const PHASE_WORKLOAD = 0;
export const PHASE_RUNTIME = 1;
/** CPUs (ids below it) that get a row of their own; mirror bpf/syscalls.h SYSCALLS_CPU_ROWS_MAX. */
export const CPU_ROWS_MAX = 16;

/**
 * The counts array is [row][slot][phase][nr]: one row per CPU with an id below `cpuRows` (so
 * no counter's cache line is written by two CPUs), then one row the other CPUs share. A slot's
 * count is the sum over the rows. `cpuRows` 0 is the single shared row.
 */
export interface CountsLayout {
  slots: number;
  cpuRows: number;
}

/** The one-row layout ([slot][phase][nr]). */
export const SHARED_ONLY: CountsLayout = { slots: 0, cpuRows: 0 };

/** Entries of the counts array for `slots` container slots and `cpuRows` CPU rows. */
export function countsEntries(layout: CountsLayout): number {
  return (layout.cpuRows + 1) * layout.slots * PHASES * MAX_NR;
}

/**
 * CPU rows for a host whose online CPUs are `online` (the kernel's list, e.g. "0-3,8-11"): up to
 * the highest id + 1, at most CPU_ROWS_MAX; CPUs above it, or brought online later, share a row.
 */
export function cpuRowsFor(online: string): number {
  let highest = -1;
  for (const part of online.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    highest = Math.max(highest, Number(m[2] ?? m[1]));
  }
  return Math.min(CPU_ROWS_MAX, highest + 1);
}

let hostCpuRows: number | undefined;

/**
 * This host's layout for `slots` container slots. The CPU list is read once per process, so the
 * object that sizes the map and the reader that maps it always agree (a CPU brought online in
 * between would otherwise change the size); without a list, every CPU shares the one row.
 */
export function hostCountsLayout(slots: number): CountsLayout {
  if (hostCpuRows === undefined) {
    try {
      hostCpuRows = cpuRowsFor(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    } catch {
      hostCpuRows = 0;
    }
  }
  return { slots, cpuRows: hostCpuRows };
}

/** Index of one count: counts[((row * slots + slot) * PHASES + phase) * MAX_NR + nr], as the kernel writes it. */
export function countIndex(layout: CountsLayout, row: number, slot: number, phase: number, nr: number): number {
  return ((row * layout.slots + slot) * PHASES + phase) * MAX_NR + nr;
}

export interface SlotCounts {
  workload: Record<string, number>;
  runtime: Record<string, number>;
  total: number;
  /** Numbers with a non-zero count in either phase. */
  seen: Set<number>;
}

/** Reads slot `slot` of a counts array (summed over its rows). */
export function readSlot(counts: BigUint64Array, slot: number, arch: SyscallArch, layout: CountsLayout = SHARED_ONLY): SlotCounts {
  const out: SlotCounts = { workload: {}, runtime: {}, total: 0, seen: new Set() };
  for (let phase = 0; phase < PHASES; phase++) {
    const target = phase === PHASE_WORKLOAD ? out.workload : out.runtime;
    for (let nr = 0; nr < MAX_NR; nr++) {
      let c = 0n;
      for (let row = 0; row <= layout.cpuRows; row++) c += counts[countIndex(layout, row, slot, phase, nr)];
      if (c === 0n) continue;
      const n = Number(c);
      target[syscallName(arch, nr)] = n;
      out.total += n;
      out.seen.add(nr);
    }
  }
  return out;
}

/** Zeroes a freed slot in every row, so the next container starts from nothing. */
export function clearSlot(counts: BigUint64Array, slot: number, layout: CountsLayout = SHARED_ONLY): void {
  for (let row = 0; row <= layout.cpuRows; row++) {
    counts.fill(0n, countIndex(layout, row, slot, 0, 0), countIndex(layout, row, slot + 1, 0, 0));
  }
}

/** Per-slot bookkeeping between reads: what was seen and when something new appeared. */
export class SlotHistory {
  private seen = new Set<number>();
  lastNewUnixNano: bigint | null = null;
  lastSnapshotTotal = -1;

  constructor(readonly startedUnixNano: bigint) {}

  /** Records a read taken at `nowUnixNano`; true when a syscall number appeared for the first time. */
  observe(c: SlotCounts, nowUnixNano: bigint): boolean {
    let added = false;
    for (const nr of c.seen) {
      if (!this.seen.has(nr)) {
        this.seen.add(nr);
        added = true;
      }
    }
    if (added) this.lastNewUnixNano = nowUnixNano;
    return added;
  }
}
