// SPDX-License-Identifier: Apache-2.0
/**
 * The container registry in user space: loads bpf/registry.bpf.c (the one in-kernel registry
 * every sensor shares by map reuse), hands out its maps, follows its notices (a container got a
 * slot, its cgroup is gone), tells sensors, frees slots after their final reads, and reconciles
 * the kernel's index with the cgroup file system so a lost notice never leaks a slot.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Meter } from '@opentelemetry/api';
import { BpfObject } from '../../ffi/bpf-object.js';
import { MappedArray } from '../../ffi/mmap.js';
import { queuePushU32, readPerCpuArray } from '../../ffi/maps.js';
import type { AgentLogger } from '../log.js';
import { isSandbox, type ContainerAttributor, type ContainerInfo, type CgroupRef } from '../containers/attributor.js';
import type { CgroupIdResolver, CgroupMode } from '../containers/cgroup-fs.js';
import { REGISTRY_CGROUP_SIZE, decodeRegistryNotice } from './layout.gen.js';
import { NO_SLOT, findBucket, freeBucket, indexSize, initIndex, planReconcile, usedBuckets } from './index-table.js';

/** Compiled eBPF objects, bpf/build/ at the package root (from dist/src/registry/ or src/registry/). */
export const BPF_BUILD_DIR = (() => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return join(here, /[\\/]dist[\\/]src[\\/]registry[\\/]?$/.test(here) ? '../../..' : '../..', 'bpf/build/');
})();

export const REGISTRY_VARIANT_TP_BTF = 'tp_btf';
export const REGISTRY_VARIANT_RAW_TP = 'raw_tracepoint';
export type RegistryVariant = typeof REGISTRY_VARIANT_TP_BTF | typeof REGISTRY_VARIANT_RAW_TP;

/** Mirror bpf/registry.h REGISTRY_NOTICE_*. */
export const NOTICE_TRACKED = 1;
export const NOTICE_SEEDED = 2;
export const NOTICE_REMOVED = 3;
export const NOTICE_THREADS = 4;

/** The maps every sensor object reuses from the registry (bpf/include/registry_maps.h). */
export const SHARED_MAPS = ['cg_reg_cgroups', 'cg_reg_tasks', 'cg_reg_tasks_by_tid', 'cg_reg_gen', 'cg_sys_exit_tail'] as const;


/** One container cgroup with a slot. */
export interface RegistryEntry {
  slot: number;
  cgroupId: bigint;
  ref: CgroupRef;
  /** null until attribution settles (or for a cgroup that is not a reportable container, such as a pod's sandbox). */
  readonly container: ContainerInfo | null;
  /** Settles once attribution did (bounded by docker.metadata_wait_ms). */
  attributed: Promise<void>;
  /** When the registry took the container in, ns since the epoch. */
  startedUnixNano: bigint;
  /** The container ran before the agent (seeded): its start-up was not seen. */
  joinedRunning: boolean;
}

/** What sensors hear from the registry. */
export interface RegistryListener {
  /** A container got a slot (its attribution may still be pending). */
  onTracked?(entry: RegistryEntry): void;
  /** Its cgroup is gone and attribution settled: final reads now; the slot is freed right after. */
  onRemoved?(entry: RegistryEntry): void;
}

export interface RegistryOptions {
  hook: 'auto' | RegistryVariant;
  maxContainers: number;
  cgroupMode: CgroupMode;
  selfTgid: number;
  logger: AgentLogger;
  /** tests only: the kernel loses every notice, as a full ring would (reconciliation must cope). */
  dropNotices?: boolean;
}

export interface RegistryContext {
  containers: ContainerAttributor;
  cgroups: CgroupIdResolver | null;
  meter: Meter;
  logger: AgentLogger;
  toUnixNano(monotonicNs: bigint): bigint;
  track<T>(work: Promise<T>): Promise<T>;
}

/** Hierarchy id of the memory controller (cgroup v1 ids), from /proc/cgroups. */
function memoryHierarchyId(): number {
  const line = readFileSync('/proc/cgroups', 'utf8').split('\n').find((l) => l.startsWith('memory\t'));
  if (!line) throw new Error('no memory controller in /proc/cgroups: cgroup v1 mode needs it');
  return Number(line.split('\t')[1]);
}

