// SPDX-License-Identifier: Apache-2.0
/** The agent: loads every enabled sensor, attributes events to containers, feeds the outputs. */
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../ffi/bpf-object.js';
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
import { SENSORS } from './sensors/registry.js';
import type { SensorContext, SensorInstance } from './sensors/sensor.js';

export const BPF_BUILD_DIR = fileURLToPath(new URL('../../bpf/build/', import.meta.url));
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
  logger: AgentLogger;
  env?: NodeJS.ProcessEnv;
}

export interface RunningAgent {
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
  routeOtelDiagnostics(logger);
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
  docker?.watch((action, id, attrs) => containers.onRuntimeEvent(action, id, attrs));

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

  const inflight = new Set<Promise<unknown>>();
  const clockOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  const env = { cgroupMode: mode };
  const ctx: SensorContext = {
    ...env,
    cgroups: resolver,
    config: cfg,
    logger,
    meter: metrics.meter,
    containers,
    emit(record: EventRecord) {
      for (const s of sinks) s.write(record);
    },
    toUnixNano: (ns) => ns + clockOffset,
    track<T>(work: Promise<T>): Promise<T> {
      inflight.add(work);
      void work.finally(() => inflight.delete(work));
      return work;
    },
  };

  // Sensors: open, configure, load, attach, then wire their rings.
  const poller = new RingBufferPoller((err) => logger.error(`event handler: ${(err as Error).message}`));
  const objects: BpfObject[] = [];
  const instances: SensorInstance[] = [];
  const lossCounters: Array<{ sensor: string; fd: number }> = [];
  const closeAll = () => {
    poller.close();
    for (const o of objects) o.close();
  };
  try {
    for (const sensor of SENSORS) {
      if (!sensor.enabled(cfg)) continue;
      const variants: ReadonlyArray<string | undefined> = sensor.variants?.(cfg, env) ?? [undefined];
      for (let v = 0; v < variants.length; v++) {
        const variant = variants[v];
        const obj = BpfObject.open(`${BPF_BUILD_DIR}${sensor.name}.bpf.o`);
        let instance: SensorInstance | null = null;
        try {
          obj.setRodata({ cg_cgroup_mode: mode === 'v1' ? CG_CGROUP_MODE_V1 : CG_CGROUP_MODE_V2, cg_self_tgid: process.pid });
          sensor.configure?.(obj, cfg, variant, env);
          obj.load();
          instance = sensor.start(obj, ctx, variant);
          const attached = obj.attachAll();
          instance.afterAttach?.();
          logger.info(`sensor ${sensor.name}${variant ? ` (${variant})` : ''}: attached ${attached.map((p) => p.section).join(', ')}`);
        } catch (err) {
          await instance?.stop?.();
          obj.close();
          if (v === variants.length - 1) throw err;
          logger.warn(`sensor ${sensor.name}: ${variant} unavailable (${(err as Error).message}); falling back to ${variants[v + 1]}`);
          continue;
        }
        objects.push(obj);
        instances.push(instance);
        for (const ring of instance.rings) poller.add(`${sensor.name}/${ring.map}`, obj.mapFd(ring.map), ring.handle);
        for (const m of instance.lossMaps) lossCounters.push({ sensor: sensor.name, fd: obj.mapFd(m) });
        break;
      }
    }
  } catch (err) {
    for (const i of instances) await i.stop?.();
    closeAll();
    await metrics.shutdown().catch(() => undefined);
    throw new AgentStartError((err as Error).message);
  }
  metrics.meter
    .createObservableCounter('contguard.events.lost', {
      unit: '{event}',
      description: 'Events the kernel could not deliver because the ring buffer was full.',
    })
    .addCallback((result) => {
      for (const c of lossCounters) result.observe(Number(readPerCpuCounter(c.fd)), { sensor: c.sensor });
    });
  poller.start();
  logger.info(`contguard ${version} running (cgroup ${mode}, ${sinks.length} event outputs${prom.enabled ? `, metrics on http://${prom.host}:${prom.port}${prom.path}` : ''})`);
  if (opts.readyFile) writeFileSync(opts.readyFile, `${process.pid}\n`);

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        poller.close(); // drains what is left in the rings
        for (const i of instances) await i.stop?.();
        await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, cfg.docker.metadata_wait_ms + 500))]);
        for (const o of objects) o.close(); // detaches every program
        docker?.stop();
        for (const s of sinks) await s.shutdown().catch((err: Error) => logger.warn(`output shutdown: ${err.message}`));
        await metrics.shutdown().catch((err: Error) => logger.warn(`metrics shutdown: ${err.message}`));
      })();
      return stopping;
    },
  };
}
