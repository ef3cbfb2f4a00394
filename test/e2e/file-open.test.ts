// SPDX-License-Identifier: Apache-2.0
/**
 * file_open sensor end to end (real kernel, real Docker): host-shared files with their host
 * path and file system, writes, image files never reported, sensitive files (also failed
 * opens) as WARN, and 10,000 opens folded into records whose counts add up exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, readJsonLines, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { scrape, waitFor } from '../support/metrics.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';

const isOpen = (name: string, pred: (r: any) => boolean = () => true) => (r: any) =>
  r.event === 'contguard.file.open' && r.attributes['container.name'] === name && pred(r);

describe('file_open sensor (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  const ids: string[] = [];
  const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-shared-')));

  beforeAll(async () => {
    await ensureTestImage();
    writeFileSync(join(shared, 'data.txt'), 'shared data\n');
    const dir = mkdtempSync(join(tmpdir(), 'cg-fo-cfg-'));
    writeFileSync(join(dir, 'contguard.yaml'), 'sensors:\n  file_open:\n    fold_interval_ms: 1000\n');
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${await freePort()}`] });
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it('reports a read of a bind-mounted host file with the host file system, the container path and the host path; a write as a write', async () => {
    const name = uniqueName('cg-shared');
    ids.push(await dockerRun(['--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', '/bin/cat /mnt/data/data.txt; echo new > /mnt/data/written.txt']));
    await waitForExit(name);
    const read = await waitForJsonLine(agent.logDir, isOpen(name, (r) => r.attributes['file.path'] === '/mnt/data/data.txt'), 15_000);
    expect(read.severity).toBe('INFO');
    expect(read.attributes['system.filesystem.type']).toBe('ext4');
    expect(read.attributes['contguard.file.host_path']).toBe(join(shared, 'data.txt'));
    expect(read.attributes['contguard.file.access']).toEqual(['read']);
    expect(read.attributes['process.executable.name']).toBe('cat');
    expect(read.attributes['contguard.file.sensitive']).toBe(false);
    expect(read.body).toContain('fs=ext4');
    const write = await waitForJsonLine(agent.logDir, isOpen(name, (r) => r.attributes['file.path'] === '/mnt/data/written.txt'), 15_000);
    expect(write.attributes['contguard.file.access']).toEqual(['write', 'create', 'truncate']);
    expect(write.attributes['contguard.file.host_path']).toBe(join(shared, 'written.txt'));
  });

  it('never reports image files (overlay), only what is shared or sensitive', async () => {
    const name = uniqueName('cg-image');
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/cat /bin/busybox >/dev/null; /bin/cat /etc/passwd >/dev/null; /bin/cat /etc/group >/dev/null; /bin/cat /proc/self/status >/dev/null']));
    await waitForExit(name);
    // A marker container after it: once its record is in, the first one's would be too.
    const marker = uniqueName('cg-marker');
    ids.push(await dockerRun(['--name', marker, '-v', `${shared}:/mnt/data`, TEST_IMAGE, '/bin/cat', '/mnt/data/data.txt']));
    await waitForExit(marker);
    await waitForJsonLine(agent.logDir, isOpen(marker), 15_000);
    expect(readJsonLines(agent.logDir).filter(isOpen(name))).toEqual([]);
  });

  it('reports sensitive files as WARN with the rule, also when the open fails (error named)', async () => {
    const name = uniqueName('cg-sensitive');
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', '/bin/cat /proc/1/environ >/dev/null; /bin/cat /etc/shadow; true']));
    await waitForExit(name);
    const environ = await waitForJsonLine(agent.logDir, isOpen(name, (r) => r.attributes['contguard.file.rule'] === 'proc_environ'), 15_000);
    expect(environ.severity).toBe('WARN');
    expect(environ.attributes['file.path']).toBe('/proc/1/environ');
    expect(environ.attributes['system.filesystem.type']).toBe('proc');
    expect(environ.attributes['contguard.file.sensitive']).toBe(true);
    const shadow = await waitForJsonLine(agent.logDir, isOpen(name, (r) => r.attributes['contguard.file.rule'] === 'shadow'), 15_000);
    expect(shadow.severity).toBe('WARN');
    expect(shadow.attributes['error.type']).toBe('ENOENT');
    expect(shadow.attributes['file.path']).toBe('/etc/shadow');
    expect(shadow.body).toContain('ENOENT');
  });

  it('folds 10,000 opens of one shared file into records whose counts add up exactly', async () => {
    const name = uniqueName('cg-fold');
    const opens = 10_000;
    ids.push(
      await dockerRun([
        '--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE,
        'sh', '-c', `i=0; while [ $i -lt ${opens} ]; do read x < /mnt/data/data.txt; i=$((i+1)); done; /bin/sleep 3`,
      ]),
    );
    await waitForExit(name, 60_000);
    const loop = (r: any) => r.attributes['file.path'] === '/mnt/data/data.txt' && r.attributes['process.executable.name'] === 'sh';
    const deadline = Date.now() + 20_000;
    let total = 0;
    let records: any[] = [];
    while (Date.now() < deadline) {
      records = readJsonLines(agent.logDir).filter(isOpen(name, loop));
      total = records.reduce((n, r) => n + r.attributes['contguard.file.open.count'], 0);
      if (total >= opens) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(total).toBe(opens);
    expect(records.length).toBeGreaterThanOrEqual(2); // the first at once, the folded ones after
    expect(records.length).toBeLessThan(100);
    expect(records[0].attributes['contguard.file.open.count']).toBe(1);
  });
});

describe('file_open without folding (fold_interval_ms: 0)', () => {
  it('writes one record per open, each counting one', async () => {
    await ensureTestImage();
    const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-nofold-')));
    writeFileSync(join(shared, 'f.txt'), 'x\n');
    const dir = mkdtempSync(join(tmpdir(), 'cg-nofold-cfg-'));
    writeFileSync(join(dir, 'contguard.yaml'), 'sensors:\n  file_open:\n    fold_interval_ms: 0\n');
    const agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', 'off'] });
    const name = uniqueName('cg-nofold');
    let id = '';
    try {
      id = await dockerRun(['--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', 'i=0; while [ $i -lt 50 ]; do read x < /mnt/data/f.txt; i=$((i+1)); done']);
      await waitForExit(name);
      const mine = (r: any) => r.event === 'contguard.file.open' && r.attributes['container.name'] === name && r.attributes['file.path'] === '/mnt/data/f.txt';
      const end = Date.now() + 15_000;
      let records: any[] = [];
      while (Date.now() < end && records.length < 50) {
        records = readJsonLines(agent.logDir).filter(mine);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(records).toHaveLength(50);
      expect(records.every((r) => r.attributes['contguard.file.open.count'] === 1)).toBe(true);
    } finally {
      await agent.cleanup();
      await dockerRm([id]);
    }
  });
});

describe('file_open: a removed container gets its folded opens at once', () => {
  let agent: AgentHandle;
  let port = 0;
  const ids: string[] = [];

  beforeAll(async () => {
    await ensureTestImage();
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'cg-fo-removed-cfg-'));
    // A fold interval far longer than the test: only the removal can report the folded opens.
    writeFileSync(join(dir, 'contguard.yaml'), 'registry:\n  forget_after_ms: 2000\nsensors:\n  file_open:\n    fold_interval_ms: 60000\n');
    agent = await startAgent({ args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    await agent?.cleanup();
    await dockerRm(ids);
  });

  it('reports the final count when the container goes, then forgets its series for good', async () => {
    const name = uniqueName('cg-fold-removed');
    // Three opens of one sensitive file by the same shell: the first is sent, two are folded.
    ids.push(await dockerRun(['--name', name, TEST_IMAGE, 'sh', '-c', 'for i in 1 2 3; do read x < /proc/1/environ; done; true']));
    await waitForExit(name);
    const environ = (r: any) => r.attributes['contguard.file.rule'] === 'proc_environ';
    const total = await waitFor(
      'the three opens of the removed container to be reported',
      async () => {
        const n = readJsonLines(agent.logDir).filter(isOpen(name, environ)).reduce((s, r) => s + r.attributes['contguard.file.open.count'], 0);
        return n >= 3 ? n : null;
      },
      15_000,
    );
    expect(total).toBe(3);
    const id = readJsonLines(agent.logDir).find(isOpen(name))!.attributes['container.id'];
    // Its opens series is kept for registry.forget_after_ms, then goes, and nothing brings it back.
    const opensSeries = async () => (await scrape(port)).split('\n').filter((l) => l.startsWith('contguard_file_opens_total{') && l.includes(id));
    expect((await opensSeries()).length).toBeGreaterThan(0);
    await waitFor('the removed container\'s opens series to leave /metrics', async () => ((await opensSeries()).length ? null : true), 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await opensSeries()).toEqual([]);
  });
});
