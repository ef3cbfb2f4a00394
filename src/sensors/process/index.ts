// SPDX-License-Identifier: Apache-2.0
/**
 * process sensor: each container run's process tree as one OpenTelemetry trace (exported by
 * OTLP: outputs.otlp.traces). The kernel reports forks, execs and exits of the containers'
 * workload processes (bpf/process.bpf.c); ProcessTracer (tracer.ts) builds the spans. The
 * exec sensor adds each image's path and argv, and stamps its records with the image's span;
 * the file_open, network and io_uring sensors stamp theirs with their process's span, and
 * file opens, connections and policy violations become events of it (traces.processes).
 */
import type { Sensor, SensorContext, SensorEnv, SensorInstance } from '../sensor.js';
import type { BpfObject } from '../../../ffi/bpf-object.js';
import { REGISTRY_VARIANT_TP_BTF } from '../../registry/index.js';
import { decodeProcessEvent } from './layout.gen.js';
import { ProcessTracer, type DropReason, type EventDropReason } from './tracer.js';
import { PROCESS_OPEN_SPANS_GAUGE, PROCESS_SPANS_COUNTER, PROCESS_SPANS_DROPPED_COUNTER, PROCESS_SPAN_EVENTS_DROPPED_COUNTER, processTelemetry } from './telemetry.js';

/** How often finished spans are handed to the exporter (and long spans cut). */
const FLUSH_INTERVAL_MS = 1000;
/** Beyond the attribution wait and the connection join window: ring drains, mount-table reads. */
const LATE_EVENT_SLACK_MS = 500;

const TP_BTF_PROGRAMS = ['cg_proc_fork', 'cg_proc_exec', 'cg_proc_exit'];
const RAW_PROGRAMS = ['cg_proc_fork_raw', 'cg_proc_exec_raw', 'cg_proc_exit_raw'];

export const processSensor: Sensor = {
  name: 'process',
  telemetry: processTelemetry,
  output: 'traces',
  enabled: (cfg) => cfg.sensors.process.enabled && cfg.outputs.otlp.traces,
  // One program set per registry variant: the filters read the registry's task state.
  variants: (_cfg, env: SensorEnv) => [env.registryVariant],
  configure(obj: BpfObject, cfg, variant) {
    const btf = variant === REGISTRY_VARIANT_TP_BTF;
    for (const p of TP_BTF_PROGRAMS) obj.setAutoload(p, btf);
    for (const p of RAW_PROGRAMS) obj.setAutoload(p, !btf);
    obj.resizeMap('cg_proc_events', cfg.sensors.process.ring_buffer_bytes);
  },
  start(_obj: BpfObject, ctx: SensorContext): SensorInstance {
    const traces = ctx.traces;
    if (!traces) throw new Error('no trace output (outputs.otlp.traces needs an OTLP endpoint)');
    const cfg = ctx.config.sensors.process;
    const spans = ctx.meter.createCounter(PROCESS_SPANS_COUNTER, { unit: '{span}', description: processTelemetry.metrics[0]!.description });
    const dropped = ctx.meter.createCounter(PROCESS_SPANS_DROPPED_COUNTER, { unit: '{span}', description: processTelemetry.metrics[1]!.description });
    const eventsDropped = ctx.meter.createCounter(PROCESS_SPAN_EVENTS_DROPPED_COUNTER, { unit: '{event}', description: processTelemetry.metrics[3]!.description });
    // A finished span waits for the records of its process still on their way (span events):
    // a new container's first records wait for its metadata, a connection for its other end.
    const lateEventGraceMs = cfg.max_events_per_span > 0 ? ctx.config.docker.metadata_wait_ms + ctx.config.sensors.network.join_window_ms + LATE_EVENT_SLACK_MS : 0;
    const tracer = new ProcessTracer({
      bootId: traces.bootId,
      sampleRatio: cfg.sample_ratio,
      maxSpanMs: cfg.max_span_ms,
      maxOpenPerContainer: cfg.max_open_spans_per_container,
      maxOpenTotal: cfg.max_open_spans,
      maxEventsPerSpan: cfg.max_events_per_span,
      maxEventsHeld: cfg.max_span_events,
      lateEventGraceMs,
      resource: traces.resource,
      scope: traces.scope,
      toUnixNano: ctx.toUnixNano,
      nowMono: () => process.hrtime.bigint(),
      exportSpan: (span) => traces.export(span),
      entryForSlot: (slot) => ctx.registryEntries.get(slot),
      counters: {
        exported: (n) => n > 0 && spans.add(n, { outcome: 'exported' }),
        unsampled: (n) => n > 0 && spans.add(n, { outcome: 'unsampled' }),
        dropped: (reason: DropReason, n) => n > 0 && dropped.add(n, { reason }),
        eventsDropped: (reason: EventDropReason, n) => n > 0 && eventsDropped.add(n, { reason }),
      },
    });
    ctx.meter
      .createObservableGauge(PROCESS_OPEN_SPANS_GAUGE, { unit: '{span}', description: processTelemetry.metrics[2]!.description })
      .addCallback((r) => r.observe(tracer.openSpans));
    traces.processes = tracer;

    // The record is ring memory: decoded here, synchronously; no copy is kept.
    const handle = (bytes: Uint8Array) => {
      const e = decodeProcessEvent(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      tracer.onEvent({
        kind: e.kind,
        timestampNs: e.timestamp_ns,
        pid: e.pid,
        ppid: e.ppid,
        startNs: e.start_time_ns,
        execId: e.exec_id,
        parentStartNs: e.parent_start_time_ns,
        exitCode: e.exit_code,
        flags: e.flags,
        comm: e.comm,
        slot: e.slot,
        cgroupId: e.cgroup.cgroup_id,
      });
    };
    return {
      rings: [{ map: 'cg_proc_events', handle }],
      lossMaps: ['cg_proc_lost'],
      periodic: [{ name: 'process spans', intervalMs: FLUSH_INTERVAL_MS, run: () => tracer.flush() }],
      cacheSizes: () => ({ runs: tracer.runCount }),
      onContainerTracked: (entry) => tracer.onContainerTracked(entry),
      onContainerRemoved: (entry) => tracer.onContainerRemoved(entry),
      stop() {
        tracer.shutdown();
      },
      release() {
        if (traces.processes === tracer) traces.processes = null;
      },
    };
  },
};
