// SPDX-License-Identifier: Apache-2.0
/**
 * process sensor end to end (real kernel, real Docker, the test OTLP receiver decoding with the
 * official protos): one trace per container run whose span tree is the process tree, exit codes
 * and signals, the exec records (OTLP and JSON lines) stamped with their image's span, sampling
 * with a WARN record promoting a run, and long-lived images cut into linked continuation spans.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readJsonLines, startAgent, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type FlatSpan, type OtlpReceiver } from '../support/otlp-receiver.js';

const INNER = '/bin/ls /; /bin/cat /etc/hostname';
const WORKLOAD = `/bin/sh -c "${INNER}"`;

const isRootOf = (name: string) => (s: FlatSpan) => s.parentSpanId === '' && s.attributes['container.name'] === name;
const args = (s: FlatSpan | undefined) => s?.attributes['process.command_args'] as string[] | undefined;

/** Waits for the root span of `name`'s run, then for at least `min` spans of its trace. */
async function traceOf(rx: OtlpReceiver, name: string, min: number, timeoutMs = 20_000): Promise<{ root: FlatSpan; spans: FlatSpan[] }> {
  const root = await rx.waitForSpan(isRootOf(name), timeoutMs);
  const spans = await rx.waitFor((s) => {
    const t = s.spans.filter((x) => x.traceId === root.traceId);
    return t.length >= min ? t : null;
  }, timeoutMs);
  return { root, spans };
}

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-proc-cfg-'));
  writeFileSync(join(dir, 'contguard.yaml'), yaml);
  return join(dir, 'contguard.yaml');
}

