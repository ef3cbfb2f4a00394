#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * The benchmark suite (`npm run bench`): runs each benchmark in turn, each writing its own
 * results file, then prints ONE table of the key rows with their targets and verdicts, and
 * writes bench/results/suite-<date>[-quick].json (the rows, each script's exit code, time and
 * results file). Each script's console output goes to bench/build/suite-logs/<script>.log.
 *
 *   syscalls   bench/run.mjs       ns per null syscall: agent vs an empty sys_enter program
 *   exec       bench/exec.mjs      agent CPU per container exec event
 *   sensors    bench/sensors.mjs   file opens, null syscall with every sensor, connects
 *   workloads  bench/workloads.mjs dd bs=1 and busybox httpd: off / agent / empty hook / bpftrace
 *   throughput bench/throughput.mjs storms, sustained rate, bursts: losses, agent CPU and RSS
 *   scrape     bench/scrape.mjs    /metrics scrape and OTLP export cost with many containers
 *
 * Verdicts: "met" / "MISSED" against the row's target; "–" for figures without a target.
 * The soak (`npm run soak`) is not part of the suite. Exit code: 1 if a script failed (its row
 * says so; the log's tail is printed), else 0 (missed targets are reported, not an error).
 *
 * Usage (root; `npm run bench` builds first):
 *   node bench/suite.mjs [--quick] [--only a,b] [--skip a,b] [--report] [--out FILE]
 *   --quick   every script with --quick (about 8 minutes on a quiet 2-core VM; full: about 30)
 *   --report  run nothing: print the table from today's results files (`-quick` ones with --quick)
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as L from './lib.mjs';

const opt = L.options(import.meta.url, { only: { type: 'string' }, skip: { type: 'string' }, report: { type: 'boolean', default: false } });
const SCRIPTS = [
  { key: 'syscalls', file: 'run.mjs', prefix: 'syscalls', limitS: 900 },
  { key: 'exec', file: 'exec.mjs', prefix: 'exec', limitS: 600 },
  // --quick: wait at most 60 s for other benchmarks' or tests' agents (its default: 600 s)
  { key: 'sensors', file: 'sensors.mjs', prefix: 'sensors', limitS: 1500, quickArgs: ['--wait-max', '60'] },
  { key: 'workloads', file: 'workloads.mjs', prefix: 'workloads', limitS: 1500 },
  { key: 'throughput', file: 'throughput.mjs', prefix: 'throughput', limitS: 1800 },
  { key: 'scrape', file: 'scrape.mjs', prefix: 'scrape', limitS: 1800 },
];
const keys = SCRIPTS.map((s) => s.key);
const list = (v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : null);
const only = list(opt.only);
const skip = list(opt.skip) ?? [];
for (const k of [...(only ?? []), ...skip]) if (!keys.includes(k)) L.die(`unknown benchmark "${k}" (one of ${keys.join(', ')})`);
const selected = SCRIPTS.filter((s) => (!only || only.includes(s.key)) && !skip.includes(s.key));
const LOG_DIR = path.join(L.BENCH_DIR, 'build', 'suite-logs');

/** Runs one script (bounded by its time limit); resolves to { code, seconds, log }. */
function runScript(s, out) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${s.key}.log`);
  const args = [path.join(L.BENCH_DIR, s.file), ...(opt.quick ? ['--quick', ...(s.quickArgs ?? [])] : []), '--out', out];
  return new Promise((resolve) => {
    const t0 = Date.now();
    const logStream = createWriteStream(logFile);
    const child = L.spawnTracked(process.execPath, args, { cwd: L.REPO, stdio: ['ignore', 'pipe', 'pipe'] }, 'INT');
    child.stdout.pipe(logStream, { end: false });
    child.stderr.pipe(logStream, { end: false });
    const timer = setTimeout(() => child.kill('SIGINT'), s.limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      logStream.end();
      L.stopChild(child).catch(() => {});
      resolve({ code: code ?? (signal ? 128 : 1), signal, seconds: (Date.now() - t0) / 1000, log: logFile });
    });
  });
}

const get = (o, p) => p.split('.').reduce((x, k) => (x === null || x === undefined ? undefined : x[k]), o);
const v = (x) => (L.ok(x) ? x : null);

/** The key rows of each script's results: [label, value, unit/format, target text, met (true/false/null)]. */
const ROWS = {
  syscalls: (d) => {
    const c = d.results?.cpu0 ?? {};
    // The budget is the median of the rounds' ratios (results files before it have only the samples' ratio).
    const r = v(c.agent_tp_btf?.ratio_median_of_rounds ?? c.agent_tp_btf?.ratio_vs_empty);
    return [
      ['null syscall: agent (tp_btf) added / empty tp_btf added, median of the rounds', r, 'x', `<= ${d.budget_ratio}x (B1)`, L.ok(r) ? r <= d.budget_ratio : null],
      ['null syscall: ns added by the agent (tp_btf)', v(c.agent_tp_btf?.added_ns), 'ns', '', null],
      ['null syscall: bpftrace @[cgroup]=count() added / empty raw_tp added', v(c.bpftrace?.ratio_vs_empty), 'x', '', null],
    ];
  },
  exec: (d) => {
    const us = v(get(d, 'summary.agent_cpu_per_container_event_us.total'));
    return [
      ['exec: agent CPU per container exec event', us, 'µs', `<= ${d.target_us_per_event} µs`, L.ok(us) ? us <= d.target_us_per_event : null],
      ['exec: host execs that reached user space', v(get(d, 'summary.host_execs_leaked_total')), '', '0', get(d, 'summary.host_execs_leaked_total') === 0],
    ];
  },
  sensors: (d) => {
    const g = d.summary?.getppid ?? {};
    const b = v(d.budget_null_syscall_ratio) ?? 1.5;
    return [
      ['null syscall, every sensor: agent added / empty tp_btf added', v(g.ratio), 'x', `<= ${b}x`, L.ok(g.ratio) ? g.ratio <= b : null],
      ['null syscall, every sensor: ns added', v(g.agent_added_ns), 'ns', '', null],
      ['open of a bind-mounted file (folded): ns added', v(get(d, 'summary.opens.bind_folded.added_ns')), 'ns', '', null],
      ['open, fold 0: agent CPU per event received', v(get(d, 'summary.opens.bind_nofold.agent_cpu_us_per_event.net')), 'µs', '', null],
      ['TCP connection: ns added', v(get(d, 'summary.connects.added_ns')), 'ns', '', null],
      ['TCP connection: agent CPU per connection', v(get(d, 'summary.connects.agent_cpu_us_per_connection')), 'µs', '', null],
    ];
  },
  workloads: (d) => {
    const s = d.summary ?? {};
    const W = s.workloads ?? {};
    const r = v(s.httpd_rps_agent_over_off);
    const nt = s.null_target ?? 1.5;
    const rows = [];
    for (const [k, w] of Object.entries(W)) {
      const ratio = v(w.agent_vs_empty);
      rows.push([`${w.label}: ns added, agent (empty hook, bpftrace)`, v(w.added_ns?.agent), `ns (${L.fmt(w.added_ns?.empty, 0)}, ${L.fmt(w.added_ns?.bpftrace, 0)})`, '', null]);
      rows.push([`${w.label}: agent added / empty added (/ bpftrace added)`, ratio, `x (${L.fmt(w.agent_vs_bpftrace, 2)}x)`, k === 'null' ? `<= ${nt}x` : '', k === 'null' && L.ok(ratio) ? ratio <= nt : null]);
    }
    rows.push(['httpd: requests/s, agent on / off', L.ok(r) ? 100 * r : null, '%', `>= ${100 * (s.httpd_target ?? 0.97)} %`, L.ok(r) ? r >= (s.httpd_target ?? 0.97) : null]);
    rows.push(['httpd: agent CPU per request', v(s.agent_cpu_us_per_request), 'µs', '', null]);
    return rows;
  },
  throughput: (d) => {
    const t = d.targets ?? {};
    const ph = d.phases ?? [];
    const s = ph.find((p) => p.target_rate === t.rate);
    const bursts = ph.filter((p) => p.ring_buffer_bytes);
    const storm = (name) => ph.find((p) => p.phase === name);
    const rows = [];
    if (s) {
      rows.push([`sustained ${t.rate}/s for ${s.seconds} s: rate achieved`, v(s.achieved_rate), '/s', `>= ${t.rate}/s`, s.achieved_rate >= 0.99 * t.rate]);
      rows.push(['sustained: events lost', s.lost, '', '0', s.lost === 0]);
      rows.push(['sustained: agent CPU', v(s.agent_core_pct_during), '% core', `<= ${t.core_pct} %`, s.agent_core_pct_during <= t.core_pct]);
      rows.push(['sustained: agent peak RSS', v(s.peak_rss_mb), 'MB', `<= ${t.rss_mb} MB`, s.peak_rss_mb <= t.rss_mb]);
    }
    for (const p of ph.filter((x) => x.target_rate && x.target_rate !== t.rate)) rows.push([`sustained ${p.target_rate}/s: lost / agent % core / peak RSS MB`, p.lost, `/ ${L.fmt(p.agent_core_pct_during, 0)} / ${L.fmt(p.peak_rss_mb, 0)}`, '', null]);
    for (const b of bursts) {
      rows.push([`burst (ring ${b.ring_buffer_bytes / 1024 ** 2} MiB): opens/s generated`, v(b.generated_per_s), '/s', `>= ${t.burst_rate}/s`, b.generated_per_s >= t.burst_rate]);
      rows.push([`burst (ring ${b.ring_buffer_bytes / 1024 ** 2} MiB): generated - received - lost`, -b.unaccounted, `(${L.fmt(100 * b.loss_fraction, 1)} % lost)`, '0 (exact)', b.exact]);
    }
    for (const n of ['exec storm', 'connect storm']) {
      const p = storm(n);
      if (p) rows.push([`${n}: lost / µs agent CPU per event / peak RSS MB`, p.lost, `/ ${L.fmt(p.agent_cpu_us_per_received, 0)} / ${L.fmt(p.peak_rss_mb, 0)}`, '', null]);
    }
    return rows;
  },
  scrape: (d) =>
    (d.sizes ?? []).flatMap((s) => [
      [`${s.containers} containers: /metrics scrape (KiB, agent ms CPU)`, v(s.scrape?.ms_median), `ms (${L.fmt(s.scrape?.bytes / 1024, 0)} KiB, ${L.fmt(s.scrape?.agent_cpu_ms_per_scrape, 1)} ms CPU)`, '', null],
      [`${s.containers} containers: OTLP metrics export (KiB; agent CPU with OTLP)`, v(s.otlp?.agent_cpu_ms_per_metrics_export), `ms CPU (${L.fmt(s.otlp?.bytes_per_metrics_export / 1024, 0)} KiB; ${L.fmt(s.otlp?.agent_cpu_ms_per_s, 1)} ms/s)`, '', null],
      [`${s.containers} containers: agent idle CPU / peak RSS`, v(s.idle?.agent_cpu_ms_per_s), `ms/s (${L.fmt(Math.max(s.peak_rss_mb, s.otlp_peak_rss_mb), 0)} MB)`, '', null],
    ]).concat((d.skipped ?? []).map((s) => [`${s.containers} containers`, null, s.reason, '', false])),
};

async function main() {
  const t0 = Date.now();
  if (process.getuid?.() !== 0) L.die('needs root (BPF programs, docker)');
  const date = new Date().toISOString().slice(0, 10);
  const suffix = opt.quick ? '-quick' : '';
  const loadAtStart = L.loadCheck();
  const fingerprint = L.codeFingerprint();
  L.log(`ContGuard benchmark suite${opt.quick ? ' (quick)' : ''}: ${selected.map((s) => s.key).join(', ')}; logs in ${path.relative(process.cwd(), LOG_DIR)}/`);
  const runs = [];
  const rows = [];
  for (const s of selected) {
    const out = path.join(L.RESULTS_DIR, `${s.prefix}-${date}${suffix}.json`);
    const r = opt.report ? { code: 0, seconds: 0, log: null } : (L.log(`-- ${s.key} (bench/${s.file}${opt.quick ? ' --quick' : ''}) ...`), await runScript(s, out));
    let doc = null;
    if (existsSync(out)) {
      try {
        const d = JSON.parse(readFileSync(out, 'utf8'));
        if (opt.report || Date.parse(d.date) >= t0) doc = d; // written by this run (or --report)
      } catch {
        /* unreadable */
      }
    }
    if (opt.report) {
      runs.push({ key: s.key, results: doc ? path.relative(L.REPO, out) : null, date: doc?.date ?? null });
      if (doc) for (const [label, value, unit, target, met] of ROWS[s.key](doc)) rows.push({ bench: s.key, label, value, unit, target, met: target ? met : null });
      else rows.push({ bench: s.key, label: `no results file ${path.relative(L.REPO, out)}`, value: null, unit: '', target: '', met: null });
      continue;
    }
    L.log(`   exit ${r.code}, ${L.fmt(r.seconds, 0)} s${doc ? `, ${path.relative(process.cwd(), out)}` : ', no results file'}`);
    if (r.code !== 0) {
      const tail = readFileSync(r.log, 'utf8').trim().split('\n').slice(-8);
      for (const l of tail) L.log(`   | ${l}`);
    }
    runs.push({ key: s.key, script: `bench/${s.file}`, exit_code: r.code, seconds: Math.round(r.seconds), results: doc ? path.relative(L.REPO, out) : null, log: path.relative(L.REPO, r.log) });
    if (!doc) {
      rows.push({ bench: s.key, label: 'no results (the script failed: see its log)', value: null, unit: '', target: '', met: false });
      continue;
    }
    for (const [label, value, unit, target, met] of ROWS[s.key](doc)) rows.push({ bench: s.key, label, value, unit, target, met: target ? met : null });
  }
  const total = (Date.now() - t0) / 1000;
  L.log();
  L.log(`== ContGuard benchmarks${opt.quick ? ' (quick: smoke figures)' : ''}: ${new Date().toISOString().slice(0, 16)}, ${L.gitInfo().commit}, load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, ${L.fmt(total / 60, 1)} min ==`);
  L.table(
    ['benchmark', 'row', 'value', 'unit', 'target', 'verdict'],
    rows.map((r) => [r.bench, r.label, L.ok(r.value) ? (Math.abs(r.value) >= 100 ? r.value.toFixed(0) : r.value.toFixed(2)) : '–', r.unit, r.target || '–', r.met === null ? '–' : r.met ? 'met' : 'MISSED']),
  );
  const failed = runs.filter((r) => r.exit_code !== undefined && r.exit_code !== 0);
  if (failed.length) L.log(`scripts that exited non-zero: ${failed.map((r) => `${r.key} (${r.exit_code}, ${r.log})`).join(', ')}`);
  const missed = rows.filter((r) => r.met === false);
  L.log(`${rows.filter((r) => r.met === true).length} targets met, ${missed.length} missed${missed.length ? `: ${missed.map((r) => `${r.bench}: ${r.label}`).join('; ')}` : ''}`);
  if (opt.report) return 0;
  L.writeResults('suite', { description: 'key rows of every benchmark of one suite run, with targets', runs, rows, total_s: Math.round(total) }, { quick: opt.quick, out: opt.out, fingerprint, loadAtStart, t0 });
  return failed.length ? 1 : 0;
}

L.runMain(main, 4 * 3600);
