// SPDX-License-Identifier: Apache-2.0
/** exec sensor: every program started in a container, with caller, user and full argv. */
import type { Sensor, SensorContext, SensorInstance } from '../sensor.js';
import type { Attributes } from '../../telemetry/record.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { splitNulStrings } from '../decode.js';
import { quoteArg } from '../../telemetry/escape.js';
import { Redactor } from '../../telemetry/redact.js';
import { containerRecord, metricAttributes } from '../../telemetry/container-attributes.js';
import type { ContainerInfo } from '../../containers/attributor.js';
import { decodeExecEvent, type ExecEvent } from './layout.gen.js';
import { kernelHas } from '../../../ffi/features.js';
import { EXEC_COUNTER, EXEC_EVENT_NAME, execTelemetry } from './telemetry.js';
import type { ImageId } from '../../telemetry/trace-ids.js';

/** Mirrors REGISTRY_NO_SLOT (bpf/registry.h): the exec of a host task. */
const NO_SLOT = 0xffffffff;

/** Where the caller's comm is taken: sched_prepare_exec (>= 6.11), else the execve entry tracepoints. */
export const CALLER_HOOK_PREPARE = 'sched_prepare_exec';
export const CALLER_HOOK_SYSCALL = 'sys_enter_execve';

/** Mirrors EXEC_FLAG_* in bpf/exec.h (values checked by test/unit/exec-decode.test.ts). */
export const EXEC_FLAG_ARGS_TRUNCATED = 1;
export const EXEC_FLAG_CALLER_UNKNOWN = 2;

export interface ExecDetails {
  pid: number;
  vpid: number;
  ppid: number;
  uid: number;
  ruid: number;
  gid: number;
  mntns: number;
  callerComm: string | null;
  comm: string;
  /** As passed to exec. */
  filename: string;
  /** The executable file itself (symlinks and /proc/self/exe resolved); '' when unknown. */
  exePath: string;
  argv: string[];
  argsTruncated: boolean;
  /** A secret in argv was replaced (redaction.rules). */
  argsRedacted: boolean;
}

/**
 * Raw record -> typed details; argv capped at `maxArgs` and redacted by `redactor`: the one place
 * argv is redacted, before any record or span is built from it.
 */
export function execDetails(e: ExecEvent, maxArgs: number, redactor: Redactor | null = null): ExecDetails {
  const args = splitNulStrings(e.args.subarray(0, e.args_size), maxArgs);
  const redacted = redactor ? redactor.argv(args.values) : { argv: args.values, redacted: false };
  return {
    pid: e.pid,
    vpid: e.vpid,
    ppid: e.ppid,
    uid: e.uid,
    ruid: e.ruid,
    gid: e.gid,
    mntns: e.mntns,
    callerComm: e.flags & EXEC_FLAG_CALLER_UNKNOWN ? null : e.caller_comm,
    comm: e.comm,
    filename: e.filename,
    exePath: e.exe_path,
    argv: redacted.argv,
    argsTruncated: args.truncated || (e.flags & EXEC_FLAG_ARGS_TRUNCATED) !== 0,
    argsRedacted: redacted.redacted,
  };
}

export function execAttributes(d: ExecDetails): Attributes {
  const a: Attributes = {
    'process.pid': d.pid,
    'process.vpid': d.vpid,
    'process.parent_pid': d.ppid,
    'process.user.id': d.uid,
    'process.real_user.id': d.ruid,
    'process.group.id': d.gid,
    'process.executable.path': d.exePath || d.filename,
    'contguard.process.exec_filename': d.filename,
    'process.executable.name': d.comm,
    'process.command_args': d.argv,
    'contguard.process.args_truncated': d.argsTruncated,
    'contguard.process.mount_namespace': d.mntns,
  };
  if (d.callerComm !== null) a['contguard.process.caller.name'] = d.callerComm;
  if (d.argsRedacted) a['contguard.process.args_redacted'] = true;
  return a;
}

export function execBody(d: ExecDetails): string {
  const argv = d.argv.slice(1).map(quoteArg).join(' ');
  const exe = d.exePath && d.exePath !== d.filename ? ` (exe ${quoteArg(d.exePath)})` : '';
  return `pid=${d.pid} ppid=${d.ppid} uid=${d.uid} ${quoteArg(d.callerComm ?? '?')} -> ${quoteArg(d.filename)}${exe}${argv ? ` ${argv}` : ''}${d.argsTruncated ? ' [truncated]' : ''}`;
}