describe('process sensor: container process trees as traces (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let rx: OtlpReceiver;
  const ids: string[] = [];
  const name = uniqueName('cg-proc');
  const failing = uniqueName('cg-proc-fail');

  beforeAll(async () => {
    await ensureTestImage();
    rx = await startOtlpReceiver();
    // Metrics every second, so the span counters can be read back.
    const cfg = configFile('outputs:\n  otlp:\n    export_interval_ms: 1000\n');
    agent = await startAgent({ args: ['--config', cfg, '--otlp-endpoint', rx.endpoint, '--prometheus', 'off'] });
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]));
    // A command that fails, one killed by a signal, and the container's own exit code.
    ids.push(await dockerRun(['--name', failing, TEST_IMAGE, 'sh', '-c', '/bin/false; /bin/sh -c "kill -KILL \\$\\$"; exit 3']));
    await waitForExit(name);
    await waitForExit(failing);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  it('loads with the registry variant and attaches fork, exec and exit', () => {
    expect(agent.stderr()).toMatch(/sensor process \(tp_btf\): attached tp_btf\/sched_process_fork, tp_btf\/sched_process_exec, tp_btf\/sched_process_exit/);
  });

  it('exports one trace per container run whose span tree is its process tree', async () => {
    const { root, spans } = await traceOf(rx, name, 5);
    // Root: the container run, from its start to its removal, with container.*.
    expect(root.name).toBe(`container ${name}`);
    expect(root.attributes['container.id']).toBe(ids[0]);
    expect(root.attributes['container.image.name']).toBe(TEST_IMAGE.split(':')[0]);
    expect(root.resource['container.name']).toBe(name);
    expect(root.resource['service.name']).toBe('contguard');
    expect(root.kind).toBe('SPAN_KIND_INTERNAL');
    expect(root.scope.name).toBe('contguard');
    expect(BigInt(root.endTimeUnixNano)).toBeGreaterThan(BigInt(root.startTimeUnixNano));
    expect(rx.spans.filter((s) => s.attributes['container.name'] === name && s.parentSpanId === '')).toHaveLength(1);

    // busybox sh execs the last command of -c in place: pid 1 runs sh, then /bin/sh, then cat;
    // only ls is forked. Each exec'd program is a span, under the one it replaced.
    const outer = spans.find((s) => args(s)?.[2] === WORKLOAD);
    const inner = spans.find((s) => args(s)?.[2] === INNER);
    const ls = spans.find((s) => args(s)?.[0] === '/bin/ls');
    const cat = spans.find((s) => args(s)?.[0] === '/bin/cat');
    expect(outer?.name).toBe('exec sh');
    expect(inner?.name).toBe('exec sh');
    expect(ls?.name).toBe('exec ls');
    expect(cat?.name).toBe('exec cat');
    expect(outer!.parentSpanId).toBe(root.spanId);
    expect(inner!.parentSpanId).toBe(outer!.spanId);
    expect(ls!.parentSpanId).toBe(inner!.spanId);
    expect(cat!.parentSpanId).toBe(inner!.spanId);
    // Every span of the run is in this tree: none dangles.
    const known = new Set(spans.map((s) => s.spanId));
    for (const s of spans) if (s !== root) expect(known.has(s.parentSpanId), s.name).toBe(true);
    expect(spans.filter((s) => s.name === 'exec ls')).toHaveLength(1);

    // pids: the shells and cat are one process (pid 1 in the container), ls another.
    expect(inner!.attributes['process.pid']).toBe(outer!.attributes['process.pid']);
    expect(cat!.attributes['process.pid']).toBe(outer!.attributes['process.pid']);
    expect(ls!.attributes['process.pid']).not.toBe(outer!.attributes['process.pid']);
    expect(ls!.attributes['process.parent_pid']).toBe(outer!.attributes['process.pid']);
    expect(ls!.attributes['process.executable.path']).toBe('/bin/busybox');
    expect(ls!.attributes['process.executable.name']).toBe('ls');

    // Replaced images end at the next exec; the others at their exit, with its code.
    expect(outer!.attributes['contguard.process.end']).toBe('exec');
    expect(outer!.attributes['process.exit.code']).toBeUndefined();
    expect(inner!.attributes['contguard.process.end']).toBe('exec');
    expect(ls!.attributes['contguard.process.end']).toBe('exit');
    expect(ls!.attributes['process.exit.code']).toBe(0);
    expect(cat!.attributes['process.exit.code']).toBe(0);
    expect(cat!.status.code).toBe('STATUS_CODE_UNSET');
    expect(ls!.attributes['contguard.process.start']).toBe('exec');
    // Children within their parents, the run within the root.
    expect(BigInt(outer!.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(inner!.startTimeUnixNano));
    expect(BigInt(ls!.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(inner!.startTimeUnixNano));
    expect(BigInt(cat!.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(root.endTimeUnixNano));
    expect(BigInt(outer!.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(root.startTimeUnixNano));
  });

  it('gives a failed command and a killed process ERROR status with the exit code or signal', async () => {
    const { spans } = await traceOf(rx, failing, 4);
    const falseSpan = spans.find((s) => s.name === 'exec false');
    expect(falseSpan?.attributes['process.exit.code']).toBe(1);
    expect(falseSpan?.status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'exit code 1' });
    const killed = spans.find((s) => s.name === 'exec sh' && args(s)?.[2]?.startsWith('kill'));
    expect(killed?.attributes['contguard.process.exit.signal']).toBe('SIGKILL');
    expect(killed?.attributes['process.exit.code']).toBeUndefined();
    expect(killed?.status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'killed by SIGKILL' });
    const main = spans.find((s) => s.name === 'exec sh' && args(s)?.[2]?.startsWith('/bin/false'));
    expect(main?.attributes['process.exit.code']).toBe(3);
    expect(main?.attributes['contguard.process.end']).toBe('exit');
  });

  it('stamps each exec record, over OTLP and in the JSON lines, with its trace and its image\'s span', async () => {
    const { root, spans } = await traceOf(rx, name, 5);
    const execLogs = await rx.waitFor((s) => {
      const l = s.logs.filter((x) => x.eventName === 'contguard.process.exec' && x.attributes['container.name'] === name);
      return l.length >= 4 ? l : null;
    }, 15_000);
    for (const log of execLogs) {
      const span = spans.find((s) => s.attributes['process.pid'] === log.attributes['process.pid'] && JSON.stringify(args(s)) === JSON.stringify(log.attributes['process.command_args']));
      expect(span, JSON.stringify(log.attributes['process.command_args'])).toBeDefined();
      expect(log.traceId).toBe(root.traceId);
      expect(log.spanId).toBe(span!.spanId);
    }
    const lines = readJsonLines(agent.logDir).filter((r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === name);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const log = execLogs.find((l) => l.attributes['process.pid'] === line.attributes['process.pid'] && JSON.stringify(l.attributes['process.command_args']) === JSON.stringify(line.attributes['process.command_args']));
      expect(line.trace_id).toBe(root.traceId);
      expect(line.span_id).toBe(log?.spanId);
    }
  });

  it('counts the spans it exported and drops none', async () => {
    const a = await traceOf(rx, name, 5);
    const b = await traceOf(rx, failing, 4);
    const total = a.spans.length + b.spans.length;
    const exported = await rx.waitForMetric((p) => p.name === 'contguard.process.spans' && p.attributes.outcome === 'exported' && p.value >= total, 15_000);
    expect(exported.kind).toBe('sum');
    expect(rx.metrics.filter((p) => p.name === 'contguard.process.spans.dropped' && p.value > 0)).toEqual([]);
    expect(rx.metrics.find((p) => p.name === 'contguard.events.lost' && p.attributes.sensor === 'process')?.value ?? 0).toBe(0);
    // The span processor's own account (SDK self-observability): nothing dropped or failed.
    expect(rx.metrics.filter((p) => p.name === 'otel.sdk.processor.span.processed' && p.attributes['error.type'] !== undefined)).toEqual([]);
    expect(agent.stderr()).not.toMatch(/process spans: /);
  });
});