/** Variants to try, in order (task local storage is keyed by the default hierarchy: v1 needs raw). */
export function registryVariants(hook: RegistryOptions['hook'], mode: CgroupMode): RegistryVariant[] {
  if (hook === REGISTRY_VARIANT_RAW_TP || mode === 'v1') return [REGISTRY_VARIANT_RAW_TP];
  if (hook === REGISTRY_VARIANT_TP_BTF) return [REGISTRY_VARIANT_TP_BTF];
  return [REGISTRY_VARIANT_TP_BTF, REGISTRY_VARIANT_RAW_TP];
}

/** .rodata every object that includes registry_maps.h gets, so its lookups match the registry's. */
export function registryRodata(variant: RegistryVariant, maxContainers: number): Record<string, number> {
  return { reg_use_task_storage: variant === REGISTRY_VARIANT_TP_BTF ? 1 : 0, reg_index_mask: indexSize(maxContainers) - 1 };
}

export class ContainerRegistry {
  readonly entries = new Map<number, RegistryEntry>();
  /** Slots retired but not yet freed (their final reads wait for attribution). */
  private readonly retiring = new Map<number, bigint>();
  private readonly listeners: RegistryListener[] = [];
  private index: MappedArray | null = null;
  private ctx: RegistryContext | null = null;
  private seedPending = false;
  private readonly reconciled = { adopted: 0, freed: 0 };
  private readonly buckets: number;
  private readonly mask: number;
  private readonly freeFd: number;
  private readonly statsFd: number;

  private constructor(
    readonly obj: BpfObject,
    readonly variant: RegistryVariant,
    private readonly opts: RegistryOptions,
  ) {
    this.buckets = indexSize(opts.maxContainers);
    this.mask = this.buckets - 1;
    this.freeFd = obj.mapFd('cg_reg_free_slots');
    this.statsFd = obj.mapFd('cg_reg_stats');
  }

  /** Opens, configures and loads the registry object: the first variant that loads wins (logged). */
  static open(opts: RegistryOptions, commonRodata: Record<string, number>): ContainerRegistry {
    const variants = registryVariants(opts.hook, opts.cgroupMode);
    for (let v = 0; v < variants.length; v++) {
      const variant = variants[v];
      const obj = BpfObject.open(`${BPF_BUILD_DIR}registry.bpf.o`);
      try {
        const taskStorage = variant === REGISTRY_VARIANT_TP_BTF;
        for (const p of obj.programs()) {
          const want = taskStorage ? p.section.startsWith('tp_btf/') || p.section.startsWith('iter/') : p.section.startsWith('raw_tracepoint/') || p.section.startsWith('iter/');
          obj.setAutoload(p.name, want);
        }
        obj.resizeMap('cg_reg_cgroups', indexSize(opts.maxContainers));
        obj.resizeMap('cg_reg_free_slots', opts.maxContainers);
        obj.setRodata({
          ...commonRodata,
          ...registryRodata(variant, opts.maxContainers),
          reg_hierarchy_id: opts.cgroupMode === 'v1' ? memoryHierarchyId() : 0,
          reg_test_drop_notices: opts.dropNotices ? 1 : 0,
        });
        obj.load();
        const reg = new ContainerRegistry(obj, variant, opts);
        reg.prepare();
        return reg;
      } catch (err) {
        obj.close();
        if (v === variants.length - 1) throw err;
        opts.logger.warn(`registry: ${variant} unavailable (${(err as Error).message}); falling back to ${variants[v + 1]}`);
      }
    }
    throw new Error('registry: no variant to load');
  }

  /** Before any program is attached: every bucket "no slot", every slot free. */
  private prepare(): void {
    this.index = MappedArray.map(this.obj.mapFd('cg_reg_cgroups'), this.buckets * REGISTRY_CGROUP_SIZE, 'cg_reg_cgroups');
    initIndex(this.index.view(), this.buckets);
    for (let s = 0; s < this.opts.maxContainers; s++) queuePushU32(this.freeFd, s);
  }

  /** File descriptors of the maps sensor objects reuse, by name. */
  sharedMapFds(): Map<string, number> {
    return new Map(SHARED_MAPS.map((m) => [m, this.obj.mapFd(m)]));
  }