export const execSensor: Sensor = {
  name: 'exec',
  telemetry: execTelemetry,
  enabled: (cfg) => cfg.sensors.exec.enabled,
  variants(cfg) {
    const hook = cfg.sensors.exec.caller_hook;
    return hook === 'auto' ? [CALLER_HOOK_PREPARE, CALLER_HOOK_SYSCALL] : [hook];
  },
  configure(obj: BpfObject, cfg, variant) {
    obj.resizeMap('cg_exec_events', cfg.sensors.exec.ring_buffer_bytes);
    // The executable's path is resolved with bpf_loop (5.17+); older kernels report the exec path.
    obj.setRodata({ exec_resolve_exe: kernelHas.bpfLoop() ? 1 : 0 });
    const prepare = variant === CALLER_HOOK_PREPARE;
    obj.setAutoload('cg_exec_prepare', prepare);
    obj.setAutoload('cg_exec_enter', !prepare);
    obj.setAutoload('cg_execat_enter', !prepare);
  },
  start(_obj: BpfObject, ctx: SensorContext): SensorInstance {
    const execs = ctx.meter.createCounter(EXEC_COUNTER, { unit: '{exec}', description: 'Successful execs in a container.' });
    const maxArgs = ctx.config.sensors.exec.max_args;
    const redactor = ctx.config.redaction.enabled ? new Redactor(ctx.config.redaction) : null;
    const includeHost = ctx.config.include_host;
    const hostAttributes: Attributes = {};
    // Metric attributes per container, built once (a rename builds a new attributes object).
    const metricAttrsOf = new WeakMap<object, Record<string, string>>();
    // Execs counted per container while a drain runs, added to the counter once at its end (a
    // microtask): the SDK hashes the attributes on every add(), about 5 µs each.
    const pendingExecs = new Map<Record<string, string>, number>();
    let addQueued = false;
    const addPending = () => {
      addQueued = false;
      for (const [attrs, n] of pendingExecs) execs.add(n, attrs);
      pendingExecs.clear();
    };

    /** The process image this exec started, as traces name it (bpf/process.h), and when. */
    interface TraceRef {
      cgroupId: bigint;
      image: ImageId;
      atNs: bigint;
    }
    const deliver = (container: ContainerInfo | null, details: ExecDetails, time: bigint, ref: TraceRef) => {
      if (!container && !includeHost) return; // the agent's own container, or a cgroup that is no container
      const containerAttrs = container?.attributes ?? hostAttributes;
      // The span of the image this exec started, when the process sensor traces containers.
      const trace = container ? ctx.traces?.processes?.logContext(container.id, ref.cgroupId, ref.image, ref.atNs) : null;
      const record = containerRecord(container?.attributes, execAttributes(details), {
        eventName: EXEC_EVENT_NAME,
        timeUnixNano: time,
        severity: 'INFO',
        body: execBody(details),
      });
      if (trace) {
        record.traceId = trace.traceId;
        record.spanId = trace.spanId;
        record.traceFlags = trace.traceFlags;
      }
      ctx.emit(record);
      let metricAttrs = metricAttrsOf.get(containerAttrs);
      if (!metricAttrs) {
        metricAttrs = metricAttributes(containerAttrs);
        metricAttrsOf.set(containerAttrs, metricAttrs);
      }
      pendingExecs.set(metricAttrs, (pendingExecs.get(metricAttrs) ?? 0) + 1);
      if (!addQueued) {
        addQueued = true;
        queueMicrotask(addPending);
      }
    };

    // The record is ring memory: decoded here, synchronously; no copy is kept.
    const handle = (bytes: Uint8Array) => {
      const e = decodeExecEvent(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const details = execDetails(e, maxArgs, redactor);
      const time = ctx.toUnixNano(e.timestamp_ns);
      const ref = { cgroupId: e.cgroup.cgroup_id, name: e.cgroup.name, parentName: e.cgroup.parent_name };
      const traceRef: TraceRef = { cgroupId: ref.cgroupId, image: { pid: e.pid, startNs: e.start_time_ns, execId: e.exec_id }, atNs: e.timestamp_ns };
      const tracer = ctx.traces?.processes;
      if (tracer && e.slot !== NO_SLOT) {
        tracer.execDetails({ cgroupId: ref.cgroupId, image: traceRef.image, exePath: details.exePath, filename: details.filename, argv: details.argv, argsTruncated: details.argsTruncated });
      }
      // Known container (the common case): no promise, no wait.
      const known = ctx.containers.attributeKnown(ref);
      if (known !== undefined) {
        deliver(known, details, time, traceRef);
        return;
      }
      void ctx.track(
        ctx.containers
          .attribute(ref)
          .then((container) => deliver(container, details, time, traceRef))
          .catch((err: unknown) => ctx.logger.error(`exec: ${(err as Error).message}`)),
      );
    };
    return { rings: [{ map: 'cg_exec_events', handle }], lossMaps: ['cg_exec_lost'] };
  },
};
