// SPDX-License-Identifier: Apache-2.0
/** The agent: loads every enabled sensor, attributes events to containers, feeds the outputs. */
import { closeSync, existsSync, openSync, readSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, type CgroupLink } from '../ffi/bpf-object.js';
import { RingBufferPoller, resolveRingConsumer } from '../ffi/ringbuf.js';
import { routeLibbpfLog } from '../ffi/print.js';
import { readPerCpuCounter } from '../ffi/maps.js';
import type { AgentConfig } from './config.js';
import { resolveOtlpEndpoint } from './config.js';
import { release } from 'node:os';
import { capabilityCheck, capabilityNames, effectiveCaps, parseKernelRelease } from './doctor.js';
import type { AgentLogger } from './log.js';
import { CgroupIdResolver, cgroupHierarchyRoot, detectCgroupMode, ownCgroupPath, type CgroupMode } from './containers/cgroup-fs.js';
import { selectMetadataSources } from './containers/sources.js';
import { nodeNameFromEnv } from './containers/kubernetes.js';
import { ContainerAttributor } from './containers/attributor.js';
import type { EventRecord, EventSink } from './telemetry/record.js';
import { ConsoleSink } from './telemetry/console-sink.js';
import { JsonLinesSink, rotatedFilesKept } from './telemetry/jsonl-sink.js';
import { OtlpLogSink, agentResource, createMetrics, routeOtelDiagnostics } from './telemetry/otel.js';
import { TraceOutput } from './telemetry/traces.js';
import { scopeMeter } from './telemetry/scoped-meter.js';
import { ExportTally } from './telemetry/export-tally.js';
import { ContainerSeries } from './telemetry/container-series.js';
import { SENSORS } from './sensors/all.js';
import type { Sensor, SensorContext, SensorEnv, SensorInstance } from './sensors/sensor.js';
import { BPF_BUILD_DIR, ContainerRegistry } from './registry/index.js';
import { ResourceCollector } from './resources/index.js';
import { AnomalyMonitor } from './anomaly/index.js';

export { BPF_BUILD_DIR };
/** How often ring buffer losses are reported as a WARN record (one per sensor that lost events). */
export const LOSS_REPORT_INTERVAL_MS = 10_000;
export const EVENTS_LOST_EVENT = 'contguard.agent.events_lost';
/** Longest each output may take to flush at shutdown (an OTLP collector that never answers). */
export const OUTPUT_SHUTDOWN_MS = 3000;
const CG_CGROUP_MODE_V1 = 1;
const CG_CGROUP_MODE_V2 = 2;

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

/** A startup failure the CLI prints as one line. */
export class AgentStartError extends Error {}

export interface RunOptions {
  readyFile?: string;
  /** The sensors to run (default SENSORS); tests add their own to exercise the contract. */
  sensors?: readonly Sensor[];
  logger: AgentLogger;
  env?: NodeJS.ProcessEnv;
}

export interface RunningAgent {
  /** The registry variant that loaded (tp_btf or raw_tracepoint). */
  registryVariant: string;
  /** The variant each sensor loaded with (null for sensors without variants). */
  sensorVariants: Record<string, string | null>;
  stop(): Promise<void>;
}

/** Where the kernel publishes its own BTF (CONFIG_DEBUG_INFO_BTF). */
export const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/**
 * Checks, before anything starts, that the BTF CO-RE needs is there: `btf_path` (a raw BTF file
 * or an ELF file with a .BTF section, e.g. from BTFHub) or the kernel's own.
 * @throws AgentStartError, one line: which file, and what to do.
 */
export function checkBtf(btfPath: string | null): void {
  const file = btfPath ?? KERNEL_BTF;
  const head = Buffer.alloc(4);
  let n = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      n = readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : `cannot read (${e.code ?? e.message})`;
    throw new AgentStartError(
      btfPath
        ? `btf_path ${file}: ${why}`
        : `kernel BTF ${file}: ${why}: this kernel was built without CONFIG_DEBUG_INFO_BTF; set btf_path to a BTF file for it`,
    );
  }
  const rawBtf = n >= 2 && head.readUInt16LE(0) === 0xeb9f;
  const elf = n === 4 && head.toString('latin1') === '\x7fELF';
  if (!rawBtf && !elf) throw new AgentStartError(`${btfPath ? 'btf_path' : 'kernel BTF'} ${file}: not a BTF file (neither BTF nor ELF magic)`);
}

