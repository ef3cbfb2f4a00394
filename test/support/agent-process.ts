// SPDX-License-Identifier: Apache-2.0
/**
 * Runs the ContGuard agent as a child process for e2e tests:
 *
 *   const agent = await startAgent({ args: ['--otlp-endpoint', rx.endpoint] });
 *   ... await waitForJsonLine(agent.logDir, (r) => r.eventName === 'contguard.process.exec', 10_000);
 *   expect(await agent.stop()).toBe(0);
 *
 * The agent is `node bin/contguard run --log-dir <tmp>/logs --ready-file <tmp>/ready <args...>`,
 * started from the repo root; startAgent resolves once the ready file exists.
 * Every wait is bounded; agents still running when the test process exits are SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'contguard');

const POLL_MS = 50;
const MAX_CAPTURE = 16 * 1024 * 1024;

export interface StartAgentOptions {
  /** Extra arguments after `run --log-dir … --ready-file …`. */
  args: string[];
  /** Added to (and overriding) the test process environment. */
  env?: Record<string, string>;
  /** How long to wait for the ready file (default 30 s). */
  readyTimeoutMs?: number;
  /** Use this log directory instead of a fresh temporary one. */
  logDir?: string;
  /** Script run with node (default bin/contguard). */
  bin?: string;
  /**
   * Runs the agent through setpriv (util-linux) as this user, with exactly these capabilities
   * (inheritable, ambient and bounding set; names as setpriv spells them: `bpf`, `net_admin`).
   * The temporary directory and the log dir it creates (not a given `logDir`) are handed to that user.
   */
  runAs?: { uid: number; gid: number; groups?: number[]; caps: string[] };
}

