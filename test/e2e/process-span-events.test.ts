// SPDX-License-Identifier: Apache-2.0
/**
 * Records of a process as events of its span, end to end (real kernel, real Docker, the test
 * OTLP receiver decoding with the official protos): a container's cat reads a bind-mounted
 * host file, wget connects to another container against the network policy, nc is refused.
 * Each program's span carries its file.open / network.connect / network.policy_violation /
 * network.failed events (at most max_events_per_span), the file_open and network records (OTLP
 * and JSON lines) carry that span's trace and span ids, and the policy violation (WARN) makes
 * the run traced although sample_ratio is 0; io_uring records name their submitter's span; and
 * in a container the agent joined running, pid 1's span is made from its records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readJsonLines, startAgent, type AgentHandle } from '../support/agent-process.js';
import { dockerInspect, waitLogs, dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, REPO_ROOT, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type FlatLog, type FlatSpan, type OtlpReceiver } from '../support/otlp-receiver.js';

const args = (s: FlatSpan) => (s.attributes['process.command_args'] as string[] | undefined) ?? [];

describe('process spans: file opens, connections and policy violations as span events', () => {
  let agent: AgentHandle;
  let rx: OtlpReceiver;
  const ids: string[] = [];
  const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-spev-')));
  const server = uniqueName('cg-spev-httpd');
  const workload = uniqueName('cg-spev-work');
  let serverIp = '';
  let root: FlatSpan;
  let spans: FlatSpan[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    for (const f of ['data.txt', 'a', 'b', 'c', 'd']) writeFileSync(join(shared, f), `${f}\n`);
    rx = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'cg-spev-cfg-'));
    writeFileSync(
      join(dir, 'contguard.yaml'),
      [
        'outputs:',
        '  otlp:',
        '    export_interval_ms: 1000',
        'sensors:',
        '  process:',
        '    sample_ratio: 0',
        '    max_events_per_span: 2',
        '  network:',
        '    policy:',
        '      rules:',
        '        - { name: nobody, from: { name: "nobody-*" }, to: { name: "nobody" }, ports: [1] }',
        '',
      ].join('\n'),
    );
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--otlp-endpoint', rx.endpoint, '--prometheus', 'off'] });
    ids.push(
      await dockerRun(['--name', server, TEST_IMAGE, 'sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && echo ready && exec /bin/httpd -f -p 8080 -h /www']),
    );
    await waitLogs(server, /ready/);
    serverIp = (await dockerInspect(server)).NetworkSettings.IPAddress;
    const script = [
      '/bin/cat /mnt/data/data.txt',
      `/bin/wget -q -O /dev/null http://${serverIp}:8080/index.html`,
      `/bin/nc -w 2 ${serverIp} 8081 </dev/null`,
      '/bin/cat /mnt/data/a /mnt/data/b /mnt/data/c /mnt/data/d',
      'true',
    ].join('; ');
    ids.push(await dockerRun(['--name', workload, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', script]));
    await waitForExit(workload);
    root = await rx.waitForSpan((s) => s.parentSpanId === '' && s.attributes['container.name'] === workload, 30_000);
    spans = await rx.waitFor((s) => {
      const t = s.spans.filter((x) => x.traceId === root.traceId);
      return t.length >= 6 ? t : null;
    }, 15_000);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  const spanOf = (pred: (a: string[]) => boolean) => {
    const s = spans.find((x) => pred(args(x)));
    expect(s, JSON.stringify(spans.map((x) => args(x)))).toBeDefined();
    return s!;
  };
  const logsOf = (event: string) => rx.logs.filter((l) => l.eventName === event && l.attributes['container.name'] === workload);
  const lineOfIn = (container: string, log: FlatLog) =>
    readJsonLines(agent.logDir).find((r) => r.event === log.eventName && r.attributes['container.name'] === container && r.body === log.body);
  const lineOf = (log: FlatLog) => lineOfIn(workload, log);

  it('traces the run though sample_ratio is 0: its policy violation (WARN) promoted it', () => {
    expect(root.name).toBe(`container ${workload}`);
    expect(agent.stderr()).not.toMatch(/event handler: |process spans: /);
    // The server had no WARN record: nothing of its run is exported.
    expect(rx.spans.filter((s) => s.resource['container.name'] === server)).toEqual([]);
  });

  it('gives cat\'s span a file.open event of the bind-mounted host file, and the record its trace and span', async () => {
    const cat = spanOf((a) => a[0] === '/bin/cat' && a[1] === '/mnt/data/data.txt');
    const open = cat.events.find((e) => e.name === 'file.open');
    expect(open?.attributes).toMatchObject({
      'file.path': '/mnt/data/data.txt',
      'system.filesystem.type': 'ext4',
      'contguard.file.access': ['read'],
      'contguard.file.sensitive': false,
      'contguard.file.host_path': join(shared, 'data.txt'),
    });
    expect(BigInt(open!.timeUnixNano)).toBeGreaterThanOrEqual(BigInt(cat.startTimeUnixNano));
    expect(BigInt(open!.timeUnixNano)).toBeLessThanOrEqual(BigInt(cat.endTimeUnixNano));
    const log = await rx.waitForLog((l) => l.eventName === 'contguard.file.open' && l.attributes['container.name'] === workload && l.attributes['file.path'] === '/mnt/data/data.txt', 15_000);
    expect(log.traceId).toBe(root.traceId);
    expect(log.spanId).toBe(cat.spanId);
    const line = lineOf(log);
    expect(line?.trace_id).toBe(root.traceId);
    expect(line?.span_id).toBe(cat.spanId);
  });

  it('gives wget\'s span network.connect and network.policy_violation events; both records name that span', async () => {
    const wget = spanOf((a) => a[0] === '/bin/wget');
    expect(wget.events.map((e) => e.name)).toEqual(['network.connect', 'network.policy_violation']);
    expect(wget.events[0]!.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.peer.address': serverIp,
      'network.peer.port': 8080,
      'contguard.network.peer.container.name': server,
      'contguard.network.peer.process.name': 'httpd',
    });
    expect(wget.events[1]!.attributes).toMatchObject({ 'contguard.network.violation': 'no rule matched', 'network.peer.port': 8080 });
    const connect = await rx.waitForLog((l) => l.eventName === 'contguard.network.connect' && l.attributes['container.name'] === workload, 15_000);
    const violation = await rx.waitForLog((l) => l.eventName === 'contguard.network.policy_violation' && l.attributes['container.name'] === workload, 15_000);
    const close = await rx.waitForLog((l) => l.eventName === 'contguard.network.close' && l.attributes['container.name'] === workload && l.attributes['network.peer.port'] === 8080, 15_000);
    for (const log of [connect, violation, close]) {
      expect(log.traceId, log.eventName).toBe(root.traceId);
      expect(log.spanId, log.eventName).toBe(wget.spanId);
      const line = lineOf(log);
      expect(line?.trace_id, log.eventName).toBe(root.traceId);
      expect(line?.span_id, log.eventName).toBe(wget.spanId);
    }
    // The WARN record that promoted the run says it is sampled.
    expect(violation.flags & 1).toBe(1);
  });

  it('gives nc\'s span a network.failed event with the reason, and the record its span', async () => {
    const nc = spanOf((a) => a[0] === '/bin/nc');
    expect(nc.events.map((e) => e.name)).toEqual(['network.failed']);
    expect(nc.events[0]!.attributes).toMatchObject({ 'error.type': 'ECONNREFUSED', 'network.peer.port': 8081, 'network.peer.address': serverIp });
    const failed = await rx.waitForLog((l) => l.eventName === 'contguard.network.failed' && l.attributes['container.name'] === workload, 15_000);
    expect(failed.traceId).toBe(root.traceId);
    expect(failed.spanId).toBe(nc.spanId);
    expect(lineOf(failed)?.span_id).toBe(nc.spanId);
  });

  it('keeps max_events_per_span events on a span and counts the rest, there and in the metric', async () => {
    const cat4 = spanOf((a) => a[0] === '/bin/cat' && a.length === 5);
    expect(cat4.events.map((e) => e.attributes['file.path'])).toEqual(['/mnt/data/a', '/mnt/data/b']);
    expect(cat4.droppedEventsCount).toBe(2);
    // Every open still has its record, naming the span.
    const opens = logsOf('contguard.file.open').filter((l) => /^\/mnt\/data\/[abcd]$/.test(String(l.attributes['file.path'])));
    expect(opens).toHaveLength(4);
    for (const l of opens) expect(l.spanId).toBe(cat4.spanId);
    // The agent sees every container on the host (other tests' too): the counter holds at least ours.
    await rx.waitForMetric((p) => p.name === 'contguard.process.span_events.dropped' && p.attributes.reason === 'span_limit' && p.value >= 2, 15_000);
  });

  it('gives io_uring records the span of the submitting program (the one its exec record names)', async () => {
    // test/e2e/fixtures/uring-open.c: opens and reads a file through raw io_uring syscalls only.
    const bin = join(mkdtempSync(join(tmpdir(), 'cg-spev-uring-')), 'uring-open');
    execFileSync('clang', ['-static', '-O2', '-Wall', '-o', bin, join(REPO_ROOT, 'test/e2e/fixtures/uring-open.c')], { timeout: 60_000 });
    const name = uniqueName('cg-spev-uring');
    // Docker's default seccomp profile blocks io_uring_setup from Docker 25 on.
    ids.push(await dockerRun(['--name', name, '--security-opt', 'seccomp=unconfined', '-v', `${bin}:/uring-open:ro`, TEST_IMAGE, '/uring-open', '/etc/hostname']));
    expect(await waitForExit(name)).toBe(0);
    const exec = await rx.waitForLog((l) => l.eventName === 'contguard.process.exec' && l.attributes['container.name'] === name, 15_000);
    expect(exec.attributes['process.command_args']).toEqual(['/uring-open', '/etc/hostname']);
    for (const event of ['contguard.io_uring.setup', 'contguard.io_uring.open']) {
      const log = await rx.waitForLog((l) => l.eventName === event && l.attributes['container.name'] === name, 15_000);
      expect(log.traceId, event).toMatch(/^[0-9a-f]{32}$/);
      expect(log.traceId, event).toBe(exec.traceId);
      expect(log.spanId, event).toBe(exec.spanId);
      expect(lineOfIn(name, log)?.span_id, event).toBe(exec.spanId);
    }
  });
});

describe('process spans: a process that began before the agent gets its span events too', () => {
  let agent: AgentHandle;
  let rx: OtlpReceiver;
  const ids: string[] = [];
  const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-spev-joined-')));
  const name = uniqueName('cg-spev-joined');

  beforeAll(async () => {
    await ensureTestImage();
    writeFileSync(join(shared, 'f'), 'x\n');
    // pid 1 (sh) itself opens the shared file (a builtin's redirection) until told to stop.
    ids.push(await dockerRun(['--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', 'i=0; while [ ! -e /mnt/data/stop ] && [ $i -lt 300 ]; do read x < /mnt/data/f; i=$((i+1)); sleep 0.2; done']));
    rx = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'cg-spev-joined-cfg-'));
    writeFileSync(join(dir, 'contguard.yaml'), 'sensors:\n  file_open:\n    fold_interval_ms: 1000\n');
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--otlp-endpoint', rx.endpoint, '--prometheus', 'off'] });
    // Its records for a few seconds (the image is made from them after 2 s), then its exit.
    await rx.waitFor((s) => s.logs.filter((l) => l.eventName === 'contguard.file.open' && l.attributes['container.name'] === name).length >= 3 || null, 20_000);
    writeFileSync(join(shared, 'stop'), '');
    await waitForExit(name);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await rx?.close();
    await dockerRm(ids);
  });

  it('makes the span of pid 1 from its records (start unseen), with their file.open events, and the records name it', async () => {
    const root = await rx.waitForSpan((s) => s.parentSpanId === '' && s.attributes['container.name'] === name, 30_000);
    expect(root.attributes['contguard.container.joined_running']).toBe(true);
    const sh = await rx.waitForSpan((s) => s.traceId === root.traceId && s.name === 'process sh', 15_000);
    expect(sh.attributes['contguard.process.start']).toBe('unseen');
    expect(sh.attributes['contguard.process.end']).toBe('exit');
    expect(sh.parentSpanId).toBe(root.spanId);
    const opens = sh.events.filter((e) => e.name === 'file.open');
    expect(opens.length).toBeGreaterThanOrEqual(2);
    for (const e of opens) expect(e.attributes['file.path']).toBe('/mnt/data/f');
    const logs = rx.logs.filter((l) => l.eventName === 'contguard.file.open' && l.attributes['container.name'] === name);
    expect(logs.length).toBeGreaterThanOrEqual(3);
    for (const l of logs) {
      expect(l.traceId).toBe(root.traceId);
      expect(l.spanId).toBe(sh.spanId);
    }
  });
});
