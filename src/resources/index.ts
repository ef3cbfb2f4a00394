// SPDX-License-Identifier: Apache-2.0
/**
 * Per-container resource metrics (CPU time and throttling, memory, disk I/O, tasks, memory
 * events, pressure stall information) read from the cgroup files of every container the
 * registry tracks.
 *
 * The agent runs {@link ResourceCollector.tick} every `resources.interval_ms`: it reads each
 * container's files (asynchronously, one file at a time, at most 80 % of the interval per tick;
 * containers not reached are read first next time) and caches the values. Observable instruments
 * report the cache at collection (a Prometheus scrape, an OTLP export): values are at most one
 * interval old, and a container gets its first values at the first tick after the registry
 * tracks it. When the registry drops a container its last values stay `resources.retire_after_ms`,
 * then its series go (see forget-series.ts for why that needs more than not observing them).
 */
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { AgentLogger } from '../log.js';
import type { CgroupIdResolver } from '../containers/cgroup-fs.js';
import type { RegistryEntry } from '../registry/index.js';
import { METRIC_ATTRIBUTE_KEYS, metricAttributes } from '../telemetry/container-attributes.js';
import { detectLayout, dirsComplete, readCgroupFile, readSample, resolveContainerDirs, type CgroupLayout, type ContainerDirs, type FileReader, type ResourceSample } from './cgroup-stats.js';
import { canForgetSeries, forgetSeries } from '../telemetry/forget-series.js';

export { resourcesTelemetry } from './telemetry.js';

/** What the collector needs from the agent (a subset of the SensorContext). */
export interface ResourceContext {
  meter: Meter;
  logger: AgentLogger;
  /** Maps registry cgroup ids to paths in the hierarchy the kernel's ids come from (null: not mounted). */
  cgroups: Pick<CgroupIdResolver, 'hierarchyRoot' | 'resolveAsync'> | null;
  registryEntries: ReadonlyMap<number, RegistryEntry>;
}

/** The `resources` config section (enabled is the agent's business). */
export interface ResourceSettings {
  interval_ms: number;
  retire_after_ms: number;
}

/** Test seams: another cgroup root, /proc, clock and file reader. */
export interface ResourceTestOptions {
  root?: string;
  procRoot?: string;
  now?: () => number;
  read?: FileReader;
}

/** Directory lookups tried per container before the directories found are taken as final. */
const MAX_RESOLVE_ATTEMPTS = 3;
/** stop() waits at most this long for a tick in progress. */
const STOP_WAIT_MS = 2000;

interface Tracked {
  entry: RegistryEntry;
  /** Path in the id hierarchy (null until resolved). */
  rel: string | null;
  dirs: ContainerDirs | null;
  resolveAttempts: number;
  sample: ResourceSample | null;
  /** When the registry no longer had it (ms), null while it does. */
  goneAt: number | null;
  /** The container attributes its series were last observed with (JSON), to forget a superseded set. */
  seriesKey: string | null;
}

export class ResourceCollector {
  private readonly tracked = new Map<bigint, Tracked>();
  private readonly instruments: Observable[];
  private readonly canForget: boolean;
  private readonly root: string;
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly read: FileReader;
  private layout: CgroupLayout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private cursor = 0;

