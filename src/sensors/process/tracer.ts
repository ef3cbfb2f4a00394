// SPDX-License-Identifier: Apache-2.0
/**
 * Container process trees as traces: one trace per container run, a root span for the run
 * and a span per process image, built from the process sensor's fork/exec/exit events and
 * the exec sensor's details. Pure user-space logic (no kernel, no exporter): the sensor
 * feeds it, tests drive it with hand-made events.
 *
 * A process image is what one exec started, or a fork when no exec follows (the shell's
 * subshell); `sh -c 'a; b'` shells exec their last command in place, so one process can
 * hold several images, each a span: an exec'd image is the child of the image it replaced,
 * a forked process's first image the child of the image that forked it (at that moment).
 * Ids come from kernel facts only (src/telemetry/trace-ids.ts), so a span exported before
 * its parent still links to it.
 *
 * Spans are built when their image ends (exit, the next exec, a max_span_ms boundary, the
 * container's removal) and handed over at the first flush lateEventGraceMs after (the sensor
 * flushes every second), so the exec sensor's details and the records of the process that
 * become its span events (file opens, connections), which come through other rings and may
 * wait for attribution, are there first. Span events are bounded per span and in all.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes as OtelAttributes, type HrTime, type Link } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { constants as osConstants } from 'node:os';
import type { ContainerInfo } from '../../containers/attributor.js';
import type { Attributes } from '../../telemetry/record.js';
import { otlpLogFields } from '../../telemetry/escape.js';
import { containerRootSpanId, containerTraceId, imageSpanId, runSampled, segmentAt, type ImageId } from '../../telemetry/trace-ids.js';
import type { EventRecord } from '../../telemetry/record.js';
import type { ExecImageDetails, LogTraceContext, SpanEventIn } from '../../telemetry/traces.js';

/** Mirror bpf/process.h PROCESS_EVENT_* and PROCESS_FLAG_*. */
export const PROCESS_EVENT_FORK = 1;
export const PROCESS_EVENT_EXEC = 2;
export const PROCESS_EVENT_EXIT = 3;
export const PROCESS_FLAG_PARENT_IN_CONTAINER = 1;

/** A decoded kernel event (struct process_event, bpf/process.h). */
export interface ProcessEventIn {
  kind: number;
  timestampNs: bigint;
  pid: number;
  ppid: number;
  startNs: bigint;
  execId: bigint;
  parentStartNs: bigint;
  exitCode: number;
  flags: number;
  comm: string;
  slot: number;
  cgroupId: bigint;
}

/** What the tracer needs of a registry entry (src/registry/index.ts RegistryEntry). */
export interface RunEntry {
  cgroupId: bigint;
  container: ContainerInfo | null;
  attributed: Promise<void>;
  startedUnixNano: bigint;
  joinedRunning: boolean;
}

export type DropReason = 'container_limit' | 'agent_limit' | 'held_limit' | 'begin_unseen' | 'untracked_container';
/**
 * Why a span event was not kept: span_limit (its span had maxEventsPerSpan), agent_limit
 * (maxEventsHeld in all), no_span (its span was handed over already, or its process is not followed).
 */
export type EventDropReason = 'span_limit' | 'agent_limit' | 'no_span';

export interface TracerOptions {
  bootId: string;
  sampleRatio: number;
  maxSpanMs: number;
  maxOpenPerContainer: number;
  maxOpenTotal: number;
  /** The agent's Resource; each run's spans get it plus the container's container.* attributes. */
  resource: Resource;
  scope: { name: string; version: string };
  /** Kernel CLOCK_MONOTONIC ns -> ns since the epoch. */
  toUnixNano(monotonicNs: bigint): bigint;
  /** The kernel clock now (CLOCK_MONOTONIC ns). */
  nowMono(): bigint;
  /** A finished span of a traced run. */
  exportSpan(span: ReadableSpan): void;
  /** A registry entry by slot (for events that arrive before the tracker's notice). */
  entryForSlot?(slot: number): RunEntry | undefined;
  /** Span events (file opens, connections, ...) per span at most (0: none); default 128. */
  maxEventsPerSpan?: number;
  /** Span events held at once in all (open images, finished spans waiting or held); default 262144. */
  maxEventsHeld?: number;
  /**
   * How long a finished image waits before its span is built, so that records of it still on
   * their way (an attribution wait, another ring) become its events; default 0.
   */
  lateEventGraceMs?: number;
  counters?: {
    exported(n: number): void;
    unsampled(n: number): void;
    dropped(reason: DropReason, n: number): void;
    eventsDropped?(reason: EventDropReason, n: number): void;
  };
}

