#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Workload overhead: what the agent (every default sensor and output) costs two ordinary
 * workloads in containers, side by side with the references, in one run:
 *
 *   dd      busybox `dd if=/dev/zero of=/dev/null bs=1 count=N` (a read and a write syscall per
 *           byte), timed inside the container by bench/time-cmd.c (no `docker exec` cost)
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
 * listen). Each measurement is the best of --reps loops (noise only adds). Reported per round and
 * as the median over rounds: ns per dd byte (2 syscalls) and per request, ns added vs off, the
 * ratios agent/empty and agent/bpftrace of the added ns, requests/s and agent/off (target: within
 * 3 % of off), and the agent's CPU per request. Checks: every request answered 200; the agent
 * received network events for the requests; bpftrace counted at least the dd syscalls.
 *
 * Usage (root, after `npm run build`; `npm run bench:workloads` does both):
 *   node bench/workloads.mjs [--rounds 3] [--reps 3] [--bytes 1000000] [--requests 2000]
 *                            [--no-bpftrace] [--time-limit 900] [--quick] [--out FILE]
 *   --quick   --rounds 1 --reps 1 --bytes 200000 --requests 300 unless given;
 *             writes workloads-<date>-quick.json (gitignored)
 */
import * as L from './lib.mjs';

const opt = L.options(
  import.meta.url,
  {
    rounds: { type: 'string' },
    reps: { type: 'string' },
    bytes: { type: 'string' },
    requests: { type: 'string' },
    'no-bpftrace': { type: 'boolean', default: false },
    'time-limit': { type: 'string', default: '900' },
  },
  { quick: { rounds: '1', reps: '1', bytes: '200000', requests: '300' }, full: { rounds: '3', reps: '3', bytes: '1000000', requests: '2000' } },
);
const ROUNDS = L.posInt(opt, 'rounds');
const REPS = L.posInt(opt, 'reps');
const BYTES = L.posInt(opt, 'bytes');
const REQUESTS = L.posInt(opt, 'requests');
const TIME_LIMIT_S = L.posInt(opt, 'time-limit');
const LABEL = 'contguard-bench-workloads';
const PORT = 8080;
const LOOP_MAX_S = 120;
const SETTLE_MS = 500;
const HTTPD_TARGET = 0.97; // requests/s with the agent >= 97 % of agent off
const BPFTRACE_PROG = 'tracepoint:raw_syscalls:sys_enter { @[cgroup] = count(); }';

const C = { w: null, c: null, s: null, sIp: null };

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

async function measure(name) {
  const a = await CONFIGS[name]();
  const out = { dd_ns_samples: [], http_ns_samples: [] };
  try {
    await startServer();
    await httpLoop(Math.min(50, REQUESTS)); // warm-up: the agent's JIT, attribution, peer table
    for (let i = 0; i < REPS; i++) {
      await L.sleep(SETTLE_MS);
      out.dd_ns_samples.push(await ddLoop());
    }
    const ev0 = a.agent ? await a.agent.events('network') : null;
    const cpu0 = a.agent ? L.cpuSample(a.agent.pid) : null;
    for (let i = 0; i < REPS; i++) {
      await L.sleep(SETTLE_MS);
      out.http_ns_samples.push(await httpLoop());
    }
    if (a.agent) {
      const cpu = L.cpuDelta(cpu0, L.cpuSample(a.agent.pid));
      const ev1 = await a.agent.events('network');
      out.agent_cpu_us_per_request = cpu.runtime_us / (REQUESTS * REPS);
      out.network_received = ev1.received - ev0.received;
      out.network_lost = ev1.lost - ev0.lost;
      out.check = { what: `agent: network events received for ${REQUESTS * REPS} requests (>= 2 each: connect, accept)`, ok: out.network_received >= 2 * REQUESTS * REPS, value: out.network_received };
      out.agent_mem = L.memory(a.agent.pid);
    }
  } finally {
    await stopServer();
    const check = await a.detach();
    if (check) out.check = check;
  }
  out.dd_ns = Math.min(...out.dd_ns_samples);
  out.http_ns = Math.min(...out.http_ns_samples);
  return out;
}

