// SPDX-License-Identifier: Apache-2.0
/**
 * ProcessTracer (src/sensors/process/tracer.ts) driven by hand-made kernel events: the span
 * tree of a container run, ids every reader derives alike (exec records, a child exported
 * before its parent, a restarted agent), continuation spans, sampling with WARN promotion,
 * memory limits, and the trace ids themselves (src/telemetry/trace-ids.ts).
 */
import { describe, expect, it } from 'vitest';
import { SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  PROCESS_EVENT_EXEC,
  PROCESS_EVENT_EXIT,
  PROCESS_EVENT_FORK,
  PROCESS_FLAG_PARENT_IN_CONTAINER,
  ProcessTracer,
  decodeExitCode,
  type ProcessEventIn,
  type RunEntry,
  type TracerOptions,
} from '../../src/sensors/process/tracer.js';
import * as tracerModule from '../../src/sensors/process/tracer.js';
import { createHash } from 'node:crypto';
import { containerRootSpanId, containerTraceId, imageSpanId, runSampled, segmentAt } from '../../src/telemetry/trace-ids.js';
import { recordTraceFields } from '../../src/telemetry/traces.js';
import type { ContainerInfo } from '../../src/containers/attributor.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOOT = 'b7c1a7f0-boot';
const CID = 'c0ffee'.repeat(10) + 'abcd';
const CG = 4242n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
const EPOCH = 1_700_000_000n * S; // kernel clock 0 as wall clock

function containerInfo(id = CID, name = 'web'): ContainerInfo {
  return { id, cgroupPath: `/system.slice/docker-${id}.scope`, runtime: 'docker', metadata: null, attributes: { 'container.id': id, 'container.name': name, 'container.runtime.name': 'docker' }, ready: Promise.resolve() };
}

function runEntry(over: Partial<RunEntry> = {}): RunEntry {
  return { cgroupId: CG, container: containerInfo(), attributed: Promise.resolve(), startedUnixNano: EPOCH + 1n * S, joinedRunning: false, ...over };
}

const settle = () => new Promise((r) => setImmediate(r));

function harness(over: Partial<TracerOptions> = {}) {
  let now = 100n * S;
  const spans: ReadableSpan[] = [];
  const exported: number[] = [];
  const unsampled: number[] = [];
  const dropped: Record<string, number> = {};
  const eventsDropped: Record<string, number> = {};
  const tracer = new ProcessTracer({
    bootId: BOOT,
    sampleRatio: 1,
    maxSpanMs: 3_600_000,
    maxOpenPerContainer: 1000,
    maxOpenTotal: 10_000,
    resource: resourceFromAttributes({ 'service.name': 'contguard' }),
    scope: { name: 'contguard', version: '0.0.0-test' },
    toUnixNano: (ns) => EPOCH + ns,
    nowMono: () => now,
    exportSpan: (s) => spans.push(s),
    counters: {
      exported: (n) => exported.push(n),
      unsampled: (n) => unsampled.push(n),
      dropped: (reason, n) => (dropped[reason] = (dropped[reason] ?? 0) + n),
      eventsDropped: (reason, n) => (eventsDropped[reason] = (eventsDropped[reason] ?? 0) + n),
    },
    ...over,
  });
  return {
    tracer,
    spans,
    dropped,
    eventsDropped,
    exportedCount: () => exported.reduce((a, b) => a + b, 0),
    unsampledCount: () => unsampled.reduce((a, b) => a + b, 0),
    setNow: (t: bigint) => (now = t),
    /** Removes the container and lets the grace period pass. */
    async end(entry: RunEntry) {
      tracer.onContainerRemoved(entry);
      now += 2n * S;
      tracer.flush();
      await settle();
    },
  };
}

interface Ev {
  pid: number;
  start: bigint;
  execId: bigint;
  at: bigint;
  comm?: string;
  ppid?: number;
  pstart?: bigint;
  flags?: number;
  exit?: number;
  cgroupId?: bigint;
}
const ev = (kind: number, e: Ev): ProcessEventIn => ({
  kind,
  timestampNs: e.at,
  pid: e.pid,
  ppid: e.ppid ?? 0,
  startNs: e.start,
  execId: e.execId,
  parentStartNs: e.pstart ?? 0n,
  exitCode: e.exit ?? 0,
  flags: e.flags ?? 0,
  comm: e.comm ?? 'sh',
  slot: 3,
  cgroupId: e.cgroupId ?? CG,
});
const fork = (e: Ev) => ev(PROCESS_EVENT_FORK, { flags: PROCESS_FLAG_PARENT_IN_CONTAINER, ...e });
const exec = (e: Ev) => ev(PROCESS_EVENT_EXEC, e);
const exit = (e: Ev) => ev(PROCESS_EVENT_EXIT, e);

const id = (s: ReadableSpan) => s.spanContext().spanId;
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReadableSpan[], name: string) => {
  const m = named(spans, name);
  expect(m, name).toHaveLength(1);
  return m[0]!;
};
const nanos = (t: ReadonlyArray<number>) => BigInt(t[0]!) * S + BigInt(t[1]!);

/**
 * busybox `sh -c '/bin/sh -c "/bin/ls /; /bin/cat /etc/hostname"'`: pid 1 execs sh, then
 * /bin/sh (in place), forks 7 which execs ls, then execs cat in place.
 */
