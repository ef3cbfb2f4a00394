// SPDX-License-Identifier: Apache-2.0
/** The registry's cgroup index as user space reads and writes it, and reconciliation's decisions. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CGROUP_GONE,
  INDEX_EMPTY,
  INDEX_HASH,
  INDEX_PROBES,
  INDEX_REMOVED,
  NO_SLOT,
  findBucket,
  freeBucket,
  indexBucket,
  indexSize,
  initIndex,
  planReconcile,
  usedBuckets,
  type Bucket,
} from '../../src/registry/index-table.js';
import { REGISTRY_CGROUP_SIZE, RegistryCgroupLayout } from '../../src/registry/layout.gen.js';
import { NOTICE_REMOVED, NOTICE_SEEDED, NOTICE_THREADS, NOTICE_TRACKED, registryVariants } from '../../src/registry/index.js';

const header = readFileSync(new URL('../../bpf/registry.h', import.meta.url), 'utf8');
function define(name: string): bigint {
  const m = new RegExp(`#define ${name}\\s+(0x[0-9a-fA-F]+|\\d+)`).exec(header);
  if (!m) throw new Error(`no #define ${name} in bpf/registry.h`);
  return BigInt(m[1]);
}

/** Writes a claimed bucket the way the kernel's track_cgroup does. */
function claim(view: DataView, bucket: number, id: bigint, slot: number, flags = 0): void {
  const base = bucket * REGISTRY_CGROUP_SIZE;
  view.setBigUint64(base + RegistryCgroupLayout.cgroup_id.offset, id, true);
  view.setUint32(base + RegistryCgroupLayout.slot.offset, slot, true);
  view.setUint32(base + RegistryCgroupLayout.flags.offset, flags, true);
}

describe('registry index: user space and bpf/registry.h agree', () => {
  it('uses the header’s probe count, hash, markers, flags and notice kinds', () => {
    expect(BigInt(INDEX_PROBES)).toBe(define('REGISTRY_INDEX_PROBES'));
    expect(INDEX_HASH).toBe(define('REGISTRY_INDEX_HASH'));
    expect(INDEX_EMPTY).toBe(define('REGISTRY_INDEX_EMPTY'));
    expect(INDEX_REMOVED).toBe(define('REGISTRY_INDEX_REMOVED'));
    expect(BigInt(NO_SLOT)).toBe(define('REGISTRY_NO_SLOT'));
    expect(BigInt(CGROUP_GONE)).toBe(define('REGISTRY_CGROUP_GONE'));
    expect(BigInt(NOTICE_TRACKED)).toBe(define('REGISTRY_NOTICE_TRACKED'));
    expect(BigInt(NOTICE_SEEDED)).toBe(define('REGISTRY_NOTICE_SEEDED'));
    expect(BigInt(NOTICE_REMOVED)).toBe(define('REGISTRY_NOTICE_REMOVED'));
    expect(BigInt(NOTICE_THREADS)).toBe(define('REGISTRY_NOTICE_THREADS'));
  });

  it('computes the kernel’s bucket: ((id * HASH) mod 2^64 >> 32) + probe, masked', () => {
    const expected = (id: bigint, probe: number, mask: number) =>
      Number((((((id * 0x9e3779b97f4a7c15n) & ((1n << 64n) - 1n)) >> 32n) + BigInt(probe)) & 0xffffffffn) & BigInt(mask));
    for (const id of [1n, 4242n, 123456789012345n, (1n << 63n) + 7n]) {
      for (const probe of [0, 1, 3]) expect(indexBucket(id, probe, 4095)).toBe(expected(id, probe, 4095));
    }
    expect(indexSize(256)).toBe(2048);
    expect(indexSize(10)).toBe(1024);
  });
});

