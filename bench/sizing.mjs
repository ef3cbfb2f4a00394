#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Sizing: what one node sends, and what a Collector gateway behind 10, 100 and 1,000 nodes must
 * absorb. A simulated node (a child process) runs the agent's real export path — the
 * MeterProvider of src/telemetry/otel.ts with its OTLP/gRPC metric reader, the OtlpLogSink
 * (BatchLogRecordProcessor + OTLP/gRPC log exporter) and the TraceOutput span processor — fed
 * with simulated containers: every metric of the telemetry specs with a realistic number of
 * series per container, and a steady mix of event records and process spans. Its OTLP goes to a
 * sink (another child process) that only counts request bytes (as sent, and gzip-compressed).
 * No eBPF, no real containers: the kernel side and event decoding are not measured here (README
 * "Performance" has their per-event cost).
 *
 * Usage: node bench/sizing.mjs [--containers 50,200,1000] [--seconds 30] [--interval-ms 10000]
 *   --seconds      measured window per node size (after one export interval of warm-up)
 *   --interval-ms  the metric export interval (outputs.otlp.export_interval_ms, default 10000)
 * Run `npm run build:ts` first (npm run bench:sizing does).
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** Event records per second per container, after the kernel's filtering and folding (a busy service). */
const EVENT_RATES = {
  'contguard.process.exec': 0.2,
  'contguard.file.open': 0.3,
  'contguard.network.connect': 0.5,
  'contguard.network.close': 0.5,
  'contguard.syscalls.snapshot': 0.1,
};
/** Values each non-container attribute takes (series per container = the product over a metric's attributes). */
const SYSCALLS = [
  'read', 'write', 'openat', 'close', 'fstat', 'newfstatat', 'mmap', 'munmap', 'mprotect', 'brk', 'rt_sigaction', 'rt_sigprocmask',
  'ioctl', 'pread64', 'writev', 'readv', 'access', 'pipe2', 'select', 'sched_yield', 'madvise', 'dup2', 'nanosleep', 'getpid',
  'socket', 'connect', 'accept4', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'shutdown', 'bind', 'listen', 'getsockname', 'setsockopt',
  'clone3', 'execve', 'wait4', 'fcntl', 'futex', 'epoll_wait', 'epoll_ctl', 'getdents64', 'getrandom', 'exit_group',
].slice(0, 40);
const ATTR_VALUES = {
  'syscall.name': SYSCALLS,
  'io_uring.opcode': ['READ', 'WRITE', 'OPENAT'],
  'system.filesystem.type': ['ext4', 'tmpfs'],
  'contguard.file.sensitive': ['false'],
  'network.io.direction': ['transmit', 'receive'],
  'contguard.network.peer': ['external', 'db'],
  'contguard.network.result': ['established'],
  'contguard.network.violation': ['egress'],
  'cpu.mode': ['user', 'system'],
  'disk.io.direction': ['read', 'write'],
  event: ['oom', 'oom_kill'],
  resource: ['cpu', 'memory', 'io'],
  'contguard.pressure.kind': ['some', 'full'],
  sensor: ['exec', 'syscalls', 'io_uring', 'file_open', 'network', 'process', 'registry'],
  'contguard.sensor.variant': ['tp_btf'],
  reason: ['no_slot'],
  outcome: ['exported', 'unsampled'],
  output: ['otlp'],
  action: ['adopted', 'freed'],
};
/** Share of containers that have a metric's series at all (io_uring users, policy violators). */
const SHARE = {
  'contguard.io_uring.submissions': 0.05,
  'contguard.io_uring.instances': 0.05,
  'contguard.network.policy_violations': 0.02,
};
const CONTAINER_KEYS = ['container.id', 'container.name', 'container.image.name', 'container.runtime.name'];

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

// ---------------------------------------------------------------------------------------------
// The sink: an OTLP/gRPC server that counts request bytes per signal and answers with an empty
// (valid) Export response, in its own process so its CPU is not the node's.