async function busyboxRun(h: ReturnType<typeof harness>, entry = runEntry()) {
  const P1 = 50n * S;
  const P7 = 50n * S + 300n * MS;
  h.tracer.onContainerTracked(entry);
  await settle();
  h.tracer.onEvent(exec({ pid: 1001, start: P1, execId: 5n, at: P1 + 100n * MS, comm: 'sh', ppid: 900 }));
  h.tracer.execDetails({ cgroupId: CG, image: { pid: 1001, startNs: P1, execId: 5n }, exePath: '/bin/busybox', filename: '/bin/sh', argv: ['sh', '-c', 'outer'], argsTruncated: false });
  h.tracer.onEvent(exec({ pid: 1001, start: P1, execId: 6n, at: P1 + 200n * MS, comm: 'sh', ppid: 900 }));
  h.tracer.onEvent(fork({ pid: 1007, start: P7, execId: 6n, at: P7, ppid: 1001, pstart: P1 }));
  h.tracer.onEvent(exec({ pid: 1007, start: P7, execId: 7n, at: P7 + 10n * MS, comm: 'ls', ppid: 1001 }));
  h.tracer.onEvent(exit({ pid: 1007, start: P7, execId: 7n, at: P7 + 20n * MS, comm: 'ls', ppid: 1001, exit: 0 }));
  h.tracer.onEvent(exec({ pid: 1001, start: P1, execId: 7n, at: P1 + 400n * MS, comm: 'cat', ppid: 900 }));
  h.tracer.onEvent(exit({ pid: 1001, start: P1, execId: 7n, at: P1 + 500n * MS, comm: 'cat', ppid: 900, exit: 0 }));
  // The exec sensor's details come through another ring: after the exits here.
  h.tracer.execDetails({ cgroupId: CG, image: { pid: 1001, startNs: P1, execId: 6n }, exePath: '/bin/busybox', filename: '/bin/sh', argv: ['/bin/sh', '-c', 'inner'], argsTruncated: false });
  h.tracer.execDetails({ cgroupId: CG, image: { pid: 1007, startNs: P7, execId: 7n }, exePath: '/bin/busybox', filename: '/bin/ls', argv: ['/bin/ls', '/'], argsTruncated: false });
  h.tracer.execDetails({ cgroupId: CG, image: { pid: 1001, startNs: P1, execId: 7n }, exePath: '/bin/busybox', filename: '/bin/cat', argv: ['/bin/cat', '/etc/hostname'], argsTruncated: true });
  h.setNow(P1 + 1n * S);
  h.tracer.flush();
  return { P1, P7, entry };
}

