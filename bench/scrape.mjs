#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Scrape and export cost with many containers: for each count K of --counts, K busybox
 * `sleep 3600` containers run (started in parallel batches, labelled contguard-bench-scrape,
 * removed at the end; the counts are cumulative, so 100,500 starts 100, then 400 more), and:
 *
 *   scrape   a fresh agent (defaults, registry.max_containers raised to fit K, no OTLP) seeds the
 *            K containers at start-up; once /metrics names all K and its series count has settled
 *            (at least 12 s after ready: the periodic metrics; bounded wait), --scrapes
 *            scrapes back to back: wall ms per scrape (client side), bytes, series lines, and the
 *            agent's CPU per scrape (threads' sum_exec_runtime over the scrapes / scrapes); then
 *            its CPU over --window-s seconds with no scrape (idle: the reference below)
 *   otlp     a second fresh agent with the same config and OTLP/gRPC to a local receiver in this
 *            process (bench/lib.mjs: counts request bytes, no decoding) every --export-ms: over
 *            --window-s seconds, metric and log exports received, bytes per metrics export, and
 *            the agent's CPU per metrics export = (its CPU - the idle agent's CPU over as long) /
 *            metrics exports (log exports in the same window included)
 *
 * Peak RSS (VmHWM) of both agents is reported too. Before starting containers the script checks
 * MemAvailable (about 12 MB per container for the shim and the process, plus 2 GB) and stops at
 * the largest count that fits, saying so.
 *
 * Usage (root, after `npm run build`; `npm run bench:scrape` does both):
 *   node bench/scrape.mjs [--counts 100,500] [--scrapes 20] [--window-s 30] [--export-ms 2000]
 *                         [--parallel 8] [--quick] [--out FILE]
 *   --quick   --counts 20,100 --scrapes 5 --window-s 10 unless given;
 *             writes scrape-<date>-quick.json (gitignored)
 */
import { readFileSync } from 'node:fs';
import * as L from './lib.mjs';

const opt = L.options(
  import.meta.url,
  { counts: { type: 'string' }, scrapes: { type: 'string' }, 'window-s': { type: 'string' }, 'export-ms': { type: 'string', default: '2000' }, parallel: { type: 'string', default: '8' } },
  { quick: { counts: '20,100', scrapes: '5', 'window-s': '10' }, full: { counts: '100,500', scrapes: '20', 'window-s': '30' } },
);
const COUNTS = L.intList(opt, 'counts').sort((a, b) => a - b);
const SCRAPES = L.posInt(opt, 'scrapes');
const WINDOW_S = L.posInt(opt, 'window-s');
const EXPORT_MS = L.posInt(opt, 'export-ms');
const PARALLEL = L.posInt(opt, 'parallel');
if (EXPORT_MS < 100) L.die('--export-ms: at least 100 (outputs.otlp.export_interval_ms)');
if (COUNTS[COUNTS.length - 1] > 4000) L.die('--counts: at most 4000 (registry.max_containers is at most 4096)');
const LABEL = 'contguard-bench-scrape';
const MB_PER_CONTAINER = 12;
const MEM_RESERVE_MB = 2048;
const SERIES_WAIT_MS = 120_000;
const PERIODIC_MS = 12_000; // resources.interval_ms and syscalls.snapshot_interval_ms (10 s by default) + 2 s
const SETTLE_MS = 5000; // before each CPU window, in both agents alike (start-up work tails off)

