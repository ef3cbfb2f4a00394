// SPDX-License-Identifier: Apache-2.0
/**
 * Agent restarts (real kernel, real Docker). SIGTERM: every program the agent loaded is gone
 * after it exits (its own programs, found by the prog ids its fds name, never other agents').
 * SIGKILL: nothing of it stays loaded either, and an agent started again on the same log
 * directory starts cleanly and counts nothing twice: an exec seen before the kill is not
 * reported again, and a running container's syscall counts start from the new agent's start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readJsonLines, startAgent, waitForJsonLine } from '../support/agent-process.js';
import { dockerExec, dockerRm, dockerRun, ensureTestImage, uniqueName, TEST_IMAGE } from '../support/docker.js';
import { programIdsOf, programsLoaded } from '../support/bpf.js';
import { waitFor } from '../support/metrics.js';

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-restart-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

const CONFIG = 'outputs:\n  console: { enabled: false }\n  prometheus: { enabled: false }\nsensors:\n  syscalls: { snapshot_interval_ms: 500 }\n';

describe('agent restarts (real kernel, real Docker)', () => {
  const name = uniqueName('cg-restart');
  let id = '';
  const cfg = configFile(CONFIG);

  beforeAll(async () => {
    await ensureTestImage();
    id = await dockerRun(['--name', name, '--network', 'none', TEST_IMAGE, 'sleep', '600']);
  });

  afterAll(async () => {
    await dockerRm(id);
  });

  const isMark = (mark: string) => (r: any) =>
    r.event === 'contguard.process.exec' && r.attributes['container.name'] === name && r.attributes['process.command_args']?.[1] === mark;

  it('SIGTERM: exits 0 and no program it loaded stays loaded', async () => {
    const agent = await startAgent({ args: ['--config', cfg] });
    try {
      const progs = programIdsOf(agent.pid);
      // The registry's and every sensor's programs (each sensor has at least one).
      expect(progs.length).toBeGreaterThanOrEqual(10);
      expect(programsLoaded(progs).map((p) => p.id)).toEqual(progs);
      expect(await agent.stop('SIGTERM')).toBe(0);
      expect(programsLoaded(progs).map((p) => `${p.id} ${p.name}`)).toEqual([]);
    } finally {
      await agent.cleanup();
    }
  });

  it('SIGKILL: nothing stays loaded; the restarted agent starts cleanly and counts nothing twice', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'cg-restart-logs-'));
    const first = await startAgent({ args: ['--config', cfg], logDir });
    const progs = programIdsOf(first.pid);
    expect(progs.length).toBeGreaterThanOrEqual(10);
    try {
      await dockerExec(id, ['/bin/echo', 'mark-1']);
      await dockerExec(id, ['sh', '-c', '/bin/sync; /bin/sync; /bin/sync; /bin/sync; /bin/sync']);
      await waitForJsonLine(logDir, isMark('mark-1'), 15_000);
      await waitForJsonLine(
        logDir,
        (r) => r.event === 'contguard.syscalls.snapshot' && r.attributes['container.name'] === name && r.attributes['contguard.syscalls.counts'].sync === 5,
        15_000,
      );
      expect(await first.stop('SIGKILL')).toBeNull();
    } finally {
      await first.stop('SIGKILL');
    }
    // The kernel detaches and frees what a killed process held (no pinning).
    await waitFor('the killed agent programs to be freed', async () => programsLoaded(progs).length === 0, 10_000);

    await dockerExec(id, ['/bin/echo', 'mark-2']); // while no agent runs: nobody sees it

    const startedAt = new Date().toISOString();
    const second = await startAgent({ args: ['--config', cfg], logDir });
    try {
      await dockerExec(id, ['/bin/echo', 'mark-3']);
      await dockerExec(id, ['sh', '-c', '/bin/sync; /bin/sync; /bin/sync; /bin/sync; /bin/sync; /bin/sync; /bin/sync']);
      await waitForJsonLine(logDir, isMark('mark-3'), 15_000);
      // The new agent's counts of the running container: the 7 syncs since it started, not 12.
      const snap = await waitForJsonLine(
        logDir,
        (r) => r.event === 'contguard.syscalls.snapshot' && r.time >= startedAt && r.attributes['container.name'] === name && (r.attributes['contguard.syscalls.counts'].sync ?? 0) >= 7,
        15_000,
      );
      expect(snap.attributes['contguard.syscalls.counts'].sync).toBe(7);
      expect(snap.attributes['contguard.syscalls.joined_running']).toBe(true);
      expect(await second.stop('SIGTERM')).toBe(0);
      // Each exec once in the whole log directory (both agents' records).
      const records = readJsonLines(logDir);
      expect(records.filter(isMark('mark-1'))).toHaveLength(1);
      expect(records.filter(isMark('mark-2'))).toHaveLength(0);
      expect(records.filter(isMark('mark-3'))).toHaveLength(1);
      // Started cleanly: no error, and no warning but libbpf's own notes.
      const complaints = second.stderr().split('\n').filter((l) => /^contguard (error|warn):/.test(l) && !/^contguard warn: libbpf:/.test(l));
      expect(complaints).toEqual([]);
    } finally {
      await second.cleanup();
      await first.cleanup();
    }
  });
});