describe('registry index initialisation', () => {
  it('a never-used bucket reads "no slot", not slot 0 (a claim in progress counts nothing wrong)', () => {
    const buckets = 64;
    const view = new DataView(new ArrayBuffer(buckets * REGISTRY_CGROUP_SIZE));
    // A zero-filled map, as the kernel creates it, reads slot 0: a valid slot.
    expect(view.getUint32(RegistryCgroupLayout.slot.offset, true)).toBe(0);
    initIndex(view, buckets);
    for (let b = 0; b < buckets; b++) {
      expect(view.getUint32(b * REGISTRY_CGROUP_SIZE + RegistryCgroupLayout.slot.offset, true)).toBe(NO_SLOT);
      expect(view.getBigUint64(b * REGISTRY_CGROUP_SIZE + RegistryCgroupLayout.cgroup_id.offset, true)).toBe(INDEX_EMPTY);
    }
    expect(usedBuckets(view, buckets)).toEqual([]);
  });

  it('finds a cgroup along its probe sequence and frees it to a tombstone that keeps later probes reachable', () => {
    const buckets = 1024;
    const mask = buckets - 1;
    const view = new DataView(new ArrayBuffer(buckets * REGISTRY_CGROUP_SIZE));
    initIndex(view, buckets);
    const a = 1000n;
    const b0 = indexBucket(a, 0, mask);
    // Another id took a's first bucket: a lives in its second.
    claim(view, b0, 7n, 3);
    claim(view, indexBucket(a, 1, mask), a, 5);
    expect(findBucket(view, a, mask)).toBe(indexBucket(a, 1, mask));
    freeBucket(view, b0);
    expect(view.getBigUint64(b0 * REGISTRY_CGROUP_SIZE, true)).toBe(INDEX_REMOVED);
    expect(view.getUint32(b0 * REGISTRY_CGROUP_SIZE + RegistryCgroupLayout.slot.offset, true)).toBe(NO_SLOT);
    expect(findBucket(view, a, mask)).toBe(indexBucket(a, 1, mask));
    expect(findBucket(view, 999999n, mask)).toBe(-1);
    expect(usedBuckets(view, buckets).map((x) => x.cgroupId)).toEqual([a]);
  });
});

describe('reconciliation plan', () => {
  const bucket = (b: number, cgroupId: bigint, slot: number, flags = 0): Bucket => ({ bucket: b, cgroupId, slot, flags });

  it('adopts a slot whose TRACKED notice was lost', () => {
    const plan = planReconcile([bucket(1, 100n, 0)], new Map(), () => true);
    expect(plan.adopt.map((b) => b.slot)).toEqual([0]);
    expect(plan.retire).toEqual([]);
  });

  it('retires a known slot whose cgroup the kernel saw removed (REMOVED notice lost)', () => {
    const plan = planReconcile([bucket(1, 100n, 0, CGROUP_GONE)], new Map([[0, 100n]]), () => null);
    expect(plan.retire).toEqual([0]);
    expect(plan.adopt).toEqual([]);
  });

  it('retires a known slot whose cgroup directory is gone even without the kernel flag', () => {
    const plan = planReconcile([bucket(1, 100n, 0)], new Map([[0, 100n]]), (id) => id !== 100n);
    expect(plan.retire).toEqual([0]);
  });

  it('adopts then retires when both notices were lost', () => {
    const plan = planReconcile([bucket(1, 100n, 2, CGROUP_GONE)], new Map(), () => false);
    expect(plan.adopt.map((b) => b.slot)).toEqual([2]);
    expect(plan.retire).toEqual([2]);
  });

  it('retires a known slot whose bucket no longer names its cgroup', () => {
    const plan = planReconcile([], new Map([[4, 55n]]), () => true);
    expect(plan.retire).toEqual([4]);
  });

  it('frees slot-less buckets of gone cgroups and leaves live ones alone', () => {
    const plan = planReconcile([bucket(9, 300n, NO_SLOT, CGROUP_GONE), bucket(10, 301n, NO_SLOT)], new Map(), () => null);
    expect(plan.freeBuckets).toEqual([9]);
    expect(plan.adopt).toEqual([]);
  });

  it('changes nothing when kernel and user space agree', () => {
    const plan = planReconcile([bucket(1, 100n, 0), bucket(2, 200n, 1)], new Map([[0, 100n], [1, 200n]]), () => true);
    expect(plan).toEqual({ adopt: [], retire: [], freeBuckets: [] });
  });
});

describe('registry variants', () => {
  it('prefers tp_btf, falls back to raw_tracepoint, and uses raw_tracepoint alone on cgroup v1', () => {
    expect(registryVariants('auto', 'v2')).toEqual(['tp_btf', 'raw_tracepoint']);
    expect(registryVariants('auto', 'hybrid')).toEqual(['tp_btf', 'raw_tracepoint']);
    expect(registryVariants('auto', 'v1')).toEqual(['raw_tracepoint']);
    expect(registryVariants('tp_btf', 'v2')).toEqual(['tp_btf']);
    expect(registryVariants('raw_tracepoint', 'v2')).toEqual(['raw_tracepoint']);
  });
});
