#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * User-space pipeline benchmark: the agent's CPU per exec record from the moment the ring hands
 * it over until every output has written it, without the kernel (no eBPF, no container), so it
 * can be measured on a busy machine: CPU time (process.cpuUsage, all threads), not wall time.
 *
 * The exec sensor's real handler (src/sensors/exec) decodes synthetic records laid out as the
 * kernel writes them (EXEC_EVENT_SIZE bytes, argv of 3 strings), attributes them to a known
 * container, and emits them to the real outputs: console (to /dev/null), JSON lines (a temp
 * dir) and the exec counter on a real meter (with a Prometheus reader that does not listen). Records go in
 * batches of --batch per "drain", as the ring poller delivers them.
 *
 * Configurations, each --rounds times, interleaved: all outputs, console only, jsonl only, no
 * output (decode + attribution + metric). Prints µs of CPU per record (median of rounds).
 * Usage (after `npm run build`): node bench/pipeline.mjs [--records 20000] [--rounds 5] [--batch 64]
 */
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';

const dist = new URL('../dist/', import.meta.url);
const { execSensor } = await import(new URL('src/sensors/exec/index.js', dist).href);
const { EXEC_EVENT_SIZE, ExecEventLayout } = await import(new URL('src/sensors/exec/layout.gen.js', dist).href);
const { ConsoleSink } = await import(new URL('src/telemetry/console-sink.js', dist).href);
const { JsonLinesSink } = await import(new URL('src/telemetry/jsonl-sink.js', dist).href);
const { DEFAULT_CONFIG } = await import(new URL('src/config.js', dist).href);

const { values: opt } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '64' },
  },
});
const N = Number(opt.records);
const ROUNDS = Number(opt.rounds);
const BATCH = Number(opt.batch);

/** One exec record as bpf/exec.bpf.c writes it. */
function execRecord(i) {
  const b = new Uint8Array(EXEC_EVENT_SIZE);
  const v = new DataView(b.buffer);
  const L = ExecEventLayout;
  const str = (field, s) => b.set(new TextEncoder().encode(s), L[field].offset);
  v.setBigUint64(L.timestamp_ns.offset, 1_000_000_000n + BigInt(i), true);
  v.setBigUint64(L.start_time_ns.offset, 999_000_000n + BigInt(i), true);
  v.setUint32(L.pid.offset, 10_000 + i, true);
  v.setUint32(L.vpid.offset, 100 + i, true);
  v.setUint32(L.ppid.offset, 9_999, true);
  v.setUint32(L.mntns.offset, 4026532000, true);
  v.setUint32(L.slot.offset, 3, true);
  v.setBigUint64(L.cgroup.offset, 4242n, true); // cgroup id: the first field of the ref
  str('caller_comm', 'exec-loop');
  str('comm', 'true');
  str('filename', '/bin/true');
  str('exe_path', '/bin/busybox');
  const args = new TextEncoder().encode('/bin/true\0--flag\0value\0');
  b.set(args, L.args.offset);
  v.setUint32(L.args_size.offset, args.length, true);
  return b;
}

const container = {
  id: 'decb251528dc3b6e907c1f3d2e1156aed3b4819dca00c6cf9d24aa05061d3940',
  attributes: {
    'container.id': 'decb251528dc3b6e907c1f3d2e1156aed3b4819dca00c6cf9d24aa05061d3940',
    'container.runtime.name': 'docker',
    'container.name': 'bench_exec',
    'container.image.name': 'contguard-test/busybox',
    'container.image.tags': ['latest'],
    'container.image.id': 'sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7',
  },
};

async function run(outputs) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'contguard-pipeline-'));
  const sinks = [];
  if (outputs.includes('console')) sinks.push(new ConsoleSink(createWriteStream('/dev/null')));
  if (outputs.includes('jsonl')) sinks.push(new JsonLinesSink(dir, 64 * 1024 * 1024, 2, (e) => console.error(e.message)));
  // A reader, as in the agent (the SDK records nothing for a provider without one); not listening.
  const provider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });
  const ctx = {
    config: DEFAULT_CONFIG,
    meter: provider.getMeter('contguard'),
    logger: { error: console.error, warn: console.error, info() {}, debug() {}, warnOnce() {} },
    containers: { attributeKnown: () => container },
    emit(r) {
      for (const s of sinks) s.write(r);
    },
    toUnixNano: (ns) => ns + 1_764_000_000_000_000_000n,
    track: (p) => p,
    traces: null,
  };
  const { rings } = execSensor.start(null, ctx);
  const handle = rings[0].handle;
  const records = Array.from({ length: 256 }, (_, i) => execRecord(i));
  for (let i = 0; i < 2000; i++) handle(records[i & 255]); // warm-up (JIT)
  for (const s of sinks) await s.flush();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i += BATCH) {
    for (let j = i; j < Math.min(N, i + BATCH); j++) handle(records[j & 255]);
    for (const s of sinks) s.endBatch();
    if ((i / BATCH) % 16 === 15) await new Promise((r) => setImmediate(r)); // let writes complete
  }
  for (const s of sinks) await s.flush();
  const c = process.cpuUsage(c0);
  for (const s of sinks) await s.shutdown();
  await provider.shutdown();
  rmSync(dir, { recursive: true, force: true });
  return { user: c.user / N, system: c.system / N, total: (c.user + c.system) / N };
}

const configs = [['all', ['console', 'jsonl']], ['console', ['console']], ['jsonl', ['jsonl']], ['none', []]];
const results = Object.fromEntries(configs.map(([name]) => [name, []]));
for (let r = 0; r < ROUNDS; r++) for (const [name, outs] of configs) results[name].push(await run(outs));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}; ${N} exec records per run, batches of ${BATCH}, ${ROUNDS} rounds; µs of CPU per record (median; all rounds)`);
for (const [name] of configs) {
  const t = results[name].map((x) => x.total);
  console.log(`${name.padEnd(8)} ${median(t).toFixed(2).padStart(7)} µs  (user ${median(results[name].map((x) => x.user)).toFixed(2)}, sys ${median(results[name].map((x) => x.system)).toFixed(2)}; rounds ${t.map((x) => x.toFixed(1)).join(' ')})`);
}