  private readonly cpuTime;
  private readonly memoryUsage;
  private readonly memoryWorkingSet;
  private readonly memoryRss;
  private readonly diskIo;
  private readonly pids;
  private readonly cpuPeriods;
  private readonly throttledPeriods;
  private readonly throttledTime;
  private readonly memoryEvents;
  private readonly pressure;
  private readonly stallTime;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly settings: ResourceSettings,
    test: ResourceTestOptions = {},
  ) {
    this.root = test.root ?? '/sys/fs/cgroup';
    this.procRoot = test.procRoot ?? '/proc';
    this.now = test.now ?? Date.now;
    this.read = test.read ?? readCgroupFile;
    const m = ctx.meter;
    this.cpuTime = m.createObservableCounter('container.cpu.time', {
      unit: 's',
      description: 'CPU time the container used, by cpu.mode (user, system), the modes adding up to its run time: cgroup v2 (and hybrid) cpu.stat user_usec/system_usec, v1 cpuacct.stat (10 ms steps).',
    });
    this.memoryUsage = m.createObservableUpDownCounter('container.memory.usage', {
      unit: 'By',
      description: 'Memory the container uses, page cache included: cgroup v2 memory.current, v1 memory.usage_in_bytes.',
    });
    this.memoryWorkingSet = m.createObservableUpDownCounter('container.memory.working_set', {
      unit: 'By',
      description: 'Memory usage minus inactive file pages (what docker stats and the kubelet show): v2 memory.stat inactive_file, v1 total_inactive_file.',
    });
    this.memoryRss = m.createObservableUpDownCounter('container.memory.rss', {
      unit: 'By',
      description: 'Anonymous memory of the container (no page cache, no tmpfs): v2 memory.stat anon, v1 total_rss.',
    });
    this.diskIo = m.createObservableCounter('container.disk.io', {
      unit: 'By',
      description: 'Bytes the container read from and wrote to block devices, summed over devices, by disk.io.direction (read, write): v2 io.stat rbytes/wbytes, v1 blkio.throttle.io_service_bytes_recursive.',
    });
    this.pids = m.createObservableGauge('contguard.container.pids', {
      unit: '{task}',
      description: 'Tasks (processes and threads) in the container: pids.current.',
    });
    this.cpuPeriods = m.createObservableCounter('contguard.container.cpu.periods', {
      unit: '{period}',
      description: 'CFS bandwidth periods elapsed while the container ran under a CPU quota (cpu.stat nr_periods; 0 without a quota).',
    });
    this.throttledPeriods = m.createObservableCounter('contguard.container.cpu.throttled_periods', {
      unit: '{period}',
      description: 'CFS bandwidth periods in which the container was throttled because it used up its CPU quota (cpu.stat nr_throttled).',
    });
    this.throttledTime = m.createObservableCounter('contguard.container.cpu.throttled_time', {
      unit: 's',
      description: 'Time the container was throttled by its CPU quota: v2 cpu.stat throttled_usec, v1 throttled_time.',
    });
    this.memoryEvents = m.createObservableCounter('contguard.container.memory.events', {
      unit: '{event}',
      description: 'Memory limit events, by event: oom (the limit was hit and reclaim failed; cgroup v2 only) and oom_kill (a process was killed by the OOM killer): v2 memory.events, v1 memory.oom_control.',
    });
    this.pressure = m.createObservableGauge('contguard.container.pressure', {
      unit: '%',
      description: 'Pressure stall information: share of the last 10 s in which some (or, for full, all) tasks of the container waited for the resource (cpu, memory, io): cpu/memory/io.pressure avg10 (cgroup v2 and hybrid hosts).',
    });
    this.stallTime = m.createObservableCounter('contguard.container.pressure.stall_time', {
      unit: 's',
      description: 'Total time some (or all, for full) tasks of the container waited for the resource (cpu, memory, io): cpu/memory/io.pressure total.',
    });
    this.instruments = [
      this.cpuTime,
      this.memoryUsage,
      this.memoryWorkingSet,
      this.memoryRss,
      this.diskIo,
      this.pids,
      this.cpuPeriods,
      this.throttledPeriods,
      this.throttledTime,
      this.memoryEvents,
      this.pressure,
      this.stallTime,
    ];
    this.canForget = this.instruments.every(canForgetSeries);
    if (!this.canForget) {
      ctx.logger.warnOnce('resources-forget', 'resources: this OpenTelemetry SDK keeps exporting the series of removed containers (resources.retire_after_ms has no effect)');
    }
    m.addBatchObservableCallback((r) => this.observe(r), this.instruments);
  }

  /** One periodic read of every tracked container (never two at once; never rejects). */
  tick(): Promise<void> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve();
    const run = this.readAll()
      .catch((err: Error) => this.ctx.logger.error(`resources: ${err.message}`))
      .finally(() => {
        this.running = null;
      });
    this.running = run;
    return run;
  }

  /** No more reads (the cached values stay for the last collection). Waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = this.running;
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** The last values read for a registry cgroup (null before its first read); the anomaly detector's input. */
  latest(cgroupId: bigint): ResourceSample | null {
    return this.tracked.get(cgroupId)?.sample ?? null;
  }

  /** Containers whose values are cached, live or retiring (tests, diagnostics). */
  get size(): number {
    return this.tracked.size;
  }

  /** Follows the registry: new entries tracked, gone ones retired and, after the grace, forgotten. */
  private sweep(now: number): void {
    const live = new Set<bigint>();
    for (const entry of this.ctx.registryEntries.values()) {
      live.add(entry.cgroupId);
      const t = this.tracked.get(entry.cgroupId);
      if (!t) this.tracked.set(entry.cgroupId, { entry, rel: null, dirs: null, resolveAttempts: 0, sample: null, goneAt: null, seriesKey: null });
      else t.entry = entry;
    }
    const expired: string[] = [];
    for (const [cgroupId, t] of this.tracked) {
      if (live.has(cgroupId)) continue;
      t.goneAt ??= now;
      if (now - t.goneAt < this.settings.retire_after_ms) continue;
      this.tracked.delete(cgroupId);
      if (t.entry.container) expired.push(t.entry.container.id);
    }
    for (const id of expired) {
      if ([...this.tracked.values()].some((t) => t.entry.container?.id === id)) continue; // a restart: same id, new cgroup
      this.forget((a) => a['container.id'] === id);
    }
  }

  private forget(match: (attributes: Attributes) => boolean): void {
    if (!this.canForget) return;
    for (const i of this.instruments) forgetSeries(i, match);
  }

  private async readAll(): Promise<void> {
    const cgroups = this.ctx.cgroups;
    if (!cgroups) {
      this.ctx.logger.warnOnce('resources-no-cgroups', 'resources: the cgroup hierarchy is not mounted: no per-container resource metrics');
      return;
    }
    this.layout ??= await detectLayout(this.root);
    const layout = this.layout;
    const started = Date.now();
    this.sweep(this.now());
    const due = [...this.tracked.values()].filter((t) => t.goneAt === null && t.entry.container !== null);
    const budget = Math.max(50, Math.floor(this.settings.interval_ms * 0.8));
    let done = 0;
    for (; done < due.length; done++) {
      if (this.stopped) return;
      if (Date.now() - started > budget) {
        this.ctx.logger.warnOnce('resources-slow', `resources: reading ${due.length} containers took longer than ${budget} ms; the rest are read first next time`);
        break;
      }
      await this.readOne(due[(this.cursor + done) % due.length], layout, cgroups);
    }
    this.cursor = due.length ? (this.cursor + done) % due.length : 0;
  }

  private async readOne(t: Tracked, layout: CgroupLayout, cgroups: NonNullable<ResourceContext['cgroups']>): Promise<void> {
    try {
      if (t.rel === null) {
        t.rel = await cgroups.resolveAsync(t.entry.cgroupId, { name: t.entry.ref.name, parentName: t.entry.ref.parentName });
        if (t.rel === null) return;
      }
      if (!t.dirs || (t.resolveAttempts < MAX_RESOLVE_ATTEMPTS && !dirsComplete(layout, t.dirs))) {
        t.resolveAttempts++;
        t.dirs = await resolveContainerDirs(layout, cgroups.hierarchyRoot, t.rel, this.procRoot);
      }
      const fresh = await readSample(layout, t.dirs, this.read);
      // A group missing now (a cgroup removed while the registry still has it) keeps its last values.
      t.sample = { ...t.sample, ...fresh };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      this.ctx.logger.warnOnce(`resources-read-${code}`, `resources: ${(err as Error).message}`);
    }
  }

  /** The collection callback: cached values, one set of series per container id. */
  private observe(r: BatchObservableResult): void {
    this.sweep(this.now());
    const chosen = new Map<string, Tracked>();
    for (const t of this.tracked.values()) {
      const id = t.entry.container?.id;
      if (!id || !t.sample) continue;
      const other = chosen.get(id);
      if (!other || preferred(t, other)) chosen.set(id, t);
    }
    for (const [id, t] of chosen) {
      const base = metricAttributes(t.entry.container!.attributes);
      const key = JSON.stringify(base);
      if (t.seriesKey !== null && t.seriesKey !== key) {
        // New metadata (a late inspect, a rename): the series under the old attributes end here.
        this.forget((a) => a['container.id'] === id && METRIC_ATTRIBUTE_KEYS.some((k) => a[k] !== base[k]));
      }
      t.seriesKey = key;
      const s = t.sample!;
      if (s.cpu) {
        r.observe(this.cpuTime, s.cpu.user, { ...base, 'cpu.mode': 'user' });
        r.observe(this.cpuTime, s.cpu.system, { ...base, 'cpu.mode': 'system' });
      }
      if (s.memory) {
        r.observe(this.memoryUsage, s.memory.usage, base);
        if (s.memory.workingSet !== undefined) r.observe(this.memoryWorkingSet, s.memory.workingSet, base);
        if (s.memory.rss !== undefined) r.observe(this.memoryRss, s.memory.rss, base);
      }
      if (s.disk) {
        r.observe(this.diskIo, s.disk.read, { ...base, 'disk.io.direction': 'read' });
        r.observe(this.diskIo, s.disk.write, { ...base, 'disk.io.direction': 'write' });
      }
      if (s.pids !== undefined) r.observe(this.pids, s.pids, base);
      if (s.throttling) {
        r.observe(this.cpuPeriods, s.throttling.periods, base);
        r.observe(this.throttledPeriods, s.throttling.throttledPeriods, base);
        r.observe(this.throttledTime, s.throttling.throttledTime, base);
      }
      if (s.memoryEvents?.oom !== undefined) r.observe(this.memoryEvents, s.memoryEvents.oom, { ...base, event: 'oom' });
      if (s.memoryEvents?.oomKill !== undefined) r.observe(this.memoryEvents, s.memoryEvents.oomKill, { ...base, event: 'oom_kill' });
      for (const p of s.pressure ?? []) {
        const a = { ...base, resource: p.resource, 'contguard.pressure.kind': p.kind };
        r.observe(this.pressure, p.avg10, a);
        r.observe(this.stallTime, p.stallTime, a);
      }
    }
  }
}

/**
 * Which of two cgroups of one container id reports it: a live one before a retiring one (a
 * restarted container), then the outermost (its counters include the nested ones), then the
 * most recently gone.
 */
function preferred(a: Tracked, b: Tracked): boolean {
  if ((a.goneAt === null) !== (b.goneAt === null)) return a.goneAt === null;
  if (a.goneAt === null) return (a.rel?.length ?? Infinity) < (b.rel?.length ?? Infinity);
  return a.goneAt > (b.goneAt ?? 0);
}
