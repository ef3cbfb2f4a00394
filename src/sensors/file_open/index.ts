// SPDX-License-Identifier: Apache-2.0
/**
 * file_open sensor: opens of host-shared and sensitive files by containers, with the file
 * system type, the path as the container sees it and, for bind mounts and volumes, where the
 * file lives on the host. The kernel filters and folds (bpf/file_open.bpf.c); user space has
 * the last word on sensitivity (the rules), maps mounts to host paths, and emits.
 */
import type { Sensor, SensorContext, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { mapDelete, mapLookup, mapUpdate, readPerCpuArray } from '../../../ffi/maps.js';
import type { ContainerInfo } from '../../containers/attributor.js';
import { REGISTRY_VARIANT_TP_BTF, type RegistryEntry } from '../../registry/index.js';
import { VARIANT_SYS_EXIT } from '../syscalls/index.js';
import { containerRecord, metricAttributes } from '../../telemetry/container-attributes.js';
import type { Attributes, SeverityName } from '../../telemetry/record.js';
import { quoteArg } from '../../telemetry/escape.js';
import { recordTraceFields } from '../../telemetry/traces.js';
import type { ImageId } from '../../telemetry/trace-ids.js';
import { FILE_OPEN_FOLD_SIZE, FILE_OPEN_KEY_SIZE, FILE_OPEN_NAME_SIZE, FileOpenEventLayout, FileOpenFoldLayout, decodeFileOpenEvent, type FileOpenEvent } from './layout.gen.js';
import { MountResolver, hostPathOf, isRuntimeManagedFile, type MountInfoEntry } from './mounts.js';
import { SensitiveRules, type SensitiveRule } from './rules.js';
import { FILE_CANDIDATES_DROPPED_COUNTER, FILE_FOLDED_COUNTER, FILE_OPENS_COUNTER, FILE_OPEN_EVENT, fileOpenTelemetry } from './telemetry.js';

/** Mirror bpf/file_open.h (checked by test/unit/file-open.test.ts). */
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;
export const ACCESS_CREATE = 4;
export const ACCESS_TRUNCATE = 8;
export const WHY_SHARED = 1;
export const WHY_CANDIDATE = 2;
/** The sensor's hook set when the syscalls sensor is off: syscalls:sys_exit_open, _openat, _openat2, _creat. */
export const VARIANT_SYSCALL_TRACEPOINTS = 'syscall_tracepoints';
/** With the syscalls sensor on sys_exit: its program tail-calls this sensor's on an open syscall. */
export const VARIANT_SYSCALLS_TAIL = 'syscalls_tail_call';

/** The kernel's word for "sent unfolded (fold table full, or folding off): counts 1". */
export const TOTAL_UNFOLDED = 0xffffffffffffffffn;
export const FLAG_PATH_CUT = 1;
export const FLAG_PATH_AS_GIVEN = 2;
export const NAME_FILE = 1;
export const NAME_DIR = 2;
const STATS = 3;

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 30: 'EROFS' };
/** Records kept to give folded repeats their details (bounded; oldest out). */
const MAX_REMEMBERED = 16_384;
/** Removed containers' cgroups remembered, so that a record which waited past its container's removal is final. */
const REMOVED_CGROUPS_KEPT = 4096;

export function accessNames(access: number): string[] {
  const out: string[] = [];
  if (access & ACCESS_READ) out.push('read');
  if (access & ACCESS_WRITE) out.push('write');
  if (access & ACCESS_CREATE) out.push('create');
  if (access & ACCESS_TRUNCATE) out.push('truncate');
  return out;
}

/** The fold key as a string (a Map key). */
export function foldKeyOf(e: Pick<FileOpenEvent, 'key'>): string {
  const k = e.key;
  return `${k.cgroup_id}:${k.ino}:${k.dev}:${k.tgid}:${k.access}:${k.result}`;
}

export interface HostSource {
  hostPath: string;
  mountSource: string;
  mountPoint: string;
}

export interface OpenDecision {
  report: boolean;
  /** Why not, when not reported. */
  dropReason?: 'no_rule' | 'runtime_file';
  rule: SensitiveRule | null;
}