describe('ProcessTracer: a container run as one trace', () => {
  it('builds the span tree of the process tree: exec chains in place, a forked child, the root', async () => {
    const h = harness();
    const { P1, entry } = await busyboxRun(h);
    expect(h.spans.map((s) => s.name).sort()).toEqual(['exec cat', 'exec ls', 'exec sh', 'exec sh']);
    await h.end(entry);
    const root = one(h.spans, 'container web');
    const [outer, inner] = named(h.spans, 'exec sh').sort((a, b) => Number(nanos(a.startTime) - nanos(b.startTime)));
    const ls = one(h.spans, 'exec ls');
    const cat = one(h.spans, 'exec cat');

    const traceId = containerTraceId(BOOT, CID, CG);
    for (const s of h.spans) expect(s.spanContext().traceId).toBe(traceId);
    expect(id(root)).toBe(containerRootSpanId(traceId));
    expect(root.parentSpanContext).toBeUndefined();
    expect(outer!.parentSpanContext?.spanId).toBe(id(root));
    expect(inner!.parentSpanContext?.spanId).toBe(id(outer!));
    expect(ls.parentSpanContext?.spanId).toBe(id(inner!));
    expect(cat.parentSpanContext?.spanId).toBe(id(inner!));

    expect(outer!.attributes).toMatchObject({ 'process.pid': 1001, 'process.command_args': ['sh', '-c', 'outer'], 'contguard.process.start': 'exec', 'contguard.process.end': 'exec' });
    expect(inner!.attributes['process.command_args']).toEqual(['/bin/sh', '-c', 'inner']);
    expect(ls.attributes).toMatchObject({ 'process.pid': 1007, 'process.parent_pid': 1001, 'process.executable.path': '/bin/busybox', 'process.exit.code': 0, 'contguard.process.end': 'exit' });
    expect(cat.attributes['contguard.process.args_truncated']).toBe(true);
    expect(ls.status.code).toBe(SpanStatusCode.UNSET);
    // Times: an image from its exec to its end; the root from the run's start to its removal.
    expect(nanos(outer!.startTime)).toBe(EPOCH + P1 + 100n * MS);
    expect(nanos(outer!.endTime)).toBe(nanos(inner!.startTime));
    expect(nanos(cat.endTime)).toBe(EPOCH + P1 + 500n * MS);
    expect(nanos(root.startTime)).toBe(entry.startedUnixNano);
    expect(nanos(root.endTime)).toBeGreaterThan(nanos(cat.endTime));
    expect(root.attributes).toMatchObject({ 'container.id': CID, 'container.name': 'web' });
    expect(root.resource.attributes).toMatchObject({ 'service.name': 'contguard', 'container.name': 'web' });
    expect(root.instrumentationScope).toEqual({ name: 'contguard', version: '0.0.0-test' });
    for (const s of h.spans) {
      expect(s.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
      expect(s.ended).toBe(true);
    }
    expect(h.exportedCount()).toBe(5);
    expect(h.tracer.openSpans).toBe(0);
    expect(h.tracer.runCount).toBe(0);
    expect(h.dropped).toEqual({});
  });

  it('gives every exec record the trace and span of the image it started', async () => {
    const h = harness();
    const { P1, P7, entry } = await busyboxRun(h);
    await h.end(entry);
    const ls = one(h.spans, 'exec ls');
    const ctx = h.tracer.logContext(CID, CG, { pid: 1007, startNs: P7, execId: 7n }, P7 + 10n * MS);
    expect(ctx).toEqual({ traceId: ls.spanContext().traceId, spanId: id(ls), traceFlags: TraceFlags.SAMPLED });
    const cat = one(h.spans, 'exec cat');
    expect(h.tracer.logContext(CID, CG, { pid: 1001, startNs: P1, execId: 7n }, P1 + 400n * MS).spanId).toBe(id(cat));
    // The same ids from the pure functions: any reader derives them.
    expect(id(ls)).toBe(imageSpanId(BOOT, { pid: 1007, startNs: P7, execId: 7n }, 0));
  });

  it('links a child exported before its parent, and a restarted agent exports the parent under the same id', async () => {
    const a = harness();
    const entry = runEntry();
    a.tracer.onContainerTracked(entry);
    await settle();
    const P = 10n * S;
    a.tracer.onEvent(exec({ pid: 500, start: P, execId: 2n, at: P + MS, comm: 'nginx' }));
    a.tracer.onEvent(fork({ pid: 501, start: P + S, execId: 2n, at: P + S, ppid: 500, pstart: P, comm: 'nginx' }));
    a.tracer.onEvent(exit({ pid: 501, start: P + S, execId: 2n, at: P + 2n * S, comm: 'nginx', exit: 0 }));
    a.setNow(P + 3n * S);
    a.tracer.flush();
    const child = one(a.spans, 'fork nginx');
    a.tracer.shutdown(); // the agent stops: the parent is still open, not exported
    expect(a.spans).toHaveLength(1);

    // The restarted agent joins the running container and sees the parent's exit only.
    const b = harness();
    const joined = runEntry({ joinedRunning: true, startedUnixNano: EPOCH + 20n * S });
    b.tracer.onContainerTracked(joined);
    await settle();
    b.tracer.onEvent(exit({ pid: 500, start: P, execId: 2n, at: P + 30n * S, comm: 'nginx', exit: 0x0200 }));
    b.setNow(P + 31n * S);
    b.tracer.flush();
    const parent = one(b.spans, 'process nginx');
    expect(child.parentSpanContext?.spanId).toBe(id(parent));
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(parent.attributes).toMatchObject({ 'contguard.process.start': 'unseen', 'process.exit.code': 2 });
    expect(parent.status).toEqual({ code: SpanStatusCode.ERROR, message: 'exit code 2' });
    // Began before this agent: from the process's start (its first segment).
    expect(nanos(parent.startTime)).toBe(EPOCH + P);
    await b.end(joined);
    expect(one(b.spans, 'container web').attributes['contguard.container.joined_running']).toBe(true);
  });

  it('makes a fork span only for a process that never execs, or whose fork image had children', async () => {
    const h = harness();
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const P = 5n * S;
    h.tracer.onEvent(exec({ pid: 10, start: P, execId: 1n, at: P, comm: 'sh' }));
    // A subshell that only runs builtins.
    h.tracer.onEvent(fork({ pid: 11, start: P + MS, execId: 1n, at: P + MS, ppid: 10, pstart: P }));
    h.tracer.onEvent(exit({ pid: 11, start: P + MS, execId: 1n, at: P + 2n * MS, exit: 0 }));
    // fork + exec: the command's span only.
    h.tracer.onEvent(fork({ pid: 12, start: P + 3n * MS, execId: 1n, at: P + 3n * MS, ppid: 10, pstart: P }));
    h.tracer.onEvent(exec({ pid: 12, start: P + 3n * MS, execId: 2n, at: P + 4n * MS, comm: 'true' }));
    h.tracer.onEvent(exit({ pid: 12, start: P + 3n * MS, execId: 2n, at: P + 5n * MS, comm: 'true' }));
    // A subshell that forks a child, then execs (`(a; exec b)`).
    h.tracer.onEvent(fork({ pid: 13, start: P + 6n * MS, execId: 1n, at: P + 6n * MS, ppid: 10, pstart: P }));
    h.tracer.onEvent(fork({ pid: 14, start: P + 7n * MS, execId: 1n, at: P + 7n * MS, ppid: 13, pstart: P + 6n * MS }));
    h.tracer.onEvent(exec({ pid: 14, start: P + 7n * MS, execId: 2n, at: P + 8n * MS, comm: 'a' }));
    h.tracer.onEvent(exit({ pid: 14, start: P + 7n * MS, execId: 2n, at: P + 9n * MS, comm: 'a' }));
    h.tracer.onEvent(exec({ pid: 13, start: P + 6n * MS, execId: 2n, at: P + 10n * MS, comm: 'b' }));
    h.tracer.onEvent(exit({ pid: 13, start: P + 6n * MS, execId: 2n, at: P + 11n * MS, comm: 'b' }));
    await h.end(entry);
    const sh = one(h.spans, 'exec sh');
    const forks = named(h.spans, 'fork sh');
    expect(forks.map((s) => s.attributes['process.pid']).sort()).toEqual([11, 13]);
    expect(one(h.spans, 'exec true').parentSpanContext?.spanId).toBe(id(sh));
    const sub = forks.find((s) => s.attributes['process.pid'] === 13)!;
    expect(sub.parentSpanContext?.spanId).toBe(id(sh));
    expect(sub.attributes['contguard.process.end']).toBe('exec');
    expect(one(h.spans, 'exec a').parentSpanContext?.spanId).toBe(id(sub));
    expect(one(h.spans, 'exec b').parentSpanContext?.spanId).toBe(id(sub));
    // The shell itself never exited: the container's end closes it.
    expect(sh.attributes).toMatchObject({ 'contguard.process.end': 'container_removed', 'contguard.process.exit_unseen': true });
    expect(h.tracer.openSpans).toBe(0);
  });

  it('reports exit statuses and signals as wait() encodes them', () => {
    expect(decodeExitCode(0)).toEqual({ status: 0, signal: null, coreDumped: false });
    expect(decodeExitCode(3 << 8)).toEqual({ status: 3, signal: null, coreDumped: false });
    expect(decodeExitCode(9)).toEqual({ status: null, signal: 9, coreDumped: false });
    expect(decodeExitCode(0x80 | 11)).toEqual({ status: null, signal: 11, coreDumped: true });
  });

  it('ends a killed process\'s span with ERROR and the signal', async () => {
    const h = harness();
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exec({ pid: 20, start: S, execId: 1n, at: S, comm: 'crash' }));
    h.tracer.onEvent(exit({ pid: 20, start: S, execId: 1n, at: 2n * S, comm: 'crash', exit: 0x80 | 11 }));
    await h.end(entry);
    const s = one(h.spans, 'exec crash');
    expect(s.attributes).toMatchObject({ 'contguard.process.exit.signal': 'SIGSEGV', 'contguard.process.exit.core_dumped': true });
    expect(s.attributes['process.exit.code']).toBeUndefined();
    expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: 'killed by SIGSEGV' });
  });

  it('keeps the OTLP escaping rule: bytes that are not UTF-8 are written \\xNN, with _raw holding them', async () => {
    const h = harness();
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exec({ pid: 30, start: S, execId: 1n, at: S, comm: 'x' }));
    h.tracer.execDetails({ cgroupId: CG, image: { pid: 30, startNs: S, execId: 1n }, exePath: '/bin/x', filename: '/bin/x', argv: ['x', 'a\udcffb'], argsTruncated: false });
    h.tracer.onEvent(exit({ pid: 30, start: S, execId: 1n, at: 2n * S, comm: 'x' }));
    await h.end(entry);
    const s = one(h.spans, 'exec x');
    expect(s.attributes['process.command_args']).toEqual(['x', 'a\\xffb']);
    expect(s.attributes['process.command_args_raw']).toBeInstanceOf(Uint8Array);
  });
});

