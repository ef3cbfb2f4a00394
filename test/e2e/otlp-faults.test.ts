// SPDX-License-Identifier: Apache-2.0
/**
 * OTLP collector faults (real kernel, real Docker): nothing listening at the endpoint, a gRPC
 * server that refuses every export (status UNAVAILABLE), and a TCP server that accepts and never
 * answers. In each case the sensors go on (every exec of a container is in the JSON lines), the
 * failures are counted (contguard.otlp.exports{outcome="failure"}, and the SDK's dropped log
 * records in otel.sdk.processor.log.processed{error.type}), every failed export reached the
 * refusing server, the live heap stays bounded, the agent warns once and exits 0 on SIGTERM (a collector
 * that never answers used to hold the exit past the 15 s grace: shutdown is bounded now).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { freePort, readJsonLines, startAgent } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { LOGS_EXPORT_PATH, METRICS_EXPORT_PATH, TRACES_EXPORT_PATH } from '../support/otlp-receiver.js';
import { metricSum, metricValue, scrape, waitFor } from '../support/metrics.js';
import { liveHeap, rssBytes } from '../support/agent-memory.js';

const EXECS = 2000;
/**
 * Live heap growth allowed while EXECS more records cannot be exported, measured after a warm-up
 * (contguard.agent.memory heap_used, its least over a few seconds). What the agent holds for OTLP
 * is bounded by the log processor's queue (16384 records, src/telemetry/otel.ts; a failed batch is
 * dropped) and by the batches of exports waiting for their deadline. Measured here for the 2001
 * records after a 501-record warm-up: +7 to +25 MiB when the collector is down or refusing, up to
 * +35 MiB when it never answers (the queue then grows by ~1500 records per 2000 until its cap,
 * exports waiting for their deadline). 64 MiB is above those; it is not the worst case of a full
 * queue, which this test does not reach. RSS is reported only (V8 and the allocator keep memory
 * they grew into).
 */
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;

type Fault = 'down' | 'refusing' | 'hanging';

interface FaultyCollector {
  endpoint: string;
  /** Export calls (attempts) the server got, for 'refusing'. */
  attempts(): number;
  close(): Promise<void>;
}

