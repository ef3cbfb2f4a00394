// SPDX-License-Identifier: Apache-2.0
/**
 * Real container runtimes for e2e tests, each private to the test that starts it: a standalone
 * containerd with its own root, state and sockets under a temp directory (Docker's containerd,
 * at /run/docker/containerd, is never touched), and a Podman API service on a temp socket.
 * Every wait is bounded; stop() ends only the processes the helper started (by pid).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execCmd } from './docker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether every named program is on PATH. */
export function onPath(...names: string[]): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  return names.every((n) => dirs.some((d) => d && existsSync(join(d, n))));
}

/** Pipes `docker save <image>` into `cmd args` (an image import); bounded by timeoutMs. */
export function pipeDockerSave(image: string, cmd: string, args: string[], timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    save.stderr.on('data', (d: Buffer) => (err += d.toString()));
    load.stderr.on('data', (d: Buffer) => (err += d.toString()));
    save.stdout.pipe(load.stdin);
    const timer = setTimeout(() => {
      save.kill('SIGKILL');
      load.kill('SIGKILL');
      reject(new Error(`docker save ${image} | ${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    load.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`docker save ${image} | ${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`));
    });
  });
}

/** Pids of processes whose command line contains `needle` (e.g. the shims of our containerd). */
function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** Unmounts (lazily) whatever is still mounted under `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execCmd('umount', ['-l', m], { timeoutMs: 10_000 }).catch(() => undefined);
}

async function waitExit(proc: ChildProcess, ms: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(ms)]);
}

export interface Containerd {
  dir: string;
  address: string;
  /** Its state directory: the agent's metadata.containerd.state_dir. */
  stateDir: string;
  /** `ctr -a <address> -n k8s.io <args>`; resolves with stdout. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  log(): string;
  /** Kills and deletes the given containers' tasks and containers, stops containerd, removes its files. */
  stop(containers: string[]): Promise<void>;
}

/** Starts containerd with its own root, state and sockets under a new temp directory (CRI plugin off). */
export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-ctrd-'));
  const address = join(dir, 'containerd.sock');
  const stateDir = join(dir, 'state');
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${stateDir}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  let log = '';
  const proc = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-200_000)));
  const ctr = async (args: string[], timeoutMs = 60_000) => (await execCmd('ctr', ['-a', address, '-n', 'k8s.io', ...args], { timeoutMs })).stdout;
  const handle: Containerd = {
    dir,
    address,
    stateDir,
    ctr,
    log: () => log,
    async stop(containers) {
      for (const id of containers) {
        await ctr(['tasks', 'kill', '-s', 'SIGKILL', id], 10_000).catch(() => undefined);
        for (let i = 0; i < 50; i++) {
          if (!(await ctr(['tasks', 'ls', '-q'], 10_000).catch(() => '')).includes(id)) break;
          await ctr(['tasks', 'delete', id], 10_000).catch(() => undefined);
          await sleep(100);
        }
        await ctr(['containers', 'delete', id], 10_000).catch(() => undefined);
      }
      proc.kill('SIGTERM');
      await waitExit(proc, 10_000);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      // Shims this containerd started (they name its address) outlive it: end them by pid.
      for (const pid of pidsWithArg(address)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await unmountUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`containerd exited (${proc.exitCode}): ${log.slice(-2000)}`);
    if (existsSync(address) && (await ctr(['version'], 5_000).then(() => true, () => false))) break;
    if (Date.now() > deadline) {
      await handle.stop([]);
      throw new Error(`containerd did not answer on ${address} within 20 s: ${log.slice(-2000)}`);
    }
    await sleep(100);
  }
  return handle;
}

/**
 * Removes a cgroup directory the test made (through `ctr run --cgroup`) from every v1 controller
 * hierarchy and the unified one, deepest first; then its parents up to `keep` if they are empty.
 */
export function removeCgroup(path: string, parentsUpTo: string): void {
  const roots = readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  roots.push('/sys/fs/cgroup');
  const chain: string[] = [];
  for (let p = path; p.startsWith(parentsUpTo) && p.length >= parentsUpTo.length; p = p.slice(0, p.lastIndexOf('/'))) chain.push(p);
  for (const root of roots) {
    for (const rel of chain) {
      const d = join(root, rel);
      if (!existsSync(d)) continue;
      try {
        rmdirSync(d); // only an empty cgroup goes; one still in use (another pod) stays
      } catch {
        break;
      }
    }
  }
}

/** GET http://d<path> over a unix socket; resolves with the status (0 when it does not answer). */
function unixGet(socketPath: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

export interface PodmanService {
  socket: string;
  stop(): Promise<void>;
}

/** Starts `podman system service --time=0` on a temp socket and waits until it answers. */
export async function startPodmanService(): Promise<PodmanService> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-podman-'));
  const socket = join(dir, 'podman.sock');
  let log = '';
  const proc = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-100_000)));
  const stop = async () => {
    proc.kill('SIGTERM');
    await waitExit(proc, 10_000);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  while ((await unixGet(socket, '/_ping')) !== 200) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${socket}: ${log.slice(-2000)}`);
    }
    await sleep(100);
  }
  return { socket, stop };
}
