#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Sensor-path benchmark: what the agent, with every default sensor and output on, costs per
 * file open, per null syscall and per TCP connection, in one run, side by side.
 *
 * Containers (contguard-test/busybox, labelled contguard-bench-sensors): W (`sleep 3600`, a host
 * temp dir bind-mounted at /mnt/data), C (`sleep 3600`), and per phase a fresh S (`httpd -f -p
 * 8080`; started after the agent, which learns listeners as they listen). The loops
 * (bench/open-loop.c, bench/getppid-loop.c, bench/connect-loop.c, static, built into a temp dir
 * mounted at /bench) run in W and C with `docker exec`. Every round measures, in order reversed
 * every other round (so slow drift cancels):
 *
 *   off        nothing attached: R open loops on an image file (/bin/busybox, overlay) and R on
 *              a bind-mounted file; the getppid loop (pinned to CPU 0), then again with
 *              bench_empty_tp_btf (bpf/build/probes.bpf.o, `return 0` on tp_btf/sys_enter) loaded
 *              in this process; R connect loops C -> S
 *   on         a fresh `contguard run` with every default (console to a file, JSON lines, Prometheus
 *              on 127.0.0.1): (b) R open loops on bind-mounted files (folded in the kernel, the
 *              default 10 s fold interval), (a) R on the image file (dropped in the kernel), the
 *              getppid loop, R connect loops; then a bounded wait for the fold flush, after which
 *              the sum of contguard.file.open.count over each (b) file's records must be N
 *   nofold     the same agent with sensors.file_open.fold_interval_ms: 0 (every open an event):
 *              (c) R open loops on bind-mounted files; agent CPU per event received
 *   noexit     the same agent with sensors.file_open.enabled: false and sensors.network.enabled:
 *              false (the syscalls sensor's program alone on sys_exit, no tail call to file_open;
 *              before, no program on a syscall's exit): the getppid loop (attribution; --no-noexit
 *              skips it)
 *
 * A connection is socket, connect, shutdown(SHUT_WR), read until the server closes, close:
 * busybox httpd forks per connection and listens with a backlog of 9, so a client that does not
 * wait fills the accept queue and then measures the 1 s SYN retransmit (bench/connect-loop.c);
 * connect() alone is timed too. Every loop of (b), (c) opens a file of its own
 * (/mnt/data/<phase>-r<round>-<i>.dat), so its records are counted by path; connect records
 * (contguard.network.connect, one joined record per connection when both ends are containers
 * here) are counted for container C, close records too. The agent's CPU (the threads'
 * sum_exec_runtime, and utime+stime of /proc/PID/stat) is taken from a loop's start until
 * contguard_events_received_total + contguard_events_lost_total of the sensor has grown by what
 * the loop makes (N opens; 4 events per connection), or stopped growing (bounded), or +0.5 s when
 * it makes nothing, and then on until the agent is idle (under 5 % of a CPU over 100 ms: records
 * wait for attribution, mount tables and output writes after the events arrive); the
 * benchmark's own /metrics polls in that window are subtracted at their measured cost. The JSON lines are read outside those windows (the benchmark raises
 * outputs.jsonl.max_file_bytes so that nothing rotates away before it is counted; every other
 * setting is the default).
 *
 * Reported (median over rounds of the per-round figures; ns per op: best of the R loops):
 * ns added per open (a), (b), (c) and opens/s; records and summed counts vs opens, events lost;
 * agent CPU µs per event in (c); ns per getppid off / empty / agent / noexit and the ratio
 * (agent - off) / (empty - off) against the 1.5x budget; ns added per connection and in
 * connect(), connects/s, connect and close records vs connections, events lost, agent CPU µs per
 * connection. Every loop goes to bench/results/sensors-<date>.json.
 *
 * Other work on the machine skews every figure. Before every phase the script waits (at most
 * --wait-max seconds over the whole run) while another bench/exec.mjs or bench/run.mjs, or a
 * `contguard run` it did not start (a test suite's agent), runs; it looks again every second
 * during the phase, and a phase one of them overlapped is measured again (up to 3 attempts),
 * then a whole round (up to 2 x --rounds attempts); what overlapped is kept in the results.
 *
 * Usage (root, after `npm run build`; `npm run bench:sensors` does both):
 *   node bench/sensors.mjs [--rounds 4] [--reps 2] [--opens 100000] [--connects 2000]
 *                          [--calls 2000000] [--no-noexit] [--time-limit 480] [--wait-max 600]
 *                          [--quick] [--out FILE]
 *   --reps        R, loops per measurement (opens, connects; getppid: 5 x --calls, one loop)
 *   --time-limit  no new round starts after this many seconds (waits not counted)
 *   --quick       a smoke run: --rounds 1 --reps 1 --opens 20000 --connects 500 --calls 500000
 *                 unless given; writes sensors-<date>-quick.json (gitignored)
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { procRuntimeNs } from './proc.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const SOURCES = { 'open-loop': 'open-loop.c', 'getppid-loop': 'getppid-loop.c', 'connect-loop': 'connect-loop.c' };
// CONTGUARD_BENCH_AGENT: another build of the agent (a patched copy), for attribution runs only.
const AGENT_BIN = process.env.CONTGUARD_BENCH_AGENT ?? path.join(REPO, 'bin', 'contguard');
const PROBES_OBJ = path.join(REPO, 'bpf', 'build', 'probes.bpf.o');
const IMAGE = process.env.BENCH_IMAGE ?? 'contguard-test/busybox:latest';
const LABEL = 'contguard-bench-sensors';
const BUDGET = 1.5; // agent (all sensors) added ns per null syscall <= 1.5x an empty tp_btf sys_enter program
const IMAGE_FILE = '/bin/busybox'; // a file of the image (overlay): the kernel drops its opens
const DATA_MOUNT = '/mnt/data';
const HTTP_PORT = 8080;
const GETPPID_REPS = 5;
const GETPPID_CPU = 0;
const SETTLE_MS = 500; // before each timed loop: a quiet moment
const TAIL_MS = 500; // after a loop that makes no event: anything that gets through arrives by then
const WAIT_EVENTS_MS = 60_000; // bound on waiting for a loop's events to reach the agent
const POLL_MS = 250; // /metrics polls while waiting (each scrape costs the agent CPU: measured, subtracted)
const STABLE_MS = 1000; // after the loop: counters unchanged this long = every event that will come came
const IDLE_STEP_MS = 100; // then the agent is done once it spends under IDLE_CPU_SHARE of a CPU over a step
const IDLE_CPU_SHARE = 0.05;
const IDLE_WAIT_MS = 30_000; // bound on that wait
const PHASE_ATTEMPTS = 3; // a phase overlapped by another benchmark or agent runs again, this often at most
const EVENTS_PER_CONNECTION = 4; // connect (client), accept (server), a close on each side
const LOOP_MAX_S = 60; // every loop stops itself after this long
const FOLD_INTERVAL_MS = 10_000; // the default sensors.file_open.fold_interval_ms (checked at start)
const JSONL_MAX_FILE_BYTES = 64 * 1024 ** 3; // no rotation during a run: every record stays countable
// Another benchmark, or an agent this run did not start (a test suite, someone's try-out).
const OTHER_RE = /bench\/(exec|run)\.mjs|contguard run/;
const EV = { open: 'contguard.file.open', connect: 'contguard.network.connect', close: 'contguard.network.close', failed: 'contguard.network.failed' };

// ---- options --------------------------------------------------------------------------------

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' },
    reps: { type: 'string' },
    opens: { type: 'string' },
    connects: { type: 'string' },
    calls: { type: 'string' },
    'no-noexit': { type: 'boolean', default: false },
    'time-limit': { type: 'string', default: '480' },
    'wait-max': { type: 'string', default: '600' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
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
  ? { rounds: '1', reps: '1', opens: '20000', connects: '500', calls: '500000' }
  : { rounds: '4', reps: '2', opens: '100000', connects: '2000', calls: '2000000' };
for (const [k, v] of Object.entries(DEFAULTS)) opt[k] ??= v;
const posInt = (name) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v <= 0) die(`--${name}: expected a positive integer, got ${opt[name]}`);
  return v;
};
const ROUNDS = posInt('rounds');
const REPS = posInt('reps');
const N_OPENS = posInt('opens');
const N_CONNECTS = posInt('connects');
const CALLS = posInt('calls');
const TIME_LIMIT_S = posInt('time-limit');
const WAIT_MAX_S = Number(opt['wait-max']);
if (!Number.isFinite(WAIT_MAX_S) || WAIT_MAX_S < 0) die(`--wait-max: expected seconds >= 0, got ${opt['wait-max']}`);
const NOEXIT = !opt['no-noexit'];

// ---- small helpers --------------------------------------------------------------------------

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
const log = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ok = (x) => x !== null && x !== undefined && !Number.isNaN(x);
const fmt = (x, d = 1) => (ok(x) ? x.toFixed(d) : '–');
const signed = (x, d = 1) => (ok(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(d)}` : '–');
const sum = (xs) => xs.reduce((a, b) => a + (ok(b) ? b : 0), 0);
const best = (xs) => (xs.length ? Math.min(...xs) : null);
const sub = (a, b) => (ok(a) && ok(b) ? a - b : null);
const div = (a, b) => (ok(a) && ok(b) && b !== 0 ? a / b : null);
const rate = (ns) => div(1e9, ns);

function median(xs) {
  const v = xs.filter(ok);
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command with a hard timeout; rejects with its stdout and stderr on failure. */
function run(cmd, args, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.killed ? `timed out after ${timeoutMs} ms` : err.message}\n${stdout}${stderr}`.trim()));
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

