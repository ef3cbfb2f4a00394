// SPDX-License-Identifier: Apache-2.0
/**
 * The Docker daemon going away and coming back while the agent runs (real kernel, real dockerd).
 * The host's dockerd is shared with other tests, so this test starts a second dockerd of its own
 * (its own --data-root, --exec-root, --pidfile, socket and containerd, no bridge, no iptables)
 * and points the agent's docker.socket at it; that one is restarted. After the restart the agent
 * still runs, a container started then gets its name, and the event stream is followed again
 * (a rename reaches the records). Without any daemon at the socket from the start, containers
 * get their cgroup-derived id and the agent says so in exactly one warning line.
 */
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, execCmd, uniqueName, waitForExit, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';
import { waitFor } from '../support/metrics.js';
import { requireOrSkip } from '../support/require.js';

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cg-dockerd-')), 'contguard.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** A dockerd of this test's own: everything it writes is under `dir`. */
class PrivateDockerd {
  readonly socket: string;
  /**
   * Its own bridge: with --bridge=none dockerd deletes the host's docker0 at start (moby
   * removeDefaultBridgeInterface), which breaks the host daemon's containers.
   */
  readonly bridge = `cgdr${randomBytes(3).toString('hex')}`;
  private proc: ChildProcess | null = null;
  constructor(readonly dir: string) {
    this.socket = join(dir, 'docker.sock');
  }

  /** `docker -H <its socket> <args>`; resolves with stdout. */
  async docker(args: string[], timeoutMs = 60_000): Promise<string> {
    return (await execCmd('docker', ['-H', `unix://${this.socket}`, ...args], { timeoutMs })).stdout;
  }

