#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Soak test (not in CI): the agent (every default sensor and output, OTLP/gRPC to a byte-counting
 * receiver in this process, /metrics scraped at every sample) runs for --minutes while containers
 * churn: every --churn-s seconds a container starts that makes execs, file opens and HTTP
 * requests to a busybox httpd container (bounded: 20 rounds, then it sleeps), and the oldest is
 * removed once more than --keep run. Every --sample-s seconds: the agent's RSS (VmRSS), open fds
 * (/proc/PID/fd), threads, and its events received / lost.
 *
 * Verdict: after a warm-up (the first 20 % of the run, at least 1 minute, and at least the
 * agent's longest retention of a removed container's state plus 1 minute: until then state grows
 * by design, e.g. sensors.syscalls.retire_after_ms keeps a recording 10 minutes), the least-squares
 * slope of RSS and of open fds, per 10 minutes; flat when RSS grows by at most --rss-slope-mb
 * (default 2 MB) and fds by at most --fd-slope (default 1) per 10 minutes. A run shorter than
 * 10 minutes cannot tell a slow leak from GC noise: it says so.
 *
 * The agent sees every container on the host: run it where no other containers run (each sample
 * counts the others; the verdict names them). Containers are labelled contguard-soak and removed
 * at the end (and at the next start after an abort). Results: bench/results/soak-<date>.json (every sample).
 *
 * Usage (root, after `npm run build`; `npm run soak` does both):
 *   node scripts/soak.mjs [--minutes 30] [--sample-s 10] [--churn-s 3] [--keep 8]
 *                         [--rss-slope-mb 2] [--fd-slope 1] [--quick] [--out FILE]
 *   --quick   --minutes 2 --sample-s 5 unless given; writes soak-<date>-quick.json (gitignored)
 *   --judge FILE  run nothing: the verdict on an earlier results file's samples, by today's rule
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import * as L from '../bench/lib.mjs';

const opt = L.options(
  import.meta.url,
  { minutes: { type: 'string' }, 'sample-s': { type: 'string' }, 'churn-s': { type: 'string', default: '3' }, keep: { type: 'string', default: '8' }, 'rss-slope-mb': { type: 'string', default: '2' }, 'fd-slope': { type: 'string', default: '1' }, judge: { type: 'string' } },
  { quick: { minutes: '2', 'sample-s': '5' }, full: { minutes: '30', 'sample-s': '10' } },
);
const MINUTES = L.posInt(opt, 'minutes');
const SAMPLE_S = L.posInt(opt, 'sample-s');
const CHURN_S = L.posInt(opt, 'churn-s');
const KEEP = L.posInt(opt, 'keep');
const RSS_SLOPE_MB = Number(opt['rss-slope-mb']);
const FD_SLOPE = Number(opt['fd-slope']);
if (!(RSS_SLOPE_MB > 0) || !(FD_SLOPE > 0)) L.die('--rss-slope-mb and --fd-slope: expected positive numbers');
const LABEL = 'contguard-soak';
const { DEFAULT_CONFIG } = await import(new URL('../dist/src/config.js', import.meta.url).href);
/** The longest a default agent keeps a removed container's state (ms): the warm-up covers it. */
const LONGEST_RETENTION_MS = Math.max(
  DEFAULT_CONFIG.sensors.syscalls.retire_after_ms,
  DEFAULT_CONFIG.sensors.io_uring.retire_after_ms,
  DEFAULT_CONFIG.resources.retire_after_ms,
  DEFAULT_CONFIG.registry.forget_after_ms,
);

/** The verdict on RSS and fd samples: least-squares slopes after the warm-up. */
function judge(samples, minutes, started) {
  const warm = Math.max(60, 0.2 * minutes * 60, LONGEST_RETENTION_MS / 1000 + 60);
  const steady = samples.filter((s) => s.t_s >= warm);
  const per10 = (k) => {
    const sl = L.slope(steady.map((s) => s.t_s), steady.map((s) => s[k]));
    return sl === null ? null : sl * 600;
  };
  const rssSlope = per10('rss_mb');
  const fdSlope = per10('fds');
  const flat = L.ok(rssSlope) && L.ok(fdSlope) && rssSlope <= RSS_SLOPE_MB && fdSlope <= FD_SLOPE;
  const short = minutes < 10 || steady.length < 2;
  const range = (k) => (steady.length ? [Math.min(...steady.map((s) => s[k])), Math.max(...steady.map((s) => s[k]))] : [null, null]);
  const othersMax = Math.max(0, ...samples.map((x) => x.other_containers));
  const verdict = `after ${L.fmt(warm / 60, 1)} min of warm-up: RSS ${L.fmt(range('rss_mb')[0], 1)}-${L.fmt(range('rss_mb')[1], 1)} MB, slope ${L.signed(rssSlope, 2)} MB per 10 min (tolerance ${RSS_SLOPE_MB}); open fds ${range('fds')[0]}-${range('fds')[1]}, slope ${L.signed(fdSlope, 2)} per 10 min (tolerance ${FD_SLOPE}); ${started} containers churned, ${samples.at(-1)?.lost ?? 0} events lost: ${flat ? 'FLAT' : L.ok(rssSlope) ? 'NOT FLAT' : 'TOO SHORT (fewer than 2 samples after the warm-up)'}${short && L.ok(rssSlope) ? ` (a ${minutes}-minute run cannot tell a slow leak from GC noise)` : ''}${othersMax ? `; up to ${othersMax} containers of others ran: their events load the agent too` : ''}`;
  return { warm, rssSlope, fdSlope, flat, range, verdict };
}
const PORT = 8080;