// ---- other benchmarks: wait (bounded) while one runs -------------------------------------

let waitBudgetMs = WAIT_MAX_S * 1000;
let waitedTotalMs = 0; // not counted against --time-limit
const waits = []; // { before, waited_ms, gave_up }

/** Processes of other benchmarks and agents (not this run's): pid -> command line, from /proc. */
function otherProcesses() {
  const mine = new Set([process.pid, ...[...children].map((c) => c.pid)]);
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || mine.has(Number(name))) continue;
    let cmd;
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue; // gone
    }
    if (OTHER_RE.test(cmd)) out.set(Number(name), cmd.slice(0, 160));
  }
  return out;
}

function otherBenchPids() {
  return [...otherProcesses().keys()];
}

/** Docker containers running now (their cgroup directories: cheaper than `docker ps`), not this run's. */
const CGROUP_DOCKER_DIRS = ['/sys/fs/cgroup/unified/docker', '/sys/fs/cgroup/docker', '/sys/fs/cgroup/system.slice'];
function otherContainerIds() {
  const ids = new Set();
  for (const dir of CGROUP_DOCKER_DIRS) {
    let names = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const id = n.match(/(?:^|docker-)([0-9a-f]{64})(?:\.scope)?$/)?.[1];
      if (id && !ourContainers.has(id)) ids.add(id);
    }
  }
  return ids;
}

/**
 * Every second while a phase runs: another benchmark or agent seen at any moment, or a container
 * of someone else's started or stopped (a test suite at work), flags the phase.
 */
const overlapSeen = new Map();
let containersAtStart = new Set();
function startOverlapMonitor() {
  setInterval(() => {
    for (const [pid, cmd] of otherProcesses()) overlapSeen.set(pid, cmd);
    const now = otherContainerIds();
    for (const id of now) if (!containersAtStart.has(id)) overlapSeen.set(`container ${id}`, 'started');
    for (const id of containersAtStart) if (!now.has(id)) overlapSeen.set(`container ${id}`, 'stopped');
  }, 1000).unref();
}
function takeOverlap() {
  // (a container of ours may show before `docker run` returned its id)
  const seen = [...overlapSeen].filter(([k]) => !ourContainers.has(String(k).replace(/^container /, ''))).map(([k, what]) => `${String(k).replace(/^(container [0-9a-f]{12})[0-9a-f]+$/, '$1')}: ${what}`);
  overlapSeen.clear();
  containersAtStart = otherContainerIds();
  return seen;
}

/** Before a timed phase: waits while another benchmark runs, from the run's shared budget. */
async function waitForOthers(what) {
  const r = await waitForOthersOnly(what);
  takeOverlap(); // sightings while waiting do not count against the phase
  r.foreign_containers = (await foreignContainers().catch(() => [])).length;
  return r;
}

async function waitForOthersOnly(what) {
  let pids = otherBenchPids();
  if (!pids.length) return { waited_ms: 0, other_running: false };
  const t0 = Date.now();
  log(`  (${what}: waiting for another benchmark or agent, pid ${pids.join(' ')}; ${Math.round(waitBudgetMs / 1000)} s of waiting left)`);
  while (pids.length && Date.now() - t0 < waitBudgetMs) {
    await sleep(2000);
    pids = otherBenchPids();
  }
  const waited = Date.now() - t0;
  waitedTotalMs += waited;
  waitBudgetMs = Math.max(0, waitBudgetMs - waited);
  if (!pids.length) await sleep(2000); // its agent and containers go
  const gaveUp = pids.length > 0;
  waits.push({ before: what, waited_ms: waited, gave_up: gaveUp });
  if (gaveUp) log(`  WARNING: ${what}: waiting budget (--wait-max) spent; measuring while another benchmark or agent runs`);
  return { waited_ms: waited, other_running: gaveUp };
}

// ---- cleanup --------------------------------------------------------------------------------

const containers = new Set();
const ourContainers = new Set(); // every container this run started (removed ones too)
const children = new Set();
const tmpDirs = new Set();
const bpfObjects = new Set();
let cleanedUp = false;

function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const o of bpfObjects) {
    try {
      o.close();
    } catch {
      /* gone */
    }
  }
  bpfObjects.clear();
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
  if (process.getuid?.() !== 0) die('needs root (BPF programs, docker): run `sudo npm run bench:sensors`');
  for (const f of ['bpf/build/registry.bpf.o', 'bpf/build/file_open.bpf.o', 'bpf/build/network.bpf.o', 'bpf/build/syscalls.bpf.o', 'bpf/build/probes.bpf.o', 'dist/src/main.js', 'dist/ffi/bpf-object.js']) {
    if (!existsSync(path.join(REPO, f))) die(`${f} missing: run \`npm run build\``);
  }
  if (!have('docker')) die('docker CLI not found');
  if (!have('gcc')) die('gcc not found (apt-get install gcc libc6-dev)');
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

/** The loops, built into a temp dir (mounted read-only at /bench in the containers). */
function build() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'contguard-bench-sensors-bin-'));
  tmpDirs.add(dir);
  for (const [bin, src] of Object.entries(SOURCES)) {
    execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', path.join(dir, bin), path.join(BENCH_DIR, src)], { stdio: 'inherit', timeout: 60_000 });
  }
  return dir;
}

/** A host directory on a real file system (not tmpfs: the kernel would treat it as the container's own). */
function dataDir() {
  const TMPFS = 0x01021994;
  for (const base of [os.tmpdir(), '/var/tmp']) {
    try {
      if (statfsSync(base).type === TMPFS) continue;
      const d = mkdtempSync(path.join(base, 'contguard-bench-sensors-data-'));
      tmpDirs.add(d);
      return d;
    } catch {
      /* next */
    }
  }
  die('no temp directory outside tmpfs for the bind-mounted files');
}

/** Containers this run did not start: their events would add to the agent's figures. */
async function foreignContainers() {
  const ids = (await run('docker', ['ps', '-q', '--no-trunc'])).split('\n').filter(Boolean);
  return ids.filter((id) => ![...containers].some((c) => id.startsWith(c) || c.startsWith(id)));
}

/** Programs other than ours on sys_enter / sys_exit: they add to every syscall figure. */
function foreignSyscallPrograms() {
  if (!have('bpftool')) return null;
  try {
    const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8', timeout: 10_000 }));
    const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', timeout: 10_000 }));
    const byId = new Map(progs.map((p) => [p.id, p]));
    return links
      .filter((l) => l.tp_name === 'sys_enter' || l.tp_name === 'sys_exit')
      .map((l) => ({ hook: l.tp_name, name: byId.get(l.prog_id)?.name ?? `prog ${l.prog_id}`, pids: (l.pids ?? byId.get(l.prog_id)?.pids ?? []).map((p) => p.pid) }));
  } catch {
    return null;
  }
}

// ---- the loops ------------------------------------------------------------------------------

const C = { w: null, s: null, c: null, serverAddr: null };

function parseLine(out, re, what, n) {
  const m = out.match(re);
  if (!m) throw new Error(`${what} printed no result:\n${out}`);
  const done = Number(m[2]);
  const failed = Number(m[3]);
  if (done !== n || Number(m[4])) throw new Error(`${what}: ${done} of ${n} done (stopped early after ${LOOP_MAX_S} s)`);
  if (failed) throw new Error(`${what}: ${failed} of ${n} failed:\n${out}`);
  return Number(m[1]);
}

/** N opens of a file in W; ns per open (open + close). */
async function openLoop(file, n = N_OPENS) {
  const out = await run('docker', ['exec', C.w, '/bench/open-loop', String(n), file, String(LOOP_MAX_S)], (LOOP_MAX_S + 30) * 1000).catch((e) => e.message);
  return parseLine(out, /ns_per_open=([\d.]+) opens=(\d+) failed=(\d+) stopped_early=(\d)/, `open-loop ${file}`, n);
}

/**
 * N connections from C to S; ns per connection (socket, connect, shutdown, wait for the server's
 * close, close: see bench/connect-loop.c) and ns in connect() alone.
 */
async function connectLoop(n = N_CONNECTS) {
  const out = await run('docker', ['exec', C.c, '/bench/connect-loop', String(n), C.serverAddr, String(HTTP_PORT), String(LOOP_MAX_S), '1'], (LOOP_MAX_S + 30) * 1000).catch((e) => e.message);
  const ns = parseLine(out, /ns_per_connect=([\d.]+) connects=(\d+) failed=(\d+) stopped_early=(\d)/, 'connect-loop', n);
  const num = (k) => Number(out.match(new RegExp(`${k}=([\\d.]+)`))?.[1] ?? NaN);
  return { ns, connect_call_ns: num('connect_call_ns'), max_iteration_ns: num('max_iteration_ns'), unclosed: num('unclosed') };
}

/** The getppid loop in W, pinned to CPU 0: GETPPID_REPS x CALLS after CALLS/10 warm-up; ns per call each. */
async function getppidLoop() {
  const out = await run('docker', ['exec', C.w, '/bench/getppid-loop', String(CALLS), String(GETPPID_REPS), String(Math.floor(CALLS / 10)), String(GETPPID_CPU)], 120_000);
  const samples = [...out.matchAll(/ns_per_call=([\d.]+)/g)].map((m) => Number(m[1]));
  if (samples.length !== GETPPID_REPS) throw new Error(`getppid-loop printed ${samples.length} results, expected ${GETPPID_REPS}:\n${out}`);
  return { median: median(samples), samples };
}