/**
 * Refuses to start without what loading needs (README "Privileges"), in one line naming what is
 * missing, instead of libbpf's failures one object at a time.
 * @throws AgentStartError `insufficient privileges: <what is missing>`.
 */
export function checkPrivileges(caps: bigint = effectiveCaps(), kernel = parseKernelRelease(release()), uid = process.getuid?.() ?? 0): void {
  const c = capabilityCheck(capabilityNames(caps), kernel, uid);
  if (c.ok) return;
  // RLIMIT_MEMLOCK (kernels < 5.11) is left to libbpf: a raised limit (LimitMEMLOCK=infinity)
  // serves as well as CAP_SYS_RESOURCE, and only the load can tell.
  const missing = c.detail.split('; ').filter((p) => p.includes('missing') && !p.startsWith('memlock:'));
  if (missing.length === 0) return;
  throw new AgentStartError(`insufficient privileges: ${missing.join('; ')} (README "Privileges")`);
}

function effectiveCgroupMode(cfg: AgentConfig): CgroupMode {
  const detected = detectCgroupMode();
  if (cfg.cgroup_mode === 'v1') return 'v1';
  if (cfg.cgroup_mode === 'v2') return detected === 'v1' ? 'v1' : detected;
  return detected;
}

export async function startAgent(cfg: AgentConfig, opts: RunOptions): Promise<RunningAgent> {
  const { logger } = opts;
  // Nothing starts without the privileges to load programs and the BTF they relocate against.
  checkPrivileges();
  checkBtf(cfg.btf_path);
  BpfObject.useBtf(cfg.btf_path);
  const version = packageVersion();
  routeLibbpfLog((level, line) => (level === 'warn' ? logger.warn(`libbpf: ${line}`) : logger.debug(`libbpf: ${line}`)));

  // Container attribution: which hierarchy's ids the kernel reports, and where to resolve them.
  const mode = effectiveCgroupMode(cfg);
  const hierarchy = cgroupHierarchyRoot(mode);
  const resolver = existsSync(hierarchy) ? new CgroupIdResolver(hierarchy) : null;
  // Metadata sources: Docker, Podman, containerd, CRI-O, as configured and found.
  const metadata = await selectMetadataSources(cfg, logger);
  const docker = metadata.docker;
  const containers = new ContainerAttributor({
    resolver,
    sources: metadata.sources,
    nodeName: nodeNameFromEnv(opts.env ?? process.env),
    metadataWaitMs: cfg.docker.metadata_wait_ms,
    removalGraceMs: cfg.registry.forget_after_ms,
    selfCgroupPath: ownCgroupPath(mode),
  });
  // Runtime events: container ones to the attributor, all of them to sensors that follow them.
  const runtimeListeners: Array<(type: string, action: string, id: string, attrs: Record<string, string>) => void> = [];
  docker?.watch((action, id, attrs, type) => {
    if (type === 'container') containers.onRuntimeEvent(action, id, attrs);
    for (const l of runtimeListeners) l(type, action, id, attrs);
  });

  // Outputs.
  const resource = agentResource(version);
  const otlpEndpoint = resolveOtlpEndpoint(cfg, opts.env ?? process.env);
  const prom = cfg.outputs.prometheus;
  const exportTally = new ExportTally();
  const metrics = createMetrics(
    {
      resource,
      prometheus: prom.enabled ? { host: prom.host, port: prom.port, path: prom.path } : null,
      otlp: otlpEndpoint && cfg.outputs.otlp.metrics ? { endpoint: otlpEndpoint, intervalMs: cfg.outputs.otlp.export_interval_ms, headers: cfg.outputs.otlp.headers } : null,
      exportTally,
    },
    version,
  );
  try {
    await metrics.ready;
  } catch (err) {
    await metrics.shutdown().catch(() => undefined);
    throw new AgentStartError(`prometheus endpoint ${prom.host}:${prom.port}: ${(err as Error).message}`);
  }
  // The SDK's own warnings from here on (a failed listen above is this one error, not two lines).
  routeOtelDiagnostics(logger, otlpEndpoint);
  const sinks: EventSink[] = [];
  const sinkNames: string[] = []; // the `output` attribute of each sink, in order
  if (cfg.outputs.console.enabled) sinks.push(new ConsoleSink());
  if (cfg.outputs.jsonl.enabled) {
    const j = cfg.outputs.jsonl;
    try {
      sinks.push(new JsonLinesSink(j.dir, j.max_file_bytes, rotatedFilesKept(j.max_file_bytes, j.max_files, j.max_total_bytes), (err) => logger.error(`jsonl ${j.dir}: ${err.message}`)));
    } catch (err) {
      await metrics.shutdown().catch(() => undefined);
      throw new AgentStartError(`log dir ${j.dir}: ${(err as Error).message}`);
    }
  }
  if (otlpEndpoint && cfg.outputs.otlp.logs) sinks.push(new OtlpLogSink(otlpEndpoint, cfg.outputs.otlp.headers, resource, metrics.provider, version, undefined, exportTally));

  for (const s of sinks) sinkNames.push(s instanceof ConsoleSink ? 'console' : s instanceof JsonLinesSink ? 'jsonl' : 'otlp');
  metrics.meter
    .createObservableCounter('contguard.output.dropped', {
      unit: '{record}',
      description: 'Records an output dropped because its stream stayed congested past its buffer cap (8 MiB); OTLP drops are counted by the OTel SDK (otel.sdk.* metrics).',
    })
    .addCallback((result) => sinks.forEach((s, i) => result.observe(s.dropped, { output: sinkNames[i] })));
  if (otlpEndpoint) {
    metrics.meter
      .createObservableCounter('contguard.otlp.exports', {
        unit: '{export}',
        description: 'OTLP export calls by signal (logs, metrics, traces) and outcome (success, failure); a call fails only after the exporter gave up retrying. A failed logs or traces batch is dropped (otel.sdk.processor.*.processed with error.type); metrics go again with the next export.',
      })
      .addCallback((result) => {
        for (const e of exportTally.entries()) result.observe(e.n, { signal: e.signal, outcome: e.outcome });
      });
  }
  const inflight = new Set<Promise<unknown>>();
  const clockOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  // Outputs write once per ring drain; records emitted later (after an attribution wait) are
  // written at the end of that tick: never one write per record.
  let batchScheduled = false;
  const endBatch = () => {
    batchScheduled = false;
    for (const s of sinks) s.endBatch();
  };
  let draining = false;
  let anomaly: AnomalyMonitor | null = null;
  const emit = (record: EventRecord) => {
    for (const s of sinks) s.write(record);
    traces?.observe(record); // a WARN record makes its container's run traced (sensors.process)
    anomaly?.observe(record); // features of each container's window (its alerts come back here)
    if (!draining && !batchScheduled) {
      batchScheduled = true;
      setImmediate(endBatch);
    }
  };

  // The container registry first: every sensor object shares its maps.
  const commonRodata = { cg_cgroup_mode: mode === 'v1' ? CG_CGROUP_MODE_V1 : CG_CGROUP_MODE_V2, cg_self_tgid: process.pid, cg_include_host: cfg.include_host ? 1 : 0 };
  let registry: ContainerRegistry;
  try {
    registry = ContainerRegistry.open(
      {
        hook: cfg.registry.hook,
        maxContainers: cfg.registry.max_containers,
        cgroupMode: mode,
        selfTgid: process.pid,
        logger,
        dropNotices: (opts.env ?? process.env).CONTGUARD_TEST_DROP_REGISTRY_NOTICES === '1',
      },
      commonRodata,
    );
  } catch (err) {
    await metrics.shutdown().catch(() => undefined);
    throw new AgentStartError((err as Error).message);
  }
  // Spans (each container's process tree as one trace, sensors.process) go by OTLP only.
  const traces =
    otlpEndpoint && cfg.outputs.otlp.traces && cfg.sensors.process.enabled
      ? new TraceOutput({ endpoint: otlpEndpoint, headers: cfg.outputs.otlp.headers, resource, version, meterProvider: metrics.provider, exportTally })
      : null;
  // Event counters of removed containers leave /metrics after registry.forget_after_ms.
  const containerSeries = new ContainerSeries(metrics.meter);
  const loadedVariants = new Map<string, string | undefined>();
  const env: SensorEnv = { cgroupMode: mode, registryVariant: registry.variant, loaded: loadedVariants };
  const ctx: SensorContext = {
    ...env,
    cgroups: resolver,
    config: cfg,
    logger,
    meter: containerSeries.meter,
    containers,
    emit,
    toUnixNano: (ns) => ns + clockOffset,
    track<T>(work: Promise<T>): Promise<T> {
      inflight.add(work);
      void work.finally(() => inflight.delete(work));
      return work;
    },
    registryEntries: registry.entries,
    docker,
    traces,
  };
  registry.bind(ctx);
  // Per-container resource metrics from the cgroup files (read on a timer, reported at collection).
  const resources = cfg.resources.enabled ? new ResourceCollector(ctx, cfg.resources) : null;
  if (cfg.anomaly.enabled) {
    try {
      anomaly = new AnomalyMonitor(ctx, resources);
    } catch (err) {
      registry.close();
      await traces?.shutdown().catch(() => undefined);
      await metrics.shutdown().catch(() => undefined);
      throw new AgentStartError(`anomaly state dir ${cfg.anomaly.state_dir}: ${(err as Error).message}`);
    }
  }

  // Sensors: open, share the registry's maps, configure, load; attach once all are loaded.
  const poller = new RingBufferPoller(
    (err) => logger.error(`event handler: ${(err as Error).message}`),
    {
      beforeDrain: () => {
        draining = true;
      },
      afterDrain: () => {
        draining = false;
        endBatch();
      },
    },
    resolveRingConsumer(cfg.ring_consumer),
  );
  const loaded: Array<{ sensor: Sensor; obj: BpfObject; instance: SensorInstance; variant: string | undefined }> = [];
  const lossCounters: Array<{ sensor: string; fd: number }> = [{ sensor: 'registry', fd: registry.lossMapFd }];
  const ringOwners: string[] = []; // the sensor of each ring, in poller order
  const unavailable: string[] = []; // enabled sensors this kernel cannot run
  const timers: NodeJS.Timeout[] = [];
  const cgroupLinks = new Map<bigint, CgroupLink[]>();
  let released = false;
  const closeObjects = () => {
    for (const l of loaded) l.obj.close();
    registry.close();
  };
  try {
    // Tracking first: a container that starts while sensors load is tracked by the kernel.
    const tracking = registry.attach();
    logger.info(`registry (${registry.variant}): attached ${tracking.join(', ')}`);
    for (const sensor of opts.sensors ?? SENSORS) {
      if (!sensor.enabled(cfg)) continue;
      if (sensor.output === 'traces' && !traces) {
        logger.info(`sensor ${sensor.name}: not loaded: its spans go by OTLP only, and no OTLP endpoint is set`);
        continue;
      }
      const variants: ReadonlyArray<string | undefined> = sensor.variants?.(cfg, env) ?? [undefined];
      for (let v = 0; v < variants.length; v++) {
        const variant = variants[v];
        const obj = BpfObject.open(sensor.objectPath ?? `${BPF_BUILD_DIR}${sensor.name}.bpf.o`);
        const scoped = scopeMeter(containerSeries.meter);
        let instance: SensorInstance | null = null;
        try {
          obj.setRodata(commonRodata);
          registry.shareWith(obj);
          sensor.configure?.(obj, cfg, variant, env);
          obj.load();
          instance = sensor.start(obj, { ...ctx, meter: scoped.meter }, variant);
          const attached = [...obj.attachAll().map((p) => p.section), ...(instance.reachedVia ?? [])];
          for (const c of instance.cgroupPrograms ?? []) {
            if (c.scope !== 'root') continue;
            obj.attachCgroup(c.program, hierarchy);
            attached.push(`${c.program} (cgroup root)`);
          }
          logger.info(`sensor ${sensor.name}${variant ? ` (${variant})` : ''}: attached ${attached.join(', ')}`);
        } catch (err) {
          // Its callbacks read maps of the object closed here: they go with it.
          scoped.revoke();
          await instance?.stop?.();
          instance?.release?.();
          obj.close();
          if (v < variants.length - 1) {
            logger.warn(`sensor ${sensor.name}: ${variant} unavailable (${(err as Error).message}); falling back to ${variants[v + 1]}`);
            continue;
          }
          // A kernel without this sensor's hooks: the agent runs without it, and says so.
          logger.error(`sensor ${sensor.name} unavailable: ${(err as Error).message}; running without it`);
          unavailable.push(sensor.name);
          break;
        }
        loaded.push({ sensor, obj, instance, variant });
        loadedVariants.set(sensor.name, variant);
        break;
      }
    }
    for (const { instance } of loaded) if (instance.onRuntimeEvent) runtimeListeners.push(instance.onRuntimeEvent);
    for (const { sensor, instance } of loaded) {
      registry.subscribe({
        onTracked: (entry) => instance.onContainerTracked?.(entry),
        onRemoved: (entry) => instance.onContainerRemoved?.(entry),
      });
      void sensor;
    }
    registry.subscribe({
      onTracked: (entry) => {
        void entry.attributed.then(() => {
          if (entry.container) containerSeries.revive(entry.container.id);
        });
      },
      onRemoved: (entry) => {
        const id = entry.container?.id;
        if (!id) return;
        containerSeries.retire(id, cfg.registry.forget_after_ms, () => [...registry.entries.values()].some((e) => e.container?.id === id));
      },
    });
    // Per-container cgroup programs follow the registry (attached as containers appear).
    registry.subscribe({
      onTracked: (entry) => {
        const specs = loaded.flatMap((l) => (l.instance.cgroupPrograms ?? []).filter((c) => c.scope === 'container').map((c) => ({ l, c })));
        if (specs.length === 0 || !resolver) return;
        void ctx.track(
          resolver.resolveAsync(entry.cgroupId, { name: entry.ref.name, parentName: entry.ref.parentName }).then((rel) => {
            if (rel === null || released || !registry.entries.has(entry.slot)) return;
            const links: CgroupLink[] = [];
            for (const { l, c } of specs) {
              try {
                links.push(l.obj.attachCgroup(c.program, join(resolver.hierarchyRoot, rel)));
              } catch (err) {
                logger.warn(`sensor ${l.sensor.name}: ${(err as Error).message}`);
              }
            }
            cgroupLinks.set(entry.cgroupId, links);
          }),
        );
      },
      onRemoved: (entry) => {
        for (const link of cgroupLinks.get(entry.cgroupId) ?? []) link.detach();
        cgroupLinks.delete(entry.cgroupId);
      },
    });

    for (const { sensor, obj, instance } of loaded) {
      for (const ring of instance.rings) {
        poller.add(`${sensor.name}/${ring.map}`, obj.mapFd(ring.map), ring.handle);
        ringOwners.push(sensor.name);
      }
      for (const m of instance.lossMaps) lossCounters.push({ sensor: sensor.name, fd: obj.mapFd(m) });
    }
    // Then seed what already runs, through the same idempotent claim.
    const regRing = registry.ring;
    poller.add(`registry/${regRing.map}`, regRing.fd, regRing.handle);
    ringOwners.push('registry');
    registry.seed();
  } catch (err) {
    for (const l of loaded) await l.instance.stop?.();
    poller.close();
    for (const l of loaded) l.instance.release?.();
    closeObjects();
    await traces?.shutdown().catch(() => undefined);
    await metrics.shutdown().catch(() => undefined);
    throw new AgentStartError((err as Error).message);
  }
  metrics.meter
    .createObservableCounter('contguard.events.lost', {
      unit: '{event}',
      description: 'Events the kernel could not deliver because the ring buffer was full.',
    })
    .addCallback((result) => {
      if (released) return;
      for (const c of lossCounters) result.observe(Number(readPerCpuCounter(c.fd)), { sensor: c.sensor });
    });
  metrics.meter
    .createObservableGauge('contguard.agent.cache.entries', {
      unit: '{entry}',
      description: 'Entries in each per-container cache of the agent (cache: attributor.*, series.pending_retirements, cgroup_paths.entries, resources.containers, <sensor>.*); once containers are gone they shrink back after registry.forget_after_ms and the retire periods.',
    })
    .addCallback((result) => {
      if (released) return;
      const observe = (prefix: string, sizes: Record<string, number>) => {
        for (const [name, n] of Object.entries(sizes)) result.observe(n, { cache: `${prefix}.${name}` });
      };
      observe('attributor', containers.cacheSizes());
      observe('series', { pending_retirements: containerSeries.pendingCount, forgotten: containerSeries.forgottenCount });
      if (resolver) observe('cgroup_paths', { entries: resolver.size });
      if (resources) observe('resources', { containers: resources.size });
      for (const l of loaded) if (l.instance.cacheSizes) observe(l.sensor.name, l.instance.cacheSizes());
    });
  metrics.meter
    .createObservableGauge('contguard.agent.memory', {
      unit: 'By',
      description: 'Memory of the agent process (memory.type: rss, heap_used, heap_total, external).',
    })
    .addCallback((result) => {
      const m = process.memoryUsage();
      result.observe(m.rss, { 'memory.type': 'rss' });
      result.observe(m.heapUsed, { 'memory.type': 'heap_used' });
      result.observe(m.heapTotal, { 'memory.type': 'heap_total' });
      result.observe(m.external, { 'memory.type': 'external' });
    });
  // Losses as WARN records: one per sensor whose ring lost events since the last report.
  const lossesReported = new Map<string, bigint>();
  const reportLosses = () => {
    const bySensor = new Map<string, bigint>();
    for (const c of lossCounters) bySensor.set(c.sensor, (bySensor.get(c.sensor) ?? 0n) + readPerCpuCounter(c.fd));
    for (const [sensor, total] of bySensor) {
      const lost = total - (lossesReported.get(sensor) ?? 0n);
      if (lost <= 0n) continue;
      lossesReported.set(sensor, total);
      emit({
        eventName: EVENTS_LOST_EVENT,
        timeUnixNano: BigInt(Date.now()) * 1_000_000n,
        severity: 'WARN',
        body: `${sensor}: ${lost} events lost (ring buffer full), ${total} since start`,
        attributes: { 'contguard.sensor': sensor, 'contguard.events.lost': Number(lost), 'contguard.events.lost_total': Number(total) },
      });
    }
  };
  metrics.meter
    .createObservableCounter('contguard.events.received', {
      unit: '{event}',
      description: 'Records user space received from the kernel, per sensor (host events are dropped in the kernel and never counted here unless include_host is on).',
    })
    .addCallback((result) => {
      const bySensor = new Map<string, number>();
      ringOwners.forEach((owner, i) => bySensor.set(owner, (bySensor.get(owner) ?? 0) + (poller.received[i] ?? 0)));
      for (const [sensor, n] of bySensor) result.observe(n, { sensor });
    });
  metrics.meter
    .createObservableGauge('contguard.sensor.up', {
      unit: '1',
      description: 'Whether each enabled sensor runs (1) or this kernel could not load or attach it (0).',
    })
    .addCallback((result) => {
      for (const l of loaded) result.observe(1, { sensor: l.sensor.name, 'contguard.sensor.variant': l.variant ?? '' });
      for (const name of unavailable) result.observe(0, { sensor: name, 'contguard.sensor.variant': '' });
    });
  // The agent's own cost, for the agent-health dashboard and sizing (semconv process.* metrics).
  metrics.meter
    .createObservableCounter('process.cpu.time', {
      unit: 's',
      description: 'CPU time the agent process used, by cpu.mode (user, system): process.cpuUsage().',
    })
    .addCallback((result) => {
      const { user, system } = process.cpuUsage();
      result.observe(user / 1e6, { 'cpu.mode': 'user' });
      result.observe(system / 1e6, { 'cpu.mode': 'system' });
    });
  metrics.meter
    .createObservableUpDownCounter('process.memory.usage', {
      unit: 'By',
      description: 'Resident set size of the agent process: process.memoryUsage.rss().',
    })
    .addCallback((result) => result.observe(process.memoryUsage.rss()));
  // Periodic work, declared by sensors (map reads) and the registry (reconciliation).
  const every = (name: string, ms: number, run: () => void) => {
    const t = setInterval(() => {
      try {
        run();
      } catch (err) {
        logger.error(`${name}: ${(err as Error).message}`);
      }
    }, ms);
    t.unref();
    timers.push(t);
  };
  every('registry reconciliation', cfg.registry.reconcile_interval_ms, () => registry.reconcile());
  every('loss report', LOSS_REPORT_INTERVAL_MS, reportLosses);
  if (resources) every('resource reads', cfg.resources.interval_ms, () => void resources.tick());
  for (const { instance } of loaded) for (const p of instance.periodic ?? []) every(p.name, p.intervalMs, p.run);
  if (anomaly) {
    const monitor = anomaly;
    every('anomaly windows', monitor.tickMs, () => monitor.tick());
  }
  poller.start(cfg.ring_drain_interval_ms);
  logger.info(`ring buffers: ${poller.kind} consumer (${ringOwners.length} rings)`);
  // Said once everything started (a start-up failure is one line).
  logger.info(metadata.described.length > 0 ? `container metadata from: ${metadata.described.join(', ')}` : 'container metadata: no runtime found (cgroup-derived ids only)');
  logger.info(`contguard ${version} running (cgroup ${mode}, ${sinks.length} event outputs${prom.enabled ? `, metrics on http://${prom.host}:${prom.port}${prom.path}` : ''})`);
  let stopping: Promise<void> | null = null;
  const running: RunningAgent = {
    registryVariant: registry.variant,
    sensorVariants: Object.fromEntries(loaded.map((l) => [l.sensor.name, l.variant ?? null])),
    stop() {
      // Teardown order is part of the design: nothing reads mapped memory after it is released.
      stopping ??= (async () => {
        for (const t of timers) clearInterval(t);
        containerSeries.stop();
        for (const l of loaded) {
          try {
            l.instance.beforeFinalDrain?.();
          } catch (err) {
            logger.warn(`sensor ${l.sensor.name}: ${(err as Error).message}`);
          }
        }
        poller.close(); // drains what is left in the rings, then frees them
        for (const l of loaded) await l.instance.stop?.(); // final reads and records
        await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, cfg.docker.metadata_wait_ms + 500))]);
        reportLosses(); // the losses of the last interval
        anomaly?.stop(); // learning progress to the state directory
        endBatch();
        for (const s of metadata.sources) s.stop?.();
        // Bounded: a collector that accepts and never answers must not hold the exit. What an
        // output still holds then is dropped.
        const bounded = async (what: string, work: Promise<unknown>) => {
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              logger.warn(`${what}: not done within ${OUTPUT_SHUTDOWN_MS} ms; what it still held is dropped`);
              resolve();
            }, OUTPUT_SHUTDOWN_MS);
            timer.unref();
          });
          await Promise.race([work.catch((err: Error) => logger.warn(`${what}: ${err.message}`)), deadline]);
          clearTimeout(timer);
        };
        await Promise.all([
          ...sinks.map((s, i) => bounded(`output ${sinkNames[i]} shutdown`, s.shutdown())),
          ...(traces ? [bounded('trace output shutdown', traces.shutdown())] : []),
        ]);
        await resources?.stop(); // no more reads; the cached values serve the last collection
        // The last collection (OTLP export, a scrape in flight) still reads the maps: they are
        // unmapped only after the meter provider is shut down (or gave up: every callback checks
        // that the memory it reads is still there).
        await bounded('metrics shutdown', metrics.shutdown());
        released = true;
        for (const l of loaded) l.instance.release?.();
        for (const links of cgroupLinks.values()) for (const link of links) link.detach();
        closeObjects(); // detaches every program, frees the maps
      })();
      return stopping;
    },
  };
  if (opts.readyFile) {
    try {
      writeFileSync(opts.readyFile, `${process.pid}\n`);
    } catch (err) {
      // Not ready means not running: detach everything before saying why.
      await running.stop();
      throw new AgentStartError(`ready file ${opts.readyFile}: ${(err as Error).message}`);
    }
  }
  return running;
}