export interface AgentHandle {
  proc: ChildProcess;
  pid: number;
  /** Temporary directory holding logs/ and the ready file (removed by cleanup()). */
  tmpDir: string;
  logDir: string;
  readyFile: string;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (bounded; rejects with the output captured so far). */
  waitForStdout(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(): boolean;
  /**
   * Sends `signal` (default SIGTERM) and waits up to graceMs (default 15 s) for the exit,
   * then SIGKILLs. Resolves with the exit code (null if the agent died from a signal).
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  /** stop() if needed, then removes tmpDir. */
  cleanup(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of running) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * vitest ends its worker processes with SIGTERM/SIGKILL, so no 'exit' hook runs there. A tiny
 * detached shell per agent polls the test process and, once it is gone, SIGTERMs the agent
 * (SIGKILL 5 s later), so no root eBPF agent outlives an aborted test run.
 */
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do
  kill -0 "$2" 2>/dev/null || exit 0
  sleep 0.5
done
kill -TERM "$2" 2>/dev/null || exit 0
i=0
while [ "$i" -lt 50 ] && kill -0 "$2" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$2" 2>/dev/null
exit 0
`;
function startWatchdog(agentPid: number): void {
  try {
    const w = spawn('sh', ['-c', WATCHDOG, 'contguard-agent-watchdog', String(process.pid), String(agentPid)], {
      stdio: 'ignore',
      detached: true,
    });
    w.on('error', () => {});
    w.unref();
  } catch {
    /* best effort */
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(s: string, n = 4000): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'contguard-agent-'));
  const logDir = opts.logDir ?? path.join(tmpDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const readyFile = path.join(tmpDir, 'ready');

  const argv = [opts.bin ?? AGENT_BIN, 'run', '--log-dir', logDir, '--ready-file', readyFile, ...opts.args];
  let command = process.execPath;
  if (opts.runAs) {
    const { uid, gid, groups, caps } = opts.runAs;
    chmodSync(tmpDir, 0o755);
    chownSync(tmpDir, uid, gid);
    if (opts.logDir === undefined) chownSync(logDir, uid, gid); // a given one stays as it is
    const set = caps.map((c) => `+${c}`).join(',');
    argv.unshift(
      `--reuid=${uid}`,
      `--regid=${gid}`,
      groups && groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
      `--inh-caps=-all${set ? `,${set}` : ''}`,
      `--ambient-caps=-all${set ? `,${set}` : ''}`,
      `--bounding-set=-all${set ? `,${set}` : ''}`,
      process.execPath,
    );
    command = 'setpriv';
  }
  const proc = spawn(command, argv, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installExitHook();
  running.add(proc);
  if (proc.pid) startWatchdog(proc.pid);

  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    if (out.length < MAX_CAPTURE) out += d;
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < MAX_CAPTURE) err += d;
  });

  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  let hasExited = false;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<number | null>((resolve) => {
    proc.once('error', (e) => {
      spawnError = e;
      hasExited = true;
      running.delete(proc);
      resolve(null);
    });
    // 'close' (not 'exit') so stdout/stderr are fully captured.
    proc.once('close', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      hasExited = true;
      running.delete(proc);
      resolve(code);
    });
  });

  const describeExit = () =>
    spawnError
      ? `failed to start: ${spawnError.message}`
      : `exited early (code ${exitCode}, signal ${exitSignal})`;

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | null> => {
    if (!hasExited) {
      proc.kill(signal);
      const t = setTimeout(() => {
        if (!hasExited) proc.kill('SIGKILL');
      }, graceMs);
      try {
        await exitPromise;
      } finally {
        clearTimeout(t);
      }
    }
    return exitCode;
  };

  const handle: AgentHandle = {
    proc,
    pid: proc.pid ?? -1,
    tmpDir,
    logDir,
    readyFile,
    stdout: () => out,
    stderr: () => err,
    exited: () => hasExited,
    async waitForStdout(re, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (hasExited) throw new Error(`agent ${describeExit()} before stdout matched ${re}; stderr:\n${tail(err)}`);
        if (Date.now() > deadline) {
          throw new Error(`agent stdout did not match ${re} within ${timeoutMs} ms; stdout:\n${tail(out)}\nstderr:\n${tail(err)}`);
        }
        await sleep(POLL_MS);
      }
    },
    stop,
    async cleanup() {
      await stop();
      rmSync(tmpDir, { recursive: true, force: true });
    },
  };

  // Wait for the ready file, bounded; fail fast if the agent dies.
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (existsSync(readyFile)) return handle;
    if (hasExited) {
      await exitPromise; // let 'close' flush the captured output
      rmSync(tmpDir, { recursive: true, force: true });
      throw new Error(`agent ${describeExit()} before becoming ready; stderr:\n${tail(err)}\nstdout:\n${tail(out, 2000)}`);
    }
    if (Date.now() > deadline) {
      await stop('SIGKILL', 5_000);
      rmSync(tmpDir, { recursive: true, force: true });
      throw new Error(
        `agent not ready within ${readyTimeoutMs} ms (no ${readyFile}); stderr:\n${tail(err)}\nstdout:\n${tail(out, 2000)}`,
      );
    }
    await sleep(POLL_MS);
  }
}

// ---- JSON-lines output -----------------------------------------------------------------------

/**
 * Files holding JSON lines: `*.jsonl` plus rotated copies (`20240101-1200-01-events.jsonl`,
 * `events.jsonl.1`, `events.jsonl.gz`, …), oldest first.
 */
export function jsonlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const files: Array<{ full: string; name: string; mtime: number }> = [];
  for (const name of readdirSync(dir)) {
    if (!/\.jsonl($|\.)/.test(name)) continue;
    const full = path.join(dir, name);
    try {
      const st = statSync(full);
      if (st.isFile()) files.push({ full, name, mtime: st.mtimeMs });
    } catch {
      /* rotated away meanwhile */
    }
  }
  return files
    .sort((a, b) => a.mtime - b.mtime || rotationRank(a.name) - rotationRank(b.name) || a.name.localeCompare(b.name))
    .map((f) => f.full);
}

/** The active file (plain `x.jsonl`) sorts after rotated ones with the same mtime. */
function rotationRank(name: string): number {
  return name.endsWith('.jsonl') && !/^\d{8}-/.test(name) ? 1 : 0;
}

/**
 * Every JSON record from every `*.jsonl` (and rotated) file in dir, oldest file first.
 * A trailing line without newline that does not parse yet (being written) is skipped;
 * any other malformed line throws.
 */
export function readJsonLines(dir: string): any[] {
  const records: any[] = [];
  for (const file of jsonlFiles(dir)) {
    let text: string;
    try {
      const raw = readFileSync(file);
      text = file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // rotated away meanwhile
      throw e;
    }
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        records.push(JSON.parse(line));
      } catch (e) {
        const isPartialLast = i === lines.length - 1;
        if (!isPartialLast) throw new Error(`${file}:${i + 1}: invalid JSON line: ${(e as Error).message}: ${line.slice(0, 200)}`);
      }
    });
  }
  return records;
}

/** Polls readJsonLines(dir) every 50 ms until pred matches a record; bounded by timeoutMs. */
export async function waitForJsonLine<T = any>(
  dir: string,
  pred: (record: any) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let records: any[] = [];
  for (;;) {
    records = readJsonLines(dir);
    const hit = records.find(pred);
    if (hit !== undefined) return hit as T;
    if (Date.now() > deadline) break;
    await sleep(POLL_MS);
  }
  const names = [...new Set(records.map((r) => r?.eventName ?? '?'))].slice(0, 20);
  throw new Error(
    `no matching JSON line in ${dir} within ${timeoutMs} ms; ${records.length} record(s) ` +
      `[eventNames: ${names.join(', ') || '-'}]; files: ${jsonlFiles(dir).map((f) => path.basename(f)).join(', ') || '-'}`,
  );
}

// ---- ports -----------------------------------------------------------------------------------

/** A currently free TCP port on 127.0.0.1 (listen on :0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close((e) => (e ? reject(e) : port ? resolve(port) : reject(new Error('freePort: no port'))));
    });
  });
}
