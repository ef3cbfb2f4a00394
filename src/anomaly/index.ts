// SPDX-License-Identifier: Apache-2.0
/**
 * The anomaly detector in the agent. It sees every record the outputs get (the agent's emit
 * calls {@link AnomalyMonitor.observe}), and on a timer ends each container's window by emitting
 * a `contguard.anomaly.window` record carrying the container's resource counters (from the
 * resource collector's last read). That record reaches the outputs and, through the same emit,
 * the feature extractor, which closes the window: the live path and the offline replay of JSON
 * lines run the same code on the same records.
 */
import type { Meter, ObservableGauge } from '@opentelemetry/api';
import type { AgentConfig } from '../config.js';
import type { AgentLogger } from '../log.js';
import type { RegistryEntry } from '../registry/index.js';
import type { ResourceSample } from '../resources/cgroup-stats.js';
import type { EventRecord } from '../telemetry/record.js';
import { metricAttributes } from '../telemetry/container-attributes.js';
import { forgetSeries } from '../telemetry/forget-series.js';
import { nanosToIso } from '../telemetry/jsonl-sink.js';
import { AnomalyDetector, FileModelStore, type DetectorOptions, type WindowResult } from './detector.js';
import { ANOMALY_ALERT_EVENT, ANOMALY_WINDOW_EVENT, FeatureExtractor, WINDOW_ATTRS, containerOf, type ObservedRecord } from './features.js';
import { fmt } from './model.js';
import { ANOMALY_SCORE_GAUGE, anomalyTelemetry } from './telemetry.js';

export { anomalyTelemetry };

/** The detector's settings from the `anomaly` config section. */
export function detectorOptions(cfg: AgentConfig['anomaly']): DetectorOptions {
  return {
    windowSeconds: cfg.window_seconds,
    learningWindows: cfg.learning_windows,
    threshold: cfg.threshold,
    retrainWindows: cfg.retrain_windows,
    adaptive: {
      enabled: cfg.adaptive_period.enabled,
      minWindowSeconds: Math.min(cfg.adaptive_period.min_window_seconds, cfg.window_seconds),
      band: cfg.adaptive_period.band,
      relaxWindows: cfg.adaptive_period.relax_windows,
    },
    model: {
      trees: cfg.trees,
      sampleSize: cfg.sample_size,
      seed: cfg.seed,
      topSyscalls: cfg.top_syscalls,
      damping: cfg.damping.enabled,
      medianWindows: cfg.damping.median_windows,
      sharePrior: cfg.damping.share_prior,
      weighted: cfg.weighted_features.enabled,
      noveltyMargin: cfg.weighted_features.novelty_margin,
      noveltyWeight: cfg.weighted_features.novelty_weight,
      modifiedPath: cfg.modified_path_length.enabled,
      rangeMargin: cfg.modified_path_length.range_margin,
      rootRange: cfg.modified_path_length.root_range,
      noiseFloors: {
        share: cfg.noise_floor.syscall_share,
        cpuMs: cfg.noise_floor.cpu_ms_per_second,
        diskBytes: cfg.noise_floor.disk_bytes_per_second,
        networkBytes: cfg.noise_floor.network_bytes_per_second,
        throttledMs: cfg.noise_floor.throttled_ms_per_second,
      },
      quietAsBaseline: cfg.quiet_as_baseline,
      explainFeatures: cfg.explain_features,
    },
  };
}

/** The alert record of a window that passed the threshold. */
export interface TraceRef {
  traceId: string;
  spanId?: string;
  traceFlags?: number;
}

export function alertRecord(r: WindowResult, containerAttributes: Readonly<Record<string, unknown>>, trace: TraceRef | null): EventRecord {
  const s = r.summary;
  const features = r.explanation ?? [];
  const attributes: EventRecord['attributes'] = {};
  for (const [k, v] of Object.entries(containerAttributes)) if (k.startsWith('container.')) attributes[k] = v as EventRecord['attributes'][string];
  Object.assign(attributes, {
    'contguard.anomaly.score': Number(r.score!.toFixed(4)),
    'contguard.anomaly.threshold': r.threshold,
    'contguard.anomaly.window_seconds': Number(s.seconds.toFixed(3)),
    'contguard.anomaly.window_end': nanosToIso(BigInt(s.endMs) * 1_000_000n),
    'contguard.anomaly.features': features.map((f) => f.text),
    'contguard.anomaly.feature_values': Object.fromEntries(features.map((f) => [f.feature, Number(f.value.toPrecision(6))])),
  });
  return {
    eventName: ANOMALY_ALERT_EVENT,
    timeUnixNano: BigInt(Date.now()) * 1_000_000n,
    severity: 'WARN',
    body: `anomalous window in ${s.containerName} (score ${fmt(r.score!)} >= ${r.threshold}): ${features.map((f) => f.text).join('; ')}`,
    attributes,
    ...(trace ? { traceId: trace.traceId, ...(trace.spanId ? { spanId: trace.spanId, traceFlags: trace.traceFlags } : {}) } : {}),
  };
}

export interface AnomalyContext {
  config: AgentConfig;
  logger: AgentLogger;
  meter: Meter;
  registryEntries: ReadonlyMap<number, RegistryEntry>;
  emit(record: EventRecord): void;
}