function memAvailableMb() {
  const m = readFileSync('/proc/meminfo', 'utf8').match(/^MemAvailable:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : 0;
}

/** Distinct container ids of `ids` that appear in a label of the /metrics text. */
function containersSeen(text, ids) {
  const seen = new Set([...text.matchAll(/container_id="([0-9a-f]{64})"/g)].map((m) => m[1]));
  return ids.filter((id) => seen.has(id)).length;
}

async function agentFor(k, ids, otlpEndpoint) {
  const maxContainers = Math.min(4096, Math.max(256, 2 ** Math.ceil(Math.log2(k + 64))));
  const agent = await L.startAgent({ name: `scrape ${k}`, config: { registry: { max_containers: maxContainers }, outputs: { otlp: { export_interval_ms: EXPORT_MS } } }, otlpEndpoint, readyTimeoutMs: 120_000 });
  // Every container named, and the periodic metrics (resources, syscalls snapshots: every 10 s by
  // default) in: at least PERIODIC_MS after ready and the series count unchanged over 3 s (bounded).
  const t0 = Date.now();
  let seen = 0;
  let prevSeries = -1;
  for (;;) {
    const { text } = await agent.scrape();
    seen = containersSeen(text, ids);
    const series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
    if ((seen >= ids.length && Date.now() - t0 >= PERIODIC_MS && series === prevSeries) || Date.now() - t0 > SERIES_WAIT_MS) break;
    prevSeries = series;
    await L.sleep(3000);
  }
  return { agent, seen, series_wait_ms: Date.now() - t0, max_containers: maxContainers };
}

async function measure(k, ids) {
  const out = { containers: k };
  // Scrape cost, then the idle reference.
  const a = await agentFor(k, ids, null);
  try {
    out.agent_ready_ms = a.agent.readyMs;
    out.containers_on_metrics = a.seen;
    out.series_wait_ms = a.series_wait_ms;
    out.registry_max_containers = a.max_containers;
    await L.waitIdle(a.agent.pid, 30_000);
    const c0 = L.cpuSample(a.agent.pid);
    const scrapes = [];
    for (let i = 0; i < SCRAPES; i++) scrapes.push(await a.agent.scrape());
    const d = L.cpuDelta(c0, L.cpuSample(a.agent.pid));
    const last = scrapes[scrapes.length - 1].text;
    out.scrape = {
      ms_median: L.median(scrapes.map((s) => s.ms)),
      ms_max: Math.max(...scrapes.map((s) => s.ms)),
      bytes: scrapes[scrapes.length - 1].bytes,
      series: last.split('\n').filter((l) => l && !l.startsWith('#')).length,
      agent_cpu_ms_per_scrape: d.runtime_us / 1000 / SCRAPES,
    };
    await L.sleep(SETTLE_MS);
    const i0 = L.cpuSample(a.agent.pid);
    await L.sleep(WINDOW_S * 1000);
    out.idle = { agent_cpu_ms_per_s: L.cpuDelta(i0, L.cpuSample(a.agent.pid)).runtime_us / 1000 / WINDOW_S };
    out.peak_rss_mb = L.memory(a.agent.pid).hwm_kb / 1024;
  } finally {
    await a.agent.stop();
  }
  // OTLP export cost.
  const rx = await L.startOtlpCounter();
  const b = await agentFor(k, ids, rx.endpoint);
  try {
    out.otlp_containers_on_metrics = b.seen;
    await L.waitIdle(b.agent.pid, 30_000);
    await L.sleep(SETTLE_MS);
    const n0 = { metrics: rx.received.metrics.length, logs: rx.received.logs.length, traces: rx.received.traces.length };
    const c0 = L.cpuSample(b.agent.pid);
    await L.sleep(WINDOW_S * 1000);
    const d = L.cpuDelta(c0, L.cpuSample(b.agent.pid));
    const m = rx.received.metrics.slice(n0.metrics);
    const cpuPerS = d.runtime_us / 1000 / (d.wall_ms / 1000);
    out.otlp = {
      export_interval_ms: EXPORT_MS,
      metrics_exports: m.length,
      bytes_per_metrics_export: L.median(m.map((x) => x.bytes)),
      logs_exports: rx.received.logs.length - n0.logs,
      log_bytes: rx.received.logs.slice(n0.logs).reduce((s, x) => s + x.bytes, 0),
      agent_cpu_ms_per_s: cpuPerS,
      agent_cpu_ms_per_metrics_export: m.length ? ((cpuPerS - out.idle.agent_cpu_ms_per_s) * (d.wall_ms / 1000)) / m.length : null,
    };
    out.otlp_peak_rss_mb = L.memory(b.agent.pid).hwm_kb / 1024;
  } finally {
    await b.agent.stop();
    await rx.close();
  }
  L.log(`  ${k} containers: /metrics ${L.fmt(out.scrape.bytes / 1024, 0)} KiB, ${out.scrape.series} series, ${L.fmt(out.scrape.ms_median, 1)} ms per scrape, agent ${L.fmt(out.scrape.agent_cpu_ms_per_scrape, 1)} ms CPU per scrape; OTLP ${out.otlp.metrics_exports} metrics exports of ${L.fmt(out.otlp.bytes_per_metrics_export / 1024, 0)} KiB, agent ${L.fmt(out.otlp.agent_cpu_ms_per_metrics_export, 1)} ms CPU per export; peak RSS ${L.fmt(out.peak_rss_mb, 0)} / ${L.fmt(out.otlp_peak_rss_mb, 0)} MB`);
  return out;
}

async function main() {
  const t0 = Date.now();
  await L.preflight(LABEL, { needGcc: false });
  const fingerprint = L.codeFingerprint();
  const loadAtStart = L.loadCheck();
  L.log(`ContGuard scrape and export cost: ${COUNTS.join(', ')} containers; ${SCRAPES} scrapes; OTLP every ${EXPORT_MS} ms over ${WINDOW_S} s`);
  const ids = [];
  const sizes = [];
  const skipped = [];
  for (const k of COUNTS) {
    const need = (k - ids.length) * MB_PER_CONTAINER + MEM_RESERVE_MB;
    if (memAvailableMb() < need) {
      skipped.push({ containers: k, reason: `MemAvailable ${Math.round(memAvailableMb())} MB < ${need} MB needed` });
      L.log(`  ${k} containers: skipped (${skipped[skipped.length - 1].reason})`);
      continue;
    }
    const st = Date.now();
    const base = ids.length;
    const started = await L.inParallel(k - base, PARALLEL, (i) => L.startContainer(LABEL, ['--name', `${LABEL}-${process.pid}-${base + i}`, '--network', 'none', L.IMAGE, 'sleep', '3600']));
    ids.push(...started);
    const startS = (Date.now() - st) / 1000;
    L.log(`  started ${k - base} containers in ${L.fmt(startS, 1)} s (${k} running)`);
    const m = await measure(k, [...ids]); // full ids: `docker run -d` prints them
    m.container_start_s = startS;
    sizes.push(m);
  }
  L.log();
  L.log('== /metrics scrape and OTLP export cost ==');
  L.table(
    ['containers', 'seen', '/metrics KiB', 'series', 'ms/scrape', 'agent ms CPU/scrape', 'idle ms CPU/s', 'OTLP KiB/export', 'agent ms CPU/export', 'peak RSS MB'],
    sizes.map((s) => [s.containers, s.containers_on_metrics, L.fmt(s.scrape.bytes / 1024, 0), s.scrape.series, L.fmt(s.scrape.ms_median, 1), L.fmt(s.scrape.agent_cpu_ms_per_scrape, 1), L.fmt(s.idle.agent_cpu_ms_per_s, 1), L.fmt(s.otlp.bytes_per_metrics_export / 1024, 0), L.fmt(s.otlp.agent_cpu_ms_per_metrics_export, 1), L.fmt(Math.max(s.peak_rss_mb, s.otlp_peak_rss_mb), 0)]),
  );
  const checks = sizes.map((s) => ({ containers: s.containers, ok: s.containers_on_metrics === s.containers && s.otlp_containers_on_metrics === s.containers && s.otlp.metrics_exports > 0, what: `/metrics named ${s.containers_on_metrics} (OTLP agent: ${s.otlp_containers_on_metrics}) of ${s.containers} containers; ${s.otlp.metrics_exports} OTLP metrics exports received` }));
  L.log();
  for (const c of checks) L.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.containers} containers: ${c.what}`);
  for (const s of skipped) L.log(`NOT MEASURED: ${s.containers} containers: ${s.reason}`);
  const t1 = Date.now();
  await L.removeContainers(ids);
  L.log(`removed ${ids.length} containers in ${L.fmt((Date.now() - t1) / 1000, 1)} s`);
  L.writeResults('scrape', {
    description: '/metrics scrape time, size and agent CPU per scrape; OTLP metrics export size and agent CPU per export (vs an idle agent without OTLP); K busybox sleep containers seeded at agent start-up',
    parameters: { counts: COUNTS, scrapes: SCRAPES, window_s: WINDOW_S, export_ms: EXPORT_MS, parallel: PARALLEL, image: L.IMAGE },
    sizes, skipped, checks,
  }, { quick: opt.quick, out: opt.out, fingerprint, loadAtStart, t0 });
  return checks.every((c) => c.ok) && !skipped.length ? 0 : 1;
}

L.runMain(main, 3600);
