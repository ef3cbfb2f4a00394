// SPDX-License-Identifier: Apache-2.0
/**
 * The kernel's per-CPU counts array (cg_sys_counts), read and cleared one container slot at a
 * time: one lookup per phase, which copies every CPU's counts of that slot at once.
 */
import { libbpf } from '../../../ffi/libbpf.js';
import { BpfError } from '../../../ffi/errors.js';
import { numPossibleCpus } from '../../../ffi/maps.js';
import type { SyscallArch } from './names.js';
import { PHASES, countsKey, readSlot, type SlotCounts } from './recorder.js';
import { SYSCALLS_COUNTS_SIZE } from './layout.gen.js';

export class CountsMap {
  private readonly key = Buffer.alloc(4);
  private readonly phases: BigUint64Array[];
  private readonly buffers: Buffer[];
  private readonly zero: Buffer;
  private closed = false;

  constructor(
    private readonly fd: number,
    readonly cpus = numPossibleCpus(),
  ) {
    this.phases = Array.from({ length: PHASES }, () => new BigUint64Array((SYSCALLS_COUNTS_SIZE / 8) * cpus));
    this.buffers = this.phases.map((p) => Buffer.from(p.buffer));
    this.zero = Buffer.alloc(SYSCALLS_COUNTS_SIZE * cpus);
  }

  /** False once the object that owns the map is about to close: nothing reads it after. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** One slot's counts, summed over the CPUs. */
  read(slot: number, arch: SyscallArch): SlotCounts {
    for (let phase = 0; phase < PHASES; phase++) {
      this.key.writeUInt32LE(countsKey(slot, phase));
      const rc = libbpf.bpf_map_lookup_elem(this.fd, this.key, this.buffers[phase]);
      if (rc < 0) throw new BpfError('read syscall counts', -rc);
    }
    return readSlot(this.phases, this.cpus, arch);
  }

  /** Zeroes a freed slot on every CPU, so the next container starts from nothing. */
  clear(slot: number): void {
    for (let phase = 0; phase < PHASES; phase++) {
      this.key.writeUInt32LE(countsKey(slot, phase));
      const rc = libbpf.bpf_map_update_elem(this.fd, this.key, this.zero, 0);
      if (rc < 0) throw new BpfError('clear syscall counts', -rc);
    }
  }

  close(): void {
    this.closed = true;
  }
}
