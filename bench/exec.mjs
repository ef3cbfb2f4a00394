#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Exec-path benchmark: what the agent costs per exec, in one run, side by side.
 *
 * A long-lived busybox container (`sleep 3600`) and the host each run bench/exec-loop.c:
 * N x (fork, execve("/bin/true"), waitpid), timed inside the loop; R loops per phase. Every
 * round measures, in alternating order (off first in odd rounds, on first in even ones):
 *
 *   agent off   R host loops, then R container loops, nothing attached
 *   agent on    a fresh `contguard run` with every default sensor and output on: console
 *               (stdout to a file), JSON lines (temp dir), Prometheus (127.0.0.1, a free port);
 *               a warm-up of W container execs first (JIT, attribution), then
 *               - R host loops: the agent's CPU (utime+stime, /proc/PID/stat) over each loop
 *                 (+0.5 s), then over as long idle, and contguard_events_received_total
 *                 {sensor="exec"}, which must not grow (the kernel drops host execs);
 *               - R container loops: the agent's CPU from the loop's start until the received
 *                 counter has grown by >= N (bounded wait): agent CPU per received event, user and
 *                 system separately; the exec records in the JSON lines are counted too.
 *
 * Then, once (unless --no-process-phase): process events. The process sensor loads only with an
 * OTLP endpoint (it exports spans only), so a fresh agent gets `--otlp-endpoint
 * http://127.0.0.1:<a free port nothing listens on>` (its exports fail; spans are dropped after
 * the exporter's retries, which is part of what is measured); after the warm-up, R container
 * loops: contguard_events_received_total{sensor="process"} per loop against the expected
 * 3 x N (fork + exec + exit of each child), contguard_events_lost_total{sensor="process"}, and the
 * agent's CPU from the loop's start until that count is reached, per process event (the exec
 * sensor runs too: its events are in the same CPU, and reported alongside).
 *
 * Reported: agent CPU µs per container exec event (median of the rounds; target <= 30 µs) and
 * the implied events/s at one core; the agent's CPU during the host loops; ns per exec (the best
 * of the phase's R loops) with the agent on minus off (host and container, median of the
 * per-round differences); execs per second. Every loop goes to bench/results/exec-<date>.json.
 *
 * Usage (root, after `npm run build`; `npm run bench:exec` does both):
 *   node bench/exec.mjs [--rounds 5] [--execs 3000] [--reps 2] [--warmup 3000] [--warmup-seconds 25]
 *                       [--time-limit 420]
 *                       [--set KEY=VALUE]... [--strict] [--quick] [--out FILE]
 *   --reps    R, loops per phase (host and container each)
 *   --set K=V an agent config override, repeatable, for attribution runs (e.g. --set
 *             outputs.console.enabled=false); the default run uses none
 *   --strict  exit 1 when the agent's CPU per event is over the 30 µs target
 *   --no-process-phase  skip the process-sensor phase
 *   --warmup  container execs per warm-up loop; loops run until --warmup-seconds have passed
 *             (at least one loop). The steady state is what is measured: V8 compiles the hot path
 *             with TurboFan only after thousands of events, and the agent's 10-s periodic work
 *             (syscalls snapshots, file-open folds, resource samples) first runs cold and sends
 *             other record shapes through the shared output code, which V8 then recompiles: about
 *             two of those cycles pass before the cost per event settles. Every warm-up loop's CPU
 *             per event is reported (the first one: a cold agent) next to the steady state.
 *   --warmup-seconds  see --warmup (default 25; 0: one loop)
 *   --quick   a smoke run: --rounds 2 --execs 500 --reps 1 --warmup 100 --warmup-seconds 0 unless given;
 *             writes exec-<date>-quick.json (with --set: exec-<date>-custom.json)
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { procRuntimeNs } from './proc.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const BUILD_DIR = path.join(BENCH_DIR, 'build');
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const LOOP_SRC = path.join(BENCH_DIR, 'exec-loop.c');
const LOOP_BIN = path.join(BUILD_DIR, 'exec-loop');
const AGENT_BIN = path.join(REPO, 'bin', 'contguard');
const IMAGE = process.env.BENCH_IMAGE ?? 'contguard-test/busybox:latest';
const LABEL = 'contguard-bench-exec';
const TARGET_US = 30; // agent CPU per delivered container exec event
const EXEC_PATH = '/bin/true';
const HOST_TAIL_MS = 500; // after the host loop: anything the kernel let through would arrive by then
const SETTLE_MS = 1000; // before each timed loop: a quiet moment
const EXEC_EVENT = 'contguard.process.exec';

// ---- options --------------------------------------------------------------------------------

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' },
    execs: { type: 'string' },
    warmup: { type: 'string' },
    'warmup-seconds': { type: 'string' },
    reps: { type: 'string' },
    'time-limit': { type: 'string', default: '420' },
    strict: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    'no-process-phase': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const doc = src.slice(src.indexOf('/**'), src.indexOf('*/') + 2).split('\n').slice(1, -1);
  process.stdout.write(`${doc.map((l) => l.replace(/^ \*\/?\s?/, '')).join('\n')}\n`);
  process.exit(0);
}
const DEFAULTS = opt.quick
  ? { rounds: '2', execs: '500', warmup: '100', 'warmup-seconds': '0', reps: '1' }
  : { rounds: '5', execs: '3000', warmup: '3000', 'warmup-seconds': '25', reps: '2' };
