// SPDX-License-Identifier: Apache-2.0
/**
 * Feature extraction: turns the records every output receives (exec, file open, network,
 * syscall snapshots, and the detector's own `contguard.anomaly.window` records that carry the
 * resource counters and mark where a window ends) into one summary per container per window.
 * The live agent and the offline replay of JSON lines feed the same records through this
 * module, so both see the same windows and the same features.
 */

export const ANOMALY_WINDOW_EVENT = 'contguard.anomaly.window';
export const ANOMALY_ALERT_EVENT = 'contguard.anomaly';

/** Attributes of a `contguard.anomaly.window` record (the counters are cumulative, per container). */
export const WINDOW_ATTRS = {
  seconds: 'contguard.anomaly.window_seconds',
  cpuSeconds: 'contguard.anomaly.cpu_seconds',
  memoryBytes: 'contguard.anomaly.memory_bytes',
  diskBytes: 'contguard.anomaly.disk_bytes',
  throttledSeconds: 'contguard.anomaly.throttled_seconds',
  tasks: 'contguard.anomaly.tasks',
} as const;

/** The parts of a record the extractor reads (an EventRecord, or a JSON line parsed back). */
export interface ObservedRecord {
  eventName: string;
  timeUnixNano: bigint;
  attributes: Readonly<Record<string, unknown>>;
  traceId?: string;
}

/** What one container did in one window (raw counts; the model turns it into a vector). */
export interface WindowSummary {
  containerId: string;
  containerName: string;
  /** The model key: containers of one image share a model. */
  image: string;
  /** Window end, ms since the epoch, and length in seconds. */
  endMs: number;
  seconds: number;
  /** Workload syscalls by name in the window. */
  syscalls: Map<string, number>;
  execs: number;
  /** Executables started, by path, with counts. */
  executables: Map<string, number>;
  /** Deepest process in the window's execs (1: a child of a process not seen exec). */
  treeDepth: number;
  sensitiveOpens: number;
  hostSharedOpens: number;
  connections: number;
  /** Outbound peers (peer image, or address:port), with counts. */
  peers: Map<string, number>;
  failedConnects: number;
  policyViolations: number;
  /** Bytes of TCP connections that closed in the window (sent + received). */
  networkBytes: number;
  cpuSeconds: number;
  memoryBytes: number;
  diskBytes: number;
  throttledSeconds: number;
  tasks: number;
  /** Trace id of the container's process tree (last exec record carrying one). */
  traceId: string | null;
}

export function emptySummary(containerId: string, containerName: string, image: string): WindowSummary {
  return {
    containerId,
    containerName,
    image,
    endMs: 0,
    seconds: 0,
    syscalls: new Map(),
    execs: 0,
    executables: new Map(),
    treeDepth: 0,
    sensitiveOpens: 0,
    hostSharedOpens: 0,
    connections: 0,
    peers: new Map(),
    failedConnects: 0,
    policyViolations: 0,
    networkBytes: 0,
    cpuSeconds: 0,
    memoryBytes: 0,
    diskBytes: 0,
    throttledSeconds: 0,
    tasks: 0,
    traceId: null,
  };
}

