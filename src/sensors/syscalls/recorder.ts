// SPDX-License-Identifier: Apache-2.0
/**
 * Reads one container's counts out of the shared counts array and turns them into the
 * snapshot user space keeps: name -> count per phase, plus when something new appeared.
 */
import { syscallName, type SyscallArch } from './names.js';

export const MAX_NR = 512;
export const PHASES = 2;
export const PHASE_WORKLOAD = 0;
export const PHASE_RUNTIME = 1;

export interface SlotCounts {
  workload: Record<string, number>;
  runtime: Record<string, number>;
  total: number;
  /** Numbers with a non-zero count in either phase. */
  seen: Set<number>;
}

/** Reads slot `slot` of a counts array laid out [slot][phase][nr]. */
export function readSlot(counts: BigUint64Array, slot: number, arch: SyscallArch): SlotCounts {
  const out: SlotCounts = { workload: {}, runtime: {}, total: 0, seen: new Set() };
  for (let phase = 0; phase < PHASES; phase++) {
    const base = (slot * PHASES + phase) * MAX_NR;
    const target = phase === PHASE_WORKLOAD ? out.workload : out.runtime;
    for (let nr = 0; nr < MAX_NR; nr++) {
      const c = counts[base + nr];
      if (c === 0n) continue;
      const n = Number(c);
      target[syscallName(arch, nr)] = n;
      out.total += n;
      out.seen.add(nr);
    }
  }
  return out;
}

/** Zeroes a freed slot so the next container starts from nothing. */
export function clearSlot(counts: BigUint64Array, slot: number): void {
  counts.fill(0n, slot * PHASES * MAX_NR, (slot + 1) * PHASES * MAX_NR);
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