// ---- the agent's CPU ------------------------------------------------------------------------

let CLK_TCK = 100;

function procTicks(pid, tid = null) {
  const s = readFileSync(tid === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return { utime: Number(f[11]), stime: Number(f[12]) };
}


function cpuSample(pid) {
  return { ...procTicks(pid), main: procTicks(pid, pid), runtimeNs: procRuntimeNs(pid), at: process.hrtime.bigint() };
}

function cpuDelta(a, b) {
  const us = 1e6 / CLK_TCK;
  return {
    user_us: (b.utime - a.utime) * us,
    sys_us: (b.stime - a.stime) * us,
    total_us: (b.utime - a.utime + b.stime - a.stime) * us,
    main_thread_us: (b.main.utime - a.main.utime + b.main.stime - a.main.stime) * us,
    runtime_us: (b.runtimeNs - a.runtimeNs) / 1000,
    wall_ms: Number(b.at - a.at) / 1e6,
  };
}

// ---- JSON lines, read incrementally ---------------------------------------------------------

/** Follows the agent's live JSON-lines file (no rotation: see JSONL_MAX_FILE_BYTES) and tallies records. */
class JsonlTally {
  constructor(dir) {
    this.file = path.join(dir, 'contguard.jsonl');
    this.dir = dir;
    this.fd = null;
    this.offset = 0;
    this.decoder = new StringDecoder('utf8');
    this.rest = '';
    this.buf = Buffer.alloc(1 << 20);
    this.opens = new Map(); // file.path -> { records, count }
    this.connects = new Map(); // container.id -> { records, joined, transmit, receive }
    this.events = new Map(); // event name -> records
  }

  line(l) {
    const ev = l.match(/"event":"([^"]+)"/)?.[1];
    if (!ev) return;
    this.events.set(ev, (this.events.get(ev) ?? 0) + 1);
    if (ev === EV.open) {
      const p = l.match(/"file\.path":"((?:[^"\\]|\\.)*)"/)?.[1];
      const n = Number(l.match(/"contguard\.file\.open\.count":(\d+)/)?.[1] ?? 0);
      if (p === undefined) return;
      const t = this.opens.get(p) ?? { records: 0, count: 0 };
      t.records++;
      t.count += n;
      this.opens.set(p, t);
    } else if (ev === EV.connect) {
      const id = l.match(/"container\.id":"([^"]+)"/)?.[1] ?? '';
      const t = this.connects.get(id) ?? { records: 0, joined: 0, transmit: 0, receive: 0 };
      t.records++;
      if (l.includes('"contguard.network.peer.process.pid"')) t.joined++;
      if (l.includes('"network.io.direction":"receive"')) t.receive++;
      else t.transmit++;
      this.connects.set(id, t);
    }
  }

  poll() {
    if (this.fd === null) {
      try {
        this.fd = openSync(this.file, 'r');
      } catch {
        return this;
      }
    }
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      const lines = (this.rest + this.decoder.write(this.buf.subarray(0, n))).split('\n');
      this.rest = lines.pop();
      for (const l of lines) this.line(l);
    }
    return this;
  }

  rotated() {
    try {
      return readdirSync(this.dir).some((f) => /^contguard\.\d+\.jsonl$/.test(f));
    } catch {
      return false;
    }
  }

  opensOf(p) {
    return this.opens.get(p) ?? { records: 0, count: 0 };
  }

  connectsOf(id) {
    return this.connects.get(id) ?? { records: 0, joined: 0, transmit: 0, receive: 0 };
  }

  close() {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

// ---- the agent ------------------------------------------------------------------------------

async function startAgent(name, sensors) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'contguard-bench-sensors-'));
  tmpDirs.add(tmp);
  const port = await freePort();
  const jsonlDir = path.join(tmp, 'jsonl');
  const cfg = path.join(tmp, 'config.yaml');
  // Every default (all sensors, all outputs), the outputs pointed at this run's places, and the
  // phase's sensor settings; JSON lines do not rotate (every record stays countable).
  const config = {
    outputs: {
      console: { enabled: true },
      jsonl: { enabled: true, dir: jsonlDir, max_file_bytes: JSONL_MAX_FILE_BYTES },
      prometheus: { enabled: true, host: '127.0.0.1', port },
    },
    ...(sensors ? { sensors } : {}),
  };
  writeFileSync(cfg, JSON.stringify(config, null, 2)); // JSON is YAML
  const ready = path.join(tmp, 'ready');
  const consoleFd = openSync(path.join(tmp, 'console.log'), 'w');
  const errFd = openSync(path.join(tmp, 'agent.log'), 'w');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('OTEL_')) delete env[k]; // no OTLP export
  const child = spawn(process.execPath, [AGENT_BIN, 'run', '--config', cfg, '--ready-file', ready], { cwd: REPO, env, stdio: ['ignore', consoleFd, errFd] });
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
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent (${name}) exited before ready:\n${agentLog()}`);
    if (Date.now() - t0 > 30_000) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`agent (${name}) not ready within 30 s:\n${agentLog()}`);
    }
    await sleep(25);
  }
  const tally = new JsonlTally(jsonlDir);
  return {
    name, child, tmp, port, pid: child.pid, readyMs: Date.now() - t0, config, tally,
    log: agentLog,
    /** contguard_events_{received,lost}_total per sensor. */
    scrapes: 0,
    async counters() {
      this.scrapes++;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
      const body = await res.text();
      const out = { _output_dropped: {} };
      for (const line of body.split('\n')) {
        const d = line.match(/^contguard_output_dropped_total\{.*output="([^"]+)".*\} (\S+)$/);
        if (d) out._output_dropped[d[1]] = Number(d[2]);
        const m = line.match(/^contguard_events_(received|lost)_total\{.*sensor="([^"]+)".*\} (\S+)$/);
        if (!m) continue;
        out[m[2]] ??= { received: 0, lost: 0 };
        out[m[2]][m[1]] += Number(m[3]);
      }
      return out;
    },
    async sensorCounters(sensor) {
      return (await this.counters())[sensor] ?? { received: 0, lost: 0 };
    },
    attached() {
      return [...agentLog(Infinity).matchAll(/\b(registry \(.+?\)|sensor .+?): attached (.+)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
    },
    async stop() {
      tally.close();
      await stopChild(child, 'SIGTERM', 15_000);
      rmSync(tmp, { recursive: true, force: true });
      tmpDirs.delete(tmp);
    },
  };
}

/** Until the agent spends under IDLE_CPU_SHARE of a CPU over IDLE_STEP_MS (bounded): true if it did. */
async function waitIdle(agent, timeoutMs = IDLE_WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let prev = cpuSample(agent.pid);
  for (;;) {
    await sleep(IDLE_STEP_MS);
    const s = cpuSample(agent.pid);
    if (s.runtimeNs - prev.runtimeNs < IDLE_CPU_SHARE * Number(s.at - prev.at)) return true;
    if (Date.now() > deadline) return false;
    prev = s;
  }
}

/**
 * The agent's CPU per /metrics scrape (the benchmark's polls): 10 scrapes back to back, after the
 * warm-up; subtracted from the CPU windows (their raw figures are kept too).
 */
async function scrapeCost(agent) {
  await waitIdle(agent);
  const s0 = cpuSample(agent.pid);
  for (let i = 0; i < 10; i++) await agent.counters();
  const d = cpuDelta(s0, cpuSample(agent.pid));
  return { runtime_us: d.runtime_us / 10, total_us: d.total_us / 10 };
}

/**
 * One timed loop with the agent's CPU: from the loop's start until the sensor's received + lost
 * counters have grown by `expect`, or have not moved for STABLE_MS after the loop (the window
 * then ends at the last poll that saw them move; bounded), or TAIL_MS after the loop when it
 * makes no event. Polls every POLL_MS; `*_net` subtracts those scrapes' measured cost.
 */
async function cpuWindow(agent, sensor, expect, loop) {
  await sleep(SETTLE_MS);
  await waitIdle(agent); // nothing left over from before
  const all0 = await agent.counters();
  const k0 = all0[sensor] ?? { received: 0, lost: 0 };
  const scrapes0 = agent.scrapes;
  const s0 = cpuSample(agent.pid);
  const t0 = Date.now();
  const result = await loop();
  const loopMs = Date.now() - t0;
  let k1;
  let s1;
  let scrapes1;
  let reached = true;
  if (expect > 0) {
    const deadline = Date.now() + WAIT_EVENTS_MS;
    let last = { n: -1, at: Date.now(), s: null, k: null, scrapes: 0 };
    for (;;) {
      const k = await agent.sensorCounters(sensor);
      const s = cpuSample(agent.pid);
      const n = k.received + k.lost - k0.received - k0.lost;
      if (n >= expect) {
        k1 = k;
        s1 = s;
        scrapes1 = agent.scrapes;
        break;
      }
      if (n !== last.n) last = { n, at: Date.now(), s, k, scrapes: agent.scrapes };
      else if (Date.now() - last.at >= STABLE_MS || Date.now() > deadline) {
        // The window ends at the last poll that saw the counters move.
        reached = false;
        k1 = last.k;
        s1 = last.s;
        scrapes1 = last.scrapes;
        break;
      }
      await sleep(POLL_MS);
    }
  } else {
    await sleep(TAIL_MS);
    s1 = cpuSample(agent.pid);
    scrapes1 = agent.scrapes;
    k1 = await agent.sensorCounters(sensor);
  }
  // Events received are not yet events handled: records wait for an attribution or a mount
  // table read, outputs write after the drain. The window ends once the agent goes idle.
  const idleDeadline = Date.now() + IDLE_WAIT_MS;
  let idleReached = false;
  for (;;) {
    await sleep(IDLE_STEP_MS);
    const s = cpuSample(agent.pid);
    const busyNs = s.runtimeNs - s1.runtimeNs;
    const wallNs = Number(s.at - s1.at);
    if (busyNs < IDLE_CPU_SHARE * wallNs) {
      idleReached = true;
      break;
    }
    s1 = s;
    if (Date.now() > idleDeadline) break;
  }
  const d = cpuDelta(s0, s1);
  const scrapes = scrapes1 - scrapes0;
  // Records an output dropped (over its buffer cap) meanwhile: read after the window.
  const all1 = await agent.counters();
  const outputDropped = Object.fromEntries(Object.entries(all1._output_dropped).map(([o, n]) => [o, n - (all0._output_dropped[o] ?? 0)]));
  const cost = agent.scrapeCost ?? { runtime_us: 0, total_us: 0 };
  return {
    result,
    ...d,
    scrapes_in_window: scrapes,
    output_dropped: outputDropped,
    total_us_net: d.total_us - scrapes * cost.total_us,
    runtime_us_net: d.runtime_us - scrapes * cost.runtime_us,
    received: k1.received - k0.received,
    lost: k1.lost - k0.lost,
    reached,
    idle_reached: idleReached,
    loop_ms: loopMs,
    window_ms: d.wall_ms,
  };
}

// ---- phases ---------------------------------------------------------------------------------

let BpfObject;
let DATA_DIR;
const fileFor = (tag) => {
  const name = `${tag}.dat`;
  writeFileSync(path.join(DATA_DIR, name), 'contguard bench\n');
  return `${DATA_MOUNT}/${name}`;
};

async function phaseOff(round) {
  const wait = await waitForOthers(`round ${round} off`);
  const foreignProgs = foreignSyscallPrograms();
  const out = { wait, foreign_syscall_programs: foreignProgs };
  await startServer();
  try {
    return await measureOff(out, round);
  } finally {
    await stopServer();
  }
}

async function measureOff(out, round) {
  const bindFile = fileFor(`off-r${round}`);
  out.image_ns_samples = [];
  out.bind_ns_samples = [];
  out.connect_samples = [];
  for (let i = 0; i < REPS; i++) {
    await sleep(SETTLE_MS);
    out.image_ns_samples.push(await openLoop(IMAGE_FILE));
  }
  for (let i = 0; i < REPS; i++) {
    await sleep(SETTLE_MS);
    out.bind_ns_samples.push(await openLoop(bindFile));
  }
  await sleep(SETTLE_MS);
  out.getppid = await getppidLoop();
  // The reference: an empty tp_btf sys_enter program, loaded here.
  const o = BpfObject.open(PROBES_OBJ);
  bpfObjects.add(o);
  try {
    for (const p of o.programs()) o.setAutoload(p.name, p.name === 'bench_empty_tp_btf');
    o.load();
    out.empty_attached = o.attachAll().map((p) => `${p.name} (${p.section})`);
    await sleep(SETTLE_MS);
    out.getppid_empty = await getppidLoop();
  } finally {
    o.close();
    bpfObjects.delete(o);
  }
  for (let i = 0; i < REPS; i++) {
    await sleep(SETTLE_MS);
    out.connect_samples.push(await connectLoop());
  }
  out.image_ns = best(out.image_ns_samples);
  out.bind_ns = best(out.bind_ns_samples);
  out.connect_ns = best(out.connect_samples.map((s) => s.ns));
  out.connect_call_ns = best(out.connect_samples.map((s) => s.connect_call_ns));
  out.other_bench_after = otherBenchPids().length > 0;
  return out;
}

/** The default agent: (b) folded bind-mount opens, (a) image-file opens, getppid, connects. */
async function phaseOn(round) {
  const wait = await waitForOthers(`round ${round} on`);
  const agent = await startAgent('on', null);
  try {
    const out = { wait, agent_ready_ms: agent.readyMs, attached: agent.attached() };
    await startServer();
    // Warm-up: the agent's JIT, the containers' attribution, W's mount table, the peer directory.
    const warmFile = fileFor(`warm-on-r${round}`);
    const warmConnects = Math.min(200, N_CONNECTS);
    await openLoop(warmFile, 1000);
    await connectLoop(warmConnects);
    const wdl = Date.now() + 30_000;
    while (Date.now() < wdl) {
      agent.tally.poll();
      if (agent.tally.opensOf(warmFile).records >= 1 && agent.tally.connectsOf(C.c).records >= warmConnects) break;
      await sleep(200);
    }
    const warm = { open_records: agent.tally.opensOf(warmFile).records, connect_records: agent.tally.connectsOf(C.c).records, connect_joined: agent.tally.connectsOf(C.c).joined };
    if (!warm.open_records) throw new Error(`warm-up: no ${EV.open} record for ${warmFile} within 30 s\n${agent.log()}`);
    out.warmup = warm;
    agent.scrapeCost = await scrapeCost(agent);
    out.scrape_cost = agent.scrapeCost;

    // (b) bind-mounted files, folded: the first open of each loop is sent, the rest counted.
    out.bind = [];
    for (let i = 0; i < REPS; i++) {
      const file = fileFor(`b-r${round}-${i}`);
      const w = await cpuWindow(agent, 'file_open', 0, () => openLoop(file));
      out.bind.push({ file, ns: w.result, ...w, result: undefined });
    }
    const bindEnd = Date.now();
    // (a) the image's own file: the kernel drops these opens.
    out.image = [];
    for (let i = 0; i < REPS; i++) {
      const w = await cpuWindow(agent, 'file_open', 0, () => openLoop(IMAGE_FILE));
      out.image.push({ ns: w.result, ...w, result: undefined });
    }
    await sleep(SETTLE_MS);
    out.getppid = await getppidLoop();
    // Connects: 4 events each (connect, accept, two closes).
    out.connect = [];
    for (let i = 0; i < REPS; i++) {
      agent.tally.poll();
      const before = { ...agent.tally.connectsOf(C.c) };
      const server = { ...agent.tally.connectsOf(C.s) };
      const closes0 = agent.tally.events.get(EV.close) ?? 0;
      const w = await cpuWindow(agent, 'network', EVENTS_PER_CONNECTION * N_CONNECTS, () => connectLoop());
      // Delivered: connect records of C (joined records are C's), outside the CPU window.
      const dl = Date.now() + 10_000;
      let now;
      for (;;) {
        now = agent.tally.poll().connectsOf(C.c);
        if (now.records - before.records >= N_CONNECTS || Date.now() > dl) break;
        await sleep(200);
      }
      await sleep(300); // a record past the join window
      now = agent.tally.poll().connectsOf(C.c);
      const srv = agent.tally.connectsOf(C.s);
      out.connect.push({
        ns: w.result.ns,
        connect_call_ns: w.result.connect_call_ns,
        max_iteration_ns: w.result.max_iteration_ns,
        unclosed: w.result.unclosed,
        ...w,
        result: undefined,
        records: now.records - before.records,
        joined: now.joined - before.joined,
        server_side_records: srv.records - server.records,
        close_records: (agent.tally.events.get(EV.close) ?? 0) - closes0,
      });
    }
    // The fold flush (every fold interval): each (b) file's counts must add up to its opens.
    const dl = bindEnd + FOLD_INTERVAL_MS + 5000;
    for (;;) {
      agent.tally.poll();
      if (out.bind.every((b) => agent.tally.opensOf(b.file).count >= N_OPENS) || Date.now() > dl) break;
      await sleep(250);
    }
    for (const b of out.bind) {
      const t = agent.tally.opensOf(b.file);
      b.records = t.records;
      b.count_sum = t.count;
    }
    const k = await agent.counters();
    out.lost_total = { file_open: k.file_open?.lost ?? null, network: k.network?.lost ?? null };
    out.output_dropped = k._output_dropped;
    out.rotated = agent.tally.rotated();
    out.image_ns = best(out.image.map((w) => w.ns));
    out.bind_ns = best(out.bind.map((w) => w.ns));
    out.connect_ns = best(out.connect.map((w) => w.ns));
    out.connect_call_ns = best(out.connect.map((w) => w.connect_call_ns));
    out.other_bench_after = otherBenchPids().length > 0;
    return out;
  } finally {
    await stopServer();
    await agent.stop();
  }
}

/** fold_interval_ms: 0 — (c) every open of a bind-mounted file is an event. */
async function phaseNofold(round) {
  const wait = await waitForOthers(`round ${round} nofold`);
  const agent = await startAgent('nofold', { file_open: { fold_interval_ms: 0 } });
  try {
    const out = { wait, agent_ready_ms: agent.readyMs };
    const warmFile = fileFor(`warm-nofold-r${round}`);
    const warmN = 2000;
    const w0 = await agent.sensorCounters('file_open');
    await openLoop(warmFile, warmN);
    const wdl = Date.now() + 30_000;
    for (;;) {
      const k = await agent.sensorCounters('file_open');
      if (k.received + k.lost - w0.received - w0.lost >= warmN || Date.now() > wdl) break;
      await sleep(100);
    }
    agent.scrapeCost = await scrapeCost(agent);
    out.scrape_cost = agent.scrapeCost;
    out.bind = [];
    for (let i = 0; i < REPS; i++) {
      const file = fileFor(`c-r${round}-${i}`);
      const all0 = agent.tally.poll().events.get(EV.open) ?? 0;
      const w = await cpuWindow(agent, 'file_open', N_OPENS, () => openLoop(file));
      // Records written for the events received (any container's: another one may open files too).
      const dl = Date.now() + 10_000;
      let all;
      for (;;) {
        all = (agent.tally.poll().events.get(EV.open) ?? 0) - all0;
        if (all >= w.received || Date.now() > dl) break;
        await sleep(200);
      }
      const t = agent.tally.opensOf(file);
      out.bind.push({ file, ns: w.result, ...w, result: undefined, records: t.records, count_sum: t.count, open_records_all_files: all });
    }
    const k = await agent.counters();
    out.lost_total = { file_open: k.file_open?.lost ?? null, network: k.network?.lost ?? null };
    out.output_dropped = k._output_dropped;
    out.rotated = agent.tally.rotated();
    out.bind_ns = best(out.bind.map((w) => w.ns));
    out.other_bench_after = otherBenchPids().length > 0;
    return out;
  } finally {
    await agent.stop();
  }
}

/** file_open and network off: the syscalls sensor alone on the syscall hooks; the getppid loop only. */
async function phaseNoexit(round) {
  const wait = await waitForOthers(`round ${round} noexit`);
  const agent = await startAgent('noexit', { file_open: { enabled: false }, network: { enabled: false } });
  try {
    await sleep(SETTLE_MS);
    const getppid = await getppidLoop();
    return { wait, agent_ready_ms: agent.readyMs, attached: agent.attached(), getppid, other_bench_after: otherBenchPids().length > 0 };
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

async function startContainers(binDir) {
  const base = ['run', '-d', '--label', `${LABEL}=${process.pid}`];
  const start = async (tag, args) => {
    const id = (await run('docker', [...base, '--name', `${LABEL}-${process.pid}-${tag}`, ...args])).trim();
    containers.add(id);
    ourContainers.add(id);
    return id;
  };
  C.w = await start('w', ['-v', `${binDir}:/bench:ro`, '-v', `${DATA_DIR}:${DATA_MOUNT}`, IMAGE, 'sleep', '3600']);
  C.c = await start('c', ['-v', `${binDir}:/bench:ro`, IMAGE, 'sleep', '3600']);
}

/**
 * A fresh httpd container S for a phase: started after the agent, so that it sees the listen()
 * (the network sensor learns listeners as they are created: a server listening since before the
 * agent started gets no accept or close events, and no connection to it is joined).
 */
let serverSeq = 0;
async function startServer() {
  const id = (await run('docker', ['run', '-d', '--label', `${LABEL}=${process.pid}`, '--name', `${LABEL}-${process.pid}-s${++serverSeq}`, IMAGE, '/bin/httpd', '-f', '-p', String(HTTP_PORT)])).trim();
  containers.add(id);
  ourContainers.add(id);
  C.s = id;
  C.serverAddr = (await run('docker', ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).trim().split(' ')[0];
  if (!C.serverAddr) throw new Error('httpd container has no IP address (docker inspect)');
  // httpd listening: one connection succeeds (bounded).
  for (let i = 0; ; i++) {
    try {
      await connectLoop(1);
      return;
    } catch (err) {
      if (i >= 50) throw new Error(`httpd at ${C.serverAddr}:${HTTP_PORT} not reachable: ${err.message}`);
      await sleep(100);
    }
  }
}

async function stopServer() {
  if (!C.s) return;
  const id = C.s;
  C.s = null;
  await run('docker', ['rm', '-f', id], 30_000).catch(() => {});
  containers.delete(id);
}

async function main() {
  const t0 = Date.now();
  const deadline = t0 + TIME_LIMIT_S * 1000;
  const hardS = TIME_LIMIT_S + WAIT_MAX_S + 240;
  setTimeout(() => {
    process.stderr.write(`bench: hard time limit (${hardS} s) reached, aborting\n`);
    cleanupSync();
    process.exit(3);
  }, hardS * 1000).unref();

  await preflight();
  const binDir = build();
  DATA_DIR = dataDir();
  ({ BpfObject } = await import('../dist/ffi/bpf-object.js'));
  const { DEFAULT_CONFIG } = await import('../dist/src/config.js');
  if (DEFAULT_CONFIG.sensors.file_open.fold_interval_ms !== FOLD_INTERVAL_MS) {
    log(`note: the default fold interval is ${DEFAULT_CONFIG.sensors.file_open.fold_interval_ms} ms (this script assumed ${FOLD_INTERVAL_MS})`);
  }
  const foldMs = DEFAULT_CONFIG.sensors.file_open.fold_interval_ms;
  const sensorsOn = Object.entries(DEFAULT_CONFIG.sensors).filter(([, v]) => v.enabled).map(([k]) => k);
  const fingerprint = codeFingerprint();
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  await startContainers(binDir);
  const foreign = await foreignContainers();
  const loadAtStart = os.loadavg();

  log(`ContGuard sensor-path benchmark: ${os.release()}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}, CLK_TCK ${CLK_TCK}`);
  log(`opens: ${N_OPENS} x open+close of ${IMAGE_FILE} (image, overlay) and of ${DATA_MOUNT}/<file> (bind mount of ${DATA_DIR}); getppid: ${GETPPID_REPS} x ${CALLS} calls on CPU ${GETPPID_CPU}; connects: ${N_CONNECTS} x socket+connect+shutdown+wait for the server's close+close to a busybox httpd container (one per phase, started after the agent) on port ${HTTP_PORT}`);
  log(`${ROUNDS} rounds, ${REPS} loop(s) per measurement; agent: the defaults (sensors enabled: ${sensorsOn.join(', ')}; what loaded is listed at the end) and every output; fold interval ${foldMs} ms (on), 0 (nofold)`);
  log(`load average at start: ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  if (foreign.length) log(`WARNING: ${foreign.length} other container(s) run: their events add to the agent's figures`);
  log();

  const phases = { off: phaseOff, on: phaseOn, nofold: phaseNofold, ...(NOEXIT ? { noexit: phaseNoexit } : {}) };
  const names = Object.keys(phases);
  const rounds = [];
  const discarded = []; // rounds another benchmark or agent overlapped, measured again
  let truncated = false;
  startOverlapMonitor();
  for (let r = 1; rounds.length < ROUNDS; r++) {
    if (Date.now() - waitedTotalMs > deadline || r > 2 * ROUNDS) {
      truncated = true;
      log(`${Date.now() - waitedTotalMs > deadline ? `time limit (${TIME_LIMIT_S} s)` : `${r - 1} attempts`} reached: stopping after ${rounds.length} clean round(s) (${discarded.length} overlapped)`);
      break;
    }
    const rt0 = Date.now();
    const order = r % 2 ? names : [...names].reverse();
    const round = { round: r, order };
    for (const p of order) {
      // A phase another benchmark or agent overlapped is measured again (at most twice more).
      for (let attempt = 1; ; attempt++) {
        const res = await phases[p](r);
        res.overlap = takeOverlap(); // seen since the phase's wait ended (its agent start included)
        const overlapped = res.wait.other_running || res.overlap.length > 0;
        if (!overlapped || attempt >= PHASE_ATTEMPTS || Date.now() - waitedTotalMs > deadline) {
          round[p] = res;
          break;
        }
        log(`  (round ${r} ${p}: another benchmark or agent ran (${res.overlap.map((o) => o.split(':')[0]).join(', ') || 'still running'}): measuring the phase again)`);
        (round.discarded_phases ??= []).push({ phase: p, ...res });
      }
    }
    const { off, on, nofold } = round;
    const noexit = round.noexit ?? null;
    const emptyAdded = sub(off.getppid_empty.median, off.getppid.median);
    round.figures = {
      image_added_ns: sub(on.image_ns, off.image_ns),
      bind_folded_added_ns: sub(on.bind_ns, off.bind_ns),
      bind_nofold_added_ns: sub(nofold.bind_ns, off.bind_ns),
      getppid_empty_added_ns: emptyAdded,
      getppid_agent_added_ns: sub(on.getppid.median, off.getppid.median),
      getppid_noexit_added_ns: noexit ? sub(noexit.getppid.median, off.getppid.median) : null,
      getppid_ratio: div(sub(on.getppid.median, off.getppid.median), emptyAdded),
      getppid_noexit_ratio: noexit ? div(sub(noexit.getppid.median, off.getppid.median), emptyAdded) : null,
      connect_added_ns: sub(on.connect_ns, off.connect_ns),
      connect_call_added_ns: sub(on.connect_call_ns, off.connect_call_ns),
      nofold_cpu_us_per_event: div(sum(nofold.bind.map((w) => w.total_us)), sum(nofold.bind.map((w) => w.received))),
      nofold_runtime_us_per_event: div(sum(nofold.bind.map((w) => w.runtime_us)), sum(nofold.bind.map((w) => w.received))),
      nofold_net_us_per_event: div(sum(nofold.bind.map((w) => w.runtime_us_net)), sum(nofold.bind.map((w) => w.received))),
      nofold_user_us_per_event: div(sum(nofold.bind.map((w) => w.user_us)), sum(nofold.bind.map((w) => w.received))),
      nofold_sys_us_per_event: div(sum(nofold.bind.map((w) => w.sys_us)), sum(nofold.bind.map((w) => w.received))),
      nofold_received: sum(nofold.bind.map((w) => w.received)),
      nofold_lost: sum(nofold.bind.map((w) => w.lost)),
      nofold_records: sum(nofold.bind.map((w) => w.records)),
      nofold_jsonl_dropped: sum(nofold.bind.map((w) => w.output_dropped?.jsonl ?? 0)),
      nofold_count_sum: sum(nofold.bind.map((w) => w.count_sum)),
      folded_records: sum(on.bind.map((w) => w.records)),
      folded_count_sum: sum(on.bind.map((w) => w.count_sum)),
      folded_lost: sum(on.bind.map((w) => w.lost)),
      folded_cpu_us: sum(on.bind.map((w) => w.total_us)),
      image_received: sum(on.image.map((w) => w.received)),
      image_cpu_us: sum(on.image.map((w) => w.total_us)),
      connect_cpu_us_per_conn: div(sum(on.connect.map((w) => w.total_us)), N_CONNECTS * on.connect.length),
      connect_runtime_us_per_conn: div(sum(on.connect.map((w) => w.runtime_us)), N_CONNECTS * on.connect.length),
      connect_net_us_per_conn: div(sum(on.connect.map((w) => w.runtime_us_net)), N_CONNECTS * on.connect.length),
      connect_close_records: sum(on.connect.map((w) => w.close_records)),
      connect_jsonl_dropped: sum(on.connect.map((w) => w.output_dropped?.jsonl ?? 0)),
      connect_server_records: sum(on.connect.map((w) => w.server_side_records)),
      connect_records: sum(on.connect.map((w) => w.records)),
      connect_joined: sum(on.connect.map((w) => w.joined)),
      connect_received: sum(on.connect.map((w) => w.received)),
      connect_lost: sum(on.connect.map((w) => w.lost)),
      overlapped: order.some((p) => round[p].wait.other_running || round[p].overlap.length > 0),
    };
    round.elapsed_s = (Date.now() - rt0) / 1000;
    (round.figures.overlapped ? discarded : rounds).push(round);
    const f = round.figures;
    log(
      `${f.overlapped ? 'overlapped' : 'round'} ${r} (${rounds.length}/${ROUNDS} clean, ${round.elapsed_s.toFixed(0)} s, ${order.join('/')}): open ns off/on image ${fmt(off.image_ns, 0)}/${fmt(on.image_ns, 0)}, bind ${fmt(off.bind_ns, 0)}/${fmt(on.bind_ns, 0)} folded, ${fmt(nofold.bind_ns, 0)} nofold ` +
        `(${f.nofold_received} received, ${f.nofold_lost} lost, ${fmt(f.nofold_net_us_per_event)} µs/event); getppid off/empty/on${noexit ? '/noexit' : ''} ${fmt(off.getppid.median)}/${fmt(off.getppid_empty.median)}/${fmt(on.getppid.median)}${noexit ? `/${fmt(noexit.getppid.median)}` : ''} = ${fmt(f.getppid_ratio, 2)}x; ` +
        `connection ns off/on ${fmt(off.connect_ns, 0)}/${fmt(on.connect_ns, 0)}, connect() ${fmt(off.connect_call_ns, 0)}/${fmt(on.connect_call_ns, 0)} (${f.connect_records} records, ${fmt(f.connect_net_us_per_conn)} µs/conn)${f.overlapped ? ' [another benchmark or agent ran: measured again]' : ''}`,
    );
  }
  const allOverlapped = !rounds.length;
  if (allOverlapped) {
    if (!discarded.length) throw new Error('no round completed');
    log('WARNING: every round overlapped another benchmark or agent: the summary uses them all');
    rounds.push(...discarded.splice(0));
  }

  // ---- summary ----
  const col = (fn) => rounds.map(fn);
  const med = (fn) => median(col(fn));
  const F = (k) => med((r) => r.figures[k]);
  const summary = {
    opens: {
      image: { off_ns: med((r) => r.off.image_ns), on_ns: med((r) => r.on.image_ns), added_ns: F('image_added_ns'), events_received_total: sum(col((r) => r.figures.image_received)), agent_cpu_ms_median: med((r) => r.figures.image_cpu_us / 1000) },
      bind_folded: {
        off_ns: med((r) => r.off.bind_ns),
        on_ns: med((r) => r.on.bind_ns),
        added_ns: F('bind_folded_added_ns'),
        records_per_loop: med((r) => r.figures.folded_records / r.on.bind.length),
        count_sum_per_loop: med((r) => r.figures.folded_count_sum / r.on.bind.length),
        lost_total: sum(col((r) => r.on.lost_total.file_open)),
      },
      bind_nofold: {
        on_ns: med((r) => r.nofold.bind_ns),
        added_ns: F('bind_nofold_added_ns'),
        received_per_loop: med((r) => r.figures.nofold_received / r.nofold.bind.length),
        lost_per_loop: med((r) => r.figures.nofold_lost / r.nofold.bind.length),
        records_per_loop: med((r) => r.figures.nofold_records / r.nofold.bind.length),
        jsonl_dropped_per_loop: med((r) => r.figures.nofold_jsonl_dropped / r.nofold.bind.length),
        count_sum_per_loop: med((r) => r.figures.nofold_count_sum / r.nofold.bind.length),
        // net: the threads' sum_exec_runtime minus the benchmark's /metrics scrapes; the others raw
        agent_cpu_us_per_event: { net: F('nofold_net_us_per_event'), total: F('nofold_cpu_us_per_event'), user: F('nofold_user_us_per_event'), sys: F('nofold_sys_us_per_event'), runtime: F('nofold_runtime_us_per_event') },
      },
    },
    getppid: {
      off_ns: med((r) => r.off.getppid.median),
      empty_ns: med((r) => r.off.getppid_empty.median),
      agent_ns: med((r) => r.on.getppid.median),
      noexit_ns: NOEXIT ? med((r) => r.noexit.getppid.median) : null,
      empty_added_ns: F('getppid_empty_added_ns'),
      agent_added_ns: F('getppid_agent_added_ns'),
      noexit_added_ns: NOEXIT ? F('getppid_noexit_added_ns') : null,
      sys_exit_hook_ns: NOEXIT ? med((r) => sub(r.on.getppid.median, r.noexit.getppid.median)) : null,
      ratio: F('getppid_ratio'),
      noexit_ratio: NOEXIT ? F('getppid_noexit_ratio') : null,
      budget: BUDGET,
    },
    connects: {
      off_ns: med((r) => r.off.connect_ns),
      on_ns: med((r) => r.on.connect_ns),
      added_ns: F('connect_added_ns'),
      connect_call: { off_ns: med((r) => r.off.connect_call_ns), on_ns: med((r) => r.on.connect_call_ns), added_ns: F('connect_call_added_ns') },
      records_per_loop: med((r) => r.figures.connect_records / r.on.connect.length),
      joined_per_loop: med((r) => r.figures.connect_joined / r.on.connect.length),
      server_side_records_per_loop: med((r) => r.figures.connect_server_records / r.on.connect.length),
      close_records_per_loop: med((r) => r.figures.connect_close_records / r.on.connect.length),
      jsonl_dropped_per_loop: med((r) => r.figures.connect_jsonl_dropped / r.on.connect.length),
      jsonl_dropped_total: sum(col((r) => r.figures.connect_jsonl_dropped)),
      received_per_loop: med((r) => r.figures.connect_received / r.on.connect.length),
      lost_total: sum(col((r) => r.on.lost_total.network)),
      agent_cpu_us_per_connection: F('connect_net_us_per_conn'), // net of the scrapes
      agent_cpu_us_per_connection_raw_ticks: F('connect_cpu_us_per_conn'),
      agent_runtime_us_per_connection_raw: F('connect_runtime_us_per_conn'),
    },
  };
  summary.opens.image.opens_per_s = { off: rate(summary.opens.image.off_ns), on: rate(summary.opens.image.on_ns) };
  summary.opens.bind_folded.opens_per_s = { off: rate(summary.opens.bind_folded.off_ns), on: rate(summary.opens.bind_folded.on_ns) };
  summary.opens.bind_nofold.opens_per_s = rate(summary.opens.bind_nofold.on_ns);
  summary.connects.connects_per_s = { off: rate(summary.connects.off_ns), on: rate(summary.connects.on_ns) };

  const head = ['figure', 'median', ...rounds.map((r) => `r${r.round}`)];
  const per = (fn) => col(fn);
  const rows = [
    ['(a) image file: ns per open, agent off', summary.opens.image.off_ns, per((r) => r.off.image_ns), 0],
    ['(a) image file: ns per open, agent on', summary.opens.image.on_ns, per((r) => r.on.image_ns), 0],
    ['(a) image file: ns added per open', summary.opens.image.added_ns, per((r) => r.figures.image_added_ns), 0, true],
    ['(a) image file: file_open events received', median(per((r) => r.figures.image_received)), per((r) => r.figures.image_received), 0],
    ['(a) image file: agent CPU ms over the loops', summary.opens.image.agent_cpu_ms_median, per((r) => r.figures.image_cpu_us / 1000), 0],
    ['(b) bind, folded: ns per open, agent off', summary.opens.bind_folded.off_ns, per((r) => r.off.bind_ns), 0],
    ['(b) bind, folded: ns per open, agent on', summary.opens.bind_folded.on_ns, per((r) => r.on.bind_ns), 0],
    ['(b) bind, folded: ns added per open', summary.opens.bind_folded.added_ns, per((r) => r.figures.bind_folded_added_ns), 0, true],
    ['(b) bind, folded: records per loop', summary.opens.bind_folded.records_per_loop, per((r) => r.figures.folded_records / r.on.bind.length), 1],
    [`(b) bind, folded: sum of open.count per loop (N=${N_OPENS})`, summary.opens.bind_folded.count_sum_per_loop, per((r) => r.figures.folded_count_sum / r.on.bind.length), 0],
    ['(c) bind, fold 0: ns per open, agent on', summary.opens.bind_nofold.on_ns, per((r) => r.nofold.bind_ns), 0],
    ['(c) bind, fold 0: ns added per open', summary.opens.bind_nofold.added_ns, per((r) => r.figures.bind_nofold_added_ns), 0, true],
    ['(c) bind, fold 0: events received per loop', summary.opens.bind_nofold.received_per_loop, per((r) => r.figures.nofold_received / r.nofold.bind.length), 0],
    ['(c) bind, fold 0: events lost per loop', summary.opens.bind_nofold.lost_per_loop, per((r) => r.figures.nofold_lost / r.nofold.bind.length), 0],
    ['(c) bind, fold 0: records per loop (JSON lines)', summary.opens.bind_nofold.records_per_loop, per((r) => r.figures.nofold_records / r.nofold.bind.length), 0],
    ['(c) bind, fold 0: records the JSON-lines output dropped', summary.opens.bind_nofold.jsonl_dropped_per_loop, per((r) => r.figures.nofold_jsonl_dropped / r.nofold.bind.length), 0],
    [`(c) bind, fold 0: sum of open.count per loop (N=${N_OPENS})`, summary.opens.bind_nofold.count_sum_per_loop, per((r) => r.figures.nofold_count_sum / r.nofold.bind.length), 0],
    ['(c) agent CPU µs per event received (net of scrapes)', summary.opens.bind_nofold.agent_cpu_us_per_event.net, per((r) => r.figures.nofold_net_us_per_event), 1],
    ['(c)   raw: utime+stime (ticks) µs', summary.opens.bind_nofold.agent_cpu_us_per_event.total, per((r) => r.figures.nofold_cpu_us_per_event), 1],
    ['(c)   raw: of which user', summary.opens.bind_nofold.agent_cpu_us_per_event.user, per((r) => r.figures.nofold_user_us_per_event), 1],
    ['(c)   raw: of which sys', summary.opens.bind_nofold.agent_cpu_us_per_event.sys, per((r) => r.figures.nofold_sys_us_per_event), 1],
    ['(c)   raw: threads\' sum_exec_runtime µs', summary.opens.bind_nofold.agent_cpu_us_per_event.runtime, per((r) => r.figures.nofold_runtime_us_per_event), 1],
    ['opens/s: bind, agent off', rate(summary.opens.bind_folded.off_ns), per((r) => rate(r.off.bind_ns)), 0],
    ['opens/s: bind folded, agent on', rate(summary.opens.bind_folded.on_ns), per((r) => rate(r.on.bind_ns)), 0],
    ['opens/s: bind fold 0, agent on', rate(summary.opens.bind_nofold.on_ns), per((r) => rate(r.nofold.bind_ns)), 0],
    ['getppid: ns per call, agent off', summary.getppid.off_ns, per((r) => r.off.getppid.median), 1],
    ['getppid: ns per call, empty tp_btf sys_enter', summary.getppid.empty_ns, per((r) => r.off.getppid_empty.median), 1],
    ['getppid: ns per call, agent (all sensors)', summary.getppid.agent_ns, per((r) => r.on.getppid.median), 1],
    ...(NOEXIT ? [['getppid: ns per call, agent w/o file_open+network', summary.getppid.noexit_ns, per((r) => r.noexit.getppid.median), 1]] : []),
    ['getppid: ns added, empty tp_btf', summary.getppid.empty_added_ns, per((r) => r.figures.getppid_empty_added_ns), 1, true],
    ['getppid: ns added, agent (all sensors)', summary.getppid.agent_added_ns, per((r) => r.figures.getppid_agent_added_ns), 1, true],
    ...(NOEXIT
      ? [
          ['getppid: ns added, agent w/o file_open+network', summary.getppid.noexit_added_ns, per((r) => r.figures.getppid_noexit_added_ns), 1, true],
          ["getppid: file_open + network (all - w/o them)", summary.getppid.sys_exit_hook_ns, per((r) => sub(r.on.getppid.median, r.noexit.getppid.median)), 1, true],
        ]
      : []),
    [`getppid: agent added / empty added (budget ${BUDGET}x)`, summary.getppid.ratio, per((r) => r.figures.getppid_ratio), 2],
    ...(NOEXIT ? [['getppid: w/o file_open+network added / empty added', summary.getppid.noexit_ratio, per((r) => r.figures.getppid_noexit_ratio), 2]] : []),
    ['connect: ns per connection, agent off', summary.connects.off_ns, per((r) => r.off.connect_ns), 0],
    ['connect: ns per connection, agent on', summary.connects.on_ns, per((r) => r.on.connect_ns), 0],
    ['connect: ns added per connection', summary.connects.added_ns, per((r) => r.figures.connect_added_ns), 0, true],
    ['connect: connects/s, agent off', summary.connects.connects_per_s.off, per((r) => rate(r.off.connect_ns)), 0],
    ['connect: connects/s, agent on', summary.connects.connects_per_s.on, per((r) => rate(r.on.connect_ns)), 0],
    ['connect: ns in connect() alone, agent off', summary.connects.connect_call.off_ns, per((r) => r.off.connect_call_ns), 0],
    ['connect: ns in connect() alone, agent on', summary.connects.connect_call.on_ns, per((r) => r.on.connect_call_ns), 0],
    ['connect: ns added in connect() alone', summary.connects.connect_call.added_ns, per((r) => r.figures.connect_call_added_ns), 0, true],
    [`connect: connect records per loop (N=${N_CONNECTS})`, summary.connects.records_per_loop, per((r) => r.figures.connect_records / r.on.connect.length), 0],
    ['connect:   of which joined (both ends named)', summary.connects.joined_per_loop, per((r) => r.figures.connect_joined / r.on.connect.length), 0],
    ['connect: server-side connect records per loop', summary.connects.server_side_records_per_loop, per((r) => r.figures.connect_server_records / r.on.connect.length), 0],
    ['connect: close records per loop', summary.connects.close_records_per_loop, per((r) => r.figures.connect_close_records / r.on.connect.length), 0],
    ['connect: records the JSON-lines output dropped per loop', summary.connects.jsonl_dropped_per_loop, per((r) => r.figures.connect_jsonl_dropped / r.on.connect.length), 1],
    ['connect: network events received per loop', summary.connects.received_per_loop, per((r) => r.figures.connect_received / r.on.connect.length), 0],
    ['connect: network events lost (whole agent run)', median(per((r) => r.on.lost_total.network)), per((r) => r.on.lost_total.network), 0],
    ['connect: agent CPU µs per connection (net of scrapes)', summary.connects.agent_cpu_us_per_connection, per((r) => r.figures.connect_net_us_per_conn), 1],
    ['connect:   raw: utime+stime (ticks) µs', summary.connects.agent_cpu_us_per_connection_raw_ticks, per((r) => r.figures.connect_cpu_us_per_conn), 1],
    ['connect:   raw: threads\' sum_exec_runtime µs', summary.connects.agent_runtime_us_per_connection_raw, per((r) => r.figures.connect_runtime_us_per_conn), 1],
    ['agent CPU µs per /metrics scrape (on / nofold)', median(per((r) => r.on.scrape_cost.runtime_us)), per((r) => r.on.scrape_cost.runtime_us), 0],
  ].filter((row) => row[1] !== null || row[2].some(ok));
  const body = rows.map(([label, m, each, d, sgn]) => [label, (sgn ? signed : fmt)(m, d), ...each.map((x) => (sgn ? signed : fmt)(x, d))]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmtRow = (cells) => cells.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
  log();
  log(`== sensors: ${rounds.length} rounds${discarded.length ? ` (+${discarded.length} overlapped by another benchmark or agent, not used)` : ''} (median, then every round); ns per open / connect: best of ${REPS} loop(s); getppid: median of ${GETPPID_REPS} x ${CALLS} calls on CPU ${GETPPID_CPU}; CPU from /proc/PID/stat at ${CLK_TCK} ticks/s ==`);
  log(fmtRow(head));
  log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) log(fmtRow(b));
  log(`opens/s (median): image ${fmt(summary.opens.image.opens_per_s.off, 0)} off / ${fmt(summary.opens.image.opens_per_s.on, 0)} on; bind ${fmt(summary.opens.bind_folded.opens_per_s.off, 0)} off / ${fmt(summary.opens.bind_folded.opens_per_s.on, 0)} on folded / ${fmt(summary.opens.bind_nofold.opens_per_s, 0)} on fold 0`);

  // ---- checks ----
  const checks = [];
  const check = (okay, text) => {
    checks.push({ ok: okay, text });
    log(`${okay ? 'ok  ' : 'FAIL'} ${text}`);
  };
  log();
  log('== checks ==');
  for (const r of rounds) {
    const f = r.figures;
    check(f.image_received === 0, `round ${r.round}: (a) file_open events received during ${REPS} x ${N_OPENS} image-file opens: ${f.image_received} (expected 0)`);
    for (const b of r.on.bind) check(b.count_sum === N_OPENS && b.lost === 0, `round ${r.round}: (b) ${b.file}: ${b.records} record(s), open.count summing to ${b.count_sum} of ${N_OPENS}, lost ${b.lost}`);
    for (const b of r.nofold.bind) {
      const full = b.count_sum === N_OPENS && b.lost === 0;
      // Every event that was not lost is a record (and counts 1); records of other files (another
      // container's opens meanwhile) are among the events received too.
      const jsonlDropped = b.output_dropped?.jsonl ?? 0;
      const consistent = b.reached && b.open_records_all_files + jsonlDropped === b.received && b.count_sum === b.records && b.received + b.lost >= N_OPENS;
      check(full || consistent, `round ${r.round}: (c) ${b.file}: received ${b.received} + lost ${b.lost} = ${b.received + b.lost} of ${N_OPENS} opens${b.reached ? '' : ' (NOT reached in 60 s)'}; ${b.records} records, open.count summing to ${b.count_sum}; ${b.open_records_all_files} ${EV.open} records of any file, ${jsonlDropped} dropped by the JSON-lines output (buffer cap)${full ? '' : consistent ? ' (every event that was not lost is a record or an output drop)' : b.open_records_all_files + jsonlDropped < b.received ? ' (fewer records than events received: user space dropped some)' : ''}`);
    }
    for (const c of r.on.connect) {
      // 3 records per connection (one joined connect, a close per side), or counted output drops.
      const dropped = c.output_dropped?.jsonl ?? 0;
      const full = c.records === N_CONNECTS && c.close_records === 2 * N_CONNECTS && c.lost === 0;
      const accounted = c.reached && c.lost === 0 && c.records + c.server_side_records + c.close_records + dropped === 3 * N_CONNECTS;
      check(
        full || accounted,
        `round ${r.round}: connects: ${c.records} connect records of the client (${c.joined} joined, ${c.server_side_records} of the server alone), ${c.close_records} close records for ${N_CONNECTS} connects${dropped ? `, ${dropped} records dropped by the JSON-lines output (buffer cap)` : ''}; ${c.received} network events received (${EVENTS_PER_CONNECTION} x ${N_CONNECTS} = ${EVENTS_PER_CONNECTION * N_CONNECTS} expected${c.reached ? '' : ', NOT reached'}), ${c.lost} lost${full ? '' : accounted ? ' (every event is a record or a counted output drop)' : ''}`,
      );
    }
    if (r.on.rotated || r.nofold.rotated) check(false, `round ${r.round}: the JSON lines rotated: counts incomplete`);
    if (f.overlapped) check(false, `round ${r.round}: another benchmark ran during a phase`);
  }
  const fingerprintAfter = codeFingerprint();
  const codeChanged = fingerprintAfter !== fingerprint;
  if (codeChanged) check(false, 'bpf/build or dist changed during the run (rebuilt?): the rounds measured different code; run again');
  const foreignProgs = rounds.flatMap((r) => r.off.foreign_syscall_programs ?? []);
  if (foreignProgs.length) log(`WARNING: other programs on sys_enter/sys_exit during an "off" phase: ${[...new Set(foreignProgs.map((p) => `${p.name} (${p.hook}, pid ${p.pids.join(',')})`))].join('; ')}`);
  const attachedSets = [...new Set(rounds.map((r) => r.on.attached.join('; ')))];
  log();
  log('== what the agent attached (on) ==');
  for (const a of attachedSets) log(a);

  const g = summary.getppid;
  const o = summary.opens;
  const cn = summary.connects;
  const within = ok(g.ratio) && g.ratio <= BUDGET;
  const verdict = [
    `file opens: ${signed(o.image.added_ns, 0)} ns per open of an image file (dropped in the kernel; ${o.image.events_received_total} events received), ${signed(o.bind_folded.added_ns, 0)} ns per open of a bind-mounted file folded (${fmt(o.bind_folded.records_per_loop, 1)} records, count sum ${fmt(o.bind_folded.count_sum_per_loop, 0)} of ${N_OPENS}), ${signed(o.bind_nofold.added_ns, 0)} ns with fold_interval_ms 0 (${fmt(o.bind_nofold.received_per_loop, 0)} of ${N_OPENS} received, ${fmt(o.bind_nofold.lost_per_loop, 0)} lost; ${fmt(o.bind_nofold.records_per_loop, 0)} records (${fmt(o.bind_nofold.jsonl_dropped_per_loop, 0)} more dropped by the JSON-lines output), count sum ${fmt(o.bind_nofold.count_sum_per_loop, 0)}; agent ${fmt(o.bind_nofold.agent_cpu_us_per_event.net)} µs CPU per event received = ${fmt(div(1e6, o.bind_nofold.agent_cpu_us_per_event.net), 0)} events/s at one core)`,
    `null syscall: agent with every sensor ${signed(g.agent_added_ns)} ns per getppid, empty tp_btf sys_enter ${signed(g.empty_added_ns)} ns: ${fmt(g.ratio, 2)}x (budget <= ${BUDGET}x): ${within ? 'WITHIN BUDGET' : 'OVER BUDGET'}${NOEXIT ? `; without file_open and network ${signed(g.noexit_added_ns)} ns = ${fmt(g.noexit_ratio, 2)}x, so they add ${signed(g.sys_exit_hook_ns)} ns per syscall` : ''}`,
    `TCP connects: ${signed(cn.added_ns, 0)} ns per connection (${signed(cn.connect_call.added_ns, 0)} ns in connect() alone; ${fmt(cn.connects_per_s.off, 0)} -> ${fmt(cn.connects_per_s.on, 0)} connects/s), ${fmt(cn.records_per_loop, 0)} connect records per ${N_CONNECTS} connects (${fmt(cn.joined_per_loop, 0)} joined), ${fmt(cn.close_records_per_loop, 0)} close records, ${cn.jsonl_dropped_total} records dropped by the JSON-lines output in all, ${cn.lost_total} network events lost, agent ${fmt(cn.agent_cpu_us_per_connection)} µs CPU per connection`,
  ];
  log();
  log('== verdict ==');
  for (const v of verdict) log(v);
  const checksOk = checks.every((c) => c.ok);
  if (!checksOk) log('WARNING: a check failed: see above');

  const info = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const date = new Date();
  const outFile = opt.out ?? path.join(RESULTS_DIR, `sensors-${date.toISOString().slice(0, 10)}${opt.quick ? '-quick' : ''}.json`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  const doc = {
    benchmark: 'sensors',
    description:
      'ns per open (open+close; image file, bind-mounted file folded, bind-mounted file with fold_interval_ms 0), per getppid (vs an empty tp_btf sys_enter program) and per TCP connect (socket+connect+close, container to container) with the agent off and on (every default sensor and output), alternating per round; added = median of the per-round (on - off); records and counts from the JSON lines, events received/lost from /metrics, agent CPU from /proc/PID/stat',
    date: date.toISOString(),
    budget_null_syscall_ratio: BUDGET,
    host: {
      kernel: os.release(),
      cpu: os.cpus()[0]?.model ?? null,
      cpus: os.cpus().length,
      node: process.version,
      docker: info('docker', ['version', '-f', '{{.Server.Version}}']),
      clk_tck: CLK_TCK,
      loadavg_at_start: loadAtStart,
      loadavg_at_end: os.loadavg(),
      foreign_containers: foreign.length,
    },
    code_fingerprint: { before: fingerprint, after: fingerprintAfter, changed_during_run: codeChanged },
    git: { commit: info('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']), uncommitted_files: (info('git', ['-C', REPO, 'status', '--porcelain']) ?? '').split('\n').filter(Boolean).length },
    parameters: {
      quick: opt.quick, rounds_requested: ROUNDS, rounds_done: rounds.length, rounds_discarded: discarded.length, all_rounds_overlapped: allOverlapped, truncated, reps: REPS, opens: N_OPENS, connects: N_CONNECTS,
      getppid_calls: CALLS, getppid_reps: GETPPID_REPS, getppid_cpu: GETPPID_CPU, image: IMAGE, image_file: IMAGE_FILE, data_mount: DATA_MOUNT,
      server: `${C.serverAddr}:${HTTP_PORT} (busybox httpd -f)`, settle_ms: SETTLE_MS, tail_ms: TAIL_MS, fold_interval_ms_default: foldMs, noexit_phase: NOEXIT,
      agent_config: 'defaults; console -> file, jsonl -> temp dir (max_file_bytes raised: no rotation), prometheus 127.0.0.1:<free port>; nofold: sensors.file_open.fold_interval_ms 0; noexit: sensors.file_open.enabled false, sensors.network.enabled false',
      sensors_enabled_by_default: sensorsOn,
    },
    waits_for_other_benchmarks: waits,
    summary,
    rounds,
    discarded_rounds: discarded, // overlapped by another benchmark or agent (see each phase's `overlap`), measured again
    checks,
    verdict,
    within_budget: within,
    elapsed_s: Math.round((Date.now() - t0) / 1000),
  };
  writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
  log();
  log(`results: ${path.relative(process.cwd(), outFile)} (${doc.elapsed_s} s)`);
  return checksOk ? 0 : 1;
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