  /** Gives a sensor object the registry's maps and lookup parameters (before its load). */
  shareWith(sensorObj: BpfObject): void {
    const names = new Set(sensorObj.mapNames());
    for (const [name, fd] of this.sharedMapFds()) if (names.has(name)) sensorObj.reuseMap(name, fd);
    sensorObj.setRodata(registryRodata(this.variant, this.opts.maxContainers));
  }

  subscribe(listener: RegistryListener): void {
    this.listeners.push(listener);
  }

  /** Wires attribution and metrics; call before attach(). */
  bind(ctx: RegistryContext): void {
    this.ctx = ctx;
    ctx.meter
      .createObservableCounter('contguard.registry.reconciled', {
        unit: '{container}',
        description: 'Registry entries fixed by reconciliation with the cgroup file system: action=adopted (a start whose notice was lost) or freed (a removal whose notice was lost).',
      })
      .addCallback((r) => {
        r.observe(this.reconciled.adopted, { action: 'adopted' });
        r.observe(this.reconciled.freed, { action: 'freed' });
      });
    ctx.meter
      .createObservableGauge('contguard.registry.containers', { unit: '{container}', description: 'Container cgroups the in-kernel registry tracks now.' })
      .addCallback((r) => r.observe(this.entries.size));
    ctx.meter
      .createObservableCounter('contguard.registry.untracked_containers', { unit: '{container}', description: 'Container cgroups that got no registry slot (more than registry.max_containers at once).' })
      .addCallback((r) => {
        if (this.index?.isClosed !== false) return;
        r.observe(Number(readPerCpuArray(this.statsFd, 2)[1]));
      });
  }

  /** Attaches the tracking programs. */
  attach(): string[] {
    return this.obj.attachAll().map((p) => p.section);
  }

  /** Tracks what already runs (and threads that moved with their leader): after every attach. */
  seed(): void {
    this.seedPending = false;
    this.obj.runIterator('cg_reg_seed');
  }

  /** The notices ring, for the agent's poller. */
  get ring(): { map: string; fd: number; handle: (record: Uint8Array) => void } {
    return { map: 'cg_reg_notices', fd: this.obj.mapFd('cg_reg_notices'), handle: (r) => this.onNotice(r) };
  }

  /** The per-CPU counter whose slot 0 counts notices the ring could not take. */
  get lossMapFd(): number {
    return this.statsFd;
  }

  get reconciledCounts(): Readonly<{ adopted: number; freed: number }> {
    return this.reconciled;
  }

