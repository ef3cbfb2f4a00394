// SPDX-License-Identifier: Apache-2.0
/**
 * Shared harness of the benchmarks (bench/workloads.mjs, throughput.mjs, scrape.mjs,
 * scripts/soak.mjs, bench/suite.mjs): options, clean-up of what a run starts (containers,
 * child processes, temp dirs, BPF objects), the static loops, docker helpers, the agent with a
 * config, its CPU / RSS / fds from /proc, /metrics counters, the references (an empty sys_enter
 * program, a bpftrace one-liner), an OTLP/gRPC receiver that counts bytes, and the results file.
 *
 * Everything a run starts is tracked here and removed on exit, on SIGINT/SIGTERM/SIGHUP, and (the
 * agent, bpftrace) by a detached watchdog if the benchmark is SIGKILLed. Containers carry the
 * run's label, and `removeStale(label)` removes what an aborted run left.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mergeConfig as mergeConfigImpl, metricSum } from './stats.mjs';
import { procRuntimeNs } from './proc.mjs';

export { median, mergeConfig, metricSum, slope } from './stats.mjs';
export { waitQuiet } from './proc.mjs';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(BENCH_DIR, '..');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
export const AGENT_BIN = process.env.CONTGUARD_BENCH_AGENT ?? path.join(REPO, 'bin', 'contguard');
export const PROBES_OBJ = path.join(REPO, 'bpf', 'build', 'probes.bpf.o');
export const IMAGE = process.env.BENCH_IMAGE ?? 'contguard-test/busybox:latest';
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// ---- small helpers --------------------------------------------------------------------------

export const log = (s = '') => process.stdout.write(`${s}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const ok = (x) => x !== null && x !== undefined && !Number.isNaN(x);
export const fmt = (x, d = 1) => (ok(x) ? x.toFixed(d) : '–');
export const signed = (x, d = 1) => (ok(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(d)}` : '–');
export const div = (a, b) => (ok(a) && ok(b) && b !== 0 ? a / b : null);
export const sub = (a, b) => (ok(a) && ok(b) ? a - b : null);

export function die(msg, code = 2) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

/** Runs a command with a hard timeout; rejects with its output on failure. */
export function run(cmd, args, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ').slice(0, 200)}: ${err.killed ? `timed out after ${timeoutMs} ms` : err.message}\n${stdout}${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

export function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Parses the options (`--help` prints the script's header comment). `quick` and `full` are the
 * defaults of the option values the user did not give, with and without --quick.
 */
export function options(scriptUrl, spec, { quick = {}, full = {} } = {}) {
  const { values } = (() => {
    try {
      return parseArgs({ options: { ...spec, quick: { type: 'boolean', default: false }, out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
    } catch (e) {
      return die(e.message);
    }
  })();
  if (values.help) {
    const src = readFileSync(fileURLToPath(scriptUrl), 'utf8');
    const doc = src.slice(src.indexOf('/**'), src.indexOf('*/') + 2).split('\n').slice(1, -1);
    process.stdout.write(`${doc.map((l) => l.replace(/^ \*\/?\s?/, '')).join('\n')}\n`);
    process.exit(0);
  }
  for (const [k, v] of Object.entries(values.quick ? quick : full)) values[k] ??= v;
  return values;
}

/** A positive integer option, or one clear error line and exit 2. */
export function posInt(values, name) {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v <= 0) die(`--${name}: expected a positive integer, got ${values[name]}`);
  return v;
}

/** A comma-separated list of positive integers. */
export function intList(values, name) {
  const xs = String(values[name]).split(',').map((s) => Number(s.trim()));
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x <= 0)) die(`--${name}: expected positive integers separated by commas, got ${values[name]}`);
  return xs;
}

/** Prints a table: first column left-aligned, the others right-aligned. */
export function table(head, rows) {
  const body = rows.map((r) => r.map((c) => (c === null || c === undefined ? '–' : String(c))));
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells) => cells.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
  log(line(head));
  log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) log(line(b));
}

// ---- what a run starts, removed at the end ------------------------------------------------

const containers = new Set();
const children = new Set();
const tmpDirs = new Set();
const bpfObjects = new Set();
const exitHooks = new Set();
let cleanedUp = false;