for (const [k, v] of Object.entries(DEFAULTS)) opt[k] ??= v;
const posInt = (name) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v <= 0) die(`--${name}: expected a positive integer, got ${opt[name]}`);
  return v;
};
const ROUNDS = posInt('rounds');
const N = posInt('execs');
const WARMUP = posInt('warmup');
const WARMUP_S = Number(opt['warmup-seconds']);
if (!(WARMUP_S >= 0 && WARMUP_S <= 600)) die(`--warmup-seconds: expected 0..600, got ${opt['warmup-seconds']}`);
const REPS = posInt('reps');
/** --set a.b.c=VALUE: agent config overrides (VALUE parsed as JSON when it parses), e.g. outputs.console.enabled=false. */
const SETS = opt.set.map((a) => {
  const eq = a.indexOf('=');
  if (eq <= 0) die(`--set: expected KEY.PATH=VALUE, got ${a}`);
  let v = a.slice(eq + 1);
  try {
    v = JSON.parse(v);
  } catch {
    /* a string */
  }
  return [a.slice(0, eq).split('.'), v];
});
const TIME_LIMIT_S = posInt('time-limit');

// ---- small helpers --------------------------------------------------------------------------

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
const log = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
const signed = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(d)}`);

const minOrNull = (xs) => (xs.length ? Math.min(...xs) : null);

function median(xs) {
  const v = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x));
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command with a hard timeout; rejects with its stderr on failure. */
function run(cmd, args, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.killed ? `timed out after ${timeoutMs} ms` : err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- cleanup --------------------------------------------------------------------------------

const containers = new Set();
const children = new Set();
const tmpDirs = new Set();
let cleanedUp = false;

function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
  if (containers.size) {
    try {
      execFileSync('docker', ['rm', '-f', ...containers], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      /* best effort */
    }
    containers.clear();
  }
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}: cleaning up\n`);
    cleanupSync();
    process.exit(130);
  });
}

/** A detached shell that stops the agent once this process is gone (a SIGKILLed benchmark). */
function watchdog(childPid) {
  const script = `while kill -0 "$1" 2>/dev/null; do kill -0 "$2" 2>/dev/null || exit 0; sleep 0.5; done
kill -TERM "$2" 2>/dev/null || exit 0; sleep 5; kill -KILL "$2" 2>/dev/null; exit 0`;
  const w = spawn('sh', ['-c', script, 'contguard-bench-watchdog', String(process.pid), String(childPid)], { stdio: 'ignore', detached: true });
  w.on('error', () => {});
  w.unref();
}