  private onNotice(bytes: Uint8Array): void {
    const n = decodeRegistryNotice(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const ref: CgroupRef = { cgroupId: n.cgroup.cgroup_id, name: n.cgroup.name, parentName: n.cgroup.parent_name };
    switch (n.kind) {
      case NOTICE_TRACKED:
      case NOTICE_SEEDED:
        if (n.slot !== NO_SLOT) this.adopt(n.slot, ref, this.ctx?.toUnixNano(n.timestamp_ns) ?? nowNs(), n.kind === NOTICE_SEEDED);
        break;
      case NOTICE_REMOVED:
        this.retire(n.slot, n.cgroup.cgroup_id);
        break;
      case NOTICE_THREADS:
        // Coalesced: a burst of such moves costs one iterator run.
        if (!this.seedPending) {
          this.seedPending = true;
          setImmediate(() => {
            if (this.seedPending && this.index && !this.index.isClosed) this.seed();
          });
        }
        break;
    }
  }

  private adopt(slot: number, ref: CgroupRef, startedUnixNano: bigint, joinedRunning: boolean): RegistryEntry | null {
    const known = this.entries.get(slot);
    if (known) return known.cgroupId === ref.cgroupId ? known : null;
    let attributed: ContainerInfo | null = null;
    const entry: RegistryEntry = {
      slot,
      cgroupId: ref.cgroupId,
      ref,
      // A pod's sandbox recognised only after the metadata wait stops being reported from then on.
      get container() {
        return isSandbox(attributed) ? null : attributed;
      },
      attributed: Promise.resolve(),
      startedUnixNano,
      joinedRunning,
    };
    this.entries.set(slot, entry);
    if (this.ctx) {
      const ctx = this.ctx;
      entry.attributed = ctx.track(
        ctx.containers.attribute(ref).then(
          (info) => {
            attributed = info;
          },
          (err: unknown) => ctx.logger.warn(`registry: attribution of cgroup ${ref.cgroupId}: ${(err as Error).message}`),
        ),
      );
    }
    for (const l of this.listeners) l.onTracked?.(entry);
    return entry;
  }

  /** Final reads once attribution settled, then bucket and slot are free for the next container. */
  private retire(slot: number, cgroupId: bigint): void {
    const entry = this.entries.get(slot);
    if (!entry || entry.cgroupId !== cgroupId) {
      this.freeIndexEntry(cgroupId, slot, false);
      return;
    }
    this.entries.delete(slot);
    // Until finish() frees its bucket and slot, reconciliation must not adopt it again (it would
    // be freed twice: once here, once when the adopted entry is retired).
    this.retiring.set(slot, cgroupId);
    const finish = () => {
      this.retiring.delete(slot);
      for (const l of this.listeners) {
        try {
          l.onRemoved?.(entry);
        } catch (err) {
          this.opts.logger.error(`registry: final read of slot ${slot}: ${(err as Error).message}`);
        }
      }
      this.freeIndexEntry(cgroupId, slot, true);
      this.ctx?.containers.onCgroupRemoved?.(cgroupId);
    };
    const work = entry.attributed.then(finish);
    void this.ctx?.track(work);
  }

  private freeIndexEntry(cgroupId: bigint, slot: number, pushSlot: boolean): void {
    if (!this.index || this.index.isClosed) return;
    const view = this.index.view();
    const b = findBucket(view, cgroupId, this.mask);
    if (b >= 0) freeBucket(view, b);
    if (!pushSlot || slot === NO_SLOT) return;
    try {
      queuePushU32(this.freeFd, slot);
    } catch (err) {
      // A full queue means every slot is already free: this one was freed twice. Never fatal
      // (this runs from timers and notices); said once.
      this.opts.logger.warnOnce('registry-free-queue', `registry: slot ${slot} not returned to the free-slot queue: ${(err as Error).message}`);
    }
  }

  /**
   * Compares the kernel's index with what user space knows and with the cgroup file system:
   * adopts slots whose TRACKED notice was lost, retires those whose cgroup is gone (REMOVED
   * lost). Bounded: one pass over the index, one stat per tracked container.
   */
  reconcile(): { adopted: number; freed: number } {
    if (!this.index || this.index.isClosed) return { adopted: 0, freed: 0 };
    const buckets = usedBuckets(this.index.view(), this.buckets);
    const known = new Map([...this.retiring, ...[...this.entries].map(([slot, e]) => [slot, e.cgroupId] as [number, bigint])]);
    const root = this.ctx?.cgroups?.hierarchyRoot ?? null;
    const exists = (id: bigint): boolean | null => {
      const rel = this.ctx?.cgroups?.resolve(id) ?? null;
      if (!root || rel === null) return null;
      try {
        return statSync(join(root, rel), { bigint: true }).ino === id;
      } catch {
        return false;
      }
    };
    const plan = planReconcile(buckets, known, exists);
    for (const b of plan.adopt) {
      const ref: CgroupRef = { cgroupId: b.cgroupId, name: '', parentName: '' };
      if (this.adopt(b.slot, ref, nowNs(), true)) this.reconciled.adopted++;
    }
    for (const slot of plan.retire) {
      const entry = this.entries.get(slot);
      if (!entry) continue;
      this.retire(slot, entry.cgroupId);
      this.reconciled.freed++;
    }
    for (const bucket of plan.freeBuckets) {
      freeBucket(this.index.view(), bucket);
      this.reconciled.freed++;
    }
    if (plan.adopt.length || plan.retire.length || plan.freeBuckets.length) {
      this.opts.logger.info(`registry: reconciled with the cgroup file system: ${plan.adopt.length} adopted, ${plan.retire.length + plan.freeBuckets.length} freed`);
    }
    return { adopted: plan.adopt.length, freed: plan.retire.length + plan.freeBuckets.length };
  }

  /** After every reader of the index is gone (metrics shut down): unmaps it. */
  release(): void {
    this.index?.close();
  }

  /** Detaches the tracking programs and frees the maps (after every sensor object is closed). */
  close(): void {
    this.release();
    this.obj.close();
  }
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