export function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const h of exitHooks) {
    try {
      h();
    } catch {
      /* best effort */
    }
  }
  for (const o of bpfObjects) {
    try {
      o.close();
    } catch {
      /* gone */
    }
  }
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  const ids = [...containers];
  for (let i = 0; i < ids.length; i += 100) {
    try {
      execFileSync('docker', ['rm', '-f', ...ids.slice(i, i + 100)], { stdio: 'ignore', timeout: 120_000 });
    } catch {
      /* best effort */
    }
  }
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}: cleaning up\n`);
    cleanupSync();
    process.exit(130);
  });
}

/** Runs main() and exits with its code; an error is one line on stderr (its stack with BENCH_DEBUG). */
export function runMain(main, hardLimitS) {
  if (hardLimitS) {
    setTimeout(() => {
      process.stderr.write(`bench: hard time limit (${hardLimitS} s) reached, aborting\n`);
      cleanupSync();
      process.exit(3);
    }, hardLimitS * 1000).unref();
  }
  main()
    .then((code) => {
      cleanupSync();
      process.exit(code ?? 0);
    })
    .catch((err) => {
      process.stderr.write(`bench: ${process.env.BENCH_DEBUG ? err.stack : err.message}\n`);
      cleanupSync();
      process.exit(1);
    });
}

export const onCleanup = (fn) => exitHooks.add(fn);

export function tmpDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

export function removeTmpDir(d) {
  rmSync(d, { recursive: true, force: true });
  tmpDirs.delete(d);
}

/** A host directory on a real file system (tmpfs would count as the container's own files). */
export function dataDir(prefix) {
  const TMPFS = 0x01021994;
  for (const base of [os.tmpdir(), '/var/tmp']) {
    try {
      if (statfsSync(base).type === TMPFS) continue;
      const d = mkdtempSync(path.join(base, prefix));
      tmpDirs.add(d);
      return d;
    } catch {
      /* next */
    }
  }
  return die('no temp directory outside tmpfs for the bind-mounted files');
}

/** A detached shell that stops `childPid` once this process is gone (a SIGKILLed benchmark). */
function watchdog(childPid, sig = 'TERM') {
  const script = `while kill -0 "$1" 2>/dev/null; do kill -0 "$2" 2>/dev/null || exit 0; sleep 0.5; done
kill -${sig} "$2" 2>/dev/null || exit 0; sleep 5; kill -KILL "$2" 2>/dev/null; exit 0`;
  const w = spawn('sh', ['-c', script, 'contguard-bench-watchdog', String(process.pid), String(childPid)], { stdio: 'ignore', detached: true });
  w.on('error', () => {});
  w.unref();
}

/** Spawns a tracked child (killed at exit; a watchdog sends `watchdogSig` if this process dies). */
export function spawnTracked(cmd, args, opts, watchdogSig = 'TERM') {
  const child = spawn(cmd, args, opts);
  children.add(child);
  child.on('error', () => {});
  if (child.pid) watchdog(child.pid, watchdogSig);
  return child;
}

export async function stopChild(child, signal = 'SIGTERM', graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise((r) => child.once('close', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
  children.delete(child);
}

// ---- preflight, loops -----------------------------------------------------------------------

/** Root, the build, docker and the test image, gcc; removes containers an aborted run left. */
export async function preflight(label, { needGcc = true } = {}) {
  if (process.getuid?.() !== 0) die('needs root (BPF programs, docker)');
  for (const f of ['bpf/build/registry.bpf.o', 'bpf/build/probes.bpf.o', 'dist/src/main.js', 'dist/ffi/bpf-object.js']) {
    if (!existsSync(path.join(REPO, f))) die(`${f} missing: run \`npm run build\``);
  }
  if (!have('docker')) die('docker CLI not found');
  if (needGcc && !have('gcc')) die('gcc not found (apt-get install gcc libc6-dev)');
  try {
    await run('docker', ['image', 'inspect', IMAGE], 30_000);
  } catch {
    die(`image ${IMAGE} missing: run \`bash scripts/build-test-image.sh\``);
  }
  await removeStale(label);
}

