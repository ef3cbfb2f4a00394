// SPDX-License-Identifier: Apache-2.0
/** The contract every sensor fulfils: one bpf/<name>.bpf.c plus one src/sensors/<name>/ module. */
import type { Meter } from '@opentelemetry/api';
import type { BpfObject } from '../../ffi/bpf-object.js';
import type { AgentConfig } from '../config.js';
import type { AgentLogger } from '../log.js';
import type { ContainerAttributor } from '../containers/attributor.js';
import type { CgroupIdResolver, CgroupMode } from '../containers/cgroup-fs.js';
import type { EventRecord } from '../telemetry/record.js';

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
}

/** A ring buffer the sensor reads: map name and the handler of each record. */
export interface RingSpec {
  map: string;
  handle(record: Uint8Array): void;
}

export interface SensorInstance {
  /** Ring buffers to drain; the agent adds them to its one poller. */
  rings: RingSpec[];
  /** Per-CPU loss counter maps (ring buffer full), exported as contguard.events.lost. */
  lossMaps: string[];
  /** After every program is attached (e.g. seed state for what already runs). */
  afterAttach?(): void;
  stop?(): Promise<void> | void;
}

export interface Sensor {
  /** snake_case id: folder, .bpf.o stem and the `sensor` attribute. */
  readonly name: string;
  readonly telemetry: TelemetrySpec;
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