/** What to do with an open the kernel sent: a pure function of the event, the rules and the host source. */
export function decideOpen(e: FileOpenEvent, rules: SensitiveRules, host: HostSource | null, reportRuntimeFiles: boolean): OpenDecision {
  const rule = rules.match({ path: e.path, fsType: e.fs_type, access: e.key.access, mode: e.mode });
  if (rule) return { report: true, rule };
  if (!(e.why & WHY_SHARED)) return { report: false, dropReason: 'no_rule', rule: null };
  if (!reportRuntimeFiles && host && isRuntimeManagedFile(host.hostPath)) return { report: false, dropReason: 'runtime_file', rule: null };
  return { report: true, rule: null };
}

export function openAttributes(e: FileOpenEvent, rule: SensitiveRule | null, host: HostSource | null, count: number): Attributes {
  const failed = e.key.result < 0;
  const a: Attributes = {
    'process.pid': e.key.tgid,
    'process.executable.name': e.comm,
    'process.user.id': e.uid,
    'file.path': e.path,
    'contguard.file.access': accessNames(e.key.access),
    'contguard.file.open_flags': e.open_flags,
    'contguard.file.sensitive': rule !== null,
    'contguard.file.open.count': count,
  };
  if (!failed) {
    a['file.inode'] = String(e.key.ino);
    a['file.mode'] = e.mode.toString(8);
    a['system.filesystem.type'] = e.fs_type;
  } else {
    a['error.type'] = ERRNO_NAMES[-e.key.result] ?? `errno ${-e.key.result}`;
    a['contguard.file.path_as_given'] = true;
  }
  if (rule) a['contguard.file.rule'] = rule.name;
  if (host) {
    a['contguard.file.host_path'] = host.hostPath;
    if (host.mountSource) a['contguard.file.mount.source'] = host.mountSource;
    if (host.mountPoint) a['contguard.file.mount.point'] = host.mountPoint;
  }
  if (e.flags & FLAG_PATH_CUT) a['contguard.file.path_truncated'] = true;
  return a;
}

/** What a `file.open` event of the opener's span keeps of the record's attributes. */
const SPAN_EVENT_KEYS = [
  'file.path',
  'system.filesystem.type',
  'contguard.file.access',
  'error.type',
  'contguard.file.sensitive',
  'contguard.file.rule',
  'contguard.file.host_path',
  'contguard.file.open.count',
  'contguard.file.path_truncated',
] as const;

