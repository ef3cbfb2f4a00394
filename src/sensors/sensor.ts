// SPDX-License-Identifier: Apache-2.0
/** The contract every sensor fulfils: one bpf/<name>.bpf.c plus one src/sensors/<name>/ module. */
import type { Meter } from '@opentelemetry/api';
import type { BpfObject } from '../../ffi/bpf-object.js';
import type { AgentConfig } from '../config.js';
import type { AgentLogger } from '../log.js';
import type { ContainerAttributor } from '../containers/attributor.js';
import type { DockerMetadataSource } from '../containers/docker-metadata.js';
import type { CgroupIdResolver, CgroupMode } from '../containers/cgroup-fs.js';
import type { EventRecord } from '../telemetry/record.js';
import type { RegistryEntry, RegistryVariant } from '../registry/index.js';
import type { TraceOutput } from '../telemetry/traces.js';

/** Documents one metric or log event; README's telemetry table is rendered from these. */
export interface MetricSpec {
  name: string;
  instrument: 'counter' | 'updowncounter' | 'gauge' | 'histogram';
  unit: string;
  description: string;
  attributes: string[];
}
export interface EventSpec {
  name: string;
  severity: string;
  description: string;
  attributes: Record<string, string>;
}
export interface TelemetrySpec {
  metrics: MetricSpec[];
  events: EventSpec[];
}

/** Host facts a sensor may need before load. */
export interface SensorEnv {
  cgroupMode: CgroupMode;
  /** How the shared container registry tracks tasks: the variant a sensor's programs must match. */
  registryVariant: RegistryVariant;
  /** Sensors loaded so far (the agent loads them in SENSORS order), with the variant each loaded. */
  loaded: ReadonlyMap<string, string | undefined>;
}

export interface SensorContext extends SensorEnv {
  config: AgentConfig;
  /** Walks the hierarchy whose ids the kernel reports (null when it is not mounted). */
  cgroups: CgroupIdResolver | null;
  logger: AgentLogger;
  meter: Meter;
  containers: ContainerAttributor;
  emit(record: EventRecord): void;
  /** Registers work that must finish before shutdown flushes the outputs (e.g. attribution). */
  track<T>(work: Promise<T>): Promise<T>;
  /** Kernel CLOCK_MONOTONIC nanoseconds -> wall-clock nanoseconds since the epoch. */
  toUnixNano(monotonicNs: bigint): bigint;
  /** Containers the in-kernel registry tracks now, by slot. */
  registryEntries: ReadonlyMap<number, RegistryEntry>;
  /** The Docker metadata source, when a daemon answers (network addresses, published ports). */
  docker: DockerMetadataSource | null;
  /** The span output (OTLP traces), when traces are exported; absent or null otherwise. */
  traces?: TraceOutput | null;
}

/**
 * A ring buffer the sensor streams: map name and the handler of each record. The record is a
 * view of ring memory, valid only during the call: decode it there, keep no reference.
 */
export interface RingSpec {
  map: string;
  handle(record: Uint8Array): void;
}

/** Work the agent runs every intervalMs (map reads, snapshots); stopped before anything is released. */
export interface PeriodicSpec {
  name: string;
  intervalMs: number;
  run(): void;
}

/**
 * A cgroup program (cgroup_skb/, cgroup/sock_create, cgroup/connect4...): attached once at the
 * root of the container hierarchy, or to each container's cgroup as the registry tracks it
 * (and detached when it goes). attachAll() never attaches these.
 */
export interface CgroupProgramSpec {
  program: string;
  scope: 'root' | 'container';
}

/**
 * What a running sensor declares; the agent does the rest. Two ways to get data out of the
 * kernel, both declared here: `rings` (streamed events) and `periodic` (maps read on a timer).
 * Teardown order, run by the agent: beforeFinalDrain(), rings drained and closed, periodic work stopped, stop()
 * (final reads), outputs and metrics flushed and shut down, release() (unmap), detach, close.
 */
export interface SensorInstance {
  /** Ring buffers to drain; the agent adds them to its one poller. */
  rings: RingSpec[];
  /** Periodic map reads. */
  periodic?: PeriodicSpec[];
  /** Hooks its programs run on without an attachment of their own (a tail call), for the log. */
  reachedVia?: string[];
  /** Cgroup programs to attach per container or at the hierarchy root. */
  cgroupPrograms?: CgroupProgramSpec[];
  /** Per-CPU loss counter maps (ring buffer full, slot 0), exported as contguard.events.lost. */
  lossMaps: string[];
  /** A container got a registry slot / its cgroup is gone (final reads; the slot is freed after). */
  onContainerTracked?(entry: RegistryEntry): void;
  onContainerRemoved?(entry: RegistryEntry): void;
  /** A container runtime event (Docker: type container or network, and its action). */
  onRuntimeEvent?(type: string, action: string, id: string, attributes: Record<string, string>): void;
  /**
   * Entries in each of the sensor's per-container caches (e.g. `recordings`), exported as
   * contguard.agent.cache.entries{cache="<sensor>.<name>"}: a leak shows as growth there.
   */
  cacheSizes?(): Record<string, number>;
  /** At shutdown, before the rings' last drain: push what the kernel still holds into them. */
  beforeFinalDrain?(): void;
  /** Final reads and records (memory is still mapped; observable callbacks may still run). */
  stop?(): Promise<void> | void;
  /** After metrics shut down: nothing reads this sensor's memory any more; unmap it. */
  release?(): void;
}

export interface Sensor {
  /** snake_case id: folder, .bpf.o stem and the `sensor` attribute. */
  readonly name: string;
  /** The compiled object; default bpf/build/<name>.bpf.o (tests load their own). */
  readonly objectPath?: string;
  readonly telemetry: TelemetrySpec;
  /** 'traces': spans are its only output: not loaded when no trace exporter exists (no OTLP endpoint). */
  readonly output?: 'traces';
  enabled(config: AgentConfig): boolean;
  /**
   * Alternative program sets, tried in order until one loads and attaches: a hook this
   * kernel lacks degrades to the next one (logged), e.g. tp_btf then raw_tracepoint.
   */
  variants?(config: AgentConfig, env: SensorEnv): readonly string[];
  /** Before load: .rodata, map sizes, which programs load (per variant). */
  configure?(obj: BpfObject, config: AgentConfig, variant: string | undefined, env: SensorEnv): void;
  /** After load, before attach: prepare maps, wire decoding and telemetry. */
  start(obj: BpfObject, ctx: SensorContext, variant: string | undefined): SensorInstance;
}