describe('process sensor: sampling, WARN promotion and long-lived spans', () => {
  let agent: AgentHandle;
  let rx: OtlpReceiver;
  const ids: string[] = [];
  const quiet = uniqueName('cg-proc-quiet');
  const warned = uniqueName('cg-proc-warn');

  beforeAll(async () => {
    await ensureTestImage();
    rx = await startOtlpReceiver();
    const cfg = configFile('sensors:\n  process:\n    sample_ratio: 0\n    max_span_ms: 1000\n');
    agent = await startAgent({ args: ['--config', cfg, '--otlp-endpoint', rx.endpoint, '--prometheus', 'off'] });
    ids.push(await dockerRun(['--name', quiet, TEST_IMAGE, 'sh', '-c', '/bin/ls /; /bin/true']));
    await waitForExit(quiet);
    // ls and the 2.5 s sleep end before the WARN (a sensitive file): they are held, then exported.
    ids.push(await dockerRun(['--name', warned, TEST_IMAGE, 'sh', '-c', '/bin/ls /; /bin/sleep 2.5; /bin/cat /etc/shadow; true']));
    await waitForExit(warned);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  it('traces a run with a WARN record whole, spans that ended before it included', async () => {
    const { spans } = await traceOf(rx, warned, 5);
    expect(spans.find((s) => s.name === 'exec ls')?.attributes['process.exit.code']).toBe(0);
    expect(spans.find((s) => s.name === 'exec cat')).toBeDefined();
  });

  it('cuts an image longer than max_span_ms into continuation spans, each linked to the one before', async () => {
    const { spans } = await traceOf(rx, warned, 5);
    const sleep = spans.filter((s) => s.name === 'exec sleep').sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    expect(sleep.length).toBeGreaterThanOrEqual(2);
    expect(sleep[0]!.attributes['contguard.process.end']).toBe('max_span');
    expect(sleep.at(-1)!.attributes['contguard.process.end']).toBe('exit');
    for (let i = 1; i < sleep.length; i++) {
      expect(sleep[i]!.parentSpanId).toBe(sleep[0]!.parentSpanId);
      expect(sleep[i]!.links.map((l) => l.spanId)).toEqual([sleep[i - 1]!.spanId]);
      expect(sleep[i]!.attributes['contguard.process.segment']).toBe(i);
      expect(sleep[i]!.startTimeUnixNano).toBe(sleep[i - 1]!.endTimeUnixNano);
      expect(BigInt(sleep[i]!.endTimeUnixNano) - BigInt(sleep[i]!.startTimeUnixNano)).toBeLessThanOrEqual(1_000_000_000n);
    }
  });

  it('exports nothing of a run that was not sampled and had no WARN record', async () => {
    await traceOf(rx, warned, 5);
    // The premise: no WARN record for it (file_open never reports runtime init, runc's opens).
    const warns = readJsonLines(agent.logDir).filter((r) => r.severity === 'WARN' && r.attributes['container.name'] === quiet);
    expect(warns.map((r) => r.body)).toEqual([]);
    expect(rx.spans.filter((s) => s.resource['container.name'] === quiet)).toEqual([]);
    // Its exec records still carry the trace context, not sampled (flags 0).
    const log = await rx.waitForLog((l) => l.eventName === 'contguard.process.exec' && l.attributes['container.name'] === quiet, 15_000);
    expect(log.traceId).toMatch(/^[0-9a-f]{32}$/);
    const raw = rx.logRequests
      .flatMap((r) => r.resourceLogs ?? [])
      .flatMap((rl: any) => rl.scopeLogs ?? [])
      .flatMap((sl: any) => sl.logRecords ?? [])
      .find((lr: any) => Buffer.from(lr.spanId ?? '', 'base64').toString('hex') === log.spanId);
    expect(Number(raw?.flags ?? 0) & 1).toBe(0);
  });
});

describe('process sensor: raw_tracepoint variant (the registry\'s cgroup-id index)', () => {
  let agent: AgentHandle;
  let rx: OtlpReceiver;
  const ids: string[] = [];
  const name = uniqueName('cg-proc-raw');

  beforeAll(async () => {
    await ensureTestImage();
    rx = await startOtlpReceiver();
    const cfg = configFile('registry:\n  hook: raw_tracepoint\n');
    agent = await startAgent({ args: ['--config', cfg, '--otlp-endpoint', rx.endpoint, '--prometheus', 'off'] });
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', WORKLOAD]));
    await waitForExit(name);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  it('follows the registry variant and builds the same tree, runtime init left out', async () => {
    expect(agent.stderr()).toMatch(/sensor process \(raw_tracepoint\): attached raw_tracepoint\/sched_process_fork, raw_tracepoint\/sched_process_exec, raw_tracepoint\/sched_process_exit/);
    const { root, spans } = await traceOf(rx, name, 5);
    const outer = spans.find((s) => args(s)?.[2] === WORKLOAD);
    const inner = spans.find((s) => args(s)?.[2] === INNER);
    expect(outer?.parentSpanId).toBe(root.spanId);
    expect(inner?.parentSpanId).toBe(outer?.spanId);
    expect(spans.find((s) => s.name === 'exec ls')?.parentSpanId).toBe(inner?.spanId);
    expect(spans.find((s) => s.name === 'exec cat')?.parentSpanId).toBe(inner?.spanId);
    // Nothing of runc: every span is the workload's.
    expect(spans.filter((s) => /runc/.test(s.name))).toEqual([]);
    expect(spans).toHaveLength(5);
  });
});

describe('process sensor without an OTLP endpoint', () => {
  it('is not loaded, and says so once: its spans have nowhere to go', async () => {
    const agent = await startAgent({ args: ['--prometheus', 'off'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: '' } });
    try {
      expect(agent.stderr()).toContain('sensor process: not loaded: its spans go by OTLP only, and no OTLP endpoint is set');
      expect(agent.stderr()).not.toMatch(/sensor process \(/);
      expect(agent.stderr().match(/sensor process/g)).toHaveLength(1);
    } finally {
      await agent.cleanup();
    }
  });
});
