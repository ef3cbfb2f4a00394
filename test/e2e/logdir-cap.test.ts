// SPDX-License-Identifier: Apache-2.0
/**
 * The JSON-lines directory under an event storm (real kernel, real Docker): with
 * max_file_bytes 65536 and max_total_bytes 262144 (max_files 50: the total cap is what binds, so
 * 3 rotated files are kept), a container opening a bind-mounted file OPENS times (every open a
 * record: fold_interval_ms 0) writes megabytes of records, yet the directory never holds more than
 * the cap (plus less than one record per file, the rotation point), files rotate in order, and
 * the agent keeps going.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { metricValue, scrape } from '../support/metrics.js';

const OPENS = 20_000;
const FILE_BYTES = 65_536;
const TOTAL_BYTES = 262_144;
const KEPT = TOTAL_BYTES / FILE_BYTES - 1; // rotated files beside the live one

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-logcap-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** The files in the directory and their sizes (a file rotated away meanwhile is skipped). */
function dirFiles(dir: string): Array<{ name: string; size: number }> {
  const out: Array<{ name: string; size: number }> = [];
  for (const name of readdirSync(dir)) {
    try {
      out.push({ name, size: statSync(join(dir, name)).size });
    } catch {
      // rotated away between readdir and stat
    }
  }
  return out;
}

describe('log directory cap under an event storm (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let port = 0;
  const ids: string[] = [];
  const data = mkdtempSync(join(tmpdir(), 'cg-logcap-data-'));

  beforeAll(async () => {
    await ensureTestImage();
    writeFileSync(join(data, 'f'), 'x\n');
    port = await freePort();
    const cfg = configFile(
      [
        'outputs:',
        '  console: { enabled: false }',
        `  jsonl: { max_file_bytes: ${FILE_BYTES}, max_files: 50, max_total_bytes: ${TOTAL_BYTES} }`,
        'sensors:',
        '  file_open: { fold_interval_ms: 0 }',
        '',
      ].join('\n'),
    );
    agent = await startAgent({ args: ['--config', cfg, '--prometheus', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it(`holds at most max_total_bytes through ${OPENS} records, rotating`, async () => {
    // The directory sampled every 20 ms for the whole storm: its largest total, every file name seen.
    let largest = 0;
    const seen = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const files = dirFiles(agent.logDir);
        for (const f of files) seen.add(f.name);
        largest = Math.max(largest, files.reduce((n, f) => n + f.size, 0));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const name = uniqueName('cg-storm');
      ids.push(await dockerRun(['--name', name, '--network', 'none', '-v', `${data}:/data:ro`, TEST_IMAGE, 'sh', '-c', `i=0; while [ $i -lt ${OPENS} ]; do : < /data/f; i=$((i+1)); done`]));
      expect(await waitForExit(name, 120_000)).toBe(0);
      // Settled: a record of a container started after the storm is on disk (the sink writes in
      // order: everything before it was written, or dropped and counted).
      const later = uniqueName('cg-after-storm');
      ids.push(await dockerRun(['--name', later, '--network', 'none', TEST_IMAGE, '/bin/echo', 'after-storm']));
      await waitForJsonLine(agent.logDir, (r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === later, 30_000);
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      sampling = false;
      await sampler;
    }

    const files = dirFiles(agent.logDir);
    // A file passes max_file_bytes by less than its last record (the rotation point).
    let longest = 0;
    for (const f of files) for (const line of readFileSync(join(agent.logDir, f.name), 'utf8').split('\n')) longest = Math.max(longest, Buffer.byteLength(line) + 1);
    const bound = TOTAL_BYTES + (KEPT + 1) * longest;
    const total = files.reduce((n, f) => n + f.size, 0);
    const text = await scrape(port);
    const written = metricValue(text, 'contguard_events_received_total', { sensor: 'file_open' });
    console.log(`logdir: files seen ${[...seen].sort().join(' ')}; ${written} file_open records received; directory ${total} bytes now, ${largest} at most during the storm (cap ${TOTAL_BYTES}, bound with one record per file ${bound})`);
    expect(written * longest).toBeGreaterThan(TOTAL_BYTES * 4); // far more than the directory holds
    // Rotated through every kept file, never one more.
    expect([...seen].sort()).toEqual(['contguard.jsonl', ...Array.from({ length: KEPT }, (_, i) => `contguard.${i + 1}.jsonl`)].sort());
    expect(total).toBeLessThanOrEqual(bound);
    expect(largest).toBeLessThanOrEqual(bound);
    for (const f of files) expect(f.size, f.name).toBeLessThan(FILE_BYTES + longest);
    // What the disk could not take in time (a rotation every few hundred records) is dropped and
    // counted, never held without bound (contguard.output.dropped; its cap is 8 MiB of lines).
    const dropped = metricValue(text, 'contguard_output_dropped_total', { output: 'jsonl' });
    expect(Number.isNaN(dropped)).toBe(false);
    console.log(`logdir: records the jsonl sink dropped under the storm: ${dropped}`);
    expect(agent.exited()).toBe(false);
    expect(agent.stderr()).not.toMatch(/contguard error:/);
  }, 180_000);
});