interface Live {
  entry: RegistryEntry;
  startedMs: number;
  attributes: Readonly<Record<string, unknown>>;
}

export class AnomalyMonitor {
  readonly detector: AnomalyDetector;
  private readonly extractor = new FeatureExtractor();
  private readonly live = new Map<string, Live>();
  private readonly scores = new Map<string, { score: number; attributes: Record<string, string> }>();
  /** The last exec span of each container's process tree (the trace an alert points to). */
  private readonly traceOf = new Map<string, TraceRef>();
  private readonly gauge: ObservableGauge;
  /** How often windows are checked for their end, ms. */
  readonly tickMs: number;

  constructor(
    private readonly ctx: AnomalyContext,
    private readonly resources: { latest(cgroupId: bigint): ResourceSample | null } | null,
    private readonly now: () => number = Date.now,
  ) {
    const cfg = ctx.config.anomaly;
    const opts = detectorOptions(cfg);
    const store = new FileModelStore(cfg.state_dir, (m) => ctx.logger.warn(m));
    this.detector = new AnomalyDetector(opts, store, (m) => ctx.logger.warn(m));
    this.tickMs = Math.max(250, Math.round(1000 * (opts.adaptive.enabled ? opts.adaptive.minWindowSeconds : opts.windowSeconds)));
    this.gauge = ctx.meter.createObservableGauge(ANOMALY_SCORE_GAUGE, { unit: '1', description: anomalyTelemetry.metrics[0]!.description });
    this.gauge.addCallback((result) => {
      for (const s of this.scores.values()) result.observe(s.score, s.attributes);
    });
  }

  /** Every record the outputs get (the window records this monitor emits included). */
  observe(record: ObservedRecord & { spanId?: string; traceFlags?: number }): void {
    if (record.eventName === ANOMALY_ALERT_EVENT) return;
    if (record.traceId && record.eventName === 'contguard.process.exec') {
      const c = containerOf(record.attributes);
      if (c) this.traceOf.set(c.id, { traceId: record.traceId, spanId: record.spanId, traceFlags: record.traceFlags });
    }
    const closed = this.extractor.observe(record);
    if (!closed) return;
    let result: WindowResult | null;
    try {
      result = this.detector.window(closed);
    } catch (err) {
      this.ctx.logger.warnOnce(`anomaly-window-${(err as Error).message}`, `anomaly: ${(err as Error).message}`);
      return;
    }
    if (!result) return;
    const id = result.summary.containerId;
    if (result.phase === 'trained') this.ctx.logger.info(`anomaly: learned the model of image ${result.summary.image} (${this.ctx.config.anomaly.learning_windows} windows)`);
    if (result.score === null) return;
    this.scores.set(id, { score: result.score, attributes: metricAttributes(record.attributes) });
    if (result.explanation) this.ctx.emit(alertRecord(result, record.attributes, this.traceOf.get(id) ?? null));
  }

  /** Ends the windows that reached their container's period (run every tickMs). */
  tick(): void {
    const now = this.now();
    const seen = new Set<string>();
    for (const entry of this.ctx.registryEntries.values()) {
      const c = entry.container;
      if (!c || seen.has(c.id)) continue;
      seen.add(c.id);
      let l = this.live.get(c.id);
      if (!l) {
        this.live.set(c.id, { entry, startedMs: now, attributes: c.attributes });
        continue;
      }
      l.entry = entry;
      l.attributes = c.attributes;
      const seconds = (now - l.startedMs) / 1000;
      if (seconds < this.detector.periodOf(c.id) * 0.95) continue;
      l.startedMs = now;
      this.ctx.emit(this.windowRecord(l, seconds, now));
    }
    for (const id of [...this.live.keys()]) {
      if (seen.has(id)) continue;
      this.live.delete(id);
      this.extractor.forget(id);
      this.detector.forget(id);
      this.traceOf.delete(id);
      if (this.scores.delete(id)) forgetSeries(this.gauge, (a) => a['container.id'] === id);
    }
  }

  /** Writes learning progress to the state directory (at shutdown). */
  stop(): void {
    this.detector.flush();
  }

  private windowRecord(l: Live, seconds: number, now: number): EventRecord {
    const s = this.resources?.latest(l.entry.cgroupId) ?? null;
    const counters: Record<string, number> = {};
    if (s?.cpu) counters[WINDOW_ATTRS.cpuSeconds] = s.cpu.user + s.cpu.system;
    if (s?.memory) counters[WINDOW_ATTRS.memoryBytes] = s.memory.workingSet ?? s.memory.usage;
    if (s?.disk) counters[WINDOW_ATTRS.diskBytes] = s.disk.read + s.disk.write;
    if (s?.throttling) counters[WINDOW_ATTRS.throttledSeconds] = s.throttling.throttledTime;
    if (s?.pids !== undefined) counters[WINDOW_ATTRS.tasks] = s.pids;
    return {
      eventName: ANOMALY_WINDOW_EVENT,
      timeUnixNano: BigInt(now) * 1_000_000n,
      severity: 'INFO',
      body: `window of ${seconds.toFixed(1)} s`,
      attributes: { ...(l.attributes as EventRecord['attributes']), [WINDOW_ATTRS.seconds]: Number(seconds.toFixed(3)), ...counters },
    };
  }
}