  async start(): Promise<void> {
    if (!existsSync(`/sys/class/net/${this.bridge}`)) {
      await execCmd('ip', ['link', 'add', 'name', this.bridge, 'type', 'bridge']);
      await execCmd('ip', ['addr', 'add', '10.254.213.1/24', 'dev', this.bridge]);
      await execCmd('ip', ['link', 'set', this.bridge, 'up']);
    }
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    this.proc = spawn(
      'dockerd',
      [
        '--data-root', join(this.dir, 'data'),
        '--exec-root', join(this.dir, 'exec'),
        '--pidfile', join(this.dir, 'dockerd.pid'),
        '-H', `unix://${this.socket}`,
        `--bridge=${this.bridge}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.proc.on('error', () => undefined);
    await waitFor('the private dockerd to answer', async () => (await this.docker(['version', '--format', '{{.Server.Version}}'], 5000)).trim().length > 0, 60_000);
  }

  /** SIGTERM, and waits (bounded) until it has exited. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    this.proc = null;
  }

  /** Removes its bridge (after stop()). */
  async removeBridge(): Promise<void> {
    await execCmd('ip', ['link', 'del', this.bridge]).catch(() => undefined);
  }
}

describe('Docker daemon restarts (real kernel, a private dockerd)', () => {
  let dockerd: PrivateDockerd | undefined;
  let agent: AgentHandle | undefined;
  let missing: string | null = null;
  let hadDocker0 = false;

  beforeAll(async () => {
    if (spawnSync('dockerd', ['--version']).status !== 0) {
      missing = 'dockerd is not installed';
      return;
    }
    await ensureTestImage();
    hadDocker0 = existsSync('/sys/class/net/docker0');
    dockerd = new PrivateDockerd(mkdtempSync('/tmp/cg-d2-'));
    await dockerd.start();
    // The test image, from the host's daemon.
    const archive = join(dockerd.dir, 'image.tar');
    await execCmd('docker', ['save', '-o', archive, TEST_IMAGE], { timeoutMs: 60_000 });
    await dockerd.docker(['load', '-i', archive]);
    agent = await startAgent({ args: ['--config', configFile(`outputs:\n  console: { enabled: false }\n  prometheus: { enabled: false }\ndocker:\n  socket: ${dockerd.socket}\n`)] });
  }, 180_000);

  afterAll(async () => {
    await agent?.cleanup();
    if (dockerd) {
      await dockerd.docker(['rm', '-f', ...(await dockerd.docker(['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean)]).catch(() => undefined);
      await dockerd.stop();
      await dockerd.removeBridge();
      rmSync(dockerd.dir, { recursive: true, force: true });
    }
    // The host daemon's default bridge survived the private daemon's starts and stops.
    if (hadDocker0 && !existsSync('/sys/class/net/docker0')) throw new Error('the private dockerd removed the host docker0 bridge');
  }, 120_000);

  const execOf = (name: string, arg: string) => (r: any) =>
    r.event === 'contguard.process.exec' && r.attributes['process.command_args']?.includes(arg) && r.attributes['container.name'] === name;

  it('keeps running through a dockerd restart; containers started after it get their names, renames reach the records', async (ctx: TestContext) => {
    requireOrSkip(ctx, missing);
    const d = dockerd!;
    const a = agent!;
    const before = uniqueName('cg-d2-before');
    await d.docker(['run', '--rm', '--label', TEST_LABEL, '--network', 'none', '--name', before, TEST_IMAGE, '/bin/echo', before]);
    await waitForJsonLine(a.logDir, execOf(before, before), 15_000);

    await d.stop();
    await new Promise((r) => setTimeout(r, 2000)); // the agent's event stream sees the daemon gone
    await d.start();

    const after = uniqueName('cg-d2-after');
    await d.docker(['run', '--rm', '--label', TEST_LABEL, '--network', 'none', '--name', after, TEST_IMAGE, '/bin/echo', after]);
    await waitForJsonLine(a.logDir, execOf(after, after), 15_000);

    // The event stream is followed again: a rename after the restart reaches later records.
    const renamed = uniqueName('cg-d2-renamed');
    const first = uniqueName('cg-d2-first');
    await d.docker(['run', '-d', '--label', TEST_LABEL, '--network', 'none', '--name', first, TEST_IMAGE, 'sleep', '600']);
    await d.docker(['exec', first, '/bin/echo', 'as-first']);
    await waitForJsonLine(a.logDir, execOf(first, 'as-first'), 15_000);
    await d.docker(['rename', first, renamed]);
    await waitFor('the rename to reach the records', async () => {
      await d.docker(['exec', renamed, '/bin/echo', 'as-renamed']);
      return waitForJsonLine(a.logDir, execOf(renamed, 'as-renamed'), 2000).catch(() => null);
    }, 20_000);

    expect(a.exited()).toBe(false);
    expect(a.stderr().split('\n').filter((l) => l.startsWith('contguard error:'))).toEqual([]);
  }, 180_000);
});

describe('no Docker daemon at the socket from the start', () => {
  it('identifies containers by their cgroup-derived id and warns exactly once', async () => {
    await ensureTestImage();
    const socket = join(mkdtempSync(join(tmpdir(), 'cg-nodocker-')), 'docker.sock'); // nothing there
    const agent = await startAgent({ args: ['--config', configFile(`outputs:\n  console: { enabled: false }\n  prometheus: { enabled: false }\ndocker:\n  socket: ${socket}\n`)] });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const name = uniqueName('cg-nodocker');
        ids.push(await dockerRun(['--name', name, '--network', 'none', TEST_IMAGE, '/bin/echo', name]));
        await waitForExit(name);
        const r = await waitForJsonLine(agent.logDir, (x) => x.event === 'contguard.process.exec' && x.attributes['process.command_args']?.[1] === name, 15_000);
        expect(r.attributes['container.id']).toBe(ids[i]);
        expect(r.attributes['container.name']).toBeUndefined();
        expect(r.attributes['container.image.name']).toBeUndefined();
      }
      expect(await agent.stop()).toBe(0);
      const warnings = agent.stderr().split('\n').filter((l) => l.startsWith('contguard warn:') && !l.startsWith('contguard warn: libbpf:'));
      expect(warnings).toEqual([`contguard warn: no Docker daemon at ${socket}: Docker containers are identified by cgroup-derived ids only (no name, image or labels)`]);
      expect(agent.stderr()).not.toMatch(/contguard error:/);
    } finally {
      await agent.cleanup();
      await dockerRm(ids);
    }
  });
});