async function runSink() {
  const grpc = await import('@grpc/grpc-js');
  const counts = { logs: [0, 0, 0], metrics: [0, 0, 0], traces: [0, 0, 0] }; // requests, bytes, gzip bytes
  const raw = (path) => ({ path, requestStream: false, responseStream: false, requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b });
  const handler = (kind) => (call, cb) => {
    const c = counts[kind];
    c[0] += 1;
    c[1] += call.request.length;
    c[2] += gzipSync(call.request, { level: 6 }).length;
    cb(null, Buffer.alloc(0));
  };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(
    {
      logs: raw('/opentelemetry.proto.collector.logs.v1.LogsService/Export'),
      metrics: raw('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'),
      traces: raw('/opentelemetry.proto.collector.trace.v1.TraceService/Export'),
    },
    { logs: handler('logs'), metrics: handler('metrics'), traces: handler('traces') },
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(`sizing sink: ${err.message}`);
      process.exit(1);
    }
    process.send({ type: 'ready', port });
  });
  process.on('message', (m) => {
    if (m.type === 'snap') process.send({ type: 'snap', id: m.id, counts: structuredClone(counts) });
    if (m.type === 'stop') server.tryShutdown(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// The simulated node.

function product(lists) {
  return lists.reduce((acc, values) => acc.flatMap((prefix) => values.map((v) => [...prefix, v])), [[]]);
}

function containerAttrs(i) {
  const id = (i.toString(16).padStart(8, '0') + 'c0ffee'.repeat(10)).slice(0, 64);
  return {
    'container.id': id,
    'container.name': `svc-${i % 97}-${i}`,
    'container.image.name': `registry.example.com/team/app-${i % 23}`,
    'container.runtime.name': 'containerd',
  };
}

/** A log record of the given event for container i, shaped like the sensors' records. */
function record(event, i, c, nowNs, seq) {
  const common = {
    ...c,
    'container.image.tags': ['1.4.2'],
    'container.image.id': `sha256:${'ab'.repeat(32)}`,
    'container.label.app': `app-${i % 23}`,
    'container.label.team': 'payments',
  };
  const pid = 10_000 + ((i * 131 + seq) % 50_000);
  switch (event) {
    case 'contguard.process.exec':
      return {
        eventName: event, timeUnixNano: nowNs, severity: 'INFO',
        body: `pid=${pid} ppid=${pid - 1} uid=1000 sh -> /usr/bin/curl -s http://db:5432/health`,
        attributes: { ...common, 'process.pid': pid, 'process.vpid': 42, 'process.parent_pid': pid - 1, 'process.user.id': 1000, 'process.real_user.id': 1000, 'process.group.id': 1000,
          'process.executable.path': '/usr/bin/curl', 'contguard.process.exec_filename': '/usr/bin/curl', 'process.executable.name': 'curl',
          'process.command_args': ['curl', '-s', 'http://db:5432/health'], 'contguard.process.caller.name': 'sh', 'contguard.process.args_truncated': false,
          'contguard.process.mount_namespace': 4026532000 + i },
      };
    case 'contguard.file.open':
      return {
        eventName: event, timeUnixNano: nowNs, severity: 'INFO', body: `open /data/cache/segment-${seq % 100}.db (ext4) flags=O_RDWR`,
        attributes: { ...common, 'process.pid': pid, 'process.executable.name': 'app', 'file.path': `/data/cache/segment-${seq % 100}.db`, 'contguard.file.host_path': `/var/lib/app/${i}/cache/segment-${seq % 100}.db`,
          'system.filesystem.type': 'ext4', 'contguard.file.flags': 'O_RDWR', 'contguard.file.sensitive': false, 'contguard.file.count': 1 },
      };
    case 'contguard.network.connect':
    case 'contguard.network.close':
      return {
        eventName: event, timeUnixNano: nowNs, severity: 'INFO', body: `tcp 10.0.${i % 250}.${seq % 250}:${40000 + (seq % 20000)} -> 10.0.9.9:5432 db`,
        attributes: { ...common, 'process.pid': pid, 'process.executable.name': 'app', 'network.transport': 'tcp', 'network.type': 'ipv4', 'network.io.direction': 'transmit',
          'source.address': `10.0.${i % 250}.${seq % 250}`, 'source.port': 40000 + (seq % 20000), 'destination.address': '10.0.9.9', 'destination.port': 5432,
          'contguard.network.peer': 'db', ...(event.endsWith('close') ? { 'contguard.network.duration_ms': 12.5, 'contguard.network.bytes_sent': 1830, 'contguard.network.bytes_received': 20480, 'contguard.network.retransmits': 0 } : {}) },
      };
    default:
      return {
        eventName: event, timeUnixNano: nowNs, severity: 'INFO', body: `${SYSCALLS.length} syscalls`,
        attributes: { ...common, 'contguard.syscalls.counts': Object.fromEntries(SYSCALLS.map((s, k) => [s, 100 + k * 7 + seq])), 'contguard.syscalls.phase': 'workload' },
      };
  }
}

async function runNode(opts) {
  const dist = (p) => pathToFileURL(join(ROOT, 'dist/src', p)).href;
  const { createMetrics, OtlpLogSink, agentResource } = await import(dist('telemetry/otel.js'));
  const { TraceOutput } = await import(dist('telemetry/traces.js'));
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { SpanKind, SpanStatusCode, TraceFlags, diag, DiagLogLevel } = await import('@opentelemetry/api');
  // Failed exports make the byte counts meaningless: count what the SDK reports, keep the first.
  let exportErrors = 0;
  let firstError = '';
  const onError = (...args) => {
    exportErrors += 1;
    firstError ||= args.map(String).join(' ').split('\n')[0].slice(0, 200);
  };
  diag.setLogger({ error: onError, warn: onError, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const { loadTelemetry } = await import(pathToFileURL(join(ROOT, 'scripts/gen-docs.mjs')).href);
  const version = 'sizing';
  const endpoint = opts.endpoint;
  const resource = agentResource(version);
  const metrics = createMetrics({ resource, prometheus: null, otlp: { endpoint, intervalMs: opts.intervalMs, headers: {} } }, version);
  const logs = new OtlpLogSink(endpoint, {}, resource, metrics.provider, version);
  const traces = new TraceOutput({ endpoint, headers: {}, resource, version, meterProvider: metrics.provider });

  const containers = Array.from({ length: opts.containers }, (_, i) => containerAttrs(i));
  const started = Date.now();

  // Every metric of the specs, with its series for these containers.
  let series = 0;
  for (const { telemetry } of await loadTelemetry()) {
    for (const m of telemetry.metrics) {
      const own = m.attributes.filter((a) => !CONTAINER_KEYS.includes(a));
      const combos = product(own.map((a) => ATTR_VALUES[a] ?? ['x']));
      const perContainer = m.attributes.some((a) => CONTAINER_KEYS.includes(a));
      const owners = perContainer ? containers.filter((_, i) => (SHARE[m.name] === undefined ? true : (i * 0.6180339887) % 1 < SHARE[m.name])) : [null];
      const points = owners.flatMap((c) => combos.map((combo) => ({ ...(c ?? {}), ...Object.fromEntries(own.map((a, k) => [a, combo[k]])) })));
      series += points.length;
      const options = { unit: m.unit, description: m.description };
      const instrument =
        m.instrument === 'counter' ? metrics.meter.createObservableCounter(m.name, options)
        : m.instrument === 'updowncounter' ? metrics.meter.createObservableUpDownCounter(m.name, options)
        : metrics.meter.createObservableGauge(m.name, options);
      const monotonic = m.instrument === 'counter';
      instrument.addCallback((result) => {
        const t = (Date.now() - started) / 1000;
        points.forEach((attrs, k) => result.observe(monotonic ? Math.floor(t * (1 + (k % 13))) : (k % 101) * 1.5, attrs));
      });
    }
  }
  const resources = containers.map((c) => resourceFromAttributes({ ...resource.attributes, ...c }));

  // Records and spans at EVENT_RATES, emitted every 100 ms like ring-buffer drains.
  let records = 0;
  let spans = 0;
  let seq = 0;
  const events = Object.entries(EVENT_RATES);
  // Containers start out of phase, so their records spread over time instead of coming in step.
  const acc = Float64Array.from({ length: containers.length * events.length }, (_, k) => (k * 0.6180339887) % 1);
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    const dt = (now - last) / 1000; // the rates hold even when a tick runs late
    last = now;
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    containers.forEach((c, i) => {
      events.forEach(([event, rate], e) => {
        const slot = i * events.length + e;
        acc[slot] += rate * dt;
        while (acc[slot] >= 1) {
          acc[slot] -= 1;
          seq += 1;
          logs.write(record(event, i, c, nowNs, seq));
          records += 1;
          if (event === 'contguard.process.exec') {
            const traceId = (i.toString(16).padStart(16, '0') + seq.toString(16).padStart(16, '0')).slice(0, 32);
            const ctx = { traceId, spanId: seq.toString(16).padStart(16, '0'), traceFlags: TraceFlags.SAMPLED };
            const startNs = nowNs - 5_000_000n;
            traces.export({
              name: 'exec curl', kind: SpanKind.INTERNAL, spanContext: () => ctx,
              parentSpanContext: { traceId, spanId: '00000000000000aa', traceFlags: TraceFlags.SAMPLED },
              startTime: [Number(startNs / 1_000_000_000n), Number(startNs % 1_000_000_000n)],
              endTime: [Number(nowNs / 1_000_000_000n), Number(nowNs % 1_000_000_000n)], duration: [0, 5_000_000],
              status: { code: SpanStatusCode.UNSET },
              attributes: { 'process.pid': 1234, 'process.parent_pid': 1200, 'process.executable.name': 'curl', 'process.executable.path': '/usr/bin/curl', 'process.command_args': ['curl', '-s', 'http://db:5432/health'], 'process.exit.code': 0, 'contguard.process.start': 'exec', 'contguard.process.end': 'exit' },
              links: [], events: [], ended: true, resource: resources[i], instrumentationScope: traces.scope,
              droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
            });
            spans += 1;
          }
        }
      });
    });
    logs.endBatch();
  };
  const timer = setInterval(tick, 100);

  const ask = (type) =>
    new Promise((resolve) => {
      process.once('message', (m) => m.type === `${type}-ok` && resolve(m));
      process.send({ type });
    });
  // Warm-up: one metric export, the exporters' connections open, the JIT settled.
  await new Promise((r) => setTimeout(r, opts.intervalMs + 1000));
  await ask('window-start');
  const cpu0 = process.cpuUsage();
  const rec0 = records;
  const spans0 = spans;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.seconds * 1000));
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const rss = process.memoryUsage.rss();
  const recWindow = records - rec0;
  const errors0 = exportErrors;
  const spansWindow = spans - spans0;
  await ask('window-end');
  clearInterval(timer);
  process.send({
    type: 'result',
    result: {
      containers: opts.containers,
      series,
      seconds: (t1 - t0) / 1000,
      records: recWindow,
      spans: spansWindow,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rss,
      maxRss: process.resourceUsage().maxRSS * 1024,
      exportErrors: errors0,
      firstError,
    },
  });
  await Promise.allSettled([logs.shutdown(), traces.shutdown(), metrics.shutdown()]);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The driver.

const mib = (b) => b / (1024 * 1024);
const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 1) + ':').join('|')}|`, ...rows.map(line)].join('\n');
}

async function main() {
  const sizes = String(arg('--containers', '50,200,1000')).split(',').map(Number);
  const seconds = Number(arg('--seconds', '30'));
  const intervalMs = Number(arg('--interval-ms', '10000'));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 5000) || !(seconds >= 5 && seconds <= 120) || !(intervalMs >= 1000 && intervalMs <= 60000)) {
    console.error('sizing: --containers takes 1..5000 (comma-separated), --seconds 5..120, --interval-ms 1000..60000');
    process.exit(2);
  }
  if (!existsSync(join(ROOT, 'dist/src/telemetry/otel.js'))) {
    console.error('sizing: dist/ missing: run "npm run build:ts" first');
    process.exit(2);
  }
  const sink = fork(SELF, ['--sink'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve) => sink.once('message', (m) => resolve(m.port)));
  let snapId = 0;
  const snap = () =>
    new Promise((resolve) => {
      const id = ++snapId;
      const on = (m) => {
        if (m.type === 'snap' && m.id === id) {
          sink.off('message', on);
          resolve(m.counts);
        }
      };
      sink.on('message', on);
      sink.send({ type: 'snap', id });
    });

  const results = [];
  for (const containers of sizes) {
    const node = fork(SELF, ['--node', JSON.stringify({ endpoint: `http://127.0.0.1:${port}`, containers, seconds, intervalMs })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let before;
    let after;
    const result = await new Promise((resolve, reject) => {
      node.on('message', async (m) => {
        if (m.type === 'window-start') {
          before = await snap();
          node.send({ type: 'window-start-ok' });
        } else if (m.type === 'window-end') {
          after = await snap();
          node.send({ type: 'window-end-ok' });
        } else if (m.type === 'result') resolve(m.result);
      });
      node.once('exit', (code) => code !== 0 && reject(new Error(`simulated node exited with ${code}`)));
    });
    const delta = (k, i) => after[k][i] - before[k][i];
    const r = {
      ...result,
      bytes: { logs: delta('logs', 1), metrics: delta('metrics', 1), traces: delta('traces', 1) },
      gzip: { logs: delta('logs', 2), metrics: delta('metrics', 2), traces: delta('traces', 2) },
    };
    results.push(r);
    console.error(`sizing: ${containers} containers measured${r.exportErrors ? `; ${r.exportErrors} SDK export warnings, first: ${r.firstError}` : ''}`);
  }
  sink.send({ type: 'stop' });

  const per = results.map((r) => {
    const s = r.seconds;
    const total = r.bytes.logs + r.bytes.metrics + r.bytes.traces;
    const totalGz = r.gzip.logs + r.gzip.metrics + r.gzip.traces;
    return { ...r, recPerS: r.records / s, spansPerS: r.spans / s, kibPerS: total / 1024 / s, gzKibPerS: totalGz / 1024 / s, logKibPerS: r.bytes.logs / 1024 / s, metricKibPerS: r.bytes.metrics / 1024 / s, traceKibPerS: r.bytes.traces / 1024 / s, cpuPct: (100 * r.cpuSeconds) / s };
  });
  console.log(`\nPer node (export path only; metric export every ${intervalMs / 1000} s, ${seconds} s measured, 2-core VM):\n`);
  console.log(
    table(
      ['containers', 'series', 'log records/s', 'spans/s', 'OTLP KiB/s', 'logs', 'metrics', 'traces', 'gzip KiB/s', 'agent CPU %', 'RSS MiB', 'export warnings'],
      per.map((p) => [fmt(p.containers), fmt(p.series), fmt(p.recPerS, 0), fmt(p.spansPerS, 0), fmt(p.kibPerS, 1), fmt(p.logKibPerS, 1), fmt(p.metricKibPerS, 1), fmt(p.traceKibPerS, 1), fmt(p.gzKibPerS, 1), fmt(p.cpuPct, 1), fmt(mib(p.rss), 0), fmt(p.exportErrors)]),
    ),
  );
  for (const p of per) {
    console.log(`\nGateway tier, nodes of ${fmt(p.containers)} containers each:\n`);
    console.log(
      table(
        ['nodes', 'containers', 'active series', 'log records/s', 'spans/s', 'OTLP in MiB/s', 'gzip MiB/s', 'logs GiB/day (gzip)'],
        [10, 100, 1000].map((n) => [fmt(n), fmt(n * p.containers), fmt(n * p.series), fmt(n * p.recPerS), fmt(n * p.spansPerS), fmt((n * p.kibPerS) / 1024, 1), fmt((n * p.gzKibPerS) / 1024, 2), fmt((n * (p.gzip.logs / p.seconds) * 86400) / 1024 ** 3, 1)]),
      ),
    );
  }
}

if (process.argv[2] === '--sink') await runSink();
else if (process.argv[2] === '--node') await runNode(JSON.parse(process.argv[3]));
else await main();
