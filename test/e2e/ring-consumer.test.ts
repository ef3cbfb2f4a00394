// SPDX-License-Identifier: Apache-2.0
/**
 * Both ring consumers (ffi/ringbuf.ts) on a real ring: `mmap` (the default on x86_64, records
 * read in JavaScript from the mapped ring) and `libbpf` (ring_buffer__consume, the fallback),
 * each with an exec ring of 16 KiB, so its positions wrap many times and records straddle the
 * end of the data area (an exec record is 5,488 bytes with its header; 16,384 is no multiple).
 * Every record that arrives must decode intact (its argv is the one the container passed), and
 * what does not arrive must be counted as lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, readJsonLines, startAgent, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { metricSum, scrape, waitFor } from '../support/metrics.js';

const EXECS = 300;
const RING_BYTES = 16_384;
const EXEC_RECORD_BYTES = 5_480 + 8;

for (const consumer of ['mmap', 'libbpf'] as const) {
  describe(`ring consumer ${consumer} (real kernel, real Docker)`, () => {
    let agent: AgentHandle;
    let promPort: number;
    const name = uniqueName(`cg-ring-${consumer}`);
    let lostBefore = 0;

    beforeAll(async () => {
      await ensureTestImage();
      promPort = await freePort();
      const cfg = join(mkdtempSync(join(tmpdir(), 'cg-ring-')), 'contguard.yaml');
      writeFileSync(cfg, `ring_consumer: ${consumer}\noutputs:\n  console:\n    enabled: false\nsensors:\n  exec:\n    ring_buffer_bytes: ${RING_BYTES}\n`);
      agent = await startAgent({ args: ['--config', cfg, '--prometheus', `127.0.0.1:${promPort}`] });
      lostBefore = metricSum(await scrape(promPort), 'contguard_events_lost_total', { sensor: 'exec' });
      const loop = `i=0; while [ $i -lt ${EXECS} ]; do /bin/true ring-$i; i=$((i+1)); done`;
      await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', loop]);
      await waitForExit(name, 120_000);
    }, 240_000);

    afterAll(async () => {
      await agent?.cleanup();
      await dockerRm([name]);
    });

    it(`says which consumer reads the rings`, () => {
      expect(agent.stderr()).toMatch(new RegExp(`ring buffers: ${consumer} consumer \\(\\d+ rings\\)`));
    });

    it('delivers intact records across many wraps of a small ring, and counts the rest as lost', async () => {
      const mine = () =>
        readJsonLines(agent.logDir).filter((r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === name && r.attributes['process.executable.name'] === 'true');
      // Everything the kernel committed is drained within a few intervals.
      let records = mine();
      let lost = 0;
      await waitFor(`${EXECS} execs received or counted lost`, async () => {
        records = mine();
        lost = metricSum(await scrape(promPort), 'contguard_events_lost_total', { sensor: 'exec' }) - lostBefore;
        return records.length + lost >= EXECS;
      }, 30_000);
      // Intact: each record's argv is what the shell passed, each index once.
      const seen = new Set<number>();
      for (const r of records) {
        const argv = r.attributes['process.command_args'] as string[];
        expect(argv).toHaveLength(2);
        expect(argv[0]).toBe('/bin/true');
        const m = /^ring-(\d+)$/.exec(argv[1]!);
        expect(m, `argv ${JSON.stringify(argv)}`).not.toBeNull();
        const i = Number(m![1]);
        expect(i).toBeLessThan(EXECS);
        expect(seen.has(i)).toBe(false);
        seen.add(i);
      }
      // More records than the ring holds went through it: its positions wrapped.
      expect(records.length * EXEC_RECORD_BYTES).toBeGreaterThan(2 * RING_BYTES);
      // None vanished: what did not arrive was counted (the lost counter also holds other containers' losses).
      expect(records.length + lost).toBeGreaterThanOrEqual(EXECS);
      expect(records.length).toBeLessThanOrEqual(EXECS);
    }, 60_000);
  });
}
