// SPDX-License-Identifier: Apache-2.0
/**
 * Docker helpers for tests, via the docker CLI (execFile, no shell, no dockerode).
 * Every call is bounded in time. Containers started by dockerRun carry the label
 * `contguard.test=1` so removeTestContainers() can sweep leftovers.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_IMAGE = 'contguard-test/busybox:latest';
export const TEST_LABEL = 'contguard.test=1';

const DEFAULT_TIMEOUT_MS = 30_000;

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects with its stderr on non-zero exit or after timeoutMs (the process is killed). */
export function execCmd(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; cwd?: string; input?: string } = {},
): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd ?? REPO_ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          const why = e.killed ? `timed out after ${timeoutMs} ms` : `failed (exit ${e.code})`;
          const out = new Error(`${cmd} ${args.join(' ')} ${why}: ${String(stderr).trim() || e.message}`);
          Object.assign(out, { stdout: String(stdout), stderr: String(stderr), exitCode: e.code, timedOut: !!e.killed });
          reject(out);
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `docker <args>`; resolves with stdout. */
export async function docker(args: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  return (await execCmd('docker', args, { timeoutMs })).stdout;
}

let imagePromise: Promise<void> | undefined;

/** Builds contguard-test/busybox:latest if missing (scripts/build-test-image.sh). Memoized per process. */
export function ensureTestImage(opts: { force?: boolean } = {}): Promise<void> {
  if (opts.force || !imagePromise) {
    const args = [path.join(REPO_ROOT, 'scripts', 'build-test-image.sh')];
    if (opts.force) args.push('--force');
    imagePromise = execCmd('bash', args, { timeoutMs: 180_000 }).then(
      () => undefined,
      (err) => {
        imagePromise = undefined;
        throw err;
      },
    );
  }
  return imagePromise;
}

/** A docker-safe, collision-free container name: `<prefix>-<pid>-<random>`. */
export function uniqueName(prefix = 'contguard-test'): string {
  const clean = prefix.replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '') || 'ct';
  return `${clean}-${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/**
 * `docker run -d --label contguard.test=1 <args>`; resolves with the full container id.
 * args are everything after `run`, e.g. ['--name', n, TEST_IMAGE, 'sh', '-c', 'sleep 1'].
 */
export async function dockerRun(args: string[], timeoutMs = 60_000): Promise<string> {
  const detach = args.includes('-d') || args.includes('--detach') ? [] : ['-d'];
  const out = await docker(['run', ...detach, '--label', TEST_LABEL, ...args], timeoutMs);
  const id = out.trim().split('\n').pop()?.trim() ?? '';
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`docker run did not print a container id: ${JSON.stringify(out)}`);
  return id;
}

/** `docker rm -f -v`; ignores containers that are already gone. */
export async function dockerRm(ids: string | Array<string | undefined>, timeoutMs = 60_000): Promise<void> {
  const list = (Array.isArray(ids) ? ids : [ids]).filter((x): x is string => !!x);
  if (list.length === 0) return;
  try {
    await docker(['rm', '-f', '-v', ...list], timeoutMs);
  } catch (err) {
    // Timeouts and other errors matter; "No such container" does not.
    const e = err as Error & { stderr?: string; timedOut?: boolean };
    const other = (e.stderr ?? '').split('\n').filter((l) => l.trim() && !/no such container/i.test(l));
    if (e.timedOut || other.length > 0 || !e.stderr) throw err;
  }
}

/** Removes every container labelled by dockerRun (e.g. leftovers of an aborted run). */
export async function removeTestContainers(): Promise<void> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=${TEST_LABEL}`])).split('\n').filter(Boolean);
  await dockerRm(ids);
}

/** `docker inspect <id>`, first element (container JSON: Id, Name, State, Config, HostConfig, ...). */
export async function dockerInspect(id: string): Promise<any> {
  const arr = JSON.parse(await docker(['inspect', '--type', 'container', id]));
  if (!Array.isArray(arr) || arr.length === 0) throw new Error(`docker inspect ${id}: no result`);
  return arr[0];
}

/** The container's main process pid on the host (0 when not running). */
export async function dockerPid(id: string): Promise<number> {
  return Number((await docker(['inspect', '--type', 'container', '--format', '{{.State.Pid}}', id])).trim());
}

/**
 * Waits until the container has exited; resolves with its exit code.
 * Rejects after timeoutMs (the container is left running; remove it in afterEach/afterAll).
 */
export async function waitForExit(id: string, timeoutMs = 30_000): Promise<number> {
  try {
    const out = await docker(['wait', id], timeoutMs);
    return Number(out.trim().split('\n').pop());
  } catch (err) {
    throw new Error(`container ${id.slice(0, 12)} did not exit within ${timeoutMs} ms: ${(err as Error).message}`);
  }
}

/** Waits until the container's stdout (`docker logs`) matches `re`; throws after timeoutMs. */
export async function waitLogs(id: string, re: RegExp, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const out = await docker(['logs', id]).catch(() => '');
    if (re.test(out)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`container ${id} never logged ${re}`);
}

/** `docker logs <id>`: the container's stdout and stderr, separately. */
export async function dockerLogs(id: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExecResult> {
  return execCmd('docker', ['logs', id], { timeoutMs });
}

/** `docker exec <id> <cmd...>`; resolves with stdout and stderr, rejects on non-zero exit. */
export async function dockerExec(id: string, cmd: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExecResult> {
  return execCmd('docker', ['exec', id, ...cmd], { timeoutMs });
}