async function main() {
  if (opt.judge) {
    const d = JSON.parse(readFileSync(opt.judge, 'utf8'));
    const j = judge(d.samples, d.parameters.minutes, d.summary.containers_started);
    L.log(j.verdict);
    return j.flat ? 0 : 1;
  }
  const t0 = Date.now();
  await L.preflight(LABEL, { needGcc: false });
  const fingerprint = L.codeFingerprint();
  const loadAtStart = L.loadCheck();
  const rx = await L.startOtlpCounter();
  const server = await L.startContainer(LABEL, ['--name', `${LABEL}-${process.pid}-httpd`, L.IMAGE, 'sh', '-c', `mkdir -p /www && echo soak > /www/index.html && exec httpd -f -p ${PORT} -h /www`]);
  const ip = await L.containerIp(server);
  const agent = await L.startAgent({ name: 'soak', otlpEndpoint: rx.endpoint });
  L.log(`ContGuard soak: ${MINUTES} min, a container every ${CHURN_S} s (at most ${KEEP} running), samples every ${SAMPLE_S} s; agent pid ${agent.pid}`);
  const workload = `i=0; while [ $i -lt 20 ]; do /bin/cat /etc/hostname > /dev/null; /bin/ls / > /dev/null; wget -q -O /dev/null http://${ip}:${PORT}/index.html; i=$((i+1)); done; exec sleep 3600`;
  const running = [];
  let started = 0;
  let churnErrors = 0;
  const endAt = t0 + MINUTES * 60_000;
  const churn = (async () => {
    while (Date.now() < endAt) {
      try {
        running.push(await L.startContainer(LABEL, ['--name', `${LABEL}-${process.pid}-${started}`, L.IMAGE, 'sh', '-c', workload]));
        started++;
        if (running.length > KEEP) await L.removeContainers([running.shift()]);
      } catch (e) {
        churnErrors++;
        if (churnErrors <= 3) L.log(`  churn: ${e.message.split('\n')[0]}`);
      }
      await L.sleep(CHURN_S * 1000);
    }
  })();
  const samples = [];
  while (Date.now() < endAt) {
    if (!agent.alive()) throw new Error(`the agent exited during the soak:\n${agent.log()}`);
    const ev = await agent.events();
    const allIds = (await L.run('docker', ['ps', '-q', '--no-trunc']).catch(() => '')).split('\n').filter(Boolean);
    const ours = new Set([server, ...running]);
    const foreign = allIds.filter((id) => !ours.has(id)).length;
    const mem = L.memory(agent.pid);
    const s = { t_s: (Date.now() - t0) / 1000, rss_mb: mem.rss_kb / 1024, hwm_mb: mem.hwm_kb / 1024, fds: L.fdCount(agent.pid), threads: readdirSync(`/proc/${agent.pid}/task`).length, received: ev.received, lost: ev.lost, containers_started: started, other_containers: foreign };
    samples.push(s);
    L.log(`  ${L.fmt(s.t_s / 60, 1)} min: RSS ${L.fmt(s.rss_mb, 1)} MB, fds ${s.fds}, threads ${s.threads}, events ${s.received} received / ${s.lost} lost, ${started} containers started${foreign ? `, ${foreign} other containers running` : ''}`);
    await L.sleep(Math.min(SAMPLE_S * 1000, Math.max(0, endAt - Date.now())));
  }
  await churn;
  const { warm, rssSlope, fdSlope, flat, range, verdict } = judge(samples, MINUTES, started);
  L.log();
  L.log(verdict);
  await agent.stop();
  await L.removeContainers([...running, server]);
  await rx.close();
  L.writeResults('soak', {
    description: 'agent RSS, open fds and threads sampled while containers churn (execs, opens, HTTP requests); least-squares slope after the warm-up',
    parameters: { minutes: MINUTES, sample_s: SAMPLE_S, churn_s: CHURN_S, keep: KEEP, rss_slope_mb_per_10min: RSS_SLOPE_MB, fd_slope_per_10min: FD_SLOPE, warmup_s: warm, host_cpus: os.cpus().length },
    summary: { rss_slope_mb_per_10min: rssSlope, fd_slope_per_10min: fdSlope, rss_range_mb: range('rss_mb'), fd_range: range('fds'), flat, containers_started: started, churn_errors: churnErrors, otlp_exports: { metrics: rx.received.metrics.length, logs: rx.received.logs.length, traces: rx.received.traces.length } },
    samples, verdict,
  }, { quick: opt.quick, out: opt.out, fingerprint, loadAtStart, t0 });
  return flat ? 0 : 1;
}

L.runMain(main, MINUTES * 60 + 600);