/** How long a removed container's run waits for late events before its last spans. */
export const REMOVAL_GRACE_NS = 1_000_000_000n;
/** How long events of a cgroup may wait for its registry entry before they are dropped. */
export const UNTRACKED_EXPIRY_NS = 60_000_000_000n;
/** Exec details waiting for their image (they come through another ring), at most. */
const MAX_PENDING_EXEC = 4096;
const PENDING_EXEC_TTL_NS = 10_000_000_000n;
/** Keys remembered to ignore repeated exits (old kernels) and events of images not followed. */
const MAX_REMEMBERED = 4096;
/** Span events waiting for their image (its process event comes through another ring), at most. */
const MAX_PENDING_EVENTS = 4096;
const PENDING_EVENTS_TTL_NS = 10_000_000_000n;
/** In a run the agent joined, records whose image has no begin event after this began before the agent. */
const PENDING_ADOPT_NS = 2_000_000_000n;
export const DEFAULT_MAX_EVENTS_PER_SPAN = 128;
export const DEFAULT_MAX_EVENTS_HELD = 262_144;

type Began = 'exec' | 'fork' | 'unseen';
type Ended = 'exit' | 'exec' | 'container_removed' | 'max_span';

interface Image {
  key: string;
  id: ImageId;
  began: Began;
  /** When its first segment began (kernel clock). */
  beganNs: bigint;
  firstSegment: number;
  segment: number;
  /** Span id of its parent; null: the run's root span. */
  parentSpanId: string | null;
  ppid: number;
  comm: string;
  exec: ExecImageDetails | null;
  hadChildren: boolean;
  /** Span events not yet in a built span (oldest first), and those over the per-span limit. */
  events: TimedEventAt[];
  droppedEvents: number;
  /** The span id of one segment, computed once for the records that name it. */
  idCache?: { segment: number; spanId: string };
}

/** A span event and its kernel time (to give each segment of a long image its own). */
interface TimedEventAt {
  atNs: bigint;
  event: TimedEvent;
}

interface PendingEvents {
  cgroupId: bigint;
  image: ImageId;
  /** The process's name as the records give it (for a span made from them). */
  comm: string;
  events: TimedEventAt[];
  dropped: number;
  sinceNs: bigint;
}

interface Draft {
  image: Image;
  segment: number;
  endNs: bigint;
  ended: Ended;
  exitCode: number | null;
}

interface Run {
  cgroupId: bigint;
  entry: RunEntry | null;
  firstSeenNs: bigint;
  /** pending: attribution not settled; ready: traced or held; discard: not a reportable container. */
  state: 'pending' | 'ready' | 'discard';
  container: ContainerInfo | null;
  traceId: string;
  rootSpanId: string;
  resource: Resource | null;
  sampled: boolean;
  images: Map<string, Image>;
  /** Images that ended whose last span is not built yet (late span events still join it). */
  ended: Map<string, Image>;
  drafts: Draft[];
  /** Finished spans of a run not (yet) traced, kept for a WARN record. */
  held: ReadableSpan[];
  removedNs: bigint | null;
  removedUnixNano: bigint;
}

const imageKey = (id: ImageId): string => `${id.pid}:${id.startNs}:${id.execId}`;

function hrTime(unixNano: bigint): HrTime {
  return [Number(unixNano / 1_000_000_000n), Number(unixNano % 1_000_000_000n)];
}

