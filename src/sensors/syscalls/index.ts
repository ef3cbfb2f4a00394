// SPDX-License-Identifier: Apache-2.0
/**
 * syscalls sensor: per-container syscall counts, kept in the kernel and read from an
 * mmap'd array (no FFI call per read); periodic snapshots feed `contguard seccomp`.
 */
import { readFileSync } from 'node:fs';
import type { Attributes } from '../../telemetry/record.js';
import type { Sensor, SensorContext, SensorEnv, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { MappedArray } from '../../../ffi/mmap.js';
import { mapLookup, mapUpdate, queuePopU32, queuePushU32, readPerCpuArray } from '../../../ffi/maps.js';
import type { AgentConfig } from '../../config.js';
import type { ContainerInfo } from '../../containers/attributor.js';
import { parseContainerFromCgroupPath } from '../../containers/cgroup-path.js';
import { METRIC_CONTAINER_KEYS } from '../../telemetry/container-attributes.js';
import { nanosToIso } from '../../telemetry/jsonl-sink.js';
import { SYSCALLS_CGROUP_STATE_SIZE, decodeSyscallsCgroupState, decodeSyscallsNotice } from './layout.gen.js';
import { hostSyscallArch } from './names.js';
import { MAX_NR, PHASES, SlotHistory, clearSlot, readSlot, type SlotCounts } from './recorder.js';
import { SYSCALLS_COUNTER, SYSCALLS_SNAPSHOT_EVENT, syscallsTelemetry } from './telemetry.js';

/** Mirror bpf/syscalls.h SYSCALLS_INDEX_* (checked by test/unit/syscall-recorder.test.ts). */
export const INDEX_PROBES = 4;
export const INDEX_REMOVED = 0xffffffffffffffffn;
export const INDEX_HASH = 0x9e3779b97f4a7c15n;
const U64 = (1n << 64n) - 1n;

/** The bucket the kernel tries `probe`-th for a cgroup id (bpf/syscalls.bpf.c index_bucket). */
export function indexBucket(cgroupId: bigint, probe: number, mask: number): number {
  return ((Number(((cgroupId * INDEX_HASH) & U64) >> 32n) + probe) >>> 0) & mask;
}

/** Index size: a power of two with room for 8x the containers, so probes rarely collide. */
export function indexSize(maxContainers: number): number {
  let n = 1024;
  while (n < maxContainers * 8) n *= 2;
  return n;
}

const NOTICE_TRACKED = 1;
const NOTICE_REMOVED = 2;
const NO_SLOT = 0xffffffff;
/** Finished containers keep their series this long, so the last values get scraped. */
const RETIRED_KEEP_MS = 10 * 60_000;

export const VARIANT_TP_BTF = 'tp_btf';
export const VARIANT_RAW_TP = 'raw_tracepoint';

interface Slot {
  slot: number;
  cgroupId: bigint;
  container: ContainerInfo | null;
  history: SlotHistory;
  last: SlotCounts | null;
  retiredAt: number | null;
}

/** Hierarchy id of the memory controller (cgroup v1 ids), from /proc/cgroups. */
function memoryHierarchyId(): number {
  const line = readFileSync('/proc/cgroups', 'utf8').split('\n').find((l) => l.startsWith('memory\t'));
  if (!line) throw new Error('no memory controller in /proc/cgroups: cgroup v1 mode needs it');
  return Number(line.split('\t')[1]);
}

function metricAttributes(container: ContainerInfo | null): Attributes {
  const a: Attributes = {};
  for (const k of METRIC_CONTAINER_KEYS) if (container?.attributes[k] !== undefined) a[k] = container.attributes[k];
  return a;
}

export const syscallsSensor: Sensor = {
  name: 'syscalls',
  telemetry: syscallsTelemetry,
  enabled: (cfg) => cfg.sensors.syscalls.enabled,
  variants(cfg: AgentConfig, env: SensorEnv) {
    const hook = cfg.sensors.syscalls.hook;
    // Local storage is keyed by the default hierarchy's cgroup: v1 ids need the hash variant.
    if (hook === VARIANT_RAW_TP || env.cgroupMode === 'v1') return [VARIANT_RAW_TP];
    if (hook === VARIANT_TP_BTF) return [VARIANT_TP_BTF];
    return [VARIANT_TP_BTF, VARIANT_RAW_TP];
  },
  configure(obj: BpfObject, cfg: AgentConfig, variant: string | undefined, env: SensorEnv) {
    const btf = variant === VARIANT_TP_BTF;
    for (const p of obj.programs()) {
      const tpBtf = p.section.startsWith('tp_btf/') || p.section.startsWith('iter/');
      obj.setAutoload(p.name, btf ? tpBtf : p.section.startsWith('raw_tracepoint/'));
    }
    const slots = cfg.sensors.syscalls.max_containers;
    obj.resizeMap('cg_sys_counts', slots * PHASES * MAX_NR);
    obj.resizeMap('cg_sys_free_slots', slots);
    obj.resizeMap('cg_sys_cgroups', indexSize(slots));
    obj.setRodata({
      sys_use_local_storage: btf ? 1 : 0,
      sys_hierarchy_id: env.cgroupMode === 'v1' ? memoryHierarchyId() : 0,
      sys_index_mask: indexSize(slots) - 1,
    });
  },
  start(obj: BpfObject, ctx: SensorContext, variant: string | undefined): SensorInstance {
    const cfg = ctx.config.sensors.syscalls;
    const arch = hostSyscallArch();
    const counts = MappedArray.mapU64(obj.mapFd('cg_sys_counts'), cfg.max_containers * PHASES * MAX_NR, 'cg_sys_counts');
    const freeFd = obj.mapFd('cg_sys_free_slots');
    const statsFd = obj.mapFd('cg_sys_stats');
    const cgroupsFd = obj.mapFd('cg_sys_cgroups');
    const indexMask = indexSize(cfg.max_containers) - 1;
    const slots = new Map<number, Slot>();
    const now = () => BigInt(Date.now()) * 1_000_000n;

    for (let s = 0; s < cfg.max_containers; s++) queuePushU32(freeFd, s);

    const adopt = (slot: number, cgroupId: bigint, ref: { name: string; parentName: string }, startedUnixNano: bigint) => {
      const entry: Slot = { slot, cgroupId, container: null, history: new SlotHistory(startedUnixNano), last: null, retiredAt: null };
      slots.set(slot, entry);
      void ctx.track(
        ctx.containers.attribute({ cgroupId, ...ref }).then((info) => {
          entry.container = info;
        }),
      );
    };

    // Containers already running: give each a slot from user space (the kernel tracks new ones).
    if (ctx.cgroups) {
      for (const { id, path } of ctx.cgroups.list()) {
        if (!parseContainerFromCgroupPath(path)) continue;
        const slot = queuePopU32(freeFd);
        if (slot === null) break;
        // Same open addressing as the kernel; this runs before the programs are attached.
        let created = false;
        for (let probe = 0; probe < INDEX_PROBES && !created; probe++) {
          const key = Buffer.alloc(4);
          key.writeUInt32LE(indexBucket(id, probe, indexMask));
          const current = Buffer.alloc(SYSCALLS_CGROUP_STATE_SIZE);
          mapLookup(cgroupsFd, key, current);
          const seen = decodeSyscallsCgroupState(new DataView(current.buffer, current.byteOffset, current.byteLength)).cgroup_id;
          if (seen !== 0n && seen !== INDEX_REMOVED) continue;
          const value = Buffer.alloc(SYSCALLS_CGROUP_STATE_SIZE);
          value.writeBigUInt64LE(id, 0);
          value.writeUInt32LE(slot, 8);
          mapUpdate(cgroupsFd, key, value);
          created = true;
        }
        if (!created) {
          queuePushU32(freeFd, slot);
          continue;
        }
        const parts = path.split('/');
        adopt(slot, id, { name: parts[parts.length - 1] ?? '', parentName: parts[parts.length - 2] ?? '' }, now());
      }
    }

    const snapshot = (entry: Slot, final: boolean) => {
      const c = readSlot(counts.u64, entry.slot, arch);
      entry.history.observe(c, now());
      entry.last = c;
      if (!entry.container) return; // never a record without a container id (the agent's own, say)
      if (!final && c.total === entry.history.lastSnapshotTotal) return;
      if (c.total === 0 && !final) return;
      entry.history.lastSnapshotTotal = c.total;
      const names = Object.entries(c.workload).sort((a, b) => b[1] - a[1]);
      ctx.emit({
        eventName: SYSCALLS_SNAPSHOT_EVENT,
        timeUnixNano: now(),
        severity: 'INFO',
        body: `${names.length} syscalls, ${c.total} calls${final ? ' (final)' : ''}; top: ${names.slice(0, 5).map(([n, v]) => `${n}=${v}`).join(' ')}`,
        attributes: {
          ...(entry.container?.attributes ?? {}),
          'contguard.syscalls.arch': arch,
          'contguard.syscalls.counts': c.workload,
          'contguard.syscalls.runtime_counts': c.runtime,
          'contguard.syscalls.recording_start': nanosToIso(entry.history.startedUnixNano),
          ...(entry.history.lastNewUnixNano ? { 'contguard.syscalls.last_new': nanosToIso(entry.history.lastNewUnixNano) } : {}),
          'contguard.syscalls.final': final,
        },
      });
    };

    const retire = (entry: Slot) => {
      snapshot(entry, true);
      entry.retiredAt = Date.now();
      clearSlot(counts.u64, entry.slot);
      queuePushU32(freeFd, entry.slot);
    };

    const retired: Slot[] = []; // finished runs whose last counts stay on /metrics a while

    const handleNotice = (bytes: Uint8Array) => {
      const n = decodeSyscallsNotice(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (n.kind === NOTICE_TRACKED && n.slot !== NO_SLOT) {
        adopt(n.slot, n.cgroup.cgroup_id, { name: n.cgroup.name, parentName: n.cgroup.parent_name }, ctx.toUnixNano(n.timestamp_ns));
      } else if (n.kind === NOTICE_REMOVED) {
        const entry = slots.get(n.slot);
        if (!entry || entry.retiredAt !== null) return;
        slots.delete(n.slot);
        // Attribution may still be pending: the final snapshot waits for it (bounded).
        void ctx.track(ctx.containers.attribute({ cgroupId: entry.cgroupId, name: n.cgroup.name, parentName: n.cgroup.parent_name }).then((info) => {
          entry.container = info;
          retire(entry);
          retired.push(entry);
        }));
      }
    };

    const timer = setInterval(() => {
      for (const entry of slots.values()) snapshot(entry, false);
      const cutoff = Date.now() - RETIRED_KEEP_MS;
      while (retired.length && (retired[0].retiredAt ?? 0) < cutoff) retired.shift();
    }, cfg.snapshot_interval_ms);
    timer.unref();

    ctx.meter
      .createObservableCounter(SYSCALLS_COUNTER, { unit: '{syscall}', description: syscallsTelemetry.metrics[0].description })
      .addCallback((result) => {
        const report = (entry: Slot, c: SlotCounts) => {
          if (!entry.container) return;
          const base = metricAttributes(entry.container);
          const sum: Record<string, number> = { ...c.workload };
          for (const [k, v] of Object.entries(c.runtime)) sum[k] = (sum[k] ?? 0) + v;
          for (const [name, v] of Object.entries(sum)) result.observe(v, { ...base, 'syscall.name': name } as Record<string, string>);
        };
        for (const entry of slots.values()) report(entry, readSlot(counts.u64, entry.slot, arch));
        for (const entry of retired) if (entry.last) report(entry, entry.last);
      });
    ctx.meter
      .createObservableCounter('contguard.syscalls.untracked', { unit: '{syscall}', description: syscallsTelemetry.metrics[1].description })
      .addCallback((result) => {
        const [, noSlot, overflow] = readPerCpuArray(statsFd, 3);
        result.observe(Number(noSlot), { reason: 'no_slot' });
        result.observe(Number(overflow), { reason: 'number_out_of_range' });
      });

    return {
      rings: [{ map: 'cg_sys_notices', handle: handleNotice }],
      afterAttach() {
        // tp_btf counts by task: give the tasks of already-running containers their state.
        // After attach, so a task forked meanwhile inherits it or is visited itself.
        if (variant === VARIANT_TP_BTF) obj.runIterator('cg_sys_seed');
      },
      lossMaps: ['cg_sys_stats'], // slot 0: notices the ring buffer could not take
      stop() {
        clearInterval(timer);
        // A last snapshot of every running container, so no recording is lost on shutdown.
        for (const entry of slots.values()) snapshot(entry, true);
        counts.close();
      },
    };
  },
};
