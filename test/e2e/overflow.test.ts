// SPDX-License-Identifier: Apache-2.0
/**
 * Ring buffer overflow forced (real kernel, real Docker): the file_open sensor's ring at its
 * smallest (sensors.file_open.ring_buffer_bytes: 4096, fold_interval_ms: 0 so every open is an
 * event) and a container whose shell opens a bind-mounted file OPENS times in a tight loop (a
 * shell redirection: no exec, nothing but the opens). Every open is either received as a record
 * or counted lost (contguard.events.lost), the losses are reported as WARN records
 * (contguard.agent.events_lost, at most one per sensor per 10 s, plus one at shutdown) whose counts
 * add up to the counter, and the agent keeps going.
 *
 * Other containers on this host (other tests, benches) may open shared files meanwhile: the
 * balance assumes none of their file_open events is lost during the burst (they are rare next
 * to it; a bind-mounted file of this test's own is the only thing it counts as received).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, readJsonLines, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { metricValue, scrape, waitFor } from '../support/metrics.js';

const OPENS = 5000;
const LOSS_INTERVAL_MS = 10_000;

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-overflow-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

const lossRecords = (dir: string, sensor: string) =>
  readJsonLines(dir).filter((r) => r.event === 'contguard.agent.events_lost' && r.attributes['contguard.sensor'] === sensor);

describe('ring buffer overflow (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let port = 0;
  const ids: string[] = [];
  let startedAt = 0;
  const data = mkdtempSync(join(tmpdir(), 'cg-overflow-data-'));

  beforeAll(async () => {
    await ensureTestImage();
    writeFileSync(join(data, 'f'), 'x\n');
    port = await freePort();
    const cfg = configFile(
      'outputs:\n  console: { enabled: false }\nsensors:\n  file_open: { ring_buffer_bytes: 4096, fold_interval_ms: 0 }\n  network: { enabled: false }\n  io_uring: { enabled: false }\n',
    );
    startedAt = Date.now();
    agent = await startAgent({ args: ['--config', cfg, '--prometheus', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it(`counts every open of a ${OPENS}-open burst as received or lost, reports the losses as WARN records, keeps going`, async () => {
    const name = uniqueName('cg-burst');
    const lost = async () => metricValue(await scrape(port), 'contguard_events_lost_total', { sensor: 'file_open' });
    const mine = () =>
      readJsonLines(agent.logDir)
        .filter((r) => r.event === 'contguard.file.open' && r.attributes['container.name'] === name && r.attributes['file.path'] === '/data/f')
        .reduce((n, r) => n + r.attributes['contguard.file.open.count'], 0);
    const lostBefore = await lost();

    ids.push(await dockerRun(['--name', name, '--network', 'none', '-v', `${data}:/data:ro`, TEST_IMAGE, 'sh', '-c', `i=0; while [ $i -lt ${OPENS} ]; do : < /data/f; i=$((i+1)); done`]));
    expect(await waitForExit(name, 120_000)).toBe(0);
    // Settled: what is in the ring has been read and written (two looks a second apart agree).
    let last = { received: mine(), lost: await lost() };
    await waitFor('the counts to settle', async () => {
      await new Promise((r) => setTimeout(r, 1000));
      const now = { received: mine(), lost: await lost() };
      const same = now.received === last.received && now.lost === last.lost;
      last = now;
      return same;
    }, 30_000);
    const lostNow = last.lost - lostBefore;
    console.log(`overflow: ${OPENS} opens generated, ${last.received} received, ${lostNow} lost`);
    expect(lostNow).toBeGreaterThan(0);
    expect(last.received).toBeGreaterThan(0);
    // generated = received + lost.
    expect(last.received + lostNow).toBe(OPENS);

    // The losses as WARN records: within one interval, adding up to the counter.
    await waitFor('a WARN record with every loss so far', async () => lossRecords(agent.logDir, 'file_open').at(-1)?.attributes['contguard.events.lost_total'] === last.lost, LOSS_INTERVAL_MS + 5000);
    const reports = lossRecords(agent.logDir, 'file_open');
    expect(reports.every((r) => r.severity === 'WARN')).toBe(true);
    expect(reports.reduce((n, r) => n + r.attributes['contguard.events.lost'], 0)).toBe(last.lost);
    // At most one per interval since the agent started.
    expect(reports.length).toBeLessThanOrEqual(Math.ceil((Date.now() - startedAt) / LOSS_INTERVAL_MS) + 1);

    // And it keeps going: a later container's exec is a record with its name.
    const later = uniqueName('cg-after-burst');
    ids.push(await dockerRun(['--name', later, '--network', 'none', TEST_IMAGE, '/bin/echo', 'still-here']));
    await waitForJsonLine(agent.logDir, (r) => r.event === 'contguard.process.exec' && r.attributes['container.name'] === later && r.attributes['process.command_args'][1] === 'still-here', 15_000);
    expect(agent.exited()).toBe(false);

    // At shutdown the last interval's losses are reported too: the records add up to the final count.
    const finalLost = await lost();
    expect(await agent.stop()).toBe(0);
    const all = lossRecords(agent.logDir, 'file_open');
    const total = all.reduce((n, r) => n + r.attributes['contguard.events.lost'], 0);
    expect(total).toBeGreaterThanOrEqual(finalLost);
    expect(total).toBe(all.at(-1)?.attributes['contguard.events.lost_total']);
  }, 180_000);
});
