// SPDX-License-Identifier: Apache-2.0
/** Map reads that need no per-entry FFI call pattern of their own. */
import { readFileSync } from 'node:fs';
import { libbpf } from './libbpf.js';
import { BpfError } from './errors.js';

let possibleCpus: number | null = null;

/** Number of possible CPUs: the width of every per-CPU map value ("0-3,5" format). */
export function numPossibleCpus(): number {
  if (possibleCpus === null) {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let max = 0;
    for (const part of text.split(',')) {
      const [, hi] = part.split('-');
      max = Math.max(max, Number(hi ?? part));
    }
    possibleCpus = max + 1;
  }
  return possibleCpus;
}

/** Sum over CPUs of slot 0 of a BPF_MAP_TYPE_PERCPU_ARRAY of __u64. */
export function readPerCpuCounter(fd: number): bigint {
  return readPerCpuArray(fd, 1)[0];
}

/** Pushes a u32 onto a BPF_MAP_TYPE_QUEUE. */
export function queuePushU32(fd: number, value: number): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(value);
  const rc = libbpf.bpf_map_update_elem(fd, null, v, 0);
  if (rc < 0) throw new BpfError('queue push', -rc);
}




/** Sums the per-CPU u64 values of every slot of a BPF_MAP_TYPE_PERCPU_ARRAY (one call per slot). */
export function readPerCpuArray(fd: number, slots: number): bigint[] {
  const cpus = numPossibleCpus();
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(8 * cpus);
  const out: bigint[] = [];
  for (let k = 0; k < slots; k++) {
    key.writeUInt32LE(k);
    const rc = libbpf.bpf_map_lookup_elem(fd, key, value);
    if (rc < 0) throw new BpfError('read per-CPU array', -rc);
    let sum = 0n;
    for (let i = 0; i < cpus; i++) sum += value.readBigUInt64LE(i * 8);
    out.push(sum);
  }
  return out;
}

/** Writes one element (BPF_ANY). */
export function mapUpdate(fd: number, key: Buffer, value: Buffer): void {
  const rc = libbpf.bpf_map_update_elem(fd, key, value, 0);
  if (rc < 0) throw new BpfError('map update', -rc);
}

/** Reads one element into `value`; false when the key is absent. */
export function mapLookup(fd: number, key: Buffer, value: Buffer): boolean {
  return libbpf.bpf_map_lookup_elem(fd, key, value) >= 0;
}

/** Deletes one element; false when the key was absent. */
export function mapDelete(fd: number, key: Buffer): boolean {
  return libbpf.bpf_map_delete_elem(fd, key) >= 0;
}