async function stopChild(child, signal, graceMs = 10_000) {
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

// ---- preflight, build -----------------------------------------------------------------------

async function preflight() {
  if (process.getuid?.() !== 0) die('needs root (BPF programs, docker): run `sudo npm run bench:exec`');
  for (const f of ['bpf/build/registry.bpf.o', 'bpf/build/exec.bpf.o', 'bpf/build/syscalls.bpf.o', 'dist/src/main.js']) {
    if (!existsSync(path.join(REPO, f))) die(`${f} missing: run \`npm run build\``);
  }
  if (!have('docker')) die('docker CLI not found');
  if (!have('gcc')) die('gcc not found (apt-get install gcc libc6-dev)');
  if (!existsSync(EXEC_PATH)) die(`${EXEC_PATH} missing on the host`);
  try {
    await run('docker', ['image', 'inspect', IMAGE], 30_000);
  } catch {
    die(`image ${IMAGE} missing: run \`bash scripts/build-test-image.sh\``);
  }
  const stale = (await run('docker', ['ps', '-aq', '--filter', `label=${LABEL}`])).split('\n').filter(Boolean);
  if (stale.length) {
    log(`removing ${stale.length} container(s) left by an earlier run`);
    await run('docker', ['rm', '-f', ...stale]).catch(() => {});
  }
}

function build() {
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', LOOP_BIN, LOOP_SRC], { stdio: 'inherit', timeout: 60_000 });
}

/** Containers this run did not start: their execs would add to the agent's figures. */
async function foreignContainers() {
  const ids = (await run('docker', ['ps', '-q', '--no-trunc'])).split('\n').filter(Boolean);
  return ids.filter((id) => ![...containers].some((c) => id.startsWith(c) || c.startsWith(id)));
}

// ---- the loops ------------------------------------------------------------------------------

function parseLoop(out, n) {
  const m = out.match(/ns_per_exec=([\d.]+) execs=(\d+) failed=(\d+)/);
  if (!m || Number(m[2]) !== n) throw new Error(`exec-loop printed no result for ${n} execs:\n${out}`);
  if (Number(m[3])) throw new Error(`exec-loop: ${m[3]} of ${n} execs failed`);
  return Number(m[1]);
}

/** N execs on the host; ns per exec. */
async function hostLoop(n) {
  return parseLoop(await run(LOOP_BIN, [String(n), EXEC_PATH], 300_000), n);
}

/** N execs in the container (one `docker exec` of the loop); ns per exec. */
async function containerLoop(container, n) {
  return parseLoop(await run('docker', ['exec', container, '/bench/exec-loop', String(n), EXEC_PATH], 300_000), n);
}

// ---- the agent ------------------------------------------------------------------------------

let CLK_TCK = 100;
let LOAD_AT_START = null;

/** utime and stime in clock ticks: of the whole process (every thread, dead ones too) or one thread. */
function procTicks(pid, tid = null) {
  const s = readFileSync(tid === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return { utime: Number(f[11]), stime: Number(f[12]) };
}


function cpuSample(pid) {
  // The main thread runs the JS event loop (ring drains, decoding, outputs); the others are
  // V8's (GC, compiler) and libuv's thread pool (file writes).
  return { ...procTicks(pid), main: procTicks(pid, pid), runtimeNs: procRuntimeNs(pid), at: process.hrtime.bigint() };
}

function cpuDelta(a, b) {
  const us = 1e6 / CLK_TCK;
  return {
    utime_ticks: b.utime - a.utime,
    stime_ticks: b.stime - a.stime,
    user_us: (b.utime - a.utime) * us,
    sys_us: (b.stime - a.stime) * us,
    total_us: (b.utime - a.utime + b.stime - a.stime) * us,
    main_thread_us: (b.main.utime - a.main.utime + b.main.stime - a.main.stime) * us,
    runtime_us: (b.runtimeNs - a.runtimeNs) / 1000,
    wall_ms: Number(b.at - a.at) / 1e6,
  };
}

async function startAgent({ otlpEndpoint = null } = {}) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'contguard-bench-exec-'));
  tmpDirs.add(tmp);
  const port = await freePort();
  const jsonlDir = path.join(tmp, 'jsonl');
  const cfg = path.join(tmp, 'config.yaml');
  // Every default (all sensors, all outputs), with the outputs pointed at this run's places;
  // then the --set overrides (attribution runs only).
  const config = { outputs: { console: { enabled: true }, jsonl: { enabled: true, dir: jsonlDir }, prometheus: { enabled: true, host: '127.0.0.1', port } } };
  for (const [keys, value] of SETS) {
    let o = config;
    for (const k of keys.slice(0, -1)) o = o[k] ??= {};
    o[keys.at(-1)] = value;
  }
  writeFileSync(cfg, JSON.stringify(config, null, 2)); // JSON is YAML
  if (config.outputs.prometheus.enabled === false) throw new Error('--set: the benchmark needs the Prometheus endpoint');
  const ready = path.join(tmp, 'ready');
  const consoleFd = openSync(path.join(tmp, 'console.log'), 'w');
  const errFd = openSync(path.join(tmp, 'agent.log'), 'w');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_')) delete env[k]; // no OTLP export
  const child = spawn(process.execPath, [AGENT_BIN, 'run', '--config', cfg, '--ready-file', ready, ...(otlpEndpoint ? ['--otlp-endpoint', otlpEndpoint] : [])], { cwd: REPO, env, stdio: ['ignore', consoleFd, errFd] });
  closeSync(consoleFd);
  closeSync(errFd);
  children.add(child);
  if (child.pid) watchdog(child.pid);
  const agentLog = (tail = 3000) => {
    try {
      return readFileSync(path.join(tmp, 'agent.log'), 'utf8').slice(-tail);
    } catch {
      return '';
    }
  };
  const t0 = Date.now();
  while (!existsSync(ready)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent exited before ready:\n${agentLog()}`);
    if (Date.now() - t0 > 30_000) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`agent not ready within 30 s:\n${agentLog()}`);
    }
    await sleep(25);
  }
  const agent = {
    child, tmp, port, jsonlDir, jsonlOn: config.outputs.jsonl.enabled !== false, pid: child.pid, readyMs: Date.now() - t0, scrapes: 0,
    log: agentLog,
    /** contguard_events_{received,lost}_total{sensor=SENSOR} */
    async counters(sensor = 'exec') {
      this.scrapes++;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
      const body = await res.text();
      const get = (name) => {
        let v = null;
        for (const line of body.split('\n')) {
          if (line.startsWith(`${name}{`) && line.includes(`sensor="${sensor}"`)) v = (v ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
        }
        return v;
      };
      return { received: get('contguard_events_received_total') ?? 0, lost: get('contguard_events_lost_total') ?? 0 };
    },
    /** Polls until received >= target (bounded); the last counters. */
    async waitReceived(target, timeoutMs, sensor = 'exec') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = await this.counters(sensor);
        if (c.received >= target || Date.now() > deadline) return { ...c, reached: c.received >= target };
        await sleep(100);
      }
    },
    /** Exec records the JSON-lines output holds (every rotated file): all, and those of one container. */
    jsonlExecs(containerId) {
      const n = { all: 0, ours: 0 };
      let files = [];
      try {
        files = readdirSync(jsonlDir).filter((f) => f.endsWith('.jsonl'));
      } catch {
        return n;
      }
      for (const f of files) {
        for (const line of readFileSync(path.join(jsonlDir, f), 'utf8').split('\n')) {
          if (!line.includes(`"event":"${EXEC_EVENT}"`)) continue;
          n.all++;
          if (line.includes(containerId)) n.ours++;
        }
      }
      return n;
    },
    async stop() {
      await stopChild(child, 'SIGTERM', 15_000);
      rmSync(tmp, { recursive: true, force: true });
      tmpDirs.delete(tmp);
    },
  };
  return agent;
}

// ---- one round ------------------------------------------------------------------------------

const best = (xs) => Math.min(...xs);

async function phaseOff(container) {
  const host = [];
  const ctr = [];
  for (let i = 0; i < REPS; i++) {
    await sleep(SETTLE_MS); // after an agent's exit (program detach, RCU callbacks), the start-up, the other loop
    host.push(await hostLoop(N));
  }
  for (let i = 0; i < REPS; i++) {
    await sleep(SETTLE_MS);
    ctr.push(await containerLoop(container, N));
  }
  return { host_ns_per_exec: best(host), container_ns_per_exec: best(ctr), host_samples_ns: host, container_samples_ns: ctr };
}

/** Host execs: the kernel drops them; the agent should neither receive anything nor spend CPU. */
async function hostWindow(agent, container) {
  await sleep(SETTLE_MS);
  const h0 = await agent.counters();
  const j0 = agent.jsonlExecs(container);
  const c0 = cpuSample(agent.pid);
  const ns = await hostLoop(N);
  await sleep(HOST_TAIL_MS);
  const c1 = cpuSample(agent.pid);
  const h1 = await agent.counters();
  const received = h1.received - h0.received;
  // The same span with nothing running: the agent's idle work (timers, GC), to subtract.
  const i0 = cpuSample(agent.pid);
  await sleep(Number(c1.at - c0.at) / 1e6);
  const idle = cpuDelta(i0, cpuSample(agent.pid));
  // Received events a container made (another one on this host: a test, a service) reach the
  // JSON lines; a host exec that got past the kernel's filter would not (user space drops it).
  let other = 0;
  for (let i = 0; i < 50; i++) {
    other = agent.jsonlExecs(container).all - j0.all;
    if (other >= received) break;
    await sleep(100);
  }
  return { ns_per_exec: ns, ...cpuDelta(c0, c1), idle_runtime_us: idle.runtime_us, idle_total_us: idle.total_us, received, other_container_execs: other, host_leaked: Math.max(0, received - other) };
}

/** Container execs: the agent's CPU from the loop's start until it has received N more events. */
async function containerWindow(agent, container) {
  await sleep(SETTLE_MS);
  const c0 = await agent.counters();
  const jsonlBefore = agent.jsonlExecs(container);
  const scrapesBefore = agent.scrapes;
  const s0 = cpuSample(agent.pid);
  const t0 = Date.now();
  const ns = await containerLoop(container, N);
  const loopMs = Date.now() - t0;
  // The window ends once the agent has delivered N more exec records: watched in the JSON lines
  // (read here, which costs the agent nothing; a /metrics scrape costs it ~8 ms of CPU, about
  // 3 µs per event of a 3,000-exec loop). With the JSON lines off (--set), by scraping.
  let c1;
  if (agent.jsonlOn) {
    const deadline = Date.now() + 60_000;
    while (agent.jsonlExecs(container).ours - jsonlBefore.ours < N && Date.now() < deadline) await sleep(50);
  } else {
    c1 = await agent.waitReceived(c0.received + N, 60_000);
  }
  const s1 = cpuSample(agent.pid);
  const waitMs = Date.now() - t0 - loopMs;
  const scrapes = agent.scrapes - scrapesBefore;
  c1 ??= await agent.waitReceived(c0.received + N, 60_000); // after the window: the received and lost counters
  // Delivered: exec records written to the JSON lines (outside the CPU window; bounded wait).
  let jsonl = 0;
  let other = 0;
  for (let i = 0; i < 50; i++) {
    const j = agent.jsonlExecs(container);
    jsonl = j.ours - jsonlBefore.ours;
    other = j.all - jsonlBefore.all - jsonl;
    if (jsonl >= N) break;
    await sleep(100);
  }
  return {
    ns_per_exec: ns,
    ...cpuDelta(s0, s1),
    received: c1.received - c0.received,
    reached: c1.reached,
    lost_total: c1.lost,
    jsonl_exec_records: jsonl,
    other_container_execs: other,
    loop_ms: loopMs,
    wait_after_loop_ms: waitMs,
    scrapes_in_window: scrapes,
  };
}

async function phaseOn(container) {
  const agent = await startAgent();
  try {
    // Warm-up: the agent's JIT, the container's attribution, the first runs of the agent's
    // periodic work (see --warmup); each loop's CPU per event is kept (the first: cold).
    const warmup = { loops: 0, seconds: 0, runtime_us_per_event: [] };
    const wt0 = Date.now();
    do {
      const w0 = await agent.counters();
      const j0 = agent.jsonlOn ? agent.jsonlExecs(container).ours : 0;
      const s0 = cpuSample(agent.pid);
      await containerLoop(container, WARMUP);
      // As in a measured window: delivery watched in the JSON lines (no scrape in the window).
      if (agent.jsonlOn) {
        const deadline = Date.now() + 30_000;
        while (agent.jsonlExecs(container).ours - j0 < WARMUP && Date.now() < deadline) await sleep(50);
      }
      const s1 = cpuSample(agent.pid);
      const w1 = await agent.waitReceived(w0.received + WARMUP, 30_000);
      if (!w1.reached) throw new Error(`warm-up: the agent received ${w1.received - w0.received} exec events of ${WARMUP}\n${agent.log()}`);
      warmup.runtime_us_per_event.push(cpuDelta(s0, s1).runtime_us / (w1.received - w0.received));
      warmup.loops++;
    } while (Date.now() - wt0 < WARMUP_S * 1000 && warmup.loops < 100);
    warmup.seconds = (Date.now() - wt0) / 1000;

    const hostWindows = [];
    const ctrWindows = [];
    for (let i = 0; i < REPS; i++) hostWindows.push(await hostWindow(agent, container));
    for (let i = 0; i < REPS; i++) ctrWindows.push(await containerWindow(agent, container));
    const sum = (ws, k) => ws.reduce((a, w) => a + w[k], 0);
    const received = sum(ctrWindows, 'received');
    const per = (k) => (received > 0 ? sum(ctrWindows, k) / received : null);
    const hostReceived = sum(hostWindows, 'received');
    const hostLeaked = sum(hostWindows, 'host_leaked');
    const hostOther = sum(hostWindows, 'other_container_execs');
    const clean = hostWindows.filter((w) => w.other_container_execs === 0);
    // (an attribution run with the JSON lines off has no records to count)
    const ctrOk = ctrWindows.every((w) => w.reached && w.lost_total === 0 && (!agent.jsonlOn || w.jsonl_exec_records >= N));
    return {
      agent_ready_ms: agent.readyMs,
      warmup,
      // What the agent attached ("registry (tp_btf): attached …", "sensor exec (…): attached …").
      attached: [...agent.log(Infinity).matchAll(/\b(registry \(.+?\)|sensor .+?): attached (.+)$/gm)].map((m) => `${m[1]}: ${m[2]}`),
      host_ns_per_exec: best(hostWindows.map((w) => w.ns_per_exec)),
      container_ns_per_exec: best(ctrWindows.map((w) => w.ns_per_exec)),
      host_samples_ns: hostWindows.map((w) => w.ns_per_exec),
      container_samples_ns: ctrWindows.map((w) => w.ns_per_exec),
      // Over every rep of the round: the host loops' CPU and events, the container loops' CPU per event.
      host: {
        execs: N * REPS,
        total_us: sum(hostWindows, 'total_us'),
        user_us: sum(hostWindows, 'user_us'),
        sys_us: sum(hostWindows, 'sys_us'),
        wall_ms: sum(hostWindows, 'wall_ms'),
        runtime_us: sum(hostWindows, 'runtime_us'),
        idle_runtime_us: sum(hostWindows, 'idle_runtime_us'),
        // per host exec, over the loops no other container disturbed (null if none), minus the
        // agent's idle work over as long; from the threads' sum_exec_runtime (ns), as a loop's
        // 2-3 s hold about one 10 ms tick
        clean_cpu_ns_per_exec: clean.length ? ((sum(clean, 'runtime_us') - sum(clean, 'idle_runtime_us')) * 1000) / (N * clean.length) : null,
        received: hostReceived,
        other_container_execs: hostOther,
        host_leaked: hostLeaked,
        ok: hostLeaked === 0,
        windows: hostWindows,
      },
      container: {
        execs: N * REPS,
        received,
        jsonl_exec_records: sum(ctrWindows, 'jsonl_exec_records'),
        lost_total: Math.max(...ctrWindows.map((w) => w.lost_total)),
        user_us_per_event: per('user_us'),
        sys_us_per_event: per('sys_us'),
        total_us_per_event: per('total_us'),
        main_thread_us_per_event: per('main_thread_us'),
        runtime_us_per_event: per('runtime_us'),
        ok: ctrOk,
        windows: ctrWindows,
      },
    };
  } finally {
    await agent.stop();
  }
}

/**
 * Process events: an agent with an OTLP endpoint nothing listens on (the process sensor loads only
 * with one); R container loops; per loop the process events received against 3 x N expected (fork,
 * exec, exit of each child) and the agent's CPU until they arrived (bounded wait).
 */
async function phaseProcess(container) {
  const sinkPort = await freePort(); // nothing listens there: exports fail, spans are dropped
  const agent = await startAgent({ otlpEndpoint: `http://127.0.0.1:${sinkPort}` });
  try {
    const w0 = await agent.counters('process');
    await containerLoop(container, WARMUP);
    const w1 = await agent.waitReceived(w0.received + 3 * WARMUP, 30_000, 'process');
    if (!w1.reached) throw new Error(`process warm-up: the agent received ${w1.received - w0.received} process events of ${3 * WARMUP} expected\n${agent.log()}`);
    const loops = [];
    for (let i = 0; i < REPS; i++) {
      await sleep(SETTLE_MS);
      const p0 = await agent.counters('process');
      const e0 = await agent.counters('exec');
      const s0 = cpuSample(agent.pid);
      const ns = await containerLoop(container, N);
      const p1 = await agent.waitReceived(p0.received + 3 * N, 60_000, 'process');
      const s1 = cpuSample(agent.pid);
      const e1 = await agent.counters('exec');
      const cpu = cpuDelta(s0, s1);
      const received = p1.received - p0.received;
      loops.push({
        ns_per_exec: ns,
        ...cpu,
        expected: 3 * N,
        received,
        per_child: received / N,
        reached: p1.reached,
        lost_total: p1.lost,
        lost_in_loop: p1.lost - p0.lost,
        exec_events_received: e1.received - e0.received,
        total_us_per_process_event: received > 0 ? cpu.total_us / received : null,
        total_us_per_child: cpu.total_us / N,
      });
    }
    const sum = (k) => loops.reduce((a, l) => a + l[k], 0);
    const received = sum('received');
    return {
      otlp_endpoint: `http://127.0.0.1:${sinkPort} (nothing listening)`,
      attached: [...agent.log(Infinity).matchAll(/\b(sensor process.*?): attached (.+)$/gm)].map((m) => `${m[1]}: ${m[2]}`),
      expected: 3 * N * REPS,
      received,
      per_child: received / (N * REPS),
      lost_total: Math.max(...loops.map((l) => l.lost_total)),
      exec_events_received: sum('exec_events_received'),
      total_us_per_process_event: received > 0 ? sum('total_us') / received : null,
      user_us_per_process_event: received > 0 ? sum('user_us') / received : null,
      sys_us_per_process_event: received > 0 ? sum('sys_us') / received : null,
      total_us_per_child: sum('total_us') / (N * REPS),
      process_events_per_s_at_one_core: received > 0 ? (received * 1e6) / sum('total_us') : null,
      ok: loops.every((l) => l.reached && l.lost_total === 0),
      loops,
    };
  } finally {
    await agent.stop();
  }
}

// ---- main -----------------------------------------------------------------------------------

/** Hash of what the agent runs (BPF objects, compiled agent): a rebuild mid-run mixes two versions. */
function codeFingerprint() {
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

async function main() {
  const t0 = Date.now();
  const deadline = t0 + TIME_LIMIT_S * 1000;
  setTimeout(() => {
    process.stderr.write(`bench: hard time limit (${TIME_LIMIT_S + 180} s) reached, aborting\n`);
    cleanupSync();
    process.exit(3);
  }, (TIME_LIMIT_S + 180) * 1000).unref();

  await preflight();
  build();
  const fingerprint = codeFingerprint();
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const id = (
    await run('docker', ['run', '-d', '--label', `${LABEL}=${process.pid}`, '--name', `${LABEL}-${process.pid}`, '-v', `${BUILD_DIR}:/bench:ro`, IMAGE, 'sleep', '3600'])
  ).trim();
  containers.add(id);
  const foreign = await foreignContainers();

  log(`ContGuard exec-path benchmark: ${os.release()}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, CLK_TCK ${CLK_TCK}`);
  log(`loop: ${N} x fork+execve(${EXEC_PATH})+wait, ${REPS} loop(s) per phase, on the host and in a ${IMAGE} container; ${ROUNDS} rounds, agent off/on alternating; warm-up loops of ${WARMUP} container execs for ${WARMUP_S} s per agent start`);
  if (SETS.length) log(`agent config overrides: ${opt.set.join(' ')} (not the default configuration)`);
  LOAD_AT_START = os.loadavg();
  log(`load average at start: ${LOAD_AT_START.map((x) => x.toFixed(2)).join(' ')}`);
  if (foreign.length) log(`WARNING: ${foreign.length} other container(s) run: their execs add to the agent's figures`);
  log();

  const rounds = [];
  let truncated = false;
  for (let r = 0; r < ROUNDS; r++) {
    if (Date.now() > deadline) {
      truncated = true;
      log(`time limit (${TIME_LIMIT_S} s) reached: stopping after ${rounds.length} round(s)`);
      break;
    }
    const rt0 = Date.now();
    const order = r % 2 ? ['on', 'off'] : ['off', 'on'];
    const round = { round: r + 1, order };
    for (const p of order) round[p] = p === 'on' ? await phaseOn(id) : await phaseOff(id);
    round.host_added_ns = round.on.host_ns_per_exec - round.off.host_ns_per_exec;
    round.container_added_ns = round.on.container_ns_per_exec - round.off.container_ns_per_exec;
    round.elapsed_s = (Date.now() - rt0) / 1000;
    rounds.push(round);
    const cw = round.on.container;
    const hw = round.on.host;
    log(
      `round ${r + 1}/${ROUNDS} (${round.elapsed_s.toFixed(0)} s, ${order.join('/')}): container ${fmt(cw.total_us_per_event)} µs/event (user ${fmt(cw.user_us_per_event)}, sys ${fmt(cw.sys_us_per_event)}; ${cw.received} received, ${cw.jsonl_exec_records} in jsonl, lost ${cw.lost_total}); ` +
        `host loops ${fmt(hw.total_us / 1000)} ms CPU, received +${hw.received} (other containers ${hw.other_container_execs}, host ${hw.host_leaked}); exec ns off/on host ${fmt(round.off.host_ns_per_exec, 0)}/${fmt(round.on.host_ns_per_exec, 0)}, container ${fmt(round.off.container_ns_per_exec, 0)}/${fmt(round.on.container_ns_per_exec, 0)}`,
    );
  }
  if (!rounds.length) throw new Error('no round completed');

  // ---- process events (one agent with an OTLP endpoint) ----
  let processPhase = null;
  if (!opt['no-process-phase']) {
    processPhase = await phaseProcess(id);
    const pp = processPhase;
    log(
      `process sensor: ${pp.received} process events received for ${REPS} x ${N} children (${fmt(pp.per_child, 3)} per child, expected 3: fork+exec+exit), lost ${pp.lost_total}; ` +
        `agent CPU ${fmt(pp.total_us_per_process_event)} µs per process event (user ${fmt(pp.user_us_per_process_event)}, sys ${fmt(pp.sys_us_per_process_event)}), ${fmt(pp.total_us_per_child)} µs per child with the exec sensor's ${pp.exec_events_received} exec events in the same CPU; ` +
        `${fmt(pp.process_events_per_s_at_one_core, 0)} process events/s at one core${pp.ok ? '' : ' (FAIL: not reached or lost)'}`,
    );
    for (const l of pp.loops) log(`  loop: received ${l.received} of ${l.expected}${l.reached ? '' : ' (NOT reached in 60 s)'}, lost_total ${l.lost_total}, exec events ${l.exec_events_received}, ${fmt(l.total_us_per_process_event)} µs/process event, ${fmt(l.ns_per_exec, 0)} ns per exec`);
  }

  // ---- summary ----
  const col = (f) => rounds.map(f);
  const cw = (k) => median(col((r) => r.on.container[k]));
  const summary = {
    agent_cpu_per_container_event_us: {
      user: cw('user_us_per_event'),
      sys: cw('sys_us_per_event'),
      total: cw('total_us_per_event'),
      runtime_cross_check: cw('runtime_us_per_event'),
      main_thread: cw('main_thread_us_per_event'),
    },
    events_per_s_at_one_core: cw('total_us_per_event') ? 1e6 / cw('total_us_per_event') : null,
    // A fresh agent's first warm-up loop (JIT compiling, first runs): sum_exec_runtime per event.
    cold_agent_first_loop_runtime_us_per_event: median(col((r) => r.on.warmup.runtime_us_per_event[0])),
    warmup_seconds: median(col((r) => r.on.warmup.seconds)),
    host_window_agent_cpu_ms: median(col((r) => r.on.host.total_us / 1000)),
    host_window_agent_runtime_ms: median(col((r) => r.on.host.runtime_us / 1000)),
    host_window_agent_idle_runtime_ms: median(col((r) => r.on.host.idle_runtime_us / 1000)),
    // The agent's periodic work (a syscalls snapshot every 10 s, cold in a fresh agent) lands in
    // some loops and not others; what host execs cost it is in every loop: the quietest loop
    // bounds it from above.
    host_exec_agent_ns_upper_bound: minOrNull(
      rounds.flatMap((r) => r.on.host.windows.filter((w) => w.other_container_execs === 0).map((w) => (w.runtime_us * 1000) / N)),
    ),
    host_window_agent_cpu_ns_per_exec: median(col((r) => r.on.host.clean_cpu_ns_per_exec)),
    host_window_received_max: Math.max(...col((r) => r.on.host.received)),
    host_window_other_container_execs: col((r) => r.on.host.other_container_execs).reduce((a, b) => a + b, 0),
    host_execs_leaked_total: col((r) => r.on.host.host_leaked).reduce((a, b) => a + b, 0),
    host_ns_per_exec: { off: median(col((r) => r.off.host_ns_per_exec)), on: median(col((r) => r.on.host_ns_per_exec)), added: median(col((r) => r.host_added_ns)) },
    container_ns_per_exec: {
      off: median(col((r) => r.off.container_ns_per_exec)),
      on: median(col((r) => r.on.container_ns_per_exec)),
      added: median(col((r) => r.container_added_ns)),
    },
  };
  const rate = (ns) => (ns ? 1e9 / ns : null);
  summary.host_execs_per_s = { off: rate(summary.host_ns_per_exec.off), on: rate(summary.host_ns_per_exec.on) };
  summary.container_execs_per_s = { off: rate(summary.container_ns_per_exec.off), on: rate(summary.container_ns_per_exec.on) };

  const head = ['figure', 'median', ...rounds.map((r) => `r${r.round}`)];
  const rows = [
    ['agent CPU µs / container exec event (user)', summary.agent_cpu_per_container_event_us.user, col((r) => r.on.container.user_us_per_event), 1],
    ['agent CPU µs / container exec event (sys)', summary.agent_cpu_per_container_event_us.sys, col((r) => r.on.container.sys_us_per_event), 1],
    ['agent CPU µs / container exec event (total)', summary.agent_cpu_per_container_event_us.total, col((r) => r.on.container.total_us_per_event), 1],
    ['  of which the main thread (JS event loop)', summary.agent_cpu_per_container_event_us.main_thread, col((r) => r.on.container.main_thread_us_per_event), 1],
    ['  cross-check: threads\' sum_exec_runtime µs', summary.agent_cpu_per_container_event_us.runtime_cross_check, col((r) => r.on.container.runtime_us_per_event), 1],
    ['events/s at one core (1e6 / total µs)', summary.events_per_s_at_one_core, col((r) => rate(r.on.container.total_us_per_event * 1000)), 0],
    [`cold agent: its first ${WARMUP} execs, sum_exec_runtime µs/event`, summary.cold_agent_first_loop_runtime_us_per_event, col((r) => r.on.warmup.runtime_us_per_event[0]), 1],
    ['  warm-up loops, seconds', summary.warmup_seconds, col((r) => r.on.warmup.seconds), 0],
    ['container exec events received', median(col((r) => r.on.container.received)), col((r) => r.on.container.received), 0],
    ['  of which in the JSON lines', median(col((r) => r.on.container.jsonl_exec_records)), col((r) => r.on.container.jsonl_exec_records), 0],
    [`agent CPU ms during the host loops (${N * REPS} execs, ~${fmt(median(col((r) => r.on.host.wall_ms / 1000)), 0)} s)`, summary.host_window_agent_cpu_ms, col((r) => r.on.host.total_us / 1000), 0],
    ['  cross-check: threads\' sum_exec_runtime ms', summary.host_window_agent_runtime_ms, col((r) => r.on.host.runtime_us / 1000), 1],
    ['  the same span idle (no loop), sum_exec_runtime ms', summary.host_window_agent_idle_runtime_ms, col((r) => r.on.host.idle_runtime_us / 1000), 1],
    ['  ns per host exec (runtime - idle; no other container)', summary.host_window_agent_cpu_ns_per_exec, col((r) => r.on.host.clean_cpu_ns_per_exec), 0, true],
    ['  upper bound: the quietest loop\'s runtime / execs, ns', summary.host_exec_agent_ns_upper_bound, col((r) => minOrNull(r.on.host.windows.filter((w) => w.other_container_execs === 0).map((w) => (w.runtime_us * 1000) / N))), 0],
    ['exec events received during the host loops', median(col((r) => r.on.host.received)), col((r) => r.on.host.received), 0],
    ['  of which from other containers (in the JSON lines)', median(col((r) => r.on.host.other_container_execs)), col((r) => r.on.host.other_container_execs), 0],
    ['  host execs that reached user space', median(col((r) => r.on.host.host_leaked)), col((r) => r.on.host.host_leaked), 0],
    ['host: ns per exec, agent off', summary.host_ns_per_exec.off, col((r) => r.off.host_ns_per_exec), 0],
    ['host: ns per exec, agent on', summary.host_ns_per_exec.on, col((r) => r.on.host_ns_per_exec), 0],
    ['host: ns added per exec (on - off)', summary.host_ns_per_exec.added, col((r) => r.host_added_ns), 0, true],
    ['container: ns per exec, agent off', summary.container_ns_per_exec.off, col((r) => r.off.container_ns_per_exec), 0],
    ['container: ns per exec, agent on', summary.container_ns_per_exec.on, col((r) => r.on.container_ns_per_exec), 0],
    ['container: ns added per exec (on - off)', summary.container_ns_per_exec.added, col((r) => r.container_added_ns), 0, true],
    ['container: execs/s, agent off', summary.container_execs_per_s.off, col((r) => rate(r.off.container_ns_per_exec)), 0],
    ['container: execs/s, agent on', summary.container_execs_per_s.on, col((r) => rate(r.on.container_ns_per_exec)), 0],
    ['host: execs/s, agent off', summary.host_execs_per_s.off, col((r) => rate(r.off.host_ns_per_exec)), 0],
    ['host: execs/s, agent on', summary.host_execs_per_s.on, col((r) => rate(r.on.host_ns_per_exec)), 0],
  ];
  const body = rows.map(([label, med, each, d, sgn]) => [label, (sgn ? signed : fmt)(med, d), ...each.map((x) => (sgn ? signed : fmt)(x, d))]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmtRow = (cells) => cells.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
  log();
  log(`== exec path: ${REPS} x ${N} execs of ${EXEC_PATH} per phase, ${rounds.length} rounds (median, then every round); ns per exec: best of ${REPS} loop(s); CPU from /proc/PID/stat at ${CLK_TCK} ticks/s (1 tick = ${fmt(1e6 / CLK_TCK / (N * REPS), 2)} µs per event) ==`);
  log(fmtRow(head));
  log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) log(fmtRow(b));

  const cpuOk = summary.agent_cpu_per_container_event_us.total !== null && summary.agent_cpu_per_container_event_us.total <= TARGET_US;
  const checks = rounds.map((r) => ({
    round: r.round,
    container: r.on.container.ok,
    host_not_received: r.on.host.ok,
  }));
  const checksOk = checks.every((c) => c.container && c.host_not_received) && (!processPhase || processPhase.ok);
  log();
  log('== checks ==');
  for (const r of rounds) {
    const c = r.on.container;
    const reached = c.windows.every((x) => x.reached);
    log(`${c.ok ? 'ok  ' : 'FAIL'} round ${r.round}: container: received ${c.windows.map((x) => x.received).join(' + ')} for ${REPS} x ${N} execs${reached ? '' : ' (NOT reached in 60 s)'}, ${c.jsonl_exec_records} exec records in the JSON lines, lost_total ${c.lost_total}`);
    const h = r.on.host;
    log(`${h.ok ? 'ok  ' : 'FAIL'} round ${r.round}: host: exec events received during ${h.execs} host execs: ${h.received}${h.other_container_execs ? ` (${h.other_container_execs} from another container, in the JSON lines)` : ''}; host execs that reached user space: ${h.host_leaked} (expected 0)`);
  }
  const attachedSets = [...new Set(rounds.map((r) => r.on.attached.join('; ')))];
  log();
  log('== what the agent attached ==');
  for (const a of attachedSets) log(a);
  const fingerprintAfter = codeFingerprint();
  const codeChanged = fingerprintAfter !== fingerprint;
  if (codeChanged) log('WARNING: bpf/build or dist changed during the run (rebuilt?): the rounds measured different code; run again');
  const verdict = [
    `agent CPU per container exec event: ${fmt(summary.agent_cpu_per_container_event_us.total)} µs (user ${fmt(summary.agent_cpu_per_container_event_us.user)}, sys ${fmt(summary.agent_cpu_per_container_event_us.sys)}) = ${fmt(summary.events_per_s_at_one_core, 0)} events/s at one core (target <= ${TARGET_US} µs): ${cpuOk ? 'WITHIN TARGET' : 'OVER TARGET'}`,
    `host execs: agent CPU ${fmt(summary.host_window_agent_cpu_ms)} ms over ${N * REPS} execs (sum_exec_runtime ${fmt(summary.host_window_agent_runtime_ms)} ms, idle over as long ${fmt(summary.host_window_agent_idle_runtime_ms)} ms: ${signed(summary.host_window_agent_cpu_ns_per_exec, 0)} ns per host exec; at most ${fmt(summary.host_exec_agent_ns_upper_bound, 0)} ns in the quietest loop), host execs that reached user space: ${summary.host_execs_leaked_total}${summary.host_window_other_container_execs ? ` (other containers' execs meanwhile: ${summary.host_window_other_container_execs})` : ''}; each exec ${signed(summary.host_ns_per_exec.added, 0)} ns with the agent on (${fmt(summary.host_ns_per_exec.off / 1000)} -> ${fmt(summary.host_ns_per_exec.on / 1000)} µs)`,
    `cold agent: ${fmt(summary.cold_agent_first_loop_runtime_us_per_event)} µs per event over its first ${WARMUP} execs (JIT compiling); the figure above is the steady state after ${fmt(summary.warmup_seconds, 0)} s of warm-up loops (every loop's figure is in the results file)`,
    `container execs: ${signed(summary.container_ns_per_exec.added, 0)} ns per exec with the agent on (${fmt(summary.container_execs_per_s.off, 0)} -> ${fmt(summary.container_execs_per_s.on, 0)} execs/s)`,
  ];
  log();
  log('== verdict ==');
  for (const v of verdict) log(v);
  if (!checksOk) log('WARNING: a check failed: the figures above may not measure a working exec path');

  const info = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const date = new Date();
  const suffix = `${opt.quick ? '-quick' : ''}${SETS.length ? '-custom' : ''}`;
  const outFile = opt.out ?? path.join(RESULTS_DIR, `exec-${date.toISOString().slice(0, 10)}${suffix}.json`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  const doc = {
    benchmark: 'exec-path',
    description:
      'agent CPU (utime+stime of /proc/PID/stat) per exec event received from a container; agent CPU and events received during host execs (dropped in the kernel); ns per fork+exec+wait of /bin/true with the agent off and on, alternating per round; added = median of the per-round (on - off)',
    date: date.toISOString(),
    target_us_per_event: TARGET_US,
    host: {
      kernel: os.release(),
      cpu: os.cpus()[0]?.model ?? null,
      cpus: os.cpus().length,
      node: process.version,
      docker: info('docker', ['version', '-f', '{{.Server.Version}}']),
      clk_tck: CLK_TCK,
      loadavg_at_start: LOAD_AT_START,
      loadavg_at_end: os.loadavg(),
      foreign_containers: foreign.length,
    },
    code_fingerprint: { before: fingerprint, after: fingerprintAfter, changed_during_run: codeChanged },
    git: { commit: info('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']), uncommitted_files: (info('git', ['-C', REPO, 'status', '--porcelain']) ?? '').split('\n').filter(Boolean).length },
    parameters: { config_overrides: opt.set, quick: opt.quick, execs: N, reps_per_phase: REPS, warmup: WARMUP, warmup_seconds: WARMUP_S, rounds_requested: ROUNDS, rounds_done: rounds.length, truncated, exec_path: EXEC_PATH, image: IMAGE, host_tail_ms: HOST_TAIL_MS, settle_ms: SETTLE_MS, agent_config: 'defaults; console -> file, jsonl -> temp dir, prometheus 127.0.0.1:<free port>' },
    summary,
    rounds,
    process_phase: processPhase,
    checks,
    verdict,
    within_target: cpuOk,
    elapsed_s: Math.round((Date.now() - t0) / 1000),
  };
  writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
  log();
  log(`results: ${path.relative(process.cwd(), outFile)} (${doc.elapsed_s} s)`);
  return opt.strict && !cpuOk ? 1 : checksOk && !codeChanged ? 0 : 1;
}

main()
  .then((code) => {
    cleanupSync();
    process.exit(code);
  })
  .catch((err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    cleanupSync();
    process.exit(1);
  });