function addAll(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

/** Folds `b` (the later window) into `a`: counts add, levels (memory, tasks) take the later value. */
export function mergeInto(a: WindowSummary, b: WindowSummary): void {
  addAll(a.syscalls, b.syscalls);
  addAll(a.executables, b.executables);
  addAll(a.peers, b.peers);
  a.execs += b.execs;
  a.treeDepth = Math.max(a.treeDepth, b.treeDepth);
  a.sensitiveOpens += b.sensitiveOpens;
  a.hostSharedOpens += b.hostSharedOpens;
  a.connections += b.connections;
  a.failedConnects += b.failedConnects;
  a.policyViolations += b.policyViolations;
  a.networkBytes += b.networkBytes;
  a.cpuSeconds += b.cpuSeconds;
  a.diskBytes += b.diskBytes;
  a.throttledSeconds += b.throttledSeconds;
  a.memoryBytes = b.memoryBytes;
  a.tasks = b.tasks;
  a.seconds += b.seconds;
  a.endMs = b.endMs;
  a.traceId = b.traceId ?? a.traceId;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

/** Cumulative counters, remembered between windows to take differences. */
interface Cumulative {
  syscalls: Map<string, number> | null;
  cpuSeconds: number | null;
  diskBytes: number | null;
  throttledSeconds: number | null;
}

/** Most pids whose depth one container remembers (older ones are forgotten first). */
const MAX_PIDS = 4096;

class ContainerFeed {
  current: WindowSummary;
  readonly cumulative: Cumulative = { syscalls: null, cpuSeconds: null, diskBytes: null, throttledSeconds: null };
  readonly depth = new Map<number, number>();
  /** Windows closed so far (the first is a warm-up: cumulative counters have no reference yet). */
  windows = 0;

  constructor(
    readonly id: string,
    public name: string,
    public image: string,
  ) {
    this.current = emptySummary(id, name, image);
  }
}

/** The container a record is about: id, name and model key (image), or null. */
export function containerOf(attrs: Readonly<Record<string, unknown>>): { id: string; name: string; image: string } | null {
  const id = str(attrs['container.id']);
  if (!id) return null;
  const name = str(attrs['container.name']) ?? id.slice(0, 12);
  const image = str(attrs['container.image.name']) ?? name;
  return { id, name, image };
}

/** A closed window: its summary, and whether it is a warm-up window (no differences yet). */
export interface ClosedWindow {
  summary: WindowSummary;
  warmup: boolean;
}

/**
 * Per-container accumulation of records into window summaries. `observe` takes every record;
 * a `contguard.anomaly.window` record closes its container's window and is returned closed.
 */
export class FeatureExtractor {
  private readonly feeds = new Map<string, ContainerFeed>();

  get containers(): number {
    return this.feeds.size;
  }

  /** Forgets a container (it is gone). */
  forget(containerId: string): void {
    this.feeds.delete(containerId);
  }

  observe(r: ObservedRecord): ClosedWindow | null {
    const c = containerOf(r.attributes);
    if (!c) return null;
    let feed = this.feeds.get(c.id);
    if (!feed) {
      feed = new ContainerFeed(c.id, c.name, c.image);
      this.feeds.set(c.id, feed);
    }
    feed.name = c.name;
    feed.image = c.image;
    const a = r.attributes;
    const w = feed.current;
    switch (r.eventName) {
      case 'contguard.process.exec': {
        w.execs++;
        // The file run, and the name it was run by when that differs (multi-call binaries, symlinks).
        const path = str(a['process.executable.path']);
        const filename = str(a['contguard.process.exec_filename']);
        // The file run, and the name it was run by (argv[0]) when that differs: the applet of a
        // multi-call binary (busybox re-execs itself as /proc/self/exe), a symlink.
        const args = a['process.command_args'];
        const argv0 = Array.isArray(args) && typeof args[0] === 'string' ? args[0].slice(args[0].lastIndexOf('/') + 1) : null;
        const file = path ?? filename ?? str(a['process.executable.name']) ?? '?';
        const exe = argv0 && argv0 !== file.slice(file.lastIndexOf('/') + 1) ? `${file} (${argv0})` : file;
        w.executables.set(exe, (w.executables.get(exe) ?? 0) + 1);
        const pid = num(a['process.pid']);
        const ppid = num(a['process.parent_pid']);
        if (pid !== null) {
          const d = (ppid !== null ? (feed.depth.get(ppid) ?? 0) : 0) + 1;
          if (feed.depth.size >= MAX_PIDS) feed.depth.delete(feed.depth.keys().next().value!);
          feed.depth.delete(pid);
          feed.depth.set(pid, d);
          if (d > w.treeDepth) w.treeDepth = d;
        }
        if (r.traceId) w.traceId = r.traceId;
        break;
      }
      case 'contguard.file.open': {
        const n = num(a['contguard.file.open.count']) ?? 1;
        if (a['contguard.file.sensitive'] === true) w.sensitiveOpens += n;
        else w.hostSharedOpens += n;
        break;
      }
      case 'contguard.network.connect': {
        w.connections++;
        if (a['network.io.direction'] !== 'receive') {
          const peer = str(a['contguard.network.peer.container.image.name']) ?? `${str(a['network.peer.address']) ?? '?'}:${num(a['network.peer.port']) ?? '?'}`;
          w.peers.set(peer, (w.peers.get(peer) ?? 0) + 1);
        }
        break;
      }
      case 'contguard.network.failed': {
        w.failedConnects++;
        const peer = `${str(a['network.peer.address']) ?? '?'}:${num(a['network.peer.port']) ?? '?'}`;
        w.peers.set(peer, (w.peers.get(peer) ?? 0) + 1);
        break;
      }
      case 'contguard.network.policy_violation':
        w.policyViolations++;
        break;
      case 'contguard.network.close':
        w.networkBytes += (num(a['contguard.network.bytes_sent']) ?? 0) + (num(a['contguard.network.bytes_received']) ?? 0);
        break;
      case 'contguard.syscalls.snapshot': {
        const counts = a['contguard.syscalls.counts'];
        if (!counts || typeof counts !== 'object' || Array.isArray(counts)) break;
        const now = new Map<string, number>();
        for (const [k, v] of Object.entries(counts as Record<string, unknown>)) {
          const n = num(v);
          if (n !== null && n >= 0) now.set(k, n);
        }
        const prev = feed.cumulative.syscalls;
        // The first snapshot of a container that ran before the agent is a reference only.
        if (prev !== null || a['contguard.syscalls.joined_running'] !== true) {
          for (const [k, v] of now) {
            const d = v - (prev?.get(k) ?? 0);
            if (d > 0) w.syscalls.set(k, (w.syscalls.get(k) ?? 0) + d);
          }
        }
        feed.cumulative.syscalls = now;
        break;
      }
      case ANOMALY_WINDOW_EVENT:
        return this.close(feed, r);
      default:
        break;
    }
    return null;
  }

  private close(feed: ContainerFeed, r: ObservedRecord): ClosedWindow {
    const a = r.attributes;
    const w = feed.current;
    w.endMs = Number(r.timeUnixNano / 1_000_000n);
    w.seconds = Math.max(0, num(a[WINDOW_ATTRS.seconds]) ?? 0);
    const cum = feed.cumulative;
    const delta = (key: 'cpuSeconds' | 'diskBytes' | 'throttledSeconds', attr: string) => {
      const v = num(a[attr]);
      if (v === null) return;
      const prev = cum[key];
      if (prev !== null && v >= prev) w[key] = v - prev;
      cum[key] = v;
    };
    delta('cpuSeconds', WINDOW_ATTRS.cpuSeconds);
    delta('diskBytes', WINDOW_ATTRS.diskBytes);
    delta('throttledSeconds', WINDOW_ATTRS.throttledSeconds);
    w.memoryBytes = num(a[WINDOW_ATTRS.memoryBytes]) ?? 0;
    w.tasks = num(a[WINDOW_ATTRS.tasks]) ?? 0;
    const warmup = feed.windows === 0;
    feed.windows++;
    feed.current = emptySummary(feed.id, feed.name, feed.image);
    return { summary: w, warmup };
  }
}