async function main() {
  const t0 = Date.now();
  await L.preflight(LABEL);
  const withBpftrace = !opt['no-bpftrace'] && L.have('bpftrace');
  const names = ['off', 'agent', 'empty', ...(withBpftrace ? ['bpftrace'] : [])];
  const bin = L.buildLoops(['time-cmd', 'http-loop']);
  C.w = await L.startContainer(LABEL, ['-v', `${bin}:/bench:ro`, L.IMAGE, 'sleep', '3600']);
  C.c = await L.startContainer(LABEL, ['-v', `${bin}:/bench:ro`, L.IMAGE, 'sleep', '3600']);
  const fingerprint = L.codeFingerprint();
  const loadAtStart = L.loadCheck();
  L.log(`ContGuard workload benchmark: dd bs=1 count=${BYTES}; ${REQUESTS} HTTP requests to busybox httpd; ${ROUNDS} round(s) x ${REPS} loop(s); configurations: ${names.join(', ')}${withBpftrace ? '' : ' (bpftrace: ' + (opt['no-bpftrace'] ? 'skipped' : 'not installed') + ')'}`);
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
      L.log(`round ${r} ${n.padEnd(8)} dd ${L.fmt(round[n].dd_ns, 1)} ns/byte, http ${L.fmt(round[n].http_ns / 1000, 1)} µs/request${round[n].agent_cpu_us_per_request ? `, agent ${L.fmt(round[n].agent_cpu_us_per_request, 0)} µs CPU/request` : ''}`);
    }
    for (const n of names) {
      round[n].dd_added_ns = round[n].dd_ns - round.off.dd_ns;
      round[n].http_added_ns = round[n].http_ns - round.off.http_ns;
    }
    round.ratios = {
      dd_agent_vs_empty: L.div(round.agent.dd_added_ns, round.empty.dd_added_ns),
      dd_agent_vs_bpftrace: withBpftrace ? L.div(round.agent.dd_added_ns, round.bpftrace.dd_added_ns) : null,
      http_agent_vs_empty: L.div(round.agent.http_added_ns, round.empty.http_added_ns),
      httpd_rps_agent_over_off: round.off.http_ns / round.agent.http_ns,
    };
    rounds.push(round);
  }
  const med = (f) => L.median(rounds.map(f));
  const summary = { configs: {} };
  for (const n of names) {
    summary.configs[n] = {
      dd_ns_per_byte: med((r) => r[n].dd_ns),
      dd_added_ns: med((r) => r[n].dd_added_ns),
      http_ns_per_request: med((r) => r[n].http_ns),
      http_added_ns: med((r) => r[n].http_added_ns),
      requests_per_s: med((r) => 1e9 / r[n].http_ns),
    };
  }
  summary.dd_agent_vs_empty = med((r) => r.ratios.dd_agent_vs_empty);
  summary.dd_agent_vs_bpftrace = withBpftrace ? med((r) => r.ratios.dd_agent_vs_bpftrace) : null;
  summary.http_agent_vs_empty = med((r) => r.ratios.http_agent_vs_empty);
  summary.httpd_rps_agent_over_off = med((r) => r.ratios.httpd_rps_agent_over_off);
  summary.httpd_target = HTTPD_TARGET;
  summary.httpd_within_target = L.ok(summary.httpd_rps_agent_over_off) && summary.httpd_rps_agent_over_off >= HTTPD_TARGET;
  summary.agent_cpu_us_per_request = med((r) => r.agent.agent_cpu_us_per_request);

  L.log();
  L.log(`== workloads: median of ${rounds.length} round(s); each figure the best of ${REPS} loop(s) ==`);
  L.table(
    ['configuration', 'dd ns/byte', 'added ns', 'http µs/req', 'added µs', 'requests/s'],
    names.map((n) => {
      const c = summary.configs[n];
      return [n, L.fmt(c.dd_ns_per_byte), n === 'off' ? '–' : L.signed(c.dd_added_ns), L.fmt(c.http_ns_per_request / 1000), n === 'off' ? '–' : L.signed(c.http_added_ns / 1000), L.fmt(c.requests_per_s, 0)];
    }),
  );
  const checks = rounds.flatMap((r) => names.filter((n) => r[n].check).map((n) => ({ round: r.round, config: n, ...r[n].check })));
  L.log();
  for (const c of checks) L.log(`${c.ok ? 'ok  ' : 'FAIL'} round ${c.round} ${c.config}: ${c.what}: ${c.value}`);
  const verdict = [
    `dd bs=1: agent ${L.signed(summary.configs.agent.dd_added_ns)} ns per byte (2 syscalls), empty hook ${L.signed(summary.configs.empty.dd_added_ns)}${withBpftrace ? `, bpftrace ${L.signed(summary.configs.bpftrace.dd_added_ns)}` : ''}: agent/empty ${L.fmt(summary.dd_agent_vs_empty, 2)}x${withBpftrace ? `, agent/bpftrace ${L.fmt(summary.dd_agent_vs_bpftrace, 2)}x` : ''}`,
    `httpd: ${L.fmt(summary.configs.off.requests_per_s, 0)} -> ${L.fmt(summary.configs.agent.requests_per_s, 0)} requests/s with the agent = ${L.fmt(100 * summary.httpd_rps_agent_over_off, 1)} % of off (target >= ${HTTPD_TARGET * 100} %): ${summary.httpd_within_target ? 'MET' : 'MISSED'}; agent ${L.fmt(summary.agent_cpu_us_per_request, 0)} µs CPU per request`,
  ];
  L.log();
  for (const v of verdict) L.log(v);
  L.writeResults('workloads', {
    description: 'ns per dd byte (bs=1) and per HTTP request to busybox httpd, container to container, under off / agent (defaults) / empty tp_btf sys_enter / bpftrace count per cgroup, interleaved per round; added = per-round (config - off), median over rounds',
    parameters: { rounds_requested: ROUNDS, rounds_done: rounds.length, reps: REPS, bytes: BYTES, requests: REQUESTS, bpftrace_program: withBpftrace ? BPFTRACE_PROG : null, image: L.IMAGE },
    summary, rounds, checks, verdict,
  }, { quick: opt.quick, out: opt.out, fingerprint, loadAtStart, t0 });
  return checks.every((c) => c.ok) ? 0 : 1;
}

L.runMain(main, Number(opt['time-limit']) + 600);
