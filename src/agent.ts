// SPDX-License-Identifier: Apache-2.0
/** The agent: loads every enabled sensor, attributes events to containers, feeds the outputs. */
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, type CgroupLink } from '../ffi/bpf-object.js';
import { RingBufferPoller } from '../ffi/ringbuf.js';
import { routeLibbpfLog } from '../ffi/print.js';
import { readPerCpuCounter } from '../ffi/maps.js';
import type { AgentConfig } from './config.js';
import { resolveOtlpEndpoint } from './config.js';
import type { AgentLogger } from './log.js';
import { CgroupIdResolver, cgroupHierarchyRoot, detectCgroupMode, ownCgroupPath, type CgroupMode } from './containers/cgroup-fs.js';
import { DockerMetadataSource } from './containers/docker-metadata.js';
import { ContainerAttributor } from './containers/attributor.js';
import type { EventRecord, EventSink } from './telemetry/record.js';
import { ConsoleSink } from './telemetry/console-sink.js';
import { JsonLinesSink } from './telemetry/jsonl-sink.js';
import { OtlpLogSink, agentResource, createMetrics, routeOtelDiagnostics } from './telemetry/otel.js';
import { TraceOutput } from './telemetry/traces.js';
import { SENSORS } from './sensors/all.js';
import type { Sensor, SensorContext, SensorEnv, SensorInstance } from './sensors/sensor.js';
import { BPF_BUILD_DIR, ContainerRegistry } from './registry/index.js';
import { ResourceCollector } from './resources/index.js';
import { AnomalyMonitor } from './anomaly/index.js';

export { BPF_BUILD_DIR };
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

function effectiveCgroupMode(cfg: AgentConfig): CgroupMode {
  const detected = detectCgroupMode();
  if (cfg.cgroup_mode === 'v1') return 'v1';
  if (cfg.cgroup_mode === 'v2') return detected === 'v1' ? 'v1' : detected;
  return detected;
}

