#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Syscall-hook designs side by side: what each costs a null syscall in a container, against an
 * empty tp_btf sys_enter program, in one run (the issue's budget: the agent's in-kernel cost per
 * non-open syscall with every sensor on <= 1.5x that empty program).
 *
 * Everything is loaded in this process (no agent): empty programs (bench/diag/exit-hooks.bpf.c,
 * bench_empty_tp_btf of bpf/build/probes.bpf.o) and the agent's own objects wired as the agent
 * wires them (registry.bpf.o with its tracking programs, syscalls.bpf.o and file_open.bpf.o on
 * the registry's maps). Each round measures every configuration in a block of four batches:
 * off, the empty tp_btf sys_enter program, the configuration, off again (the machine's state,
 * other agents' programs above all, changes less within a block than across a round); order
 * reversed every other round. A batch: --reps timed loops of --calls getppid() by
 * bench/getppid-loop.c (one long-lived process in a busybox container, serve mode, pinned to
 * CPU 0), the fastest kept (interference only adds), timed by the loop thread's own CPU time
 * (--clock cpu, the default: time other tasks hold the CPU is left out) or wall time (--clock
 * mono, as bench/run.mjs and bench/sensors.mjs time it). added = ns - the mean of the block's
 * two off batches; ratio = added / the empty program's added cost in the same block; reported
 * as the median over blocks with the spread (min-max) and as the ratio of the median added
 * costs (steadier when the reference's own figure is noisy). The syscalls configurations'
 * getppid counts are checked against the calls issued.
 *
 * Usage (root, after `npm run build`): node bench/hooks.mjs [--rounds 12] [--reps 3]
 *   [--calls 1000000] [--clock cpu|mono] [--wait 15] [--time-limit 1800] [--only KEY,KEY]
 *   [--out FILE]   (no new round after --time-limit seconds; bench/results/hooks-<date>.json is
 *   rewritten after every round)
 *
 * --ab DIR [--rounds N] [--cycles N]: two builds of cg_sys_exit side by side instead, this
 * checkout's bpf/build and DIR's (registry.bpf.o and syscalls.bpf.o), switched
 * between batches through one dispatcher's program array (bench/diag/ab-dispatch.bpf.c), in N
 * epochs of fresh loads (see abMode); writes bench/results/ab-<date>.json. Both builds' getppid
 * counts are read as this checkout reads cg_sys_counts: a build that lays it out otherwise (or
 * counts elsewhere) fails its counter check, and its figures are still printed.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { blockValid, fmt, median, summarizeBlocks } from './hooks-summary.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const BPF = path.join(REPO, 'bpf', 'build');
const IMAGE = process.env.BENCH_IMAGE ?? 'contguard-test/busybox:latest';
const LABEL = 'contguard-bench-hooks';
const SETTLE_MS = 400;

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '12' },
    reps: { type: 'string', default: '3' },
    calls: { type: 'string', default: '1000000' },
    clock: { type: 'string', default: 'cpu' },
    wait: { type: 'string', default: '15' },
    'time-limit': { type: 'string', default: '1800' },
    only: { type: 'string' },
    out: { type: 'string' },
    ab: { type: 'string' },
    cycles: { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${src.slice(src.indexOf('/**') + 3, src.indexOf('*/')).replace(/^ \* ?/gm, '').trim()}\n`);
  process.exit(0);
}
const posInt = (name) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v <= 0) die(`--${name}: expected a positive integer, got ${opt[name]}`);
  return v;
};
const ROUNDS = posInt('rounds');
const REPS = posInt('reps');
const CALLS = posInt('calls');
const CLOCK = opt.clock;
const WAIT_S = Number(opt.wait);
const TIME_LIMIT_S = posInt('time-limit');
if (!Number.isFinite(WAIT_S) || WAIT_S < 0) die(`--wait: expected seconds >= 0, got ${opt.wait}`);
if (CLOCK !== 'cpu' && CLOCK !== 'mono') die(`--clock: expected cpu or mono, got ${CLOCK}`);

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
const log = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

// ---- clean-up -------------------------------------------------------------------------------

const objects = new Set();
let containerId = null;
let buildDir = null;
function cleanup() {
  for (const o of objects) {
    try {
      o.close();
    } catch {
      /* gone */
    }
  }
  objects.clear();
  if (containerId) {
    try {
      execFileSync('docker', ['rm', '-f', containerId], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      /* best effort */
    }
    containerId = null;
  }
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  buildDir = null;
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

// ---- objects --------------------------------------------------------------------------------

if (process.getuid?.() !== 0) die('needs root (BPF programs, docker)');
for (const f of ['registry.bpf.o', 'syscalls.bpf.o', 'file_open.bpf.o', 'probes.bpf.o', 'vmlinux.h']) {
  if (!existsSync(path.join(BPF, f))) die(`bpf/build/${f} missing: run \`npm run build\``);
}
if (!existsSync(path.join(REPO, 'dist', 'ffi', 'bpf-object.js'))) die('dist/ missing: run `npm run build`');
const { BpfObject } = await import('../dist/ffi/bpf-object.js');
const { MappedArray } = await import('../dist/ffi/mmap.js');
const { queuePushU32, mapUpdate } = await import('../dist/ffi/maps.js');
const { findBucket, indexSize, initIndex } = await import('../dist/src/registry/index-table.js');
const { REGISTRY_CGROUP_SIZE, RegistryCgroupLayout } = await import('../dist/src/registry/layout.gen.js');
const { SHARED_MAPS } = await import('../dist/src/registry/index.js');
const { countsEntries } = await import('../dist/src/sensors/syscalls/recorder.js');
const { CountsMap } = await import('../dist/src/sensors/syscalls/counts-map.js');
const { hostSyscallArch } = await import('../dist/src/sensors/syscalls/names.js');

buildDir = mkdtempSync(path.join(os.tmpdir(), 'contguard-bench-hooks-'));
const LOOP_BIN = path.join(buildDir, 'getppid-loop');
const arch = { x64: 'x86', arm64: 'arm64' }[process.arch] ?? process.arch;
/** Builds bench/diag/<name>.bpf.c into this run's build directory; returns the object's path. */
function buildDiag(name) {
  const out = path.join(buildDir, `${name}.bpf.o`);
  execFileSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', BPF, '-c', path.join(BENCH_DIR, 'diag', `${name}.bpf.c`), '-o', out], { stdio: 'inherit' });
  return out;
}
/** A u32 as a map key or value (a program array's program fd, say). */
function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
const DIAG_OBJ = buildDiag('exit-hooks');
execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', LOOP_BIN, path.join(BENCH_DIR, 'getppid-loop.c')], { stdio: 'inherit' });

function track(o) {
  objects.add(o);
  return o;
}
function release(list) {
  for (const o of [...list].reverse()) {
    o.close();
    objects.delete(o);
  }
}

/** Loads the named programs of an object and attaches them (the others stay unloaded). */
function empties(objPath, names) {
  const o = track(BpfObject.open(objPath));
  for (const p of o.programs()) o.setAutoload(p.name, names.includes(p.name));
  o.load();
  o.attachAll();
  return [o];
}

const MAX_CONTAINERS = 256;
/**
 * The agent's objects as the agent wires them: registry (tracking + seed), then syscalls with
 * `sys` programs and file_open with `fo` programs (`tail`: cg_fo_exit loaded, not attached,
 * put in the registry's program array for cg_sys_exit to tail-call), all on the registry's maps.
 */
function agentObjects({ sys = [], fo = [], tail = false, dir = BPF, attachSys = true }) {
  const buckets = indexSize(MAX_CONTAINERS);
  const rodata = { cg_cgroup_mode: 2, cg_self_tgid: process.pid, reg_use_task_storage: 1, reg_index_mask: buckets - 1 };
  const list = [];
  try {
    const reg = track(BpfObject.open(path.join(dir, 'registry.bpf.o')));
    const regMaps = new Set(reg.mapNames());
    list.push(reg);
    for (const p of reg.programs()) reg.setAutoload(p.name, p.section.startsWith('iter/') || p.section.startsWith('tp_btf/'));
    reg.resizeMap('cg_reg_cgroups', buckets);
    reg.resizeMap('cg_reg_free_slots', MAX_CONTAINERS);
    reg.setRodata(rodata);
    reg.load();
    const index = MappedArray.map(reg.mapFd('cg_reg_cgroups'), buckets * REGISTRY_CGROUP_SIZE, 'cg_reg_cgroups');
    initIndex(index.view(), buckets);
    for (let s = 0; s < MAX_CONTAINERS; s++) queuePushU32(reg.mapFd('cg_reg_free_slots'), s);
    const sensor = (file, progs, configure) => {
      const o = track(BpfObject.open(path.join(dir, file)));
      list.push(o);
      for (const p of o.programs()) o.setAutoload(p.name, progs.includes(p.name));
      const names = new Set(o.mapNames());
      for (const m of SHARED_MAPS) if (names.has(m) && regMaps.has(m)) o.reuseMap(m, reg.mapFd(m)); // another build may lack some
      o.setRodata(rodata);
      configure?.(o);
      o.load();
      return o;
    };
    const sys1 = sys.length ? sensor('syscalls.bpf.o', sys, (o) => {
      o.resizeMap('cg_sys_counts', countsEntries(MAX_CONTAINERS));
    }) : null;
    const fo1 = fo.length ? sensor('file_open.bpf.o', fo, (o) => tail && o.setAutoattach('cg_fo_exit', false)) : null;
    reg.attachAll();
    if (attachSys) sys1?.attachAll();
    fo1?.attachAll();
    if (tail) {
      mapUpdate(reg.mapFd('cg_sys_exit_tail'), u32(0), u32(fo1.programFd('cg_fo_exit')));
    }
    reg.runIterator('cg_reg_seed');
    list.index = index;
    list.countsFd = sys1 ? sys1.mapFd('cg_sys_counts') : -1;
    list.sys = sys1;
    list.slotOf = (cgroupId) => {
      const b = findBucket(index.view(), cgroupId, buckets - 1);
      return b < 0 ? null : index.view().getUint32(b * REGISTRY_CGROUP_SIZE + RegistryCgroupLayout.slot.offset, true);
    };
    return list;
  } catch (err) {
    release(list);
    throw err;
  }
}

const D = (names) => () => empties(DIAG_OBJ, names);
const CONFIGS = [
  { key: 'off', label: 'nothing attached', attach: () => [] },
  { key: 'empty_enter', label: 'empty tp_btf sys_enter (the reference)', attach: () => empties(path.join(BPF, 'probes.bpf.o'), ['bench_empty_tp_btf']) },
  { key: 'empty_exit', label: 'empty tp_btf sys_exit', attach: D(['empty_exit']) },
  { key: 'empty_exit_x2', label: 'two empty tp_btf sys_exit programs', attach: D(['empty_exit', 'empty_exit_second']) },
  { key: 'empty_tp_exit_openat', label: 'empty syscalls:sys_exit_openat alone', attach: D(['empty_tp_exit_openat']) },
  { key: 'empty_enter_tp_exit', label: 'empty tp_btf sys_enter + empty syscalls:sys_exit_openat', attach: D(['empty_enter', 'empty_tp_exit_openat']) },
  { key: 'enter_only', label: 'syscalls on sys_enter (previous), no file_open', counts: true, attach: () => agentObjects({ sys: ['cg_sys_enter'] }) },
  { key: 'enter_fo_tp', label: 'previous design: syscalls on sys_enter + file_open syscalls:sys_exit_open*', counts: true, attach: () => agentObjects({ sys: ['cg_sys_enter'], fo: ['cg_fo_tp_openat', 'cg_fo_tp_openat2', 'cg_fo_tp_open', 'cg_fo_tp_creat'] }) },
  { key: 'enter_fo_btf', label: 'syscalls on sys_enter + file_open tp_btf/sys_exit', counts: true, attach: () => agentObjects({ sys: ['cg_sys_enter'], fo: ['cg_fo_exit'] }) },
  { key: 'exit_only', label: 'syscalls on sys_exit, no file_open', counts: true, attach: () => agentObjects({ sys: ['cg_sys_exit', 'cg_sys_task_exit'] }) },
  { key: 'exit_fo_tail', label: 'new design: syscalls on sys_exit, file_open by tail call', counts: true, attach: () => agentObjects({ sys: ['cg_sys_exit', 'cg_sys_task_exit'], fo: ['cg_fo_exit'], tail: true }) },
];
const only = opt.only ? new Set(['off', 'empty_enter', ...opt.only.split(',')]) : null;
const configs = only ? CONFIGS.filter((c) => only.has(c.key)) : CONFIGS;

// ---- container and loop ---------------------------------------------------------------------

await run('docker', ['image', 'inspect', IMAGE], 30_000).catch(() => die(`image ${IMAGE} missing: run \`bash scripts/build-test-image.sh\``));
containerId = (await run('docker', ['run', '-d', '--label', `${LABEL}=${process.pid}`, '-v', `${buildDir}:/bench:ro`, IMAGE, 'sleep', '3600'])).trim();
const cpid = Number((await run('docker', ['inspect', '-f', '{{.State.Pid}}', containerId])).trim());
const cgRel = readFileSync(`/proc/${cpid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
const cg2 = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - ')).find((p) => p[1]?.startsWith('cgroup2 '))?.[0].split(' ')[4];
if (!cgRel || !cg2) die('no cgroup v2 path for the container');
const cgroupId = statSync(path.join(cg2, cgRel), { bigint: true }).ino;

// One long-lived loop process (serve mode): a batch per line written, so no `docker exec` (a
// heavy process start on a loaded machine) between attach and measurement. It runs before any
// configuration is attached; each registry configuration's seed iterator gives it task storage.
const server = spawn('docker', ['exec', '-i', containerId, '/bench/getppid-loop', String(CALLS), String(REPS), String(Math.floor(CALLS / 10)), '0', CLOCK, 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
let pending = '';
let waiter = null;
server.stdout.on('data', (d) => {
  pending += d;
  if (waiter && pending.includes('end\n')) {
    const i = pending.indexOf('end\n');
    const out = pending.slice(0, i);
    pending = pending.slice(i + 4);
    const w = waiter;
    waiter = null;
    w(out);
  }
});
const batch = (write) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('getppid-loop: no result within 120 s')), 120_000);
    waiter = (out) => {
      clearTimeout(t);
      resolve(out);
    };
    if (write) server.stdin.write('go\n');
    else if (pending.includes('end\n')) server.stdout.emit('data', '');
  });
await batch(false); // the first batch, before anything is attached: discarded

async function loop() {
  const out = await batch(true);
  const s = [...out.matchAll(/ns_per_call=([\d.]+)/g)].map((m) => Number(m[1]));
  if (s.length !== REPS) throw new Error(`getppid-loop printed ${s.length} results:\n${out}`);
  return { ns: Math.min(...s), issued: CALLS * REPS + Math.floor(CALLS / 10) };
}

function counted(list) {
  const slot = list.slotOf(cgroupId);
  if (slot === null) return null;
  // The workload phase, summed over the CPUs (as the agent reads it).
  return new CountsMap(list.countsFd).read(slot, hostSyscallArch()).workload.getppid ?? 0;
}

/**
 * Programs other processes hold on the syscall tracepoints (another agent, a test's): each adds
 * to every figure, and with one attached a program here is a further probe on a tracepoint that
 * already has one, which costs more than the first. Before each block the script waits (at most
 * --wait seconds) for none; a block is valid when as many processes held such programs at its
 * end as at its start and its two off batches agree within 5 % (else it is measured again, 3
 * attempts). Blocks are grouped in the summary
 * by how many other processes held one (0: the figures that stand for a machine of its own).
 */
function foreign() {
  try {
    const rows = JSON.parse(execFileSync('bpftool', ['-j', 'perf', 'show'], { encoding: 'utf8', timeout: 10_000 }));
    return [...new Set(rows.filter((r) => r.pid !== process.pid && /^(sys_enter|sys_exit)/.test(r.tracepoint ?? '')).map((r) => r.pid))].sort().join(',');
  } catch {
    return '?';
  }
}
const holders = (f) => (f ? f.split(',').length : 0);
let waitedMs = 0;
async function whenClean() {
  const t0 = Date.now();
  for (;;) {
    const f = foreign();
    if (!f || Date.now() - t0 >= WAIT_S * 1000) {
      waitedMs += Date.now() - t0;
      return f;
    }
    await sleep(250);
  }
}

/** Attaches a configuration, measures one batch, detaches; checks the getppid count. */
async function measure(c, round) {
  const list = c.attach();
  try {
    await sleep(SETTLE_MS);
    const m = await loop();
    if (c.counts) {
      const n = counted(list);
      checks.push({ round, key: c.key, issued: m.issued, counted: n, ok: n !== null && n >= m.issued });
      if (n === null || n < m.issued) log(`  FAIL ${c.key}: getppid counted ${n}, issued ${m.issued}`);
    }
    return m.ns;
  } finally {
    list.index?.close();
    release(list);
  }
}

// ---- --ab DIR: this build's cg_sys_exit against DIR's, switched through a prog array ---------

/**
 * Both builds' objects are loaded (each registry with its tracking programs, so the loop has task
 * storage in both) and neither cg_sys_exit is attached: one dispatcher on sys_exit tail-calls
 * this build's, DIR's or an empty program, switched by a map update between batches. Where a
 * load puts maps and programs moves a build's cost by several ns (the same build loaded twice
 * differs so), so the run is split into epochs, each a fresh load of both builds (which one
 * loads first alternates), of --cycles cycles; a cycle measures the three in turn, in each of
 * the six orders in turn. Per epoch, the medians over its cycles. The build loaded first measured
 * about 7 ns slower than the one loaded second, the same build against itself too
 * (bench/results/ab-2026-12-01-same-build.json), so the verdict is order-balanced: the mean of
 * the median difference over the epochs where this build loaded first and the median over those
 * where it loaded second (half their gap is the load-order effect, also reported).
 */
async function abEpoch(dispatchObj, epoch, cycles) {
  const first = epoch % 2 === 0;
  const loaded = [];
  const load = (dir) => {
    const l = agentObjects({ sys: ['cg_sys_exit'], attachSys: false, dir });
    loaded.push(l);
    return l;
  };
  let here, there;
  if (first) {
    here = load(BPF);
    there = load(path.resolve(opt.ab));
  } else {
    there = load(path.resolve(opt.ab));
    here = load(BPF);
  }
  const d = track(BpfObject.open(dispatchObj));
  loaded.push([d]);
  try {
    d.setAutoattach('ab_empty', false);
    d.load();
    const key = u32(0);
    const targets = [
      { key: 'empty', value: u32(d.programFd('ab_empty')) },
      { key: 'this', value: u32(here.sys.programFd('cg_sys_exit')), list: here },
      { key: 'other', value: u32(there.sys.programFd('cg_sys_exit')), list: there },
    ];
    const ORDERS = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1], [2, 0, 1], [1, 0, 2]];
    mapUpdate(d.mapFd('ab_target'), key, targets[0].value);
    d.attachAll();
    const rows = [];
    const issued = { this: 0, other: 0 };
    const before = { this: counted(here), other: counted(there) };
    for (let i = 0; i < cycles; i++) {
      const row = {};
      for (const j of ORDERS[i % ORDERS.length]) {
        const t = targets[j];
        mapUpdate(d.mapFd('ab_target'), key, t.value);
        const m = await loop();
        row[t.key] = m.ns;
        if (t.key in issued) issued[t.key] += m.issued;
      }
      rows.push(row);
    }
    mapUpdate(d.mapFd('ab_target'), key, targets[0].value);
    const checks = ['this', 'other'].map((k) => {
      const n = counted(targets.find((t) => t.key === k).list) - before[k];
      return { key: k, issued: issued[k], counted: n, ok: n >= issued[k] };
    });
    const med = (f) => median(rows.map(f));
    return {
      epoch: epoch + 1,
      loaded_first: first ? 'this' : 'other',
      empty_ns: med((r) => r.empty),
      this_added_ns: med((r) => r.this - r.empty),
      other_added_ns: med((r) => r.other - r.empty),
      this_minus_other_ns: med((r) => r.this - r.other),
      this_faster_in: rows.filter((r) => r.this < r.other).length,
      cycles: rows.length,
      checks,
      rows,
    };
  } finally {
    for (const l of loaded.reverse()) {
      if (l.index) l.index.close(); // before its objects go
      release(l);
    }
  }
}

/** The verdict over epochs: order-balanced difference, medians, the load-order effect. */
function abSummary(epochs) {
  const diffs = (first) => epochs.filter((e) => e.loaded_first === first).map((e) => e.this_minus_other_ns);
  const thisFirst = median(diffs('this'));
  const thisSecond = median(diffs('other'));
  return {
    epochs: epochs.length,
    this_added_ns: median(epochs.map((e) => e.this_added_ns)),
    other_added_ns: median(epochs.map((e) => e.other_added_ns)),
    this_first_ns: thisFirst,
    this_second_ns: thisSecond,
    this_minus_other_ns: (thisFirst + thisSecond) / 2,
    load_order_effect_ns: (thisFirst - thisSecond) / 2,
    epochs_this_faster: epochs.filter((e) => e.this_minus_other_ns < 0).length,
  };
}

async function abMode() {
  const dispatchObj = buildDiag('ab-dispatch');
  const cycles = Number(opt.cycles);
  const epochs = [];
  log(`ab: ${ROUNDS} epochs (fresh loads) of ${cycles} cycles, ${CALLS.toLocaleString('en')} getppid x ${REPS} per batch, CPU 0, clock ${CLOCK}; this = ${BPF}, other = ${opt.ab}`);
  for (let e = 0; e < ROUNDS; e++) {
    const ep = await abEpoch(dispatchObj, e, cycles);
    epochs.push(ep);
    log(`  epoch ${ep.epoch} (${ep.loaded_first} loaded first): empty ${fmt(ep.empty_ns, 1)} ns; this +${fmt(ep.this_added_ns, 1)}, other +${fmt(ep.other_added_ns, 1)}; this - other ${fmt(ep.this_minus_other_ns, 2)} ns, this faster in ${ep.this_faster_in}/${ep.cycles}${ep.checks.every((c) => c.ok) ? '' : ' COUNTER CHECK FAILED'}`);
  }
  const summary = abSummary(epochs);
  log(`ab: over ${epochs.length} epochs: this +${fmt(summary.this_added_ns, 1)} ns over the empty target, other +${fmt(summary.other_added_ns, 1)} (medians); this - other ${fmt(summary.this_minus_other_ns, 2)} ns, order-balanced (${fmt(summary.this_first_ns, 2)} where this loaded first, ${fmt(summary.this_second_ns, 2)} where it loaded second: load-order effect ${fmt(summary.load_order_effect_ns, 2)} ns); this faster in ${summary.epochs_this_faster} of ${epochs.length} epochs`);
  const ok = epochs.every((e) => e.checks.every((c) => c.ok));
  log(ok ? 'counter checks: all passed (getppid counted >= issued)' : 'counter checks: FAILED');
  const out = opt.out ?? path.join(BENCH_DIR, 'results', `ab-${new Date().toISOString().slice(0, 10)}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ benchmark: 'cg_sys_exit a/b', this: BPF, other: path.resolve(opt.ab), calls: CALLS, reps: REPS, clock: CLOCK, host: { kernel: os.release(), cpus: os.cpus().length, loadavg: os.loadavg() }, summary, epochs }, null, 1)}\n`);
  log(`results: ${path.relative(process.cwd(), out)}`);
  return ok;
}

if (opt.ab) {
  const ok = await abMode();
  process.exitCode = ok ? 0 : 1;
  cleanup();
  process.exit();
}

// ---- rounds: per configuration one block (off, empty sys_enter, the configuration, off) -----

const started = Date.now();
const load0 = os.loadavg();
const OFF = configs.find((c) => c.key === 'off');
const EMPTY = configs.find((c) => c.key === 'empty_enter');
const measured = configs.filter((c) => c !== OFF && c !== EMPTY);
const blocks = []; // { round, key, off, empty, ns, holders, attempts }
const checks = [];
log(`hooks: ${measured.length} configurations x ${ROUNDS} rounds, each in a block (off, empty tp_btf sys_enter, it, off); ${CALLS.toLocaleString('en')} getppid x ${REPS} per batch, CPU 0, clock ${CLOCK}; load ${load0.map((x) => x.toFixed(1)).join(' ')}`);
let doneRounds = 0;
for (let r = 0; r < ROUNDS; r++) {
  if (r > 0 && (Date.now() - started) / 1000 > TIME_LIMIT_S) {
    log(`time limit (${TIME_LIMIT_S} s): stopping after ${r} rounds`);
    break;
  }
  const order = r % 2 ? [...measured].reverse() : measured;
  const line = [];
  for (const c of order) {
    let b = null;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = await whenClean();
      const off1 = await measure(OFF, r + 1);
      const empty = await measure(EMPTY, r + 1);
      const ns = await measure(c, r + 1);
      const off2 = await measure(OFF, r + 1);
      const after = foreign();
      b = { round: r + 1, key: c.key, off: (off1 + off2) / 2, off1, off2, empty, ns, holders_before: holders(before), holders: holders(after), attempts: attempt };
      b.stable = blockValid(b); // nothing came or went during it (hooks-summary.mjs)
      if (b.stable) break;
    }
    blocks.push(b);
    line.push(`${c.key} ${fmt((b.ns - b.off) / (b.empty - b.off), 2)}x${b.stable ? '' : '?'}`);
  }
  log(`round ${r + 1}: ${line.join(', ')} (other holders of syscall hooks: ${[...new Set(blocks.filter((b) => b.round === r + 1).map((b) => b.holders))].join('/')}; ? = changed during the block)`);
  doneRounds = r + 1;
  summarize(doneRounds, false);
}

// ---- summary (rewritten after every round, so a stopped run keeps what it measured) ----------

function summarize(done, print) {
  const { rows, lines } = summarizeBlocks(blocks, measured);
  if (print) for (const l of lines) log(l);
  const bad = checks.filter((c) => !c.ok);
  if (print) log(`waited ${Math.round(waitedMs / 1000)} s for other processes' syscall-hook programs to go`);
  if (print) log(bad.length ? `counter checks: ${bad.length} FAILED` : `counter checks: ${checks.length} passed (getppid counted >= issued)`);
  let git = null;
  try {
    git = { commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim(), uncommitted_files: execFileSync('git', ['status', '--porcelain'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean).length };
  } catch {
    /* not a checkout */
  }
  const date = new Date().toISOString().slice(0, 10);
  const out = opt.out ?? path.join(BENCH_DIR, 'results', `hooks-${date}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({
    benchmark: 'syscall-hooks',
    description: 'ns per getppid() in a container (CPU 0, thread CPU time, fastest of the reps) per hook configuration, loaded in process; per configuration and round one block: off, empty tp_btf sys_enter, the configuration, off; added = ns - mean of the two off; ratio = added / (empty - off) of the same block; blocks at whose end a different number of other processes held syscall-hook programs than at their start, or whose two off batches differ by more than 5 %, are left out; grouped by how many such processes there were',
    date: new Date().toISOString(), host: { kernel: os.release(), cpus: os.cpus().length, loadavg_at_start: load0, loadavg_at_end: os.loadavg() },
    git, parameters: { rounds_requested: ROUNDS, rounds_done: done, time_limit_s: TIME_LIMIT_S, reps: REPS, calls: CALLS, clock: CLOCK, wait_s: WAIT_S },
    results: rows, blocks, counter_checks: checks, waited_s: Math.round(waitedMs / 1000), elapsed_s: Math.round((Date.now() - started) / 1000),
  }, null, 1)}\n`);
  if (print) log(`results: ${path.relative(REPO, out)}`);
  return bad.length;
}

const failed = summarize(doneRounds, true);
server.stdin.end();
cleanup();
process.exit(failed ? 1 : 0);