export function openSpanEventAttributes(a: Attributes): Attributes {
  const out: Attributes = {};
  for (const k of SPAN_EVENT_KEYS) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

/** The process image that opened (bpf/process.h names it the same way). */
export function openerImage(e: FileOpenEvent): ImageId {
  return { pid: e.key.tgid, startNs: e.process_start_ns, execId: e.exec_id };
}

/** In the original tool's spirit: pid, comm, fs type, path; then where it lives on the host. */
export function openBody(e: FileOpenEvent, rule: SensitiveRule | null, host: HostSource | null, count: number): string {
  const failed = e.key.result < 0;
  const fs = failed ? (ERRNO_NAMES[-e.key.result] ?? String(e.key.result)) : `fs=${e.fs_type}`;
  const parts = [`pid=${e.key.tgid}`, `comm=${quoteArg(e.comm)}`, fs, accessNames(e.key.access).join('+') || 'open', quoteArg(e.path)];
  if (host) parts.push(`(host ${quoteArg(host.hostPath)})`);
  if (rule) parts.push(`[rule ${rule.name}]`);
  if (count > 1) parts.push(`x${count}`);
  return parts.join(' ');
}

/** A mount-table entry standing for "this file system, rooted at the file itself". */
function fsPathEntry(device: { major: number; minor: number }, fsPath: string, fsType: string): MountInfoEntry {
  return { mountId: 0, parentId: 0, ...device, root: fsPath, rootDeleted: false, mountPoint: '/', mountOptions: 'rw', optionalFields: [], fsType, source: '', superOptions: '' };
}

interface Remembered {
  event: FileOpenEvent;
  container: ContainerInfo | null;
  decision: OpenDecision;
  host: HostSource | null;
  /** The kernel's fold key, to read its total. */
  keyBytes: Buffer;
  /** The key's total opens already turned into records (or drop counts). */
  reported: bigint;
  lastSentMs: number;
}

/**
 * Totals -> counts: a key's opens only ever add to its kernel total; whoever sees a larger
 * total (a record, or the periodic read) accounts for the difference, exactly once.
 */
export function countFromTotal(total: bigint, reported: bigint): { count: number; reported: bigint } {
  if (total === TOTAL_UNFOLDED) return { count: 1, reported };
  if (total < reported) return { count: Number(total), reported: total }; // a fresh kernel entry
  return { count: Number(total - reported), reported: total };
}

export const fileOpenSensor: Sensor = {
  name: 'file_open',
  telemetry: fileOpenTelemetry,
  enabled: (cfg) => cfg.sensors.file_open.enabled,
  // A second program on a syscall tracepoint costs every syscall more than the first (bench/hooks.mjs):
  // with the syscalls sensor's program on sys_exit, this sensor's runs as its tail call on open
  // syscalls only; else syscalls:sys_exit_open* (only open syscalls run a program); else the
  // registry's variant of sys_exit.
  variants: (_cfg, env) => [
    ...(env.loaded.get('syscalls') === VARIANT_SYS_EXIT ? [VARIANT_SYSCALLS_TAIL] : []),
    VARIANT_SYSCALL_TRACEPOINTS,
    env.registryVariant,
  ],
  configure(obj: BpfObject, cfg, variant) {
    const c = cfg.sensors.file_open;
    const perSyscall = variant === VARIANT_SYSCALL_TRACEPOINTS;
    const tail = variant === VARIANT_SYSCALLS_TAIL;
    for (const p of obj.programs()) {
      if (p.name.startsWith('cg_fo_tp_')) obj.setAutoload(p.name, perSyscall);
    }
    obj.setAutoload('cg_fo_exit', tail || (!perSyscall && variant === REGISTRY_VARIANT_TP_BTF));
    obj.setAutoattach('cg_fo_exit', !tail); // a tail-call target: the syscalls sensor's program runs it
    obj.setAutoload('cg_fo_exit_raw', !tail && !perSyscall && variant !== REGISTRY_VARIANT_TP_BTF);
    obj.resizeMap('cg_fo_events', c.ring_buffer_bytes);
    obj.resizeMap('cg_fo_folds', c.fold_table_entries);
    obj.setRodata({ fo_fold_ns: BigInt(c.fold_interval_ms) * 1_000_000n });
  },
  start(obj: BpfObject, ctx: SensorContext, variant): SensorInstance {
    const cfg = ctx.config.sensors.file_open;
    const rules = new SensitiveRules(cfg.sensitive_rules as SensitiveRule[]);
    const mounts = new MountResolver({});
    void ctx.track(mounts.refreshHost());
    const includeHost = ctx.config.include_host;

    // The kernel's pre-filter: every name a rule uses.
    const namesFd = obj.mapFd('cg_fo_names');
    const kinds = new Map<string, number>();
    const { files, dirs } = rules.kernelNames();
    for (const f of files) kinds.set(f, (kinds.get(f) ?? 0) | NAME_FILE);
    for (const d of dirs) kinds.set(d, (kinds.get(d) ?? 0) | NAME_DIR);
    for (const [name, kind] of kinds) {
      const bytes = Buffer.from(name, 'utf8');
      if (bytes.length >= FILE_OPEN_NAME_SIZE) {
        ctx.logger.warn(`file_open: rule name "${name}" is longer than ${FILE_OPEN_NAME_SIZE - 1} bytes: the kernel cannot pre-filter on it`);
        continue;
      }
      const key = Buffer.alloc(FILE_OPEN_NAME_SIZE);
      bytes.copy(key);
      const value = Buffer.alloc(4);
      value.writeUInt32LE(kind);
      mapUpdate(namesFd, key, value);
    }

    const opens = ctx.meter.createCounter(FILE_OPENS_COUNTER, { unit: '{open}', description: fileOpenTelemetry.metrics[0].description });
    const dropped = { no_rule: 0, runtime_file: 0 };
    ctx.meter
      .createObservableCounter(FILE_CANDIDATES_DROPPED_COUNTER, { unit: '{open}', description: fileOpenTelemetry.metrics[1].description })
      .addCallback((r) => {
        r.observe(dropped.no_rule, { reason: 'no_rule' });
        r.observe(dropped.runtime_file, { reason: 'runtime_file' });
      });
    const statsFd = obj.mapFd('cg_fo_stats');
    ctx.meter
      .createObservableCounter(FILE_FOLDED_COUNTER, { unit: '{open}', description: fileOpenTelemetry.metrics[2].description })
      .addCallback((r) => {
        const [folded, foldFull] = readPerCpuArray(statsFd, STATS);
        r.observe(Number(folded), { outcome: 'folded' });
        r.observe(Number(foldFull), { outcome: 'table_full' });
      });

    const remembered = new Map<string, Remembered>();
    /** Cgroups of removed containers (the newest REMOVED_CGROUPS_KEPT): records that arrive for them after their removal are final. */
    const removedCgroups = new Set<bigint>();
    const foldsFd = obj.mapFd('cg_fo_folds');
    const keyOffset = FileOpenEventLayout.key.offset;

    /** `atNs`: the kernel clock of the open (a ring record) or of the periodic read (folded repeats). */
    const emit = (r: Remembered, count: number, time: bigint, atNs: bigint) => {
      const { event: e, container, decision, host } = r;
      if (!decision.report) {
        dropped[decision.dropReason ?? 'no_rule'] += count;
        return;
      }
      const severity: SeverityName = decision.rule ? 'WARN' : 'INFO';
      const attributes = openAttributes(e, decision.rule, host, count);
      // With traces: the record names its opener's span, and is an event of it.
      const tracer = container ? ctx.traces?.processes : null;
      const image = tracer ? openerImage(e) : null;
      const record = containerRecord(container?.attributes, Object.assign({}, attributes), {
        eventName: FILE_OPEN_EVENT,
        timeUnixNano: time,
        severity,
        body: openBody(e, decision.rule, host, count),
      });
      if (image) Object.assign(record, recordTraceFields(tracer, container!.id, e.key.cgroup_id, image, atNs, severity));
      ctx.emit(record);
      if (image) tracer!.spanEvent(e.key.cgroup_id, image, { name: 'file.open', atNs, attributes: openSpanEventAttributes(attributes), comm: e.comm });
      const metric = metricAttributes(container?.attributes);
      metric['system.filesystem.type'] = e.fs_type || 'unknown';
      metric['contguard.file.sensitive'] = decision.rule ? 'true' : 'false';
      opens.add(count, metric);
    };

    const hostSourceOf = (e: FileOpenEvent): HostSource | null => {
      if (e.key.result < 0 || !(e.why & WHY_SHARED)) return null;
      const device = { major: e.key.dev >>> 20, minor: e.key.dev & 0xfffff };
      const s = mounts.hostSource(e.key.tgid, e.mntns, e.mnt_id, e.path, device);
      if (s) return { hostPath: s.hostPath, mountSource: s.mountSource, mountPoint: s.mountPoint };
      // The container's mount table is gone (a short-lived container): the file's path within
      // its file system, through the host's mount table.
      if (!e.fs_path) return null;
      const hostPath = hostPathOf(fsPathEntry(device, e.fs_path, e.fs_type), '/', mounts.hostMounts);
      return hostPath ? { hostPath, mountSource: '', mountPoint: '' } : null;
    };

    const deliver = (e: FileOpenEvent, keyBytes: Buffer, container: ContainerInfo | null, time: bigint) => {
      if (!container && !includeHost) return;
      const host = hostSourceOf(e);
      const decision = decideOpen(e, rules, host, cfg.report_runtime_files);
      const key = foldKeyOf(e);
      const before = remembered.get(key);
      const { count, reported } = countFromTotal(e.total, before?.reported ?? 0n);
      const r: Remembered = { event: e, container, decision, host, keyBytes, reported, lastSentMs: Date.now() };
      remembered.delete(key);
      if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
      remembered.set(key, r);
      if (count > 0) emit(r, count, time, e.timestamp_ns); // 0: the periodic read already counted this open
      // Its container went while this record waited (for metadata, say): its final count now.
      if (removedCgroups.has(e.cgroup.cgroup_id)) finalize(key, r, time, process.hrtime.bigint());
    };

    // The record is ring memory: decoded (and its key copied) here, synchronously.
    const handle = (bytes: Uint8Array) => {
      const e = decodeFileOpenEvent(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const keyBytes = Buffer.from(bytes.subarray(keyOffset, keyOffset + FILE_OPEN_KEY_SIZE));
      const time = ctx.toUnixNano(e.timestamp_ns);
      const ref = { cgroupId: e.cgroup.cgroup_id, name: e.cgroup.name, parentName: e.cgroup.parent_name };
      const known = ctx.containers.attributeKnown(ref);
      // The mount table of a namespace not seen yet is read once, asynchronously.
      const needMounts = e.key.result >= 0 && (e.why & WHY_SHARED) !== 0 && !mounts.lookup(e.key.tgid, e.mntns, e.mnt_id);
      if (known !== undefined && !needMounts) {
        deliver(e, keyBytes, known, time);
        return;
      }
      void ctx.track(
        Promise.all([ctx.containers.attribute(ref), needMounts ? mounts.load(e.key.tgid, e.mntns) : undefined])
          .then(([container]) => deliver(e, keyBytes, container, time))
          .catch((err: unknown) => ctx.logger.error(`file_open: ${(err as Error).message}`)),
      );
    };

    // Every interval: the folded opens of each known key become one record with their count;
    // keys idle for three intervals leave the kernel table (a later open starts a fresh total).
    const foldValue = Buffer.alloc(FILE_OPEN_FOLD_SIZE);
    const totalOffset = FileOpenFoldLayout.total.offset;
    /** Emits what the kernel folded for `r` since it was last reported; false when its key left the table. */
    const emitFolded = (r: Remembered, time: bigint, nowNs: bigint): boolean => {
      if (!mapLookup(foldsFd, r.keyBytes, foldValue)) return false;
      const total = foldValue.readBigUInt64LE(totalOffset);
      if (total > r.reported) {
        const count = Number(total - r.reported);
        r.reported = total;
        emit(r, count, time, nowNs);
      }
      return true;
    };
    /** A key of a removed container: what was folded becomes a record, and the key leaves both tables. */
    const finalize = (key: string, r: Remembered, time: bigint, nowNs: bigint) => {
      if (emitFolded(r, time, nowNs)) mapDelete(foldsFd, r.keyBytes);
      remembered.delete(key);
    };
    const flush = () => {
      const now = Date.now();
      const time = BigInt(now) * 1_000_000n;
      const nowNs = process.hrtime.bigint(); // the kernel's CLOCK_MONOTONIC
      for (const [key, r] of remembered) {
        const before = r.reported;
        const inTable = emitFolded(r, time, nowNs);
        if (r.reported !== before || now - r.lastSentMs <= 3 * cfg.fold_interval_ms) continue;
        if (inTable) mapDelete(foldsFd, r.keyBytes);
        remembered.delete(key);
      }
    };

    // The syscalls sensor's sys_exit program runs ours from here on (the registry's program array).
    const tailKey = Buffer.alloc(4); // REG_SYS_EXIT_FILE_OPEN
    const tailFd = variant === VARIANT_SYSCALLS_TAIL ? obj.mapFd('cg_sys_exit_tail') : -1;
    if (tailFd >= 0) {
      const prog = Buffer.alloc(4);
      prog.writeUInt32LE(obj.programFd('cg_fo_exit'));
      mapUpdate(tailFd, tailKey, prog);
    }

    /**
     * A removed container's folded opens become records at once (its final counts, while its
     * series are still kept: registry.forget_after_ms), and its keys leave both tables: nothing
     * of it is counted at a later interval, when its series may already be forgotten for good.
     */
    const onContainerRemoved = (entry: RegistryEntry) => {
      const time = BigInt(Date.now()) * 1_000_000n;
      const nowNs = process.hrtime.bigint();
      const id = entry.container?.id;
      removedCgroups.add(entry.cgroupId);
      if (removedCgroups.size > REMOVED_CGROUPS_KEPT) removedCgroups.delete(removedCgroups.values().next().value as bigint);
      for (const [key, r] of remembered) {
        if (r.event.cgroup.cgroup_id === entry.cgroupId || (id && r.container?.id === id)) finalize(key, r, time, nowNs);
      }
    };

    return {
      rings: [{ map: 'cg_fo_events', handle }],
      onContainerRemoved,
      lossMaps: ['cg_fo_lost'],
      reachedVia: tailFd >= 0 ? ['tp_btf/sys_exit (tail call from the syscalls sensor)'] : [],
      periodic: cfg.fold_interval_ms > 0 ? [{ name: 'file_open fold flush', intervalMs: cfg.fold_interval_ms, run: flush }] : [],
      // Folded opens still in the kernel table become records before the maps go.
      stop() {
        if (tailFd >= 0) mapDelete(tailFd, tailKey); // no event after the final drain
        if (cfg.fold_interval_ms > 0) flush();
      },
    };
  },
};