function hrDuration(startUnixNano: bigint, endUnixNano: bigint): HrTime {
  const d = endUnixNano > startUnixNano ? endUnixNano - startUnixNano : 0n;
  return hrTime(d);
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

/** wait() status -> exit status or signal (bpf/process.h exit_code). */
export function decodeExitCode(code: number): { status: number | null; signal: number | null; coreDumped: boolean } {
  const sig = code & 0x7f;
  if (sig === 0) return { status: (code >> 8) & 0xff, signal: null, coreDumped: false };
  return { status: null, signal: sig, coreDumped: (code & 0x80) !== 0 };
}

export function signalName(sig: number): string {
  return SIGNAL_NAMES.get(sig) ?? `SIG${sig}`;
}

/** OTel span attributes from record attributes: the OTLP escaping rule (README) applies to spans too. */
function spanAttributes(a: Attributes): OtelAttributes {
  return otlpLogFields('', a).attributes as unknown as OtelAttributes;
}

export class ProcessTracer {
  private readonly runs = new Map<bigint, Run>();
  private readonly pendingExec = new Map<string, { details: ExecImageDetails; atNs: bigint }>();
  /** Images not followed (over a limit) and images whose exit was seen: later events ignored. */
  private readonly ignored = new Set<string>();
  /** Containers named by a WARN record before their run was ready. */
  private readonly promotedIds = new Set<string>();
  private open = 0;
  private readonly maxSpanNs: bigint;
  /** Span events of images not known yet, by image key. */
  private readonly pendingEvents = new Map<string, PendingEvents>();
  private pendingEventCount = 0;
  /** Span events held in all: in images, pending, and in built spans not yet exported. */
  private eventsHeld = 0;
  private readonly maxEventsPerSpan: number;
  private readonly maxEventsHeld: number;
  private readonly graceNs: bigint;

  constructor(private readonly o: TracerOptions) {
    this.maxSpanNs = BigInt(o.maxSpanMs) * 1_000_000n;
    this.maxEventsPerSpan = o.maxEventsPerSpan ?? DEFAULT_MAX_EVENTS_PER_SPAN;
    this.maxEventsHeld = o.maxEventsHeld ?? DEFAULT_MAX_EVENTS_HELD;
    this.graceNs = BigInt(o.lateEventGraceMs ?? 0) * 1_000_000n;
  }

  /** Span events held now (in open images, finished spans not exported yet, and waiting for their image). */
  get heldEvents(): number {
    return this.eventsHeld;
  }

  /** Images open plus finished spans held for a WARN, in all runs. */
  get openSpans(): number {
    return this.open;
  }

  get runCount(): number {
    return this.runs.size;
  }

  // ---- registry ------------------------------------------------------------------------

  onContainerTracked(entry: RunEntry): void {
    const run = this.runs.get(entry.cgroupId);
    if (run) {
      if (!run.entry) this.bind(run, entry);
      return;
    }
    this.bind(this.newRun(entry.cgroupId), entry);
  }

  onContainerRemoved(entry: RunEntry): void {
    const run = this.runs.get(entry.cgroupId);
    if (!run || run.removedNs !== null) return;
    run.removedNs = this.o.nowMono();
    run.removedUnixNano = this.o.toUnixNano(run.removedNs);
  }

  private newRun(cgroupId: bigint): Run {
    const run: Run = {
      cgroupId,
      entry: null,
      firstSeenNs: this.o.nowMono(),
      state: 'pending',
      container: null,
      traceId: '',
      rootSpanId: '',
      resource: null,
      sampled: false,
      images: new Map(),
      ended: new Map(),
      drafts: [],
      held: [],
      removedNs: null,
      removedUnixNano: 0n,
    };
    this.runs.set(cgroupId, run);
    return run;
  }

  private bind(run: Run, entry: RunEntry): void {
    run.entry = entry;
    const settle = () => {
      if (this.runs.get(run.cgroupId) !== run) return;
      const c = entry.container;
      if (!c) {
        run.state = 'discard';
        this.release(run);
        return;
      }
      run.container = c;
      run.traceId = containerTraceId(this.bootId, c.id, run.cgroupId);
      run.rootSpanId = containerRootSpanId(run.traceId);
      run.resource = this.o.resource.merge(resourceFromAttributes(spanAttributes(c.attributes)));
      run.sampled = runSampled(run.traceId, this.o.sampleRatio) || this.promotedIds.has(c.id);
      run.state = 'ready';
    };
    void entry.attributed.then(settle, settle);
  }

  private get bootId(): string {
    return this.o.bootId;
  }

  /** The run of an event's cgroup: known, bound to the registry entry now, or waiting for it. */
  private runOf(cgroupId: bigint, slot: number): Run | null {
    let run = this.runs.get(cgroupId);
    if (!run) {
      run = this.newRun(cgroupId);
      const entry = this.o.entryForSlot?.(slot);
      if (entry && entry.cgroupId === cgroupId) this.bind(run, entry);
    }
    return run.state === 'discard' ? null : run;
  }

  // ---- events --------------------------------------------------------------------------

  onEvent(e: ProcessEventIn): void {
    const run = this.runOf(e.cgroupId, e.slot);
    if (!run) return;
    const id: ImageId = { pid: e.pid, startNs: e.startNs, execId: e.execId };
    switch (e.kind) {
      case PROCESS_EVENT_FORK:
        this.onFork(run, e, id);
        break;
      case PROCESS_EVENT_EXEC:
        this.onExec(run, e, id);
        break;
      case PROCESS_EVENT_EXIT:
        this.onExit(run, e, id);
        break;
    }
  }

  private spanIdAt(image: Image, atNs: bigint): string {
    return imageSpanId(this.bootId, image.id, Math.max(image.firstSegment, segmentAt(image.id.startNs, atNs, this.maxSpanNs)));
  }

  private onFork(run: Run, e: ProcessEventIn, id: ImageId): void {
    const key = imageKey(id);
    if (run.images.has(key)) return;
    // The forker's image at the fork: the child inherited its exec counter.
    const forkerId: ImageId = { pid: e.ppid, startNs: e.parentStartNs, execId: e.execId };
    const forker = e.flags & PROCESS_FLAG_PARENT_IN_CONTAINER ? run.images.get(imageKey(forkerId)) : undefined;
    let parentSpanId: string | null = null;
    if (forker) {
      forker.hadChildren = true;
      parentSpanId = this.spanIdAt(forker, e.timestampNs);
    } else if (e.flags & PROCESS_FLAG_PARENT_IN_CONTAINER && run.entry?.joinedRunning) {
      // A process that ran before the agent: its span comes when it ends, with these ids.
      parentSpanId = imageSpanId(this.bootId, forkerId, segmentAt(forkerId.startNs, e.timestampNs, this.maxSpanNs));
    }
    this.addImage(run, {
      key,
      id,
      began: 'fork',
      beganNs: e.timestampNs,
      firstSegment: segmentAt(id.startNs, e.timestampNs, this.maxSpanNs),
      segment: segmentAt(id.startNs, e.timestampNs, this.maxSpanNs),
      parentSpanId,
      ppid: e.ppid,
      comm: e.comm,
      // A forked process runs its parent's program until it execs.
      exec: forker?.exec ?? null,
      hadChildren: false,
      events: [],
      droppedEvents: 0,
    });
  }

  private onExec(run: Run, e: ProcessEventIn, id: ImageId): void {
    const key = imageKey(id);
    if (run.images.has(key) || this.ignored.has(key)) return;
    const prevKey = imageKey({ ...id, execId: id.execId - 1n });
    const prev = run.images.get(prevKey);
    let parentSpanId: string | null = null;
    let events: TimedEventAt[] = [];
    let droppedEvents = 0;
    if (prev) {
      run.images.delete(prevKey);
      this.open--;
      this.rollTo(run, prev, e.timestampNs);
      if (prev.began === 'fork' && !prev.hadChildren && prev.segment === prev.firstSegment) {
        // fork then exec (what a shell does to run a command): the exec'd image is the span,
        // and what the fork image did before the exec (a redirection's open) its events.
        parentSpanId = prev.parentSpanId;
        events = prev.events;
        droppedEvents = prev.droppedEvents;
      } else {
        parentSpanId = this.spanIdAt(prev, e.timestampNs);
        this.endImage(run, { image: prev, segment: prev.segment, endNs: e.timestampNs, ended: 'exec', exitCode: null });
      }
    }
    const segment = segmentAt(id.startNs, e.timestampNs, this.maxSpanNs);
    this.addImage(run, {
      key,
      id,
      began: 'exec',
      beganNs: e.timestampNs,
      firstSegment: segment,
      segment,
      parentSpanId,
      ppid: e.ppid,
      comm: e.comm,
      exec: null,
      hadChildren: false,
      events,
      droppedEvents,
    });
  }

  private onExit(run: Run, e: ProcessEventIn, id: ImageId): void {
    const key = imageKey(id);
    if (this.ignored.has(key)) return;
    let image = run.images.get(key);
    if (image) {
      run.images.delete(key);
      this.open--;
      if (image.began === 'unseen') {
        // Made from its records (adoptPending): the exit knows its parent and name.
        image.ppid = e.ppid;
        image.comm = e.comm;
      }
    } else if (run.entry?.joinedRunning) {
      // Began before the agent followed it: its last segment only (an earlier agent may have
      // exported the others), from the process's start or the segment's boundary.
      const segment = segmentAt(id.startNs, e.timestampNs, this.maxSpanNs);
      image = {
        key,
        id,
        began: 'unseen',
        beganNs: id.startNs + BigInt(segment) * this.maxSpanNs,
        firstSegment: segment,
        segment,
        parentSpanId: null,
        ppid: e.ppid,
        comm: e.comm,
        exec: null,
        hadChildren: false,
        events: [],
        droppedEvents: 0,
      };
      this.takePendingEvents(image);
    } else {
      // In a run whose start the agent saw, every workload image began in view: this is
      // runtime init (raw_tracepoint variant), or its beginning was lost (ring full).
      this.o.counters?.dropped('begin_unseen', 1);
      return;
    }
    this.remember(key);
    this.rollTo(run, image, e.timestampNs);
    this.endImage(run, { image, segment: image.segment, endNs: e.timestampNs, ended: 'exit', exitCode: e.exitCode });
  }

  /** An image's last draft: it waits in `ended` for late span events until its span is built. */
  private endImage(run: Run, d: Draft): void {
    run.drafts.push(d);
    run.ended.set(d.image.key, d.image);
  }

  private addImage(run: Run, image: Image): void {
    if (!image.exec) {
      const pending = this.pendingExec.get(image.key);
      if (pending) {
        image.exec = pending.details;
        this.pendingExec.delete(image.key);
      }
    }
    let reason: DropReason | null = null;
    if (run.images.size >= this.o.maxOpenPerContainer) reason = 'container_limit';
    else if (this.open >= this.o.maxOpenTotal && !this.evictHeld(run)) reason = 'agent_limit';
    if (reason) {
      this.o.counters?.dropped(reason, 1);
      this.remember(image.key);
      this.takePendingEvents(image);
      this.dropEvents('no_span', image.events.length);
      this.forgetEvents(image.events.length);
      return;
    }
    run.images.set(image.key, image);
    this.open++;
    this.takePendingEvents(image);
  }

  // ---- span events ---------------------------------------------------------------------

  /**
   * A record about a process image becomes an event of its span (file.open, network.connect,
   * ...): kept until the span is built, at most maxEventsPerSpan per span and maxEventsHeld in all.
   */
  spanEvent(cgroupId: bigint, image: ImageId, ev: SpanEventIn): void {
    if (this.maxEventsPerSpan === 0) return;
    const run = this.runs.get(cgroupId);
    if (run?.state === 'discard') return;
    const key = imageKey(image);
    const target = run?.images.get(key) ?? run?.ended.get(key);
    if (target) {
      if (target.events.length >= this.maxEventsPerSpan) {
        target.droppedEvents++;
        this.dropEvents('span_limit', 1);
      } else if (this.eventsHeld >= this.maxEventsHeld) {
        target.droppedEvents++;
        this.dropEvents('agent_limit', 1);
      } else {
        target.events.push(this.timedEvent(ev));
        this.eventsHeld++;
      }
      return;
    }
    if (this.ignored.has(key)) {
      this.dropEvents('no_span', 1);
      return;
    }
    // Its process's event may still be in the other ring: kept a while for the image.
    let p = this.pendingEvents.get(key);
    if (p && p.events.length >= this.maxEventsPerSpan) {
      p.dropped++;
      this.dropEvents('span_limit', 1);
      return;
    }
    if (this.eventsHeld >= this.maxEventsHeld) {
      if (p) p.dropped++;
      this.dropEvents('agent_limit', 1);
      return;
    }
    if (this.pendingEventCount >= MAX_PENDING_EVENTS) {
      const [oldKey, old] = this.pendingEvents.entries().next().value as [string, PendingEvents];
      this.expirePending(oldKey, old);
    }
    if (!p) {
      p = { cgroupId, image, comm: ev.comm ?? '', events: [], dropped: 0, sinceNs: this.o.nowMono() };
      this.pendingEvents.set(key, p);
    }
    p.events.push(this.timedEvent(ev));
    this.pendingEventCount++;
    this.eventsHeld++;
  }

  private timedEvent(ev: SpanEventIn): TimedEventAt {
    return { atNs: ev.atNs, event: { name: ev.name, time: hrTime(this.o.toUnixNano(ev.atNs)), attributes: spanAttributes(ev.attributes) } };
  }

  /** Events that came before their image: they join it. */
  private takePendingEvents(image: Image): void {
    const p = this.pendingEvents.get(image.key);
    if (!p) return;
    this.pendingEvents.delete(image.key);
    this.pendingEventCount -= p.events.length;
    // The fork image's events came first (fork then exec): the span keeps its limit.
    const room = Math.max(0, this.maxEventsPerSpan - image.events.length);
    const over = Math.max(0, p.events.length - room);
    image.events.push(...(over ? p.events.slice(0, room) : p.events));
    image.droppedEvents += p.dropped + over;
    this.dropEvents('span_limit', over);
    this.forgetEvents(over);
  }

  private expirePending(key: string, p: PendingEvents): void {
    this.pendingEvents.delete(key);
    this.pendingEventCount -= p.events.length;
    this.dropEvents('no_span', p.events.length);
    this.forgetEvents(p.events.length);
  }

  private dropEvents(reason: EventDropReason, n: number): void {
    if (n > 0) this.o.counters?.eventsDropped?.(reason, n);
  }

  private forgetEvents(n: number): void {
    this.eventsHeld -= n;
  }

  /** A span leaves the tracer (exported, or discarded): its events are no longer held. */
  private forgetSpans(spans: readonly ReadableSpan[]): void {
    for (const s of spans) this.eventsHeld -= s.events.length;
  }

  private remember(key: string): void {
    if (this.ignored.size >= MAX_REMEMBERED) this.ignored.delete(this.ignored.values().next().value as string);
    this.ignored.add(key);
  }

  /** Frees one held span (the oldest of any run) to make room; false when none is held. */
  private evictHeld(prefer: Run): boolean {
    const victim = prefer.held.length ? prefer : [...this.runs.values()].find((r) => r.held.length > 0);
    if (!victim) return false;
    this.forgetSpans([victim.held.shift()!]);
    this.open--;
    this.o.counters?.dropped('held_limit', 1);
    return true;
  }

  /** The exec sensor's details of an image (path, argv). */
  execDetails(d: ExecImageDetails): void {
    const key = imageKey(d.image);
    const image = this.runs.get(d.cgroupId)?.images.get(key);
    if (image) {
      image.exec = d;
      return;
    }
    // Not there yet (the process ring is drained after the exec ring), or already ended.
    for (const draft of this.runs.get(d.cgroupId)?.drafts ?? []) {
      if (draft.image.key === key) {
        draft.image.exec = d;
        return;
      }
    }
    if (this.pendingExec.size >= MAX_PENDING_EXEC) this.pendingExec.delete(this.pendingExec.keys().next().value as string);
    this.pendingExec.set(key, { details: d, atNs: this.o.nowMono() });
  }

  /** The trace context of a record about `image` at `atNs`, for a run of `containerId`. */
  logContext(containerId: string, cgroupId: bigint, image: ImageId, atNs: bigint): LogTraceContext {
    const run = this.runs.get(cgroupId);
    const traceId = run?.state === 'ready' && run.container?.id === containerId ? run.traceId : containerTraceId(this.bootId, containerId, cgroupId);
    const sampled = run?.state === 'ready' ? run.sampled : runSampled(traceId, this.o.sampleRatio) || this.promotedIds.has(containerId);
    const segment = segmentAt(image.startNs, atNs, this.maxSpanNs);
    // Records of a known image reuse its span id (a hash per record costs more than the rest).
    const key = run ? imageKey(image) : '';
    const known = run?.images.get(key) ?? run?.ended.get(key);
    let spanId: string;
    if (known) {
      if (known.idCache?.segment !== segment) known.idCache = { segment, spanId: imageSpanId(this.bootId, image, segment) };
      spanId = known.idCache.spanId;
    } else {
      spanId = imageSpanId(this.bootId, image, segment);
    }
    return { traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE };
  }

  /** A WARN record traces its container's run: what is held goes out, and all that follows. */
  observe(record: EventRecord): void {
    if (record.severity !== 'WARN') return;
    const id = record.attributes['container.id'];
    if (typeof id !== 'string') return;
    let matched = false;
    for (const run of this.runs.values()) {
      if (run.container?.id !== id) continue;
      matched = true;
      if (run.sampled) continue;
      run.sampled = true;
      for (const span of run.held) this.o.exportSpan(span);
      this.forgetSpans(run.held);
      this.o.counters?.exported(run.held.length);
      this.open -= run.held.length;
      run.held = [];
    }
    if (!matched && this.o.sampleRatio < 1) {
      if (this.promotedIds.size >= MAX_REMEMBERED) this.promotedIds.delete(this.promotedIds.values().next().value as string);
      this.promotedIds.add(id);
    }
  }

  // ---- periodic work -------------------------------------------------------------------

  /** Ends segments past max_span_ms, hands finished spans over, closes removed runs. */
  flush(final = false): void {
    const now = this.o.nowMono();
    const removalGrace = this.graceNs > REMOVAL_GRACE_NS ? this.graceNs : REMOVAL_GRACE_NS;
    for (const run of [...this.runs.values()]) {
      if (run.state === 'discard') {
        if (run.removedNs !== null) this.runs.delete(run.cgroupId);
        continue;
      }
      const closing = run.removedNs !== null && (final || now - run.removedNs >= removalGrace);
      // Long-lived images: end the segment at its boundary; a linked continuation begins there.
      for (const image of run.images.values()) this.rollTo(run, image, run.removedNs ?? now);
      if (closing) {
        for (const image of run.images.values()) {
          run.drafts.push({ image, segment: image.segment, endNs: run.removedNs!, ended: 'container_removed', exitCode: null });
        }
        this.open -= run.images.size;
        run.images.clear();
      }
      if (run.state === 'pending') {
        if (run.entry === null && now - run.firstSeenNs >= UNTRACKED_EXPIRY_NS) {
          this.o.counters?.dropped('untracked_container', run.images.size + run.drafts.length);
          this.release(run);
          this.runs.delete(run.cgroupId);
        }
        continue; // its trace id needs the container id: spans wait for attribution
      }
      // A draft waits lateEventGraceMs after its end for span events still on their way.
      const waiting: Draft[] = [];
      for (const d of run.drafts) {
        if (!closing && !final && now - d.endNs < this.graceNs) {
          waiting.push(d);
          continue;
        }
        if (d.ended !== 'max_span') run.ended.delete(d.image.key);
        this.hand(run, this.buildSpan(run, d));
      }
      run.drafts = waiting;
      if (closing) {
        this.hand(run, this.rootSpan(run));
        if (!run.sampled) {
          this.o.counters?.unsampled(run.held.length);
          this.open -= run.held.length;
          this.forgetSpans(run.held);
          run.held = [];
        }
        this.runs.delete(run.cgroupId);
      }
    }
    for (const [key, p] of this.pendingExec) {
      if (now - p.atNs < PENDING_EXEC_TTL_NS) break;
      this.pendingExec.delete(key);
    }
    if (!final) this.adoptPending(now);
    for (const [key, p] of this.pendingEvents) {
      if (!final && now - p.sinceNs < PENDING_EVENTS_TTL_NS) break;
      this.expirePending(key, p);
    }
  }

  /**
   * Records of a process that began before the agent, in a run it joined, wait for a begin
   * event that is not coming: its image is made from them, as its exit would make it (from its
   * start or the segment's boundary, under the root), so they are its span's events.
   */
  private adoptPending(now: bigint): void {
    for (const [key, p] of this.pendingEvents) {
      if (now - p.sinceNs < PENDING_ADOPT_NS) break;
      const run = this.runs.get(p.cgroupId);
      if (!run || run.state === 'discard' || !run.entry?.joinedRunning || run.removedNs !== null || this.ignored.has(key)) continue;
      const segment = segmentAt(p.image.startNs, p.events[0]?.atNs ?? now, this.maxSpanNs);
      this.addImage(run, {
        key,
        id: p.image,
        began: 'unseen',
        beganNs: p.image.startNs + BigInt(segment) * this.maxSpanNs,
        firstSegment: segment,
        segment,
        parentSpanId: null,
        ppid: 0,
        comm: p.comm,
        exec: null,
        hadChildren: false,
        events: [],
        droppedEvents: 0,
      });
    }
  }

  /**
   * At shutdown: what ended goes out, and the runs of removed containers; images still open
   * are not exported (a restarted agent exports them when they end, under the same ids).
   */
  shutdown(): void {
    this.flush(true);
  }

  private release(run: Run): void {
    this.open -= run.images.size + run.held.length;
    let events = 0;
    for (const image of new Set([...run.images.values(), ...run.ended.values(), ...run.drafts.map((d) => d.image)])) events += image.events.length;
    this.dropEvents('no_span', events);
    this.forgetEvents(events);
    this.forgetSpans(run.held);
    run.images.clear();
    run.ended.clear();
    run.held = [];
    run.drafts = [];
  }

  /** Ends every segment of `image` whose boundary is at or before `atNs` (max_span_ms). */
  private rollTo(run: Run, image: Image, atNs: bigint): void {
    for (let end = this.segmentEnd(image, image.segment); end <= atNs; end = this.segmentEnd(image, image.segment)) {
      run.drafts.push({ image, segment: image.segment, endNs: end, ended: 'max_span', exitCode: null });
      image.segment++;
    }
  }

  private segmentEnd(image: Image, segment: number): bigint {
    return image.id.startNs + BigInt(segment + 1) * this.maxSpanNs;
  }

  private hand(run: Run, span: ReadableSpan): void {
    if (run.sampled) {
      this.o.exportSpan(span);
      this.forgetSpans([span]);
      this.o.counters?.exported(1);
      return;
    }
    // Not traced (yet): kept for a WARN record, the oldest going first past the limits.
    if (run.held.length >= this.o.maxOpenPerContainer || (this.open >= this.o.maxOpenTotal && !this.evictHeld(run))) {
      if (run.held.length === 0) {
        this.forgetSpans([span]);
        this.o.counters?.dropped('held_limit', 1);
        return;
      }
      this.forgetSpans([run.held.shift()!]);
      this.open--;
      this.o.counters?.dropped('held_limit', 1);
    }
    run.held.push(span);
    this.open++;
  }

  private buildSpan(run: Run, d: Draft): ReadableSpan {
    const { image } = d;
    if (!image.exec) {
      const pending = this.pendingExec.get(image.key);
      if (pending) {
        image.exec = pending.details;
        this.pendingExec.delete(image.key);
      }
    }
    const first = d.segment === image.firstSegment;
    const startNs = first ? image.beganNs : image.id.startNs + BigInt(d.segment) * this.maxSpanNs;
    const spanId = imageSpanId(this.bootId, image.id, d.segment);
    const links: Link[] = first
      ? []
      : [{ context: { traceId: run.traceId, spanId: imageSpanId(this.bootId, image.id, d.segment - 1), traceFlags: TraceFlags.SAMPLED }, attributes: { 'contguard.link': 'previous_segment' } }];
    const a: Attributes = {
      'process.pid': image.id.pid,
      ...(image.ppid ? { 'process.parent_pid': image.ppid } : {}), // unknown for a span made from records alone
      'process.executable.name': image.comm,
      'contguard.process.start': image.began,
      'contguard.process.end': d.ended,
    };
    const ex = image.exec;
    if (ex) {
      a['process.executable.path'] = ex.exePath || ex.filename;
      a['process.command_args'] = ex.argv;
      if (ex.argsTruncated) a['contguard.process.args_truncated'] = true;
    }
    if (d.segment > image.firstSegment) a['contguard.process.segment'] = d.segment - image.firstSegment;
    let status: ReadableSpan['status'] = { code: SpanStatusCode.UNSET };
    if (d.ended === 'container_removed') a['contguard.process.exit_unseen'] = true;
    if (d.exitCode !== null) {
      const x = decodeExitCode(d.exitCode);
      if (x.status !== null) {
        a['process.exit.code'] = x.status;
        if (x.status !== 0) status = { code: SpanStatusCode.ERROR, message: `exit code ${x.status}` };
      } else if (x.signal !== null) {
        a['contguard.process.exit.signal'] = signalName(x.signal);
        if (x.coreDumped) a['contguard.process.exit.core_dumped'] = true;
        status = { code: SpanStatusCode.ERROR, message: `killed by ${signalName(x.signal)}` };
      }
    }
    // Its events: those of its window (a continuation follows: later ones wait for it).
    let taken = image.events.length;
    if (d.ended === 'max_span') {
      taken = 0;
      while (taken < image.events.length && image.events[taken]!.atNs < d.endNs) taken++;
    }
    const events = image.events.splice(0, taken).map((e) => e.event);
    const droppedEvents = image.droppedEvents;
    image.droppedEvents = 0;
    const name = `${image.began === 'fork' ? 'fork' : image.began === 'exec' ? 'exec' : 'process'} ${image.comm}`;
    return this.readable(run, {
      events,
      droppedEvents,
      name,
      spanId,
      parentSpanId: image.parentSpanId ?? run.rootSpanId,
      startUnixNano: this.o.toUnixNano(startNs),
      endUnixNano: this.o.toUnixNano(d.endNs),
      attributes: spanAttributes(a),
      links,
      status,
    });
  }

  private rootSpan(run: Run): ReadableSpan {
    const c = run.container!;
    const name = typeof c.attributes['container.name'] === 'string' ? (c.attributes['container.name'] as string) : c.id.slice(0, 12);
    const a: Attributes = { ...c.attributes };
    if (run.entry?.joinedRunning) a['contguard.container.joined_running'] = true;
    const start = run.entry?.startedUnixNano ?? run.removedUnixNano;
    return this.readable(run, {
      name: `container ${name}`,
      spanId: run.rootSpanId,
      parentSpanId: null,
      startUnixNano: start,
      endUnixNano: run.removedUnixNano > start ? run.removedUnixNano : start,
      attributes: spanAttributes(a),
      links: [],
      status: { code: SpanStatusCode.UNSET },
      events: [],
      droppedEvents: 0,
    });
  }

  private readable(
    run: Run,
    s: {
      name: string;
      spanId: string;
      parentSpanId: string | null;
      startUnixNano: bigint;
      endUnixNano: bigint;
      attributes: OtelAttributes;
      links: Link[];
      status: ReadableSpan['status'];
      events: TimedEvent[];
      droppedEvents: number;
    },
  ): ReadableSpan {
    const traceId = run.traceId;
    const ctx = { traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
    const end = s.endUnixNano >= s.startUnixNano ? s.endUnixNano : s.startUnixNano;
    return {
      name: s.name,
      kind: SpanKind.INTERNAL,
      spanContext: () => ctx,
      parentSpanContext: s.parentSpanId ? { traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED } : undefined,
      startTime: hrTime(s.startUnixNano),
      endTime: hrTime(end),
      duration: hrDuration(s.startUnixNano, end),
      status: s.status,
      attributes: s.attributes,
      links: s.links,
      events: s.events,
      ended: true,
      resource: run.resource!,
      instrumentationScope: this.o.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: s.droppedEvents,
      droppedLinksCount: 0,
    };
  }
}