export async function startAgent(cfg: AgentConfig, opts: RunOptions): Promise<RunningAgent> {
  const { logger } = opts;
  const version = packageVersion();
  routeOtelDiagnostics(logger, resolveOtlpEndpoint(cfg, opts.env ?? process.env));
  routeLibbpfLog((level, line) => (level === 'warn' ? logger.warn(`libbpf: ${line}`) : logger.debug(`libbpf: ${line}`)));

  // Container attribution: which hierarchy's ids the kernel reports, and where to resolve them.
  const mode = effectiveCgroupMode(cfg);
  const hierarchy = cgroupHierarchyRoot(mode);
  const resolver = existsSync(hierarchy) ? new CgroupIdResolver(hierarchy) : null;
  let docker: DockerMetadataSource | null = null;
  if (cfg.docker.enabled) {
    const candidate = new DockerMetadataSource(cfg.docker.socket, logger);
    if (await candidate.available()) docker = candidate;
    else logger.warnOnce('no-docker', `no Docker daemon at ${cfg.docker.socket}: containers are identified by cgroup-derived ids only (no name, image or labels)`);
  }
  const containers = new ContainerAttributor({
    resolver,
    docker,
    metadataWaitMs: cfg.docker.metadata_wait_ms,
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
  const metrics = createMetrics(
    {
      resource,
      prometheus: prom.enabled ? { host: prom.host, port: prom.port, path: prom.path } : null,
      otlp: otlpEndpoint && cfg.outputs.otlp.metrics ? { endpoint: otlpEndpoint, intervalMs: cfg.outputs.otlp.export_interval_ms, headers: cfg.outputs.otlp.headers } : null,
    },
    version,
  );
  try {
    await metrics.ready;
  } catch (err) {
    await metrics.shutdown().catch(() => undefined);
    throw new AgentStartError(`prometheus endpoint ${prom.host}:${prom.port}: ${(err as Error).message}`);
  }
  const sinks: EventSink[] = [];
  const sinkNames: string[] = []; // the `output` attribute of each sink, in order
  if (cfg.outputs.console.enabled) sinks.push(new ConsoleSink());
  if (cfg.outputs.jsonl.enabled) {
    const j = cfg.outputs.jsonl;
    try {
      sinks.push(new JsonLinesSink(j.dir, j.max_file_bytes, j.max_files, (err) => logger.error(`jsonl ${j.dir}: ${err.message}`)));
    } catch (err) {
      await metrics.shutdown().catch(() => undefined);
      throw new AgentStartError(`log dir ${j.dir}: ${(err as Error).message}`);
    }
  }
  if (otlpEndpoint && cfg.outputs.otlp.logs) sinks.push(new OtlpLogSink(otlpEndpoint, cfg.outputs.otlp.headers, resource, metrics.provider, version));

  for (const s of sinks) sinkNames.push(s instanceof ConsoleSink ? 'console' : s instanceof JsonLinesSink ? 'jsonl' : 'otlp');
  metrics.meter
    .createObservableCounter('contguard.output.dropped', {
      unit: '{record}',
      description: 'Records an output dropped because its stream stayed congested past its buffer cap (8 MiB); OTLP drops are counted by the OTel SDK (otel.sdk.* metrics).',
    })
    .addCallback((result) => sinks.forEach((s, i) => result.observe(s.dropped, { output: sinkNames[i] })));
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
      ? new TraceOutput({ endpoint: otlpEndpoint, headers: cfg.outputs.otlp.headers, resource, version, meterProvider: metrics.provider })
      : null;
  const env: SensorEnv = { cgroupMode: mode, registryVariant: registry.variant };
  const ctx: SensorContext = {
    ...env,
    cgroups: resolver,
    config: cfg,
    logger,
    meter: metrics.meter,
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
        let instance: SensorInstance | null = null;
        try {
          obj.setRodata(commonRodata);
          registry.shareWith(obj);
          sensor.configure?.(obj, cfg, variant, env);
          obj.load();
          instance = sensor.start(obj, ctx, variant);
          const attached = obj.attachAll().map((p) => p.section);
          for (const c of instance.cgroupPrograms ?? []) {
            if (c.scope !== 'root') continue;
            obj.attachCgroup(c.program, hierarchy);
            attached.push(`${c.program} (cgroup root)`);
          }
          logger.info(`sensor ${sensor.name}${variant ? ` (${variant})` : ''}: attached ${attached.join(', ')}`);
        } catch (err) {
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
  if (resources) every('resource reads', cfg.resources.interval_ms, () => void resources.tick());
  for (const { instance } of loaded) for (const p of instance.periodic ?? []) every(p.name, p.intervalMs, p.run);
  if (anomaly) {
    const monitor = anomaly;
    every('anomaly windows', monitor.tickMs, () => monitor.tick());
  }
  poller.start();
  logger.info(`contguard ${version} running (cgroup ${mode}, ${sinks.length} event outputs${prom.enabled ? `, metrics on http://${prom.host}:${prom.port}${prom.path}` : ''})`);
  if (opts.readyFile) writeFileSync(opts.readyFile, `${process.pid}\n`);

  let stopping: Promise<void> | null = null;
  return {
    registryVariant: registry.variant,
    sensorVariants: Object.fromEntries(loaded.map((l) => [l.sensor.name, l.variant ?? null])),
    stop() {
      // Teardown order is part of the design: nothing reads mapped memory after it is released.
      stopping ??= (async () => {
        for (const t of timers) clearInterval(t);
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
        anomaly?.stop(); // learning progress to the state directory
        endBatch();
        docker?.stop();
        for (const s of sinks) await s.shutdown().catch((err: Error) => logger.warn(`output shutdown: ${err.message}`));
        await traces?.shutdown().catch((err: Error) => logger.warn(`trace output shutdown: ${err.message}`));
        await resources?.stop(); // no more reads; the cached values serve the last collection
        // The last collection (OTLP export, a scrape in flight) still reads the maps: they are
        // unmapped only after the meter provider is shut down.
        await metrics.shutdown().catch((err: Error) => logger.warn(`metrics shutdown: ${err.message}`));
        released = true;
        for (const l of loaded) l.instance.release?.();
        for (const links of cgroupLinks.values()) for (const link of links) link.detach();
        closeObjects(); // detaches every program, frees the maps
      })();
      return stopping;
    },
  };
}