describe('ProcessTracer: long-lived images (max_span_ms)', () => {
  it('cuts an image at each boundary into continuation spans with the same parent, each linked to the one before', async () => {
    const h = harness({ maxSpanMs: 1000 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const P = 40n * S;
    h.tracer.onEvent(exec({ pid: 60, start: P, execId: 1n, at: P + 100n * MS, comm: 'sleep' }));
    // The tick sees the first boundary pass; the exit comes 700 ms into the third window.
    h.setNow(P + 1500n * MS);
    h.tracer.flush();
    expect(h.spans).toHaveLength(1);
    h.tracer.onEvent(exit({ pid: 60, start: P, execId: 1n, at: P + 2700n * MS, comm: 'sleep', exit: 0 }));
    h.setNow(P + 3n * S);
    h.tracer.flush();
    const segs = named(h.spans, 'exec sleep');
    expect(segs).toHaveLength(3);
    expect(segs.map((s) => [nanos(s.startTime) - EPOCH - P, nanos(s.endTime) - EPOCH - P])).toEqual([
      [100n * MS, 1000n * MS],
      [1000n * MS, 2000n * MS],
      [2000n * MS, 2700n * MS],
    ]);
    expect(segs.map((s) => s.attributes['contguard.process.end'])).toEqual(['max_span', 'max_span', 'exit']);
    expect(segs.map((s) => s.attributes['contguard.process.segment'])).toEqual([undefined, 1, 2]);
    for (let i = 1; i < 3; i++) {
      expect(segs[i]!.links.map((l) => l.context.spanId)).toEqual([id(segs[i - 1]!)]);
      expect(segs[i]!.parentSpanContext?.spanId).toBe(segs[0]!.parentSpanContext?.spanId);
    }
    expect(new Set(segs.map(id)).size).toBe(3);
    expect(segs[2]!.attributes['process.exit.code']).toBe(0);
    // A record about it in its third window names the third span.
    expect(h.tracer.logContext(CID, CG, { pid: 60, startNs: P, execId: 1n }, P + 2500n * MS).spanId).toBe(id(segs[2]!));
  });

  it('parents a child to the segment its parent was in when it forked', async () => {
    const h = harness({ maxSpanMs: 1000 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const P = 40n * S;
    h.tracer.onEvent(exec({ pid: 70, start: P, execId: 1n, at: P, comm: 'svc' }));
    h.tracer.onEvent(fork({ pid: 71, start: P + 1500n * MS, execId: 1n, at: P + 1500n * MS, ppid: 70, pstart: P, comm: 'svc' }));
    h.tracer.onEvent(exit({ pid: 71, start: P + 1500n * MS, execId: 1n, at: P + 1600n * MS, comm: 'svc' }));
    h.setNow(P + 2100n * MS);
    h.tracer.flush();
    const child = one(h.spans, 'fork svc');
    const second = named(h.spans, 'exec svc').find((s) => s.attributes['contguard.process.segment'] === 1)!;
    expect(child.parentSpanContext?.spanId).toBe(id(second));
  });
});

describe('ProcessTracer: sampling', () => {
  it('holds the spans of an unsampled run, and exports them and all that follows once a WARN record names the container', async () => {
    const h = harness({ sampleRatio: 0 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exec({ pid: 80, start: S, execId: 1n, at: S, comm: 'sh' }));
    h.tracer.onEvent(fork({ pid: 81, start: 2n * S, execId: 1n, at: 2n * S, ppid: 80, pstart: S }));
    h.tracer.onEvent(exec({ pid: 81, start: 2n * S, execId: 2n, at: 2n * S + MS, comm: 'ls' }));
    h.tracer.onEvent(exit({ pid: 81, start: 2n * S, execId: 2n, at: 2n * S + 2n * MS, comm: 'ls' }));
    h.setNow(3n * S);
    h.tracer.flush();
    expect(h.spans).toEqual([]);
    expect(h.tracer.openSpans).toBe(2); // sh open, ls held
    expect(h.tracer.logContext(CID, CG, { pid: 81, startNs: 2n * S, execId: 2n }, 2n * S).traceFlags).toBe(TraceFlags.NONE);

    h.tracer.observe({ eventName: 'contguard.file.open', timeUnixNano: 0n, severity: 'INFO', body: '', attributes: { 'container.id': CID } });
    expect(h.spans).toEqual([]);
    h.tracer.observe({ eventName: 'contguard.file.open', timeUnixNano: 0n, severity: 'WARN', body: '', attributes: { 'container.id': CID } });
    expect(h.spans.map((s) => s.name)).toEqual(['exec ls']);
    expect(h.tracer.logContext(CID, CG, { pid: 80, startNs: S, execId: 1n }, S).traceFlags).toBe(TraceFlags.SAMPLED);
    await h.end(entry);
    expect(h.spans.map((s) => s.name).sort()).toEqual(['container web', 'exec ls', 'exec sh']);
    expect(h.unsampledCount()).toBe(0);
  });

  it('discards an unsampled run without WARN at its end, counted', async () => {
    const h = harness({ sampleRatio: 0 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exec({ pid: 90, start: S, execId: 1n, at: S, comm: 'true' }));
    h.tracer.onEvent(exit({ pid: 90, start: S, execId: 1n, at: 2n * S, comm: 'true' }));
    await h.end(entry);
    expect(h.spans).toEqual([]);
    expect(h.unsampledCount()).toBe(2);
    expect(h.tracer.openSpans).toBe(0);
  });

  it('promotes a run whose WARN record came before its attribution settled', async () => {
    const h = harness({ sampleRatio: 0 });
    let release!: () => void;
    const entry = runEntry({ attributed: new Promise<void>((r) => (release = r)) });
    h.tracer.onContainerTracked(entry);
    h.tracer.observe({ eventName: 'contguard.network.policy_violation', timeUnixNano: 0n, severity: 'WARN', body: '', attributes: { 'container.id': CID } });
    release();
    await settle();
    h.tracer.onEvent(exec({ pid: 91, start: S, execId: 1n, at: S, comm: 'curl' }));
    h.tracer.onEvent(exit({ pid: 91, start: S, execId: 1n, at: 2n * S, comm: 'curl' }));
    await h.end(entry);
    expect(h.spans.map((s) => s.name).sort()).toEqual(['container web', 'exec curl']);
  });

  it('derives ids as sha256 over NUL-terminated parts, so agents of other versions agree', () => {
    const sha = (parts: Array<string | number | bigint>, bytes: number) => {
      const h = createHash('sha256');
      for (const p of parts) h.update(`${p}\0`);
      return h.digest('hex').slice(0, bytes * 2);
    };
    const t = containerTraceId(BOOT, CID, CG);
    expect(t).toBe(sha(['contguard.container.run', CID, BOOT, CG], 16));
    expect(containerRootSpanId(t)).toBe(sha(['contguard.container.root', t], 8));
    const img = { pid: 1007, startNs: 123_456_789_012n, execId: 7n };
    expect(imageSpanId(BOOT, img, 0)).toBe(sha(['contguard.process.image', BOOT, 1007, 123_456_789_012n, 7n], 8));
    expect(imageSpanId(BOOT, img, 3)).toBe(sha(['contguard.process.image', BOOT, 1007, 123_456_789_012n, 7n, 3], 8));
  });

  it('decides a run from its trace id alone, at the configured fraction', () => {
    let traced = 0;
    for (let i = 0; i < 4000; i++) if (runSampled(containerTraceId(BOOT, `c${i}`, BigInt(i)), 0.25)) traced++;
    expect(traced / 4000).toBeGreaterThan(0.2);
    expect(traced / 4000).toBeLessThan(0.3);
    const t = containerTraceId(BOOT, CID, CG);
    expect(runSampled(t, 0.25)).toBe(runSampled(t, 0.25));
    expect(runSampled(t, 1)).toBe(true);
    expect(runSampled(t, 0)).toBe(false);
  });
});

describe('ProcessTracer: bounded memory', () => {
  it('stops opening spans at max_open_spans_per_container, counted, and ignores what it did not follow', async () => {
    const h = harness({ maxOpenPerContainer: 16 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    for (let i = 0; i < 20; i++) h.tracer.onEvent(exec({ pid: 200 + i, start: BigInt(i) * S, execId: 1n, at: BigInt(i) * S + 1n, comm: 'w' }));
    expect(h.tracer.openSpans).toBe(16);
    expect(h.dropped).toEqual({ container_limit: 4 });
    for (let i = 0; i < 20; i++) h.tracer.onEvent(exit({ pid: 200 + i, start: BigInt(i) * S, execId: 1n, at: 30n * S, comm: 'w' }));
    await h.end(entry);
    expect(named(h.spans, 'exec w')).toHaveLength(16);
    expect(h.dropped).toEqual({ container_limit: 4 }); // the exits of the 4 are not counted again
    expect(h.tracer.openSpans).toBe(0);
  });

  it('stops at max_open_spans across containers', async () => {
    const h = harness({ maxOpenTotal: 16 });
    for (let c = 0; c < 2; c++) {
      h.tracer.onContainerTracked(runEntry({ cgroupId: BigInt(c + 1), container: containerInfo(`${c}`.repeat(64), `c${c}`) }));
    }
    await settle();
    for (let i = 0; i < 20; i++) h.tracer.onEvent(exec({ pid: 300 + i, start: BigInt(i) * S, execId: 1n, at: BigInt(i) * S, cgroupId: BigInt((i % 2) + 1) }));
    expect(h.tracer.openSpans).toBe(16);
    expect(h.dropped).toEqual({ agent_limit: 4 });
  });

  it('drops an exit of an image it never saw begin in a run whose start it saw (runtime init), counted', async () => {
    const h = harness();
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exit({ pid: 400, start: S, execId: 1n, at: 2n * S, comm: 'runc:[1:CHILD]' }));
    await h.end(entry);
    expect(h.spans.map((s) => s.name)).toEqual(['container web']);
    expect(h.dropped).toEqual({ begin_unseen: 1 });
  });

  it('waits for a registry entry an event came before, and drops a cgroup\'s events that never get one', async () => {
    const h = harness({ entryForSlot: () => undefined });
    h.tracer.onEvent(exec({ pid: 500, start: S, execId: 1n, at: S, comm: 'early' }));
    h.tracer.onEvent(exec({ pid: 501, start: S, execId: 1n, at: S, comm: 'lost', cgroupId: 77n }));
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exit({ pid: 500, start: S, execId: 1n, at: 2n * S, comm: 'early' }));
    h.setNow(200n * S);
    h.tracer.flush();
    expect(h.spans.map((s) => s.name)).toEqual(['exec early']);
    expect(h.dropped).toEqual({ untracked_container: 1 });
    expect(h.tracer.runCount).toBe(1);
  });

  it('traces nothing of a cgroup that is no reportable container (the agent\'s own)', async () => {
    const h = harness();
    const entry = runEntry({ container: null });
    h.tracer.onContainerTracked(entry);
    await settle();
    h.tracer.onEvent(exec({ pid: 600, start: S, execId: 1n, at: S, comm: 'node' }));
    h.tracer.onEvent(exit({ pid: 600, start: S, execId: 1n, at: 2n * S, comm: 'node' }));
    await h.end(entry);
    expect(h.spans).toEqual([]);
    expect(h.tracer.openSpans).toBe(0);
    expect(h.tracer.runCount).toBe(0);
  });
});

const fileOpen = (path: string, atNs: bigint, extra: Record<string, string | number | boolean | string[]> = {}) => ({
  name: 'file.open',
  atNs,
  attributes: { 'file.path': path, 'contguard.file.access': ['read'], ...extra },
});
const eventNames = (s: ReadableSpan) => s.events.map((e) => `${e.name} ${String(e.attributes?.['file.path'] ?? e.attributes?.['network.peer.port'] ?? '')}`);

describe('ProcessTracer: records of a process as events of its span', () => {
  it('adds each record as an event of its image\'s span, at its time, even one that came before the image (another ring)', async () => {
    const h = harness();
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const P = 10n * S;
    const cat = { pid: 1001, startNs: P, execId: 2n };
    // The file_open ring was drained first: its open waits for the exec.
    h.tracer.spanEvent(CG, cat, fileOpen('/data/in.txt', P + 2n * MS));
    expect(h.tracer.heldEvents).toBe(1);
    h.tracer.onEvent(exec({ pid: 1001, start: P, execId: 2n, at: P + MS, comm: 'cat' }));
    h.tracer.spanEvent(CG, cat, { name: 'network.connect', atNs: P + 3n * MS, attributes: { 'network.peer.address': '10.0.0.2', 'network.peer.port': 80, 'network.transport': 'tcp' } });
    // A bad byte in a path keeps the OTLP escaping rule (as span attributes do).
    h.tracer.spanEvent(CG, cat, fileOpen('/data/\udcff', P + 4n * MS));
    h.tracer.onEvent(exit({ pid: 1001, start: P, execId: 2n, at: P + 5n * MS, comm: 'cat', exit: 0 }));
    h.setNow(P + S);
    h.tracer.flush();
    const span = one(h.spans, 'exec cat');
    expect(eventNames(span)).toEqual(['file.open /data/in.txt', 'network.connect 80', 'file.open /data/\\xff']);
    expect(span.events.map((e) => nanos(e.time as [number, number]))).toEqual([EPOCH + P + 2n * MS, EPOCH + P + 3n * MS, EPOCH + P + 4n * MS]);
    expect(span.events[0]!.attributes).toEqual({ 'file.path': '/data/in.txt', 'contguard.file.access': ['read'] });
    expect(span.events[1]!.attributes).toEqual({ 'network.peer.address': '10.0.0.2', 'network.peer.port': 80, 'network.transport': 'tcp' });
    expect(Buffer.from(span.events[2]!.attributes!['file.path_raw'] as Uint8Array)).toEqual(Buffer.from([0x2f, 0x64, 0x61, 0x74, 0x61, 0x2f, 0xff]));
    expect(span.droppedEventsCount).toBe(0);
    expect(h.tracer.heldEvents).toBe(0);
    expect(h.eventsDropped).toEqual({});
  });

  it('keeps at most maxEventsPerSpan per span: the rest counted, and the span says how many', async () => {
    const h = harness({ maxEventsPerSpan: 3 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    const img = { pid: 7, startNs: S, execId: 1n };
    h.tracer.onEvent(exec({ pid: 7, start: S, execId: 1n, at: S, comm: 'find' }));
    for (let i = 0; i < 5; i++) h.tracer.spanEvent(CG, img, fileOpen(`/f${i}`, S + BigInt(i) * MS));
    h.tracer.onEvent(exit({ pid: 7, start: S, execId: 1n, at: 2n * S, comm: 'find' }));
    h.setNow(3n * S);
    h.tracer.flush();
    const span = one(h.spans, 'exec find');
    expect(eventNames(span)).toEqual(['file.open /f0', 'file.open /f1', 'file.open /f2']);
    expect(span.droppedEventsCount).toBe(2);
    expect(h.eventsDropped).toEqual({ span_limit: 2 });
    expect(h.tracer.heldEvents).toBe(0);
  });

  it('holds at most maxEventsHeld events in all, across spans', async () => {
    const h = harness({ maxEventsHeld: 4 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    for (const pid of [1, 2]) h.tracer.onEvent(exec({ pid, start: S, execId: 1n, at: S, comm: `p${pid}` }));
    for (let i = 0; i < 3; i++) for (const pid of [1, 2]) h.tracer.spanEvent(CG, { pid, startNs: S, execId: 1n }, fileOpen(`/p${pid}/${i}`, S + BigInt(i) * MS));
    expect(h.tracer.heldEvents).toBe(4);
    expect(h.eventsDropped).toEqual({ agent_limit: 2 });
    // Once a span is exported its events no longer count: room for new ones.
    h.tracer.onEvent(exit({ pid: 1, start: S, execId: 1n, at: 2n * S, comm: 'p1' }));
    h.setNow(3n * S);
    h.tracer.flush();
    expect(one(h.spans, 'exec p1').droppedEventsCount).toBe(1);
    expect(h.tracer.heldEvents).toBe(2);
    h.tracer.spanEvent(CG, { pid: 2, startNs: S, execId: 1n }, fileOpen('/p2/late', 3n * S));
    expect(h.tracer.heldEvents).toBe(3);
  });

  it('lets a finished span wait lateEventGraceMs for records still on their way; later ones are counted', async () => {
    const h = harness({ lateEventGraceMs: 2000 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const img = { pid: 9, startNs: S, execId: 1n };
    h.tracer.onEvent(exec({ pid: 9, start: S, execId: 1n, at: S, comm: 'nc' }));
    h.tracer.onEvent(exit({ pid: 9, start: S, execId: 1n, at: S + 10n * MS, comm: 'nc' }));
    h.setNow(2n * S);
    h.tracer.flush();
    expect(h.spans).toEqual([]); // 1 s after its end: still waiting
    // A record that waited for attribution (or the other end of a connection) comes now.
    h.tracer.spanEvent(CG, img, { name: 'network.failed', atNs: S + 5n * MS, attributes: { 'network.peer.port': 9, 'error.type': 'ECONNREFUSED' } });
    h.setNow(3n * S + 20n * MS);
    h.tracer.flush();
    expect(eventNames(one(h.spans, 'exec nc'))).toEqual(['network.failed 9']);
    // Its span is gone: a record now has nothing to join.
    h.tracer.spanEvent(CG, img, fileOpen('/late', S + 6n * MS));
    expect(h.eventsDropped).toEqual({ no_span: 1 });
    // The run's last spans wait as long after the container's removal.
    h.tracer.onEvent(exec({ pid: 10, start: 4n * S, execId: 1n, at: 4n * S, comm: 'sleep' }));
    h.tracer.onContainerRemoved(entry);
    h.setNow(3n * S + 1500n * MS);
    h.tracer.flush();
    expect(h.spans.map((s) => s.name)).toEqual(['exec nc']);
    h.setNow(3n * S + 2100n * MS);
    h.tracer.flush();
    expect(h.spans.map((s) => s.name).sort()).toEqual(['container web', 'exec nc', 'exec sleep']);
    expect(h.tracer.heldEvents).toBe(0);
  });

  it('names the right segment\'s span for records of an open long-lived image (its span id computed once per segment)', async () => {
    const h = harness({ maxSpanMs: 1000 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    const P = 40n * S;
    const img = { pid: 61, startNs: P, execId: 1n };
    h.tracer.onEvent(exec({ pid: 61, start: P, execId: 1n, at: P, comm: 'svc' }));
    for (const at of [P + 10n * MS, P + 20n * MS, P + 1500n * MS, P + 10n * MS, P + 2500n * MS]) {
      const seg = segmentAt(P, at, 1000n * MS);
      expect(h.tracer.logContext(CID, CG, img, at).spanId, String(at - P)).toBe(imageSpanId(BOOT, img, seg));
    }
  });

  it('hands over at shutdown the spans still waiting for late records', async () => {
    const h = harness({ lateEventGraceMs: 2000 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    h.tracer.onEvent(exec({ pid: 9, start: S, execId: 1n, at: S, comm: 'nc' }));
    h.tracer.onEvent(exit({ pid: 9, start: S, execId: 1n, at: S + 10n * MS, comm: 'nc' }));
    h.tracer.spanEvent(CG, { pid: 9, startNs: S, execId: 1n }, fileOpen('/x', S + 5n * MS));
    h.setNow(S + 20n * MS);
    h.tracer.flush();
    expect(h.spans).toEqual([]);
    h.tracer.shutdown();
    expect(eventNames(one(h.spans, 'exec nc'))).toEqual(['file.open /x']);
  });

  it('gives the exec\'d span what its process did between fork and exec (fork then exec is one span)', async () => {
    const h = harness();
    h.tracer.onContainerTracked(runEntry());
    await settle();
    h.tracer.onEvent(exec({ pid: 1, start: S, execId: 1n, at: S, comm: 'sh' }));
    h.tracer.onEvent(fork({ pid: 2, start: 2n * S, execId: 1n, at: 2n * S, ppid: 1, pstart: S }));
    h.tracer.spanEvent(CG, { pid: 2, startNs: 2n * S, execId: 1n }, fileOpen('/out.log', 2n * S + MS, { 'contguard.file.access': ['write', 'create'] }));
    h.tracer.onEvent(exec({ pid: 2, start: 2n * S, execId: 2n, at: 2n * S + 2n * MS, comm: 'date' }));
    h.tracer.spanEvent(CG, { pid: 2, startNs: 2n * S, execId: 2n }, fileOpen('/etc/localtime', 2n * S + 3n * MS));
    h.tracer.onEvent(exit({ pid: 2, start: 2n * S, execId: 2n, at: 2n * S + 4n * MS, comm: 'date' }));
    h.setNow(3n * S);
    h.tracer.flush();
    expect(eventNames(one(h.spans, 'exec date'))).toEqual(['file.open /out.log', 'file.open /etc/localtime']);
  });

  it('gives each continuation span the events of its own window', async () => {
    const h = harness({ maxSpanMs: 1000 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    const P = 40n * S;
    const img = { pid: 60, startNs: P, execId: 1n };
    h.tracer.onEvent(exec({ pid: 60, start: P, execId: 1n, at: P, comm: 'svc' }));
    h.tracer.spanEvent(CG, img, fileOpen('/a', P + 500n * MS));
    h.tracer.spanEvent(CG, img, fileOpen('/b', P + 1500n * MS));
    h.setNow(P + 1600n * MS);
    h.tracer.flush();
    expect(eventNames(one(h.spans, 'exec svc'))).toEqual(['file.open /a']);
    h.tracer.spanEvent(CG, img, fileOpen('/c', P + 1700n * MS));
    h.tracer.onEvent(exit({ pid: 60, start: P, execId: 1n, at: P + 1800n * MS, comm: 'svc' }));
    h.setNow(P + 2n * S);
    h.tracer.flush();
    const second = named(h.spans, 'exec svc').find((s) => s.attributes['contguard.process.segment'] === 1)!;
    expect(eventNames(second)).toEqual(['file.open /b', 'file.open /c']);
    // A record's span id names the same segment its event went to.
    expect(h.tracer.logContext(CID, CG, img, P + 1500n * MS).spanId).toBe(id(second));
  });

  it('keeps events in the spans an unsampled run holds: exported on a WARN, released when the run ends without one', async () => {
    const h = harness({ sampleRatio: 0 });
    const entry = runEntry();
    h.tracer.onContainerTracked(entry);
    await settle();
    const img = { pid: 5, startNs: S, execId: 1n };
    h.tracer.onEvent(exec({ pid: 5, start: S, execId: 1n, at: S, comm: 'cat' }));
    h.tracer.spanEvent(CG, img, fileOpen('/etc/shadow', S + MS, { 'contguard.file.rule': 'shadow' }));
    h.tracer.onEvent(exit({ pid: 5, start: S, execId: 1n, at: S + 2n * MS, comm: 'cat' }));
    h.setNow(2n * S);
    h.tracer.flush();
    expect(h.spans).toEqual([]);
    expect(h.tracer.heldEvents).toBe(1);
    h.tracer.observe({ eventName: 'contguard.file.open', timeUnixNano: 0n, severity: 'WARN', body: '', attributes: { 'container.id': CID } });
    expect(eventNames(one(h.spans, 'exec cat'))).toEqual(['file.open /etc/shadow']);
    expect(h.tracer.heldEvents).toBe(0);

    const q = harness({ sampleRatio: 0 });
    const e2 = runEntry();
    q.tracer.onContainerTracked(e2);
    await settle();
    q.tracer.onEvent(exec({ pid: 5, start: S, execId: 1n, at: S, comm: 'cat' }));
    q.tracer.spanEvent(CG, img, fileOpen('/data/x', S + MS));
    q.tracer.onEvent(exit({ pid: 5, start: S, execId: 1n, at: S + 2n * MS, comm: 'cat' }));
    await q.end(e2);
    expect(q.spans).toEqual([]);
    expect(q.tracer.heldEvents).toBe(0);
  });

  it('drops records of a process it does not follow, and of an image that never shows up, counted', async () => {
    const h = harness({ maxOpenPerContainer: 16 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    for (let i = 0; i < 17; i++) h.tracer.onEvent(exec({ pid: 100 + i, start: S, execId: 1n, at: S, comm: 'w' }));
    expect(h.dropped.container_limit).toBe(1);
    h.tracer.spanEvent(CG, { pid: 116, startNs: S, execId: 1n }, fileOpen('/x', S + MS)); // the one over the limit
    h.tracer.spanEvent(CG, { pid: 999, startNs: S, execId: 1n }, fileOpen('/y', S + MS)); // never seen
    expect(h.eventsDropped).toEqual({ no_span: 1 });
    h.setNow(100n * S + 9n * S); // the harness clock starts at 100 s: pending events keep 10 s
    h.tracer.flush();
    expect(h.eventsDropped).toEqual({ no_span: 1 });
    h.setNow(100n * S + 11n * S);
    h.tracer.flush();
    expect(h.eventsDropped).toEqual({ no_span: 2 });
    expect(h.tracer.heldEvents).toBe(0);
  });

  it('in a run it joined, makes the span of a process that began before the agent from its records', async () => {
    const h = harness();
    const entry = runEntry({ joinedRunning: true });
    h.tracer.onContainerTracked(entry);
    await settle();
    const now0 = 100n * S; // the harness clock
    const img = { pid: 40, startNs: 5n * S, execId: 3n };
    h.tracer.spanEvent(CG, img, { ...fileOpen('/srv/www/index.html', now0 - 10n * S), comm: 'nginx' });
    h.setNow(now0 + S);
    h.tracer.flush();
    expect(h.tracer.openSpans).toBe(0); // 1 s: its begin event may still be in the other ring
    h.setNow(now0 + 2n * S);
    h.tracer.flush();
    expect(h.tracer.openSpans).toBe(1); // 2 s: no begin event is coming; the image is made
    h.tracer.spanEvent(CG, img, { ...fileOpen('/srv/www/app.js', now0 + S), comm: 'nginx' });
    h.tracer.onEvent(exit({ pid: 40, start: 5n * S, execId: 3n, at: now0 + 3n * S, comm: 'nginx', ppid: 12, exit: 0 }));
    h.setNow(now0 + 4n * S);
    h.tracer.flush();
    const span = one(h.spans, 'process nginx');
    expect(eventNames(span)).toEqual(['file.open /srv/www/index.html', 'file.open /srv/www/app.js']);
    expect(span.attributes).toMatchObject({ 'contguard.process.start': 'unseen', 'process.parent_pid': 12, 'contguard.process.end': 'exit' });
    // The same span the records named, and the one a span made at its exit alone would be.
    expect(id(span)).toBe(h.tracer.logContext(CID, CG, img, now0).spanId);
    expect(id(span)).toBe(imageSpanId(BOOT, img, 0));
    expect(span.parentSpanContext?.spanId).toBe(containerRootSpanId(containerTraceId(BOOT, CID, CG)));
    expect(h.eventsDropped).toEqual({});
  });

  it('makes no span events with maxEventsPerSpan 0', async () => {
    const h = harness({ maxEventsPerSpan: 0 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    h.tracer.onEvent(exec({ pid: 3, start: S, execId: 1n, at: S, comm: 'cat' }));
    h.tracer.spanEvent(CG, { pid: 3, startNs: S, execId: 1n }, fileOpen('/x', S + MS));
    h.tracer.onEvent(exit({ pid: 3, start: S, execId: 1n, at: 2n * S, comm: 'cat' }));
    h.setNow(3n * S);
    h.tracer.flush();
    expect(one(h.spans, 'exec cat').events).toEqual([]);
    expect(h.tracer.heldEvents).toBe(0);
  });
});

describe('recordTraceFields', () => {
  it('names the span of the record\'s process; a WARN record is flagged sampled (it makes its run traced)', async () => {
    const h = harness({ sampleRatio: 0 });
    h.tracer.onContainerTracked(runEntry());
    await settle();
    const img = { pid: 5, startNs: S, execId: 3n };
    const info = recordTraceFields(h.tracer, CID, CG, img, S, 'INFO');
    expect(info).toEqual({ traceId: containerTraceId(BOOT, CID, CG), spanId: imageSpanId(BOOT, img, 0), traceFlags: TraceFlags.NONE });
    expect(recordTraceFields(h.tracer, CID, CG, img, S, 'WARN')).toEqual({ ...info, traceFlags: TraceFlags.SAMPLED });
    // No process sensor, a host task, a record without a process (UDP): no trace fields.
    expect(recordTraceFields(null, CID, CG, img, S, 'INFO')).toEqual({});
    expect(recordTraceFields(h.tracer, undefined, CG, img, S, 'INFO')).toEqual({});
    expect(recordTraceFields(h.tracer, CID, CG, { ...img, pid: 0 }, S, 'INFO')).toEqual({});
  });
});

describe('trace ids', () => {
  it('are hex of the OTel sizes, never all zero, and differ by boot, container, cgroup and image', () => {
    const t = containerTraceId(BOOT, CID, CG);
    expect(t).toMatch(/^[0-9a-f]{32}$/);
    expect(containerTraceId('other-boot', CID, CG)).not.toBe(t);
    expect(containerTraceId(BOOT, CID, CG + 1n)).not.toBe(t);
    const img = { pid: 1, startNs: 2n, execId: 3n };
    expect(imageSpanId(BOOT, img, 0)).toMatch(/^[0-9a-f]{16}$/);
    expect(imageSpanId(BOOT, { ...img, execId: 4n }, 0)).not.toBe(imageSpanId(BOOT, img, 0));
    expect(imageSpanId(BOOT, img, 1)).not.toBe(imageSpanId(BOOT, img, 0));
    expect(containerRootSpanId(t)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('count segments in max_span_ms windows from the process start', () => {
    expect(segmentAt(10n, 5n, 100n)).toBe(0);
    expect(segmentAt(10n, 109n, 100n)).toBe(0);
    expect(segmentAt(10n, 110n, 100n)).toBe(1);
    expect(segmentAt(10n, 1010n, 100n)).toBe(10);
  });

  it('PROCESS_EVENT_* and PROCESS_FLAG_* equal the #defines in bpf/process.h', () => {
    const header = fs.readFileSync(path.join(ROOT, 'bpf/process.h'), 'utf8');
    const fromHeader = Object.fromEntries([...header.matchAll(/^#define\s+(PROCESS_(?:EVENT|FLAG)_\w+)\s+(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
    const fromTs = Object.fromEntries(Object.entries(tracerModule).filter(([k]) => /^PROCESS_(EVENT|FLAG)_/.test(k)));
    expect(fromTs).toEqual(fromHeader);
    expect(Object.keys(fromHeader)).toHaveLength(4);
  });
});
