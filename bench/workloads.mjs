#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Workload overhead: what the agent (every default sensor and output) costs five workloads in
 * containers, side by side with the references, in one run:
 *
 *   null    bench/getppid-loop.c: --calls x syscall(SYS_getppid), 3 repetitions (median), pinned
 *           to CPU 0 (the syscall benchmark's loop)
 *   dd      busybox `dd if=/dev/zero of=/dev/null bs=1 count=N` (a read and a write syscall per
 *           byte), timed inside the container by bench/time-cmd.c (no `docker exec` cost)
 *   open    bench/open-loop.c: --opens x open+close of a host file bind-mounted into the
 *           container (the agent folds repeats in the kernel: its default)
 *   exec    bench/exec-loop.c: --execs x fork + execve(/bin/true) + wait
 *   httpd   busybox `httpd -f` in a container S serving a small file; bench/http-loop.c in a
 *           container C makes N requests (one connection each: connect, GET, read to the close)
 *
 * under four configurations, attached one at a time, in an order reversed every other round:
 *
 *   off       nothing attached
 *   agent     `contguard run` with every default (console to a file, JSON lines, Prometheus on
 *             127.0.0.1; no OTLP)
 *   empty     bench_empty_tp_btf (bpf/build/probes.bpf.o, `return 0` on tp_btf/sys_enter), loaded
 *             by this process: the least any syscall hook costs
 *   bpftrace  `tracepoint:raw_syscalls:sys_enter { @[cgroup] = count(); }`: counting syscalls
 *             per cgroup the classic way
 *
 * S is started after each configuration is attached (the network sensor learns listeners as they
 * listen). Each measurement is the best of --reps loops (noise only adds; null: the median of its
 * repetitions). Reported per round and as the median over rounds: ns per operation, ns added vs
 * off, the ratios agent/empty and agent/bpftrace of the added ns (targets: null syscall <= 1.5x
 * the empty hook; httpd requests/s with the agent within 3 % of off), and the agent's CPU per
 * request. Checks: every request answered 200; the agent received network events for the
 * requests; bpftrace counted at least the dd syscalls.
 *
 * Usage (root, after `npm run build`; `npm run bench:workloads` does both):
 *   node bench/workloads.mjs [--rounds 3] [--reps 2] [--calls 1000000] [--bytes 1000000]
 *                            [--opens 100000] [--execs 2000] [--requests 2000] [--no-bpftrace]
 *                            [--time-limit 900] [--quick] [--out FILE]
 *   --quick   --rounds 1 --reps 1 --calls 200000 --bytes 200000 --opens 20000 --execs 300
 *             --requests 300 unless given;
 *             writes workloads-<date>-quick.json (gitignored)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as L from './lib.mjs';

const opt = L.options(
  import.meta.url,
  {
    rounds: { type: 'string' },
    reps: { type: 'string' },
    calls: { type: 'string' },
    bytes: { type: 'string' },
    opens: { type: 'string' },
    execs: { type: 'string' },
    requests: { type: 'string' },
    'no-bpftrace': { type: 'boolean', default: false },
    'time-limit': { type: 'string', default: '900' },
  },
  {
    quick: { rounds: '1', reps: '1', calls: '200000', bytes: '200000', opens: '20000', execs: '300', requests: '300' },
    full: { rounds: '3', reps: '2', calls: '1000000', bytes: '1000000', opens: '100000', execs: '2000', requests: '2000' },
  },
);
const ROUNDS = L.posInt(opt, 'rounds');
const REPS = L.posInt(opt, 'reps');
const CALLS = L.posInt(opt, 'calls');
const BYTES = L.posInt(opt, 'bytes');
const OPENS = L.posInt(opt, 'opens');
const EXECS = L.posInt(opt, 'execs');
const REQUESTS = L.posInt(opt, 'requests');
const TIME_LIMIT_S = L.posInt(opt, 'time-limit');
const LABEL = 'contguard-bench-workloads';
const PORT = 8080;
const LOOP_MAX_S = 120;
const SETTLE_MS = 500;
const HTTPD_TARGET = 0.97; // requests/s with the agent >= 97 % of agent off
const NULL_TARGET = 1.5; // null syscall: agent added ns <= 1.5 x the empty hook's
const NULL_REPS = 3;
const BPFTRACE_PROG = 'tracepoint:raw_syscalls:sys_enter { @[cgroup] = count(); }';

const C = { w: null, c: null, s: null, sIp: null };
const SHARED_FILE = '/mnt/data/shared.dat';

async function nullLoop() {
  const out = await L.dockerExec(C.w, ['/bench/getppid-loop', String(CALLS), String(NULL_REPS), String(Math.floor(CALLS / 10)), '0'], 300_000);
  const xs = [...out.matchAll(/ns_per_call=([\d.]+)/g)].map((m) => Number(m[1]));
  if (xs.length !== NULL_REPS) throw new Error(`getppid-loop printed ${xs.length} results:\n${out}`);
  return L.median(xs);
}

async function openLoop() {
  const out = await L.dockerExec(C.w, ['/bench/open-loop', String(OPENS), SHARED_FILE, String(LOOP_MAX_S)], (LOOP_MAX_S + 30) * 1000);
  const m = out.match(/ns_per_open=([\d.]+) opens=(\d+) failed=(\d+) stopped_early=(\d)/);
  if (!m || Number(m[2]) !== OPENS || m[3] !== '0') throw new Error(`open-loop failed:\n${out}`);
  return Number(m[1]);
}

async function execLoop() {
  const out = await L.dockerExec(C.w, ['/bench/exec-loop', String(EXECS), '/bin/true'], LOOP_MAX_S * 1000);
  const m = out.match(/ns_per_exec=([\d.]+) execs=(\d+) failed=(\d+)/);
  if (!m || m[3] !== '0') throw new Error(`exec-loop failed:\n${out}`);
  return Number(m[1]);
}

async function ddLoop() {
  const out = await L.dockerExec(C.w, ['/bench/time-cmd', String(LOOP_MAX_S), '/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${BYTES}`], (LOOP_MAX_S + 30) * 1000);
  const m = out.match(/ns=(\d+) status=(\d+) killed=(\d)/);
  if (!m) throw new Error(`dd printed no timing:\n${out}`);
  if (m[2] !== '0' || m[3] !== '0') throw new Error(`dd failed (status ${m[2]}, killed ${m[3]}):\n${out}`);
  return Number(m[1]) / BYTES;
}

async function httpLoop(n = REQUESTS) {
  const out = await L.dockerExec(C.c, ['/bench/http-loop', String(n), C.sIp, String(PORT), '/index.html', String(LOOP_MAX_S)], (LOOP_MAX_S + 30) * 1000).catch((e) => e.message);
  const m = out.match(/ns_per_request=([\d.]+) requests=(\d+) failed=(\d+) not_200=(\d+) bytes=(\d+) stopped_early=(\d)/);
  if (!m) throw new Error(`http-loop printed no result:\n${out}`);
  if (Number(m[2]) !== n || m[6] !== '0') throw new Error(`http-loop: ${m[2]} of ${n} requests in ${LOOP_MAX_S} s`);
  if (m[3] !== '0' || m[4] !== '0') throw new Error(`http-loop: ${m[3]} failed, ${m[4]} not 200:\n${out}`);
  return Number(m[1]);
}

async function startServer() {
  C.s = await L.startContainer(LABEL, ['--name', `${LABEL}-${process.pid}-s${Date.now() % 1e6}`, L.IMAGE, 'sh', '-c', `mkdir -p /www && echo contguard-bench > /www/index.html && exec httpd -f -p ${PORT} -h /www`]);
  C.sIp = await L.containerIp(C.s);
  for (let i = 0; ; i++) {
    try {
      await httpLoop(1);
      return;
    } catch (e) {
      if (i >= 100) throw new Error(`httpd not reachable: ${e.message}`);
      await L.sleep(100);
    }
  }
}

async function stopServer() {
  if (C.s) await L.removeContainers([C.s]);
  C.s = null;
}

/** Attaches a configuration; returns { detach() -> check or null, agent? }. */
const CONFIGS = {
  off: async () => ({ detach: async () => null }),
  agent: async () => {
    const agent = await L.startAgent({ name: 'workloads' });
    return {
      agent,
      detach: async () => {
        await agent.stop();
        return null;
      },
    };
  },
  empty: async () => {
    const h = await L.attachEmptyHook();
    return {
      detach: async () => {
        h.close();
        return null;
      },
    };
  },
  bpftrace: async () => {
    const b = await L.startBpftrace(BPFTRACE_PROG);
    return {
      detach: async () => {
        const out = await b.stop();
        const counts = [...out.matchAll(/^@\[(\d+)\]: (\d+)$/gm)].map((m) => Number(m[2]));
        const maxCount = counts.length ? Math.max(...counts) : 0;
        return { what: 'bpftrace counted the dd syscalls (largest @[cgroup] >= 2 x bytes x reps)', ok: maxCount >= 2 * BYTES * REPS, value: maxCount };
      },
    };
  },
};

/** The workloads, each measured --reps times (best kept): key, label, unit divisor for printing. */
const WORKLOADS = [
  { key: 'null', label: 'null syscall (getppid)', loop: nullLoop },
  { key: 'dd', label: 'dd bs=1, per byte', loop: ddLoop },
  { key: 'open', label: 'open of a host-shared file', loop: openLoop },
  { key: 'exec', label: 'exec (fork+exec+wait)', loop: execLoop },
  { key: 'http', label: 'httpd request', loop: () => httpLoop() },
];

async function measure(name) {
  const a = await CONFIGS[name]();
  const out = { samples: {}, ns: {} };
  try {
    await startServer();
    await httpLoop(Math.min(50, REQUESTS)); // warm-up: the agent's JIT, attribution, peer table
    for (const w of WORKLOADS) {
      const ev0 = a.agent && w.key === 'http' ? await a.agent.events('network') : null;
      const cpu0 = a.agent && w.key === 'http' ? L.cpuSample(a.agent.pid) : null;
      out.samples[w.key] = [];
      // The agent still handling the previous workload's events (or starting up) would slow
      // this loop on the same 2 CPUs: measure it quiet, as bench/run.mjs does.
      if (a.agent) (out.quiet_wait_ms ??= {})[w.key] = await L.waitQuiet(a.agent.pid);
      for (let i = 0; i < REPS; i++) {
        await L.sleep(SETTLE_MS);
        out.samples[w.key].push(await w.loop());
      }
      out.ns[w.key] = Math.min(...out.samples[w.key]);
      if (ev0) {
        const cpu = L.cpuDelta(cpu0, L.cpuSample(a.agent.pid));
        const ev1 = await a.agent.events('network');
        out.agent_cpu_us_per_request = cpu.runtime_us / (REQUESTS * REPS);
        out.network_received = ev1.received - ev0.received;
        out.network_lost = ev1.lost - ev0.lost;
        out.check = { what: `agent: network events received for ${REQUESTS * REPS} requests (>= 2 each: connect, accept)`, ok: out.network_received >= 2 * REQUESTS * REPS, value: out.network_received };
      }
    }
    if (a.agent) out.agent_mem = L.memory(a.agent.pid);
  } finally {
    await stopServer();
    const check = await a.detach();
    if (check) out.check = check;
  }
  return out;
}

/** a / b, or null when the reference added nothing measurable (b <= 0: noise exceeded it). */
const ratio = (a, b) => (L.ok(a) && L.ok(b) && b > 0 ? a / b : null);

async function main() {
  const t0 = Date.now();
  await L.preflight(LABEL);
  const withBpftrace = !opt['no-bpftrace'] && L.have('bpftrace');
  const names = ['off', 'agent', 'empty', ...(withBpftrace ? ['bpftrace'] : [])];
  const bin = L.buildLoops(['time-cmd', 'http-loop', 'getppid-loop', 'open-loop', 'exec-loop']);
  const data = L.dataDir('contguard-bench-workloads-data-');
  writeFileSync(path.join(data, 'shared.dat'), 'contguard bench\n');
  C.w = await L.startContainer(LABEL, ['-v', `${bin}:/bench:ro`, '-v', `${data}:/mnt/data`, L.IMAGE, 'sleep', '3600']);
  C.c = await L.startContainer(LABEL, ['-v', `${bin}:/bench:ro`, L.IMAGE, 'sleep', '3600']);
  const fingerprint = L.codeFingerprint();
  const loadAtStart = L.loadCheck();
  L.log(`ContGuard workload benchmark: getppid ${NULL_REPS} x ${CALLS}; dd bs=1 count=${BYTES}; ${OPENS} opens of a bind-mounted host file; ${EXECS} execs; ${REQUESTS} HTTP requests to busybox httpd; ${ROUNDS} round(s) x ${REPS} loop(s); configurations: ${names.join(', ')}${withBpftrace ? '' : ` (bpftrace: ${opt['no-bpftrace'] ? 'skipped' : 'not installed'})`}`);
  L.log(`load average at start: ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) {
    if ((Date.now() - t0) / 1000 > TIME_LIMIT_S) {
      L.log(`time limit (${TIME_LIMIT_S} s): stopping after ${rounds.length} round(s)`);
      break;
    }
    const order = r % 2 ? names : [...names].reverse();
    const round = { round: r, order };
    for (const n of order) {
      round[n] = await measure(n);
      L.log(`round ${r} ${n.padEnd(8)} ${WORKLOADS.map((w) => `${w.key} ${L.fmt(round[n].ns[w.key], 1)} ns`).join(', ')}${round[n].agent_cpu_us_per_request ? `; agent ${L.fmt(round[n].agent_cpu_us_per_request, 0)} µs CPU/request` : ''}`);
    }
    round.added = {};
    for (const n of names) round.added[n] = Object.fromEntries(WORKLOADS.map((w) => [w.key, round[n].ns[w.key] - round.off.ns[w.key]]));
    round.ratios = Object.fromEntries(
      WORKLOADS.map((w) => [w.key, { agent_vs_empty: ratio(round.added.agent[w.key], round.added.empty[w.key]), agent_vs_bpftrace: withBpftrace ? ratio(round.added.agent[w.key], round.added.bpftrace[w.key]) : null }]),
    );
    round.httpd_rps_agent_over_off = round.off.ns.http / round.agent.ns.http;
    rounds.push(round);
  }
  const med = (f) => L.median(rounds.map(f));
  const summary = { workloads: {} };
  for (const w of WORKLOADS) {
    summary.workloads[w.key] = {
      label: w.label,
      ns: Object.fromEntries(names.map((n) => [n, med((r) => r[n].ns[w.key])])),
      added_ns: Object.fromEntries(names.filter((n) => n !== 'off').map((n) => [n, med((r) => r.added[n][w.key])])),
      agent_vs_empty: med((r) => r.ratios[w.key].agent_vs_empty),
      agent_vs_bpftrace: withBpftrace ? med((r) => r.ratios[w.key].agent_vs_bpftrace) : null,
    };
  }
  summary.null_target = NULL_TARGET;
  summary.null_within_target = L.ok(summary.workloads.null.agent_vs_empty) && summary.workloads.null.agent_vs_empty <= NULL_TARGET;
  summary.httpd_rps = Object.fromEntries(names.map((n) => [n, L.div(1e9, summary.workloads.http.ns[n])]));
  summary.httpd_rps_agent_over_off = med((r) => r.httpd_rps_agent_over_off);
  summary.httpd_target = HTTPD_TARGET;
  summary.httpd_within_target = L.ok(summary.httpd_rps_agent_over_off) && summary.httpd_rps_agent_over_off >= HTTPD_TARGET;
  summary.agent_cpu_us_per_request = med((r) => r.agent.agent_cpu_us_per_request);

  L.log();
  L.log(`== workloads: median of ${rounds.length} round(s); each figure the best of ${REPS} loop(s); ns per operation and ns added vs off ==`);
  L.table(
    ['workload', ...names.map((n) => `${n} ns`), ...names.filter((n) => n !== 'off').map((n) => `${n} added`), 'agent/empty', ...(withBpftrace ? ['agent/bpftrace'] : [])],
    WORKLOADS.map((w) => {
      const x = summary.workloads[w.key];
      const times = (r) => (L.ok(r) ? `${r.toFixed(2)}x` : '–');
      return [w.label, ...names.map((n) => L.fmt(x.ns[n], 1)), ...names.filter((n) => n !== 'off').map((n) => L.signed(x.added_ns[n], 1)), times(x.agent_vs_empty), ...(withBpftrace ? [times(x.agent_vs_bpftrace)] : [])];
    }),
  );
  const checks = rounds.flatMap((r) => names.filter((n) => r[n].check).map((n) => ({ round: r.round, config: n, ...r[n].check })));
  L.log();
  for (const c of checks) L.log(`${c.ok ? 'ok  ' : 'FAIL'} round ${c.round} ${c.config}: ${c.what}: ${c.value}`);
  const W = summary.workloads;
  const verdict = [
    `null syscall: agent ${L.signed(W.null.added_ns.agent)} ns, empty hook ${L.signed(W.null.added_ns.empty)} ns: ${L.fmt(W.null.agent_vs_empty, 2)}x (target <= ${NULL_TARGET}x): ${summary.null_within_target ? 'MET' : 'MISSED'}${withBpftrace ? `; bpftrace ${L.signed(W.null.added_ns.bpftrace)} ns` : ''}`,
    ...['dd', 'open', 'exec'].map((k) => `${W[k].label}: agent ${L.signed(W[k].added_ns.agent)} ns, empty hook ${L.signed(W[k].added_ns.empty)}${withBpftrace ? `, bpftrace ${L.signed(W[k].added_ns.bpftrace)}` : ''} ns per operation`),
    `httpd: ${L.fmt(summary.httpd_rps.off, 0)} -> ${L.fmt(summary.httpd_rps.agent, 0)} requests/s with the agent = ${L.fmt(100 * summary.httpd_rps_agent_over_off, 1)} % of off (target >= ${HTTPD_TARGET * 100} %): ${summary.httpd_within_target ? 'MET' : 'MISSED'}; agent ${L.fmt(summary.agent_cpu_us_per_request, 0)} µs CPU per request`,
  ];
  L.log();
  for (const v of verdict) L.log(v);
  L.writeResults('workloads', {
    description: 'ns per operation of five workloads in containers (getppid, dd bs=1 per byte, open of a bind-mounted host file, fork+exec+wait, HTTP request to busybox httpd) under off / agent (defaults) / empty tp_btf sys_enter / bpftrace count per cgroup, interleaved per round; added = per-round (config - off), median over rounds',
    parameters: { rounds_requested: ROUNDS, rounds_done: rounds.length, reps: REPS, calls: CALLS, null_reps: NULL_REPS, bytes: BYTES, opens: OPENS, execs: EXECS, requests: REQUESTS, bpftrace_program: withBpftrace ? BPFTRACE_PROG : null, image: L.IMAGE },
    summary, rounds, checks, verdict,
  }, { quick: opt.quick, out: opt.out, fingerprint, loadAtStart, t0 });
  return checks.every((c) => c.ok) ? 0 : 1;
}

L.runMain(main, Number(opt['time-limit']) + 600);