/** Builds bench/<name>.c statically (the busybox image has no libc) into a temp dir; returns the dir. */
export function buildLoops(names) {
  const dir = tmpDir('contguard-bench-bin-');
  for (const n of names) {
    execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', path.join(dir, n), path.join(BENCH_DIR, `${n}.c`)], { stdio: 'inherit', timeout: 120_000 });
  }
  return dir;
}

// ---- docker ---------------------------------------------------------------------------------

export async function removeStale(label) {
  const stale = (await run('docker', ['ps', '-aq', '--filter', `label=${label}`])).split('\n').filter(Boolean);
  if (stale.length) {
    log(`removing ${stale.length} container(s) left by an earlier run (label ${label})`);
    for (let i = 0; i < stale.length; i += 100) await run('docker', ['rm', '-f', ...stale.slice(i, i + 100)], 300_000).catch(() => {});
  }
}

/** `docker run -d` with the run's label; returns the id (removed at exit). */
export async function startContainer(label, args, timeoutMs = 120_000) {
  const id = (await run('docker', ['run', '-d', '--label', `${label}=${process.pid}`, ...args], timeoutMs)).trim();
  containers.add(id);
  return id;
}

export async function removeContainers(ids) {
  for (let i = 0; i < ids.length; i += 100) {
    const part = ids.slice(i, i + 100);
    await run('docker', ['rm', '-f', ...part], 300_000).catch(() => {});
    for (const id of part) containers.delete(id);
  }
}

export async function containerIp(id) {
  const ip = (await run('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).trim().split(' ')[0];
  if (!ip) throw new Error(`container ${id.slice(0, 12)} has no IP address`);
  return ip;
}

export function dockerExec(id, argv, timeoutMs = 120_000) {
  return run('docker', ['exec', id, ...argv], timeoutMs);
}

/** Runs `task(i)` for i in 0..n-1, at most `parallel` at a time. */
export async function inParallel(n, parallel, task) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

// ---- /proc: CPU, memory, fds ----------------------------------------------------------------

function procTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { utime: Number(f[11]), stime: Number(f[12]) };
}

export function cpuSample(pid) {
  return { ...procTicks(pid), runtimeNs: procRuntimeNs(pid), at: process.hrtime.bigint() };
}

/** CPU between two samples: µs (runtime: sum_exec_runtime; ticks: utime+stime) and % of one core. */
export function cpuDelta(a, b) {
  const wallUs = Number(b.at - a.at) / 1000;
  const runtimeUs = (b.runtimeNs - a.runtimeNs) / 1000;
  return {
    runtime_us: runtimeUs,
    ticks_us: ((b.utime - a.utime + b.stime - a.stime) * 1e6) / CLK_TCK,
    wall_ms: wallUs / 1000,
    core_pct: wallUs > 0 ? (100 * runtimeUs) / wallUs : null,
  };
}

/** VmRSS and VmHWM (peak RSS) in KiB, from /proc/PID/status. */
export function memory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM') };
}

