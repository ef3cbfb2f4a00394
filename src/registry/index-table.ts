// SPDX-License-Identifier: Apache-2.0
/**
 * The registry's cgroup index as user space sees it through mmap: the same open addressing as
 * bpf/include/registry_maps.h, plus the pure decisions of reconciliation (unit-tested).
 */
import { REGISTRY_CGROUP_SIZE, RegistryCgroupLayout } from './layout.gen.js';

/** Mirror bpf/registry.h REGISTRY_* (checked against the header by test/unit/registry-index.test.ts). */
export const NO_SLOT = 0xffffffff;
export const INDEX_PROBES = 4;
export const INDEX_EMPTY = 0n;
export const INDEX_REMOVED = 0xffffffffffffffffn;
export const INDEX_HASH = 0x9e3779b97f4a7c15n;
export const CGROUP_GONE = 1;
const U64 = (1n << 64n) - 1n;

/** The bucket the kernel tries `probe`-th for a cgroup id (reg_bucket). */
export function indexBucket(cgroupId: bigint, probe: number, mask: number): number {
  return ((Number(((cgroupId * INDEX_HASH) & U64) >> 32n) + probe) >>> 0) & mask;
}

/** Index size: a power of two with room for 8x the containers, so probes rarely collide. */
export function indexSize(maxContainers: number): number {
  let n = 1024;
  while (n < maxContainers * 8) n *= 2;
  return n;
}

export interface Bucket {
  bucket: number;
  cgroupId: bigint;
  slot: number;
  flags: number;
}

const OFF_ID = RegistryCgroupLayout.cgroup_id.offset;
const OFF_SLOT = RegistryCgroupLayout.slot.offset;
const OFF_INIT = RegistryCgroupLayout.init_tasks.offset;
const OFF_FLAGS = RegistryCgroupLayout.flags.offset;

/** Every bucket reads "no slot" before any program runs, so a fresh claim never reads slot 0. */
export function initIndex(view: DataView, buckets: number): void {
  for (let b = 0; b < buckets; b++) {
    const base = b * REGISTRY_CGROUP_SIZE;
    view.setBigUint64(base + OFF_ID, INDEX_EMPTY, true);
    view.setUint32(base + OFF_SLOT, NO_SLOT, true);
    view.setUint32(base + OFF_INIT, 0, true);
    view.setUint32(base + OFF_FLAGS, 0, true);
  }
}

/** Buckets that hold a cgroup (live or gone, with or without a slot). */
export function usedBuckets(view: DataView, buckets: number): Bucket[] {
  const out: Bucket[] = [];
  for (let b = 0; b < buckets; b++) {
    const base = b * REGISTRY_CGROUP_SIZE;
    if (base + REGISTRY_CGROUP_SIZE > view.byteLength) break;
    const cgroupId = view.getBigUint64(base + OFF_ID, true);
    if (cgroupId === INDEX_EMPTY || cgroupId === INDEX_REMOVED) continue;
    out.push({ bucket: b, cgroupId, slot: view.getUint32(base + OFF_SLOT, true), flags: view.getUint32(base + OFF_FLAGS, true) });
  }
  return out;
}

/** The bucket holding `cgroupId`, or -1. */
export function findBucket(view: DataView, cgroupId: bigint, mask: number): number {
  for (let probe = 0; probe < INDEX_PROBES; probe++) {
    const b = indexBucket(cgroupId, probe, mask);
    const base = b * REGISTRY_CGROUP_SIZE;
    if (base + REGISTRY_CGROUP_SIZE > view.byteLength) return -1;
    const seen = view.getBigUint64(base + OFF_ID, true);
    if (seen === INDEX_EMPTY) return -1;
    if (seen === cgroupId) return b;
  }
  return -1;
}

/**
 * Frees a bucket once every final read is done: slot first, then the id (one aligned 8-byte
 * store), so the kernel can claim it again only when it reads "no slot".
 */
export function freeBucket(view: DataView, bucket: number): void {
  const base = bucket * REGISTRY_CGROUP_SIZE;
  view.setUint32(base + OFF_SLOT, NO_SLOT, true);
  view.setUint32(base + OFF_INIT, 0, true);
  view.setUint32(base + OFF_FLAGS, 0, true);
  view.setBigUint64(base + OFF_ID, INDEX_REMOVED, true);
}

export interface ReconcilePlan {
  /** Slots the kernel gave out whose TRACKED notice never arrived. */
  adopt: Bucket[];
  /** Known slots whose cgroup is gone (REMOVED notice lost, or cgroup gone behind our back). */
  retire: number[];
  /** Buckets without a slot (slots were exhausted) whose cgroup is gone: just free them. */
  freeBuckets: number[];
}

/**
 * What reconciliation fixes, from the index, the slots user space knows (slot -> cgroup id)
 * and whether a cgroup still exists (true/false, or null when unknown: trust the kernel's flag).
 */
export function planReconcile(
  buckets: readonly Bucket[],
  known: ReadonlyMap<number, bigint>,
  exists: (cgroupId: bigint) => boolean | null,
): ReconcilePlan {
  const plan: ReconcilePlan = { adopt: [], retire: [], freeBuckets: [] };
  const inIndex = new Map<number, bigint>();
  for (const b of buckets) {
    const gone = (b.flags & CGROUP_GONE) !== 0 || exists(b.cgroupId) === false;
    if (b.slot === NO_SLOT) {
      if (gone) plan.freeBuckets.push(b.bucket);
      continue;
    }
    inIndex.set(b.slot, b.cgroupId);
    const knownId = known.get(b.slot);
    if (knownId === undefined) plan.adopt.push(b);
    if (gone) plan.retire.push(b.slot);
  }
  // A slot user space holds whose bucket no longer names its cgroup: nothing will free it.
  for (const [slot, id] of known) if (inIndex.get(slot) !== id && !plan.retire.includes(slot)) plan.retire.push(slot);
  return plan;
}
