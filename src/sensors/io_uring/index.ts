// SPDX-License-Identifier: Apache-2.0
/**
 * io_uring sensor: io_uring requests per container and opcode, counted in the kernel into an
 * mmap'd array (read with plain loads when metrics are collected), the first ring a container
 * creates, and the path of every OPENAT/OPENAT2 it submits. io_uring requests never pass the
 * syscall tracepoints, so neither the syscalls sensor nor a syscall-based file monitor sees them.
 * What is and is not seen: see telemetry.ts.
 */
import { readFileSync } from 'node:fs';
import type { Sensor, SensorContext, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { MappedArray } from '../../../ffi/mmap.js';
import { readPerCpuArray } from '../../../ffi/maps.js';
import type { RegistryEntry } from '../../registry/index.js';
import type { ContainerInfo } from '../../containers/attributor.js';
import type { Attributes } from '../../telemetry/record.js';
import { quoteArg } from '../../telemetry/escape.js';
import { containerRecord, metricAttributes } from '../../telemetry/container-attributes.js';
import { recordTraceFields } from '../../telemetry/traces.js';
import { forgetSeries } from '../../telemetry/forget-series.js';
import {
  IO_URING_EVENT_HEADER_SIZE,
  decodeIoUringEventHeader,
  decodeIoUringOpenEvent,
  decodeIoUringSetupEvent,
  type IoUringEventHeader,
} from './layout.gen.js';
import {
  IO_URING_INSTANCES_COUNTER,
  IO_URING_OPEN_EVENT,
  IO_URING_SETUP_EVENT,
  IO_URING_SUBMISSIONS_COUNTER,
  IO_URING_UNTRACKED_COUNTER,
  ioUringTelemetry,
} from './telemetry.js';

/** Mirror bpf/io_uring.h. */
export const OPCODES = 64;
export const ROW_OTHER = 64;
export const ROW_CREATES = 65;
export const ROW = 66;
const STAT_NO_SLOT = 0;
const STATS = 1;
export const EVENT_SETUP = 1;
export const EVENT_OPEN = 2;
export const FLAG_HOST = 1;
export const FLAG_PATH_TRUNCATED = 2;
export const FLAG_IO_THREAD = 4;

/**
 * IORING_OP_* by number, without the prefix (include/uapi/linux/io_uring.h, up to 6.18: the
 * numbers are ABI and never change). A number missing here is reported as the number.
 */
export const IO_URING_OPCODE_NAMES: readonly string[] = [
  'NOP', 'READV', 'WRITEV', 'FSYNC', 'READ_FIXED', 'WRITE_FIXED', 'POLL_ADD', 'POLL_REMOVE',
  'SYNC_FILE_RANGE', 'SENDMSG', 'RECVMSG', 'TIMEOUT', 'TIMEOUT_REMOVE', 'ACCEPT', 'ASYNC_CANCEL', 'LINK_TIMEOUT',
  'CONNECT', 'FALLOCATE', 'OPENAT', 'CLOSE', 'FILES_UPDATE', 'STATX', 'READ', 'WRITE',
  'FADVISE', 'MADVISE', 'SEND', 'RECV', 'OPENAT2', 'EPOLL_CTL', 'SPLICE', 'PROVIDE_BUFFERS',
  'REMOVE_BUFFERS', 'TEE', 'SHUTDOWN', 'RENAMEAT', 'UNLINKAT', 'MKDIRAT', 'SYMLINKAT', 'LINKAT',
  'MSG_RING', 'FSETXATTR', 'SETXATTR', 'FGETXATTR', 'GETXATTR', 'SOCKET', 'URING_CMD', 'SEND_ZC',
  'SENDMSG_ZC', 'READ_MULTISHOT', 'WAITID', 'FUTEX_WAIT', 'FUTEX_WAKE', 'FUTEX_WAITV', 'FIXED_FD_INSTALL', 'FTRUNCATE',
  'BIND', 'LISTEN', 'RECV_ZC', 'EPOLL_WAIT', 'READV_FIXED', 'WRITEV_FIXED', 'PIPE',
];

/** The `io_uring.opcode` value of a counting row index: the name, the number, or `other` (>= 64). */
export function opcodeName(index: number): string {
  if (index === ROW_OTHER) return 'other';
  return IO_URING_OPCODE_NAMES[index] ?? String(index);
}

/** IORING_SETUP_* bit names (uapi), bit 0 first. */
const SETUP_FLAG_NAMES = [
  'IOPOLL', 'SQPOLL', 'SQ_AFF', 'CQSIZE', 'CLAMP', 'ATTACH_WQ', 'R_DISABLED', 'SUBMIT_ALL', 'COOP_TASKRUN',
  'TASKRUN_FLAG', 'SQE128', 'CQE32', 'SINGLE_ISSUER', 'DEFER_TASKRUN', 'NO_MMAP', 'REGISTERED_FD_ONLY', 'NO_SQARRAY',
  'HYBRID_IOPOLL',
];

/** IORING_SETUP_* flags by name; bits this table does not know as one hex value. */
export function setupFlagNames(flags: number): string[] {
  const out: string[] = [];
  let unknown = 0;
  for (let bit = 0; bit < 32; bit++) {
    const mask = 2 ** bit;
    if ((flags & mask) === 0 || (flags >>> 0) < mask) continue;
    const name = SETUP_FLAG_NAMES[bit];
    if (name) out.push(name);
    else unknown += mask;
  }
  if (unknown) out.push(`0x${unknown.toString(16)}`);
  return out;
}

const O_ACCMODE = 3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const AT_FDCWD = -100;

/** read, write or read_write, plus create / truncate (Linux O_* values, the same on x86_64 and arm64). */
export function openAccess(flags: bigint): string[] {
  const f = Number(flags & 0xffffffffn);
  const mode = f & O_ACCMODE;
  const out = [mode === 0 ? 'read' : mode === 1 ? 'write' : 'read_write'];
  if (f & O_CREAT) out.push('create');
  if (f & O_TRUNC) out.push('truncate');
  return out;
}

/** Which io_uring tracepoints this kernel has, from its BTF (`btf_trace_<event>` typedefs). */
export interface IoUringHooks {
  submitReq: boolean;
  submitSqe: boolean;
  create: boolean;
}

let hooksCache: IoUringHooks | null = null;
export function kernelIoUringHooks(btfPath = '/sys/kernel/btf/vmlinux'): IoUringHooks {
  if (hooksCache && btfPath === '/sys/kernel/btf/vmlinux') return hooksCache;
  let btf: Buffer;
  try {
    btf = readFileSync(btfPath);
  } catch {
    return { submitReq: false, submitSqe: false, create: false };
  }
  // BTF strings are NUL-terminated and NUL-separated: match whole names only.
  const has = (name: string) => btf.includes(Buffer.from(`\0btf_trace_${name}\0`, 'latin1'));
  const hooks = { submitReq: has('io_uring_submit_req'), submitSqe: has('io_uring_submit_sqe'), create: has('io_uring_create') };
  if (btfPath === '/sys/kernel/btf/vmlinux') hooksCache = hooks;
  return hooks;
}

export const VARIANT_TP_BTF = 'tp_btf';
export const VARIANT_TRACEPOINT = 'tracepoint';
/** A kernel without io_uring tracepoints (CONFIG_IO_URING off): nothing to watch, nothing attached. */
export const VARIANT_NONE = 'no_io_uring';

/** Variants for these hooks: tp_btf (6.0+) first, classic tracepoints (also io_uring_submit_sqe, < 6.0) next. */
export function ioUringVariants(h: IoUringHooks): string[] {
  if (h.submitReq) return [VARIANT_TP_BTF, VARIANT_TRACEPOINT];
  if (h.submitSqe) return [VARIANT_TRACEPOINT];
  return [VARIANT_NONE];
}

interface Recording {
  entry: RegistryEntry;
  /** The row's counts at the final read, once the container is gone. */
  last: BigUint64Array | null;
  retiredAt: number | null;
}

function processAttributes(h: IoUringEventHeader): Attributes {
  return {
    'process.pid': h.pid,
    'process.executable.name': h.comm,
    'process.user.id': h.uid,
    'thread.id': h.tid,
    'thread.name': h.thread_comm,
    'contguard.io_uring.io_thread': (h.flags & FLAG_IO_THREAD) !== 0,
  };
}

export const ioUringSensor: Sensor = {
  name: 'io_uring',
  telemetry: ioUringTelemetry,
  enabled: (cfg) => cfg.sensors.io_uring.enabled,
  variants: () => ioUringVariants(kernelIoUringHooks()),
  configure(obj: BpfObject, cfg, variant) {
    const h = kernelIoUringHooks();
    const btf = variant === VARIANT_TP_BTF;
    const tp = variant === VARIANT_TRACEPOINT;
    obj.setAutoload('cg_uring_submit', btf);
    obj.setAutoload('cg_uring_create', btf && h.create);
    obj.setAutoload('cg_uring_submit_tp', tp && h.submitReq);
    obj.setAutoload('cg_uring_submit_sqe_tp', tp && !h.submitReq && h.submitSqe);
    obj.setAutoload('cg_uring_create_tp', tp && h.create);
    const rows = variant === VARIANT_NONE ? 1 : cfg.registry.max_containers + 1;
    obj.resizeMap('cg_uring_counts', rows * ROW);
    obj.setRodata({ uring_host_row: cfg.registry.max_containers, uring_open_events: cfg.sensors.io_uring.open_events ? 1 : 0 });
  },
  start(obj: BpfObject, ctx: SensorContext, variant): SensorInstance {
    if (variant === VARIANT_NONE) {
      ctx.logger.warn('sensor io_uring: this kernel has no io_uring tracepoints (built without CONFIG_IO_URING?): nothing to watch');
      return { rings: [], lossMaps: [] };
    }
    const slots = ctx.config.registry.max_containers;
    const hostRow = slots;
    const includeHost = ctx.config.include_host;
    const counts = MappedArray.mapU64(obj.mapFd('cg_uring_counts'), (slots + 1) * ROW, 'cg_uring_counts');
    const statsFd = obj.mapFd('cg_uring_stats');
    const recordings = new Map<number, Recording>();
    const retired: Recording[] = [];
    /** Cgroups whose setup record was written (the kernel sends one per slot; a race may send two). */
    const setupSeen = new Set<bigint>();
    let hostSetupSeen = false;
    const rowOf = (slot: number) => counts.u64.subarray(slot * ROW, (slot + 1) * ROW);

    /**
     * Every row to report, with its metric attributes: running containers, finished ones (kept a
     * while), the host (include_host). A restarted container (same id, new cgroup, new slot) and
     * its earlier run (while it is kept) share their series: their counts add up, not reset.
     */
    const rows = (): Array<[BigUint64Array, Record<string, string>]> => {
      const out: Array<[BigUint64Array, Record<string, string>]> = [];
      for (const rec of recordings.values()) if (rec.entry.container) out.push([rowOf(rec.entry.slot), metricAttributes(rec.entry.container.attributes)]);
      for (const rec of retired) if (rec.last && rec.entry.container) out.push([rec.last, metricAttributes(rec.entry.container.attributes)]);
      if (includeHost) out.push([rowOf(hostRow), {}]);
      return out;
    };
    const observeSums = (result: { observe(v: number, a: Record<string, string>): void }, points: Iterable<[number, Record<string, string>]>) => {
      const sums = new Map<string, { attributes: Record<string, string>; value: number }>();
      for (const [value, attributes] of points) {
        if (!value) continue;
        const key = JSON.stringify(attributes);
        const s = sums.get(key);
        if (s) s.value += value;
        else sums.set(key, { attributes, value });
      }
      for (const { attributes, value } of sums.values()) result.observe(value, attributes);
    };
    const submissionsCounter = ctx.meter.createObservableCounter(IO_URING_SUBMISSIONS_COUNTER, { unit: '{request}', description: ioUringTelemetry.metrics[0].description });
    submissionsCounter.addCallback((result) => {
        if (counts.isClosed) return;
        const points: Array<[number, Record<string, string>]> = [];
        for (const [row, base] of rows()) {
          for (let i = 0; i <= ROW_OTHER; i++) if (row[i]) points.push([Number(row[i]), { ...base, 'io_uring.opcode': opcodeName(i) }]);
        }
        observeSums(result, points);
      });
    const instancesCounter = ctx.meter.createObservableCounter(IO_URING_INSTANCES_COUNTER, { unit: '{instance}', description: ioUringTelemetry.metrics[1].description });
    instancesCounter.addCallback((result) => {
        if (counts.isClosed) return;
        observeSums(result, rows().map(([row, base]) => [Number(row[ROW_CREATES]), base] as [number, Record<string, string>]));
      });
    ctx.meter
      .createObservableCounter(IO_URING_UNTRACKED_COUNTER, { unit: '{request}', description: ioUringTelemetry.metrics[2].description })
      .addCallback((result) => {
        if (counts.isClosed) return;
        result.observe(Number(readPerCpuArray(statsFd, STATS)[STAT_NO_SLOT]), { reason: 'no_slot' });
      });

    const openEvent = (v: DataView): { body: string; own: Attributes; time: bigint } => {
      const e = decodeIoUringOpenEvent(v);
      const opcode = opcodeName(e.opcode);
      const access = openAccess(e.open_flags);
      const truncated = (e.h.flags & FLAG_PATH_TRUNCATED) !== 0;
      const own: Attributes = Object.assign(processAttributes(e.h), {
        'file.path': e.path,
        'contguard.io_uring.opcode': opcode,
        'contguard.io_uring.dfd': e.dfd,
        'contguard.io_uring.open_flags': Number(e.open_flags & 0xffffffffn),
        'contguard.io_uring.access': access,
        'contguard.io_uring.direct_descriptor': e.file_slot !== 0,
        'contguard.io_uring.path_truncated': truncated,
      });
      if (e.resolve) own['contguard.io_uring.resolve'] = Number(e.resolve);
      const dir = e.path.startsWith('/') ? '' : e.dfd === AT_FDCWD ? ' (relative to cwd)' : ` (relative to fd ${e.dfd})`;
      const body = `pid=${e.h.pid} uid=${e.h.uid} ${quoteArg(e.h.comm)} io_uring ${opcode} ${quoteArg(e.path)}${truncated ? '...' : ''}${dir} ${access.join(',')}${e.file_slot ? ' direct' : ''}`;
      return { body, own, time: ctx.toUnixNano(e.h.timestamp_ns) };
    };
    const setupEvent = (v: DataView): { body: string; own: Attributes; time: bigint } => {
      const e = decodeIoUringSetupEvent(v);
      const flags = setupFlagNames(e.setup_flags);
      return {
        body: `pid=${e.h.pid} uid=${e.h.uid} ${quoteArg(e.h.comm)} created an io_uring instance (sq_entries=${e.sq_entries} cq_entries=${e.cq_entries}${flags.length ? ` ${flags.join('|')}` : ''})`,
        own: Object.assign(processAttributes(e.h), {
          'contguard.io_uring.sq_entries': e.sq_entries,
          'contguard.io_uring.cq_entries': e.cq_entries,
          'contguard.io_uring.setup_flags': flags,
        }),
        time: ctx.toUnixNano(e.h.timestamp_ns),
      };
    };

    const deliver = (kind: number, v: DataView, h: IoUringEventHeader, container: ContainerInfo | null) => {
      const host = (h.flags & FLAG_HOST) !== 0;
      if (!host && !container) return; // the agent's own container, or a cgroup that is no container
      if (kind === EVENT_SETUP) {
        if (host) {
          if (hostSetupSeen) return;
          hostSetupSeen = true;
        } else {
          if (setupSeen.has(h.cgroup.cgroup_id)) return;
          setupSeen.add(h.cgroup.cgroup_id);
        }
      }
      const r = kind === EVENT_SETUP ? setupEvent(v) : openEvent(v);
      // With traces: the span of the submitting process's image (bpf/process.h names it the same way).
      const trace = host ? {} : recordTraceFields(ctx.traces?.processes, container!.id, h.cgroup.cgroup_id, { pid: h.pid, startNs: h.process_start_ns, execId: h.exec_id }, h.timestamp_ns, 'INFO');
      const fields = { eventName: kind === EVENT_SETUP ? IO_URING_SETUP_EVENT : IO_URING_OPEN_EVENT, timeUnixNano: r.time, severity: 'INFO' as const, body: r.body };
      ctx.emit(Object.assign(containerRecord(host ? null : container!.attributes, r.own, fields), trace));
    };

    // The record is ring memory: decoded here, synchronously (or copied before an attribution wait).
    const handle = (bytes: Uint8Array) => {
      if (bytes.byteLength < IO_URING_EVENT_HEADER_SIZE) return;
      let v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const h = decodeIoUringEventHeader(v);
      if (h.kind !== EVENT_SETUP && h.kind !== EVENT_OPEN) return;
      if (h.flags & FLAG_HOST) {
        deliver(h.kind, v, h, null);
        return;
      }
      const ref = { cgroupId: h.cgroup.cgroup_id, name: h.cgroup.name, parentName: h.cgroup.parent_name };
      const known = ctx.containers.attributeKnown(ref);
      if (known !== undefined) {
        deliver(h.kind, v, h, known);
        return;
      }
      const copy = bytes.slice();
      v = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
      void ctx.track(
        ctx.containers
          .attribute(ref)
          .then((container) => deliver(h.kind, v, h, container))
          .catch((err: unknown) => ctx.logger.error(`io_uring: ${(err as Error).message}`)),
      );
    };

    return {
      rings: [{ map: 'cg_uring_events', handle }],
      lossMaps: ['cg_uring_lost'],
      periodic: [
        {
          name: 'io_uring retired series',
          intervalMs: Math.max(1000, Math.min(60_000, ctx.config.sensors.io_uring.retire_after_ms)),
          run() {
            // Finished containers keep their series a while, so the last values get scraped.
            const cutoff = Date.now() - ctx.config.sensors.io_uring.retire_after_ms;
            while (retired.length && (retired[0].retiredAt ?? 0) < cutoff) {
              // Its series leave /metrics (the SDK would otherwise export them for ever), unless
              // another run of the same container still reports under them.
              const id = retired.shift()?.entry.container?.id;
              const reported = (r: Recording) => r.entry.container?.id === id;
              if (id && ![...recordings.values()].some(reported) && !retired.some(reported)) {
                const match = (a: { [k: string]: unknown }) => a['container.id'] === id;
                forgetSeries(submissionsCounter, match);
                forgetSeries(instancesCounter, match);
              }
            }
          },
        },
      ],
      cacheSizes: () => ({ recordings: recordings.size, retired: retired.length, setup_seen: setupSeen.size }),
      onContainerTracked(entry) {
        recordings.set(entry.slot, { entry, last: null, retiredAt: null });
      },
      onContainerRemoved(entry) {
        const rec = recordings.get(entry.slot);
        if (!rec || rec.entry !== entry) return;
        recordings.delete(entry.slot);
        setupSeen.delete(entry.cgroupId);
        if (counts.isClosed) return;
        const row = rowOf(entry.slot);
        if (row.some((v) => v !== 0n)) {
          rec.last = row.slice();
          rec.retiredAt = Date.now();
          retired.push(rec);
        }
        row.fill(0n); // the next container in this slot starts from nothing
      },
      release() {
        counts.close();
      },
    };
  },
};