export function fdCount(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Until the process spends under `share` of a CPU over 100 ms (bounded): true if it did. */
export async function waitIdle(pid, timeoutMs = 30_000, share = 0.05) {
  const deadline = Date.now() + timeoutMs;
  let prev = cpuSample(pid);
  for (;;) {
    await sleep(100);
    const s = cpuSample(pid);
    if (s.runtimeNs - prev.runtimeNs < share * Number(s.at - prev.at)) return true;
    if (Date.now() > deadline) return false;
    prev = s;
  }
}

// ---- the agent ------------------------------------------------------------------------------

/**
 * `contguard run` with every default except the outputs' places (console to a file, JSON lines
 * to a temp dir, Prometheus on 127.0.0.1 at a free port, no OTLP unless `otlpEndpoint`) and
 * `config` merged on top. Resolves once the agent wrote its ready file (bounded, 60 s).
 */
export async function startAgent({ name = 'agent', config = {}, otlpEndpoint = null, readyTimeoutMs = 60_000 } = {}) {
  const dir = tmpDir('contguard-bench-agent-');
  const port = await freePort();
  const jsonlDir = path.join(dir, 'jsonl');
  const cfg = mergeConfigImpl(
    {
      outputs: {
        console: { enabled: true },
        jsonl: { enabled: true, dir: jsonlDir },
        prometheus: { enabled: true, host: '127.0.0.1', port },
      },
    },
    config,
  );
  const cfgFile = path.join(dir, 'config.yaml');
  writeFileSync(cfgFile, JSON.stringify(cfg, null, 2)); // JSON is YAML
  const ready = path.join(dir, 'ready');
  const consoleFd = openSync(path.join(dir, 'console.log'), 'w');
  const errFd = openSync(path.join(dir, 'agent.log'), 'w');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_')) delete env[k];
  const args = [AGENT_BIN, 'run', '--config', cfgFile, '--ready-file', ready, ...(otlpEndpoint ? ['--otlp-endpoint', otlpEndpoint] : [])];
  const child = spawnTracked(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', consoleFd, errFd] });
  closeSync(consoleFd);
  closeSync(errFd);
  const agentLog = (tail = 3000) => {
    try {
      return readFileSync(path.join(dir, 'agent.log'), 'utf8').slice(-tail);
    } catch {
      return '';
    }
  };
  const t0 = Date.now();
  while (!existsSync(ready)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent (${name}) exited before ready:\n${agentLog()}`);
    if (Date.now() - t0 > readyTimeoutMs) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`agent (${name}) not ready within ${readyTimeoutMs / 1000} s:\n${agentLog()}`);
    }
    await sleep(25);
  }
  const agent = {
    name, child, pid: child.pid, port, dir, jsonlDir, config: cfg, readyMs: Date.now() - t0, scrapes: 0,
    log: agentLog,
    /** One /metrics scrape: the body, its size and how long it took. */
    async scrape() {
      this.scrapes++;
      const t = process.hrtime.bigint();
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(30_000) });
      const text = await res.text();
      return { text, bytes: Buffer.byteLength(text), ms: Number(process.hrtime.bigint() - t) / 1e6 };
    },
    /** contguard_events_{received,lost}_total of one sensor (all sensors without one). */
    async events(sensor) {
      const { text } = await this.scrape();
      const l = sensor ? { sensor } : {};
      return {
        received: metricSum(text, 'contguard_events_received_total', l),
        lost: metricSum(text, 'contguard_events_lost_total', l),
        output_dropped: metricSum(text, 'contguard_output_dropped_total'),
      };
    },
    alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async stop() {
      await stopChild(child, 'SIGTERM', 15_000);
      removeTmpDir(dir);
    },
  };
  return agent;
}

/** Polls the agent's CPU and memory every `everyMs` (in this process); peak RSS from VmHWM. */
export function sampler(pid, everyMs = 500) {
  const samples = [];
  const take = () => {
    try {
      samples.push({ t: Date.now(), cpu: cpuSample(pid), ...memory(pid) });
    } catch {
      /* gone */
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      const a = samples[0];
      const b = samples[samples.length - 1];
      const d = a && b ? cpuDelta(a.cpu, b.cpu) : null;
      let peakPct = null;
      for (let i = 1; i < samples.length; i++) {
        const p = cpuDelta(samples[i - 1].cpu, samples[i].cpu).core_pct;
        if (ok(p)) peakPct = Math.max(peakPct ?? 0, p);
      }
      return { ...d, peak_interval_core_pct: peakPct, rss_kb_end: b?.rss_kb ?? null, hwm_kb: b?.hwm_kb ?? null, max_rss_kb: Math.max(...samples.map((s) => s.rss_kb)) };
    },
  };
}

// ---- references: an empty sys_enter program, bpftrace ---------------------------------------

let BpfObjectClass = null;

/** Loads and attaches `bench_empty_tp_btf` of bpf/build/probes.bpf.o (`return 0`); returns { close }. */
export async function attachEmptyHook(program = 'bench_empty_tp_btf') {
  BpfObjectClass ??= (await import(path.join(REPO, 'dist', 'ffi', 'bpf-object.js'))).BpfObject;
  const o = BpfObjectClass.open(PROBES_OBJ);
  bpfObjects.add(o);
  for (const p of o.programs()) o.setAutoload(p.name, p.name === program);
  o.load();
  const attached = o.attachAll().map((p) => `${p.name} (${p.section})`);
  return {
    attached,
    close() {
      o.close();
      bpfObjects.delete(o);
    },
  };
}

/** Starts bpftrace with `prog`; resolves once it attached (bounded). stop() returns its output (the maps). */
export async function startBpftrace(prog) {
  const child = spawnTracked('bpftrace', ['-e', prog], { stdio: ['ignore', 'pipe', 'pipe'] }, 'INT');
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const deadline = Date.now() + 60_000;
  while (!/Attaching \d+ probe/.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`bpftrace exited: ${err || out}`);
    if (Date.now() > deadline) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`bpftrace did not attach within 60 s: ${err || out}`);
    }
    await sleep(25);
  }
  await sleep(500); // "Attaching" comes before the attach itself
  return {
    pid: child.pid,
    async stop() {
      await stopChild(child, 'SIGINT', 15_000); // prints its maps on SIGINT
      return out;
    },
  };
}

// ---- an OTLP/gRPC receiver that counts what arrives -----------------------------------------

const OTLP_SERVICES = {
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
};

/**
 * A gRPC server on 127.0.0.1 for the three OTLP Export methods that keeps the requests' sizes
 * and arrival times (no decoding) and answers with an empty response (success).
 */
export async function startOtlpCounter() {
  const grpc = await import('@grpc/grpc-js');
  const server = new grpc.Server();
  const received = { logs: [], metrics: [], traces: [] };
  const raw = (b) => b;
  for (const [kind, p] of Object.entries(OTLP_SERVICES)) {
    const def = { Export: { path: p, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } };
    server.addService(def, {
      Export(call, cb) {
        received[kind].push({ at: Date.now(), bytes: call.request.length });
        cb(null, Buffer.alloc(0));
      },
    });
  }
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  onCleanup(() => server.forceShutdown());
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((r) => server.tryShutdown(() => r())),
  };
}

// ---- the run's record -----------------------------------------------------------------------

function info(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Hash of what the agent runs (BPF objects, compiled agent): a rebuild mid-run mixes two versions. */
export function codeFingerprint() {
  const h = createHash('sha256');
  const walk = (dir) => {
    let names = [];
    try {
      names = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names.sort((a, b) => a.name.localeCompare(b.name))) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (/\.(o|js)$/.test(e.name)) h.update(f).update(readFileSync(f));
    }
  };
  walk(path.join(REPO, 'bpf', 'build'));
  walk(path.join(REPO, 'dist'));
  return h.digest('hex').slice(0, 16);
}

/** Load average now; a warning line when it exceeds the CPU count (other work skews every figure). */
export function loadCheck() {
  const load = os.loadavg();
  if (load[0] > os.cpus().length) log(`WARNING: load average ${load.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs: other work skews every figure`);
  return load;
}

export function hostInfo() {
  return {
    kernel: os.release(),
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    mem_mb: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    docker: info('docker', ['version', '-f', '{{.Server.Version}}']),
    clk_tck: CLK_TCK,
  };
}

export function gitInfo() {
  return {
    commit: info('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    uncommitted_files: (info('git', ['-C', REPO, 'status', '--porcelain']) ?? '').split('\n').filter(Boolean).length,
  };
}

/**
 * Writes bench/results/<name>-<date>[-quick].json (or --out) with the host, git commit, code
 * fingerprint (before/after: a rebuild during the run is recorded) and load averages around
 * `doc`; returns the path.
 */
export function writeResults(name, doc, { quick, out, fingerprint, loadAtStart, t0 }) {
  const date = new Date();
  const file = out ?? path.join(RESULTS_DIR, `${name}-${date.toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  const after = codeFingerprint();
  const full = {
    benchmark: name,
    date: date.toISOString(),
    host: { ...hostInfo(), loadavg_at_start: loadAtStart, loadavg_at_end: os.loadavg() },
    git: gitInfo(),
    code_fingerprint: { before: fingerprint, after, changed_during_run: fingerprint !== after },
    quick: Boolean(quick),
    elapsed_s: Math.round((Date.now() - t0) / 1000),
    ...doc,
  };
  writeFileSync(file, `${JSON.stringify(full, null, 2)}\n`);
  log();
  log(`results: ${path.relative(process.cwd(), file)} (${full.elapsed_s} s)`);
  if (full.code_fingerprint.changed_during_run) log('WARNING: bpf/build or dist changed during the run (rebuilt?): the phases measured different code');
  return file;
}
