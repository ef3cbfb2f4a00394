// SPDX-License-Identifier: Apache-2.0
/**
 * Teardown order: SIGTERM with OTLP export on, containers running and a Prometheus scrape in
 * flight exits 0, three times in a row (it used to end in SIGSEGV, exit 139: the syscall counts
 * were unmapped before the meter provider's last collection read them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { freePort, startAgent, waitForJsonLine } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

interface Prog {
  id: number;
  name?: string;
}
/** The BPF programs loaded now, by id (bpftool). */
function loadedPrograms(): Map<number, string> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as Prog[];
  return new Map(progs.map((p) => [p.id, p.name ?? '']));
}

/** Ids of the BPF programs a process holds (its fds: programs and links name them in fdinfo). */
function programIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return ids;
}

/** Starts `n` scrapes and resolves once each request is on the wire (their answers may never come). */
function scrapesInFlight(port: number, n: number): Promise<void> {
  const started: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    started.push(
      new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => res.resume());
        req.on('error', () => undefined); // the server going away mid-answer is expected
        req.on('socket', (s) => s.on('connect', () => resolve()));
        setTimeout(resolve, 1000).unref();
      }),
    );
  }
  return Promise.all(started).then(() => undefined);
}

describe('shutdown (real kernel, real Docker)', () => {
  let otlp: OtlpReceiver;
  const ids: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    otlp = await startOtlpReceiver();
    // Busy containers: every collection reads their counts.
    for (let i = 0; i < 2; i++) {
      ids.push(await dockerRun(['--name', uniqueName('cg-busy'), TEST_IMAGE, 'sh', '-c', 'while true; do /bin/true; /bin/sleep 0.05; done']));
    }
  });

  afterAll(async () => {
    await otlp?.close();
    await dockerRm(ids);
  });

  it.each([1, 2, 3])('SIGTERM with OTLP on, containers running and scrapes in flight exits 0 (run %i)', async () => {
    const port = await freePort();
    const agent = await startAgent({ args: ['--prometheus', `127.0.0.1:${port}`, '--otlp-endpoint', otlp.endpoint] });
    try {
      // The running containers were seeded and are being counted.
      await waitForJsonLine(agent.logDir, (r) => r.event === 'contguard.process.exec' && ids.includes(r.attributes['container.id']), 15_000);
      // What this agent holds (its own, whatever other agents on this host load meanwhile).
      const held = programIdsOf(agent.pid);
      expect(held.size).toBeGreaterThan(10);
      await scrapesInFlight(port, 8);
      const code = await agent.stop('SIGTERM');
      expect(agent.stderr()).not.toMatch(/Segmentation|SIGSEGV|core dumped/);
      expect(code).toBe(0);
      // Nothing it loaded outlives it: a program is freed once its last fd and link are gone.
      const loaded = loadedPrograms();
      const left = [...held].filter((id) => loaded.has(id)).map((id) => `${id}:${loaded.get(id)}`);
      expect(left).toEqual([]);
    } finally {
      await agent.cleanup();
    }
  });
});
