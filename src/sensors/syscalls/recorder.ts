// SPDX-License-Identifier: Apache-2.0
/**
 * Reads one container's counts out of the per-CPU counts array and turns them into the
 * snapshot user space keeps: name -> count per phase, plus when something new appeared.
 */
import { syscallName, type SyscallArch } from './names.js';
import { SYSCALLS_COUNTS_SIZE } from './layout.gen.js';

export const MAX_NR = 512;
export const PHASES = 2;
export const PHASE_WORKLOAD = 0;
export const PHASE_RUNTIME = 1;
/**
 * The counts array is a BPF_MAP_TYPE_PERCPU_ARRAY: element slot * PHASES + phase holds MAX_NR
 * counts, one copy per possible CPU (each CPU adds into its own). A count is the sum over the CPUs.
 */
export function countsKey(slot: number, phase: number): number {
  return slot * PHASES + phase;
}

/** Elements of the counts array for `slots` container slots. */
export function countsEntries(slots: number): number {
  return slots * PHASES;
}

/** Kernel memory the counts take: every element on every possible CPU. */
export function countsBytes(slots: number, cpus: number): number {
  return countsEntries(slots) * SYSCALLS_COUNTS_SIZE * cpus;
}

export interface SlotCounts {
  workload: Record<string, number>;
  runtime: Record<string, number>;
  total: number;
  /** Numbers with a non-zero count in either phase. */
  seen: Set<number>;
}

/**
 * Turns one slot's per-CPU values into its counts: `phases[p]` is what a lookup of element
 * countsKey(slot, p) returns, `cpus` copies of MAX_NR u64 one after the other.
 */
export function readSlot(phases: readonly BigUint64Array[], cpus: number, arch: SyscallArch): SlotCounts {
  const out: SlotCounts = { workload: {}, runtime: {}, total: 0, seen: new Set() };
  for (let phase = 0; phase < PHASES; phase++) {
    const target = phase === PHASE_WORKLOAD ? out.workload : out.runtime;
    const v = phases[phase];
    for (let nr = 0; nr < MAX_NR; nr++) {
      let c = 0n;
      for (let cpu = 0; cpu < cpus; cpu++) c += v[cpu * MAX_NR + nr];
      if (c === 0n) continue;
      const n = Number(c);
      target[syscallName(arch, nr)] = n;
      out.total += n;
      out.seen.add(nr);
    }
  }
  return out;
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