async function faultyCollector(fault: Fault): Promise<FaultyCollector> {
  if (fault === 'down') {
    const port = await freePort(); // free: nothing listens there
    return { endpoint: `http://127.0.0.1:${port}`, attempts: () => 0, close: async () => undefined };
  }
  if (fault === 'hanging') {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s); // accepted, read, never answered
      s.on('data', () => undefined);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      attempts: () => 0,
      close: () => new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
    };
  }
  // A real gRPC server that refuses every export of every signal.
  let attempts = 0;
  const raw = (path: string) => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  });
  const refuse = (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => {
    attempts++;
    cb({ code: grpc.status.UNAVAILABLE, details: 'refusing exports' });
  };
  const server = new grpc.Server();
  server.addService({ logs: raw(LOGS_EXPORT_PATH), metrics: raw(METRICS_EXPORT_PATH), traces: raw(TRACES_EXPORT_PATH) } as grpc.ServiceDefinition, {
    logs: refuse,
    metrics: refuse,
    traces: refuse,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    attempts: () => attempts,
    close: () => new Promise((r) => server.tryShutdown(() => r())),
  };
}

/** Log records the SDK's processor gave up on (otel.sdk.processor.log.processed with an error.type). */
function droppedLogs(text: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith('otel_sdk_processor_log_processed_total{') && l.includes('error_type='))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-otlp-faults-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('OTLP collector faults (real kernel, real Docker)', () => {
  const ids: string[] = [];
  // A large exec ring: this test is about the collector, not about ring losses.
  const cfg = configFile('outputs:\n  console: { enabled: false }\n  otlp: { export_interval_ms: 1000 }\nsensors:\n  exec: { ring_buffer_bytes: 16777216 }\n  file_open: { enabled: false }\n  network: { enabled: false }\n');

  beforeAll(async () => {
    await ensureTestImage();
  });

  afterAll(async () => {
    await dockerRm(ids);
  });

  it.each<Fault>(['down', 'refusing', 'hanging'])('collector %s: sensors go on, failures and drops are counted, memory bounded, exit 0', async (fault) => {
    const collector = await faultyCollector(fault);
    const port = await freePort();
    const agent = await startAgent({ args: ['--config', cfg, '--prometheus', `127.0.0.1:${port}`, '--otlp-endpoint', collector.endpoint] });
    try {
      // Warm-up (the first records, exports and failures) before the baseline.
      const warm = uniqueName(`cg-otlp-warm-${fault}`);
      ids.push(await dockerRun(['--name', warm, '--network', 'none', TEST_IMAGE, 'sh', '-c', 'i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done']));
      expect(await waitForExit(warm, 60_000)).toBe(0);
      await new Promise((r) => setTimeout(r, 2000));
      const rssBefore = rssBytes(agent.pid);
      const heapBefore = await liveHeap(port, 3000);
      const name = uniqueName(`cg-otlp-${fault}`);
      ids.push(await dockerRun(['--name', name, '--network', 'none', TEST_IMAGE, 'sh', '-c', `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`]));
      expect(await waitForExit(name, 120_000)).toBe(0);

      // Sensors unaffected: the entrypoint and every exec of the loop are JSON lines.
      const mine = await waitFor(
        'every exec of the container in the JSON lines',
        async () => {
          const n = readJsonLines(agent.logDir).filter((r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === name).length;
          return n === EXECS + 1 ? n : null;
        },
        30_000,
      ).catch(async (err) => {
        const t = await scrape(port);
        const n = readJsonLines(agent.logDir).filter((r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === name).length;
        throw new Error(
          `${(err as Error).message}: ${n} of ${EXECS + 1}; exec lost ${metricValue(t, 'contguard_events_lost_total', { sensor: 'exec' })}, jsonl dropped ${metricValue(t, 'contguard_output_dropped_total', { output: 'jsonl' })}`,
        );
      });
      expect(mine).toBe(EXECS + 1);

      // Failures counted: log exports failed and none succeeded; the SDK counts the records it dropped.
      const text = await waitFor(
        'failed log exports and dropped log records to be counted',
        async () => {
          const t = await scrape(port);
          const failed = metricValue(t, 'contguard_otlp_exports_total', { signal: 'logs', outcome: 'failure' });
          return failed > 0 && droppedLogs(t) > 0 ? t : null;
        },
        60_000,
      );
      expect(metricSum(text, 'contguard_otlp_exports_total', { outcome: 'success' })).toBe(0);
      const queue = metricValue(text, 'otel_sdk_processor_log_queue_size');
      expect(queue).toBeLessThanOrEqual(metricValue(text, 'otel_sdk_processor_log_queue_capacity'));
      // Every failed export reached the refusing server (plus the exporter's own retries, when
      // its backoff fits in the export's deadline: the SDK does not count those separately).
      if (fault === 'refusing') {
        const failedCalls = metricSum(text, 'contguard_otlp_exports_total', { outcome: 'failure' });
        expect(collector.attempts()).toBeGreaterThanOrEqual(failedCalls);
      }

      const rss = rssBytes(agent.pid);
      const heap = await liveHeap(port, 3000);
      console.log(
        `otlp ${fault}: live heap ${(heapBefore / 2 ** 20).toFixed(1)} -> ${(heap / 2 ** 20).toFixed(1)} MiB, RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rss / 2 ** 20).toFixed(1)} MiB after ${EXECS + 1} records; ` +
          `failed exports ${metricSum(text, 'contguard_otlp_exports_total', { outcome: 'failure' })}; dropped log records ${droppedLogs(text)}; server attempts ${collector.attempts()}`,
      );
      expect(heap - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);

      expect(await agent.stop('SIGTERM')).toBe(0);
      // One warning line for the unreachable collector (throttled), not one per failed export.
      const warnings = agent.stderr().split('\n').filter((l) => l.includes('otlp export to'));
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(2);
    } finally {
      await agent.cleanup();
      await collector.close();
    }
  }, 180_000);
});
