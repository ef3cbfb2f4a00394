// SPDX-License-Identifier: Apache-2.0
/**
 * The real bin/contguard given bad input: malformed or unknown config, unknown flags, an
 * unwritable log dir, a Prometheus port in use, missing or bogus BTF, OTLP headers that would go
 * in plaintext off the host, a ready file it cannot write. Each is one clear error line, a
 * non-zero exit, and nothing left behind: the process is gone (no program held by its pid), no
 * ready file, and for failures found before loading, no program was ever attached.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_BIN, REPO_ROOT, freePort, startAgent } from '../support/agent-process.js';

interface Outcome {
  code: number | null;
  pid: number;
  stdout: string;
  stderr: string;
  readyFileMade: boolean;
}

const dir = mkdtempSync(join(tmpdir(), 'cg-startfail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `contguard <args>` to its exit (bounded: SIGKILL after 60 s). */
function runAgent(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const ready = join(dir, `ready-${Math.random().toString(36).slice(2)}`);
  const argv = args[0] === 'run' ? [...args, '--ready-file', args.includes('--ready-file') ? '' : ready].filter((a, i, all) => !(a === '--ready-file' && all[i + 1] === '') && a !== '') : args;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [AGENT_BIN, ...argv], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, pid: p.pid ?? -1, stdout, stderr, readyFileMade: existsSync(ready) });
    });
  });
}

/** Programs some process holds, by holder pid (bpftool lists the pids holding each program). */
function programHolders(): Set<number> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ pids?: Array<{ pid: number }> }>;
  return new Set(progs.flatMap((p) => (p.pids ?? []).map((x) => x.pid)));
}

/** One line on stderr, `contguard: ...`, no stack, nothing on stdout, the process gone and holding nothing. */
function expectCleanFailure(o: Outcome, code: number, line: RegExp): void {
  expect({ code: o.code, stderr: o.stderr }).toEqual({ code, stderr: expect.stringMatching(line) });
  expect(o.stderr.endsWith('\n')).toBe(true);
  expect(o.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(o.stderr).not.toMatch(/\n\s+at |Error:/);
  expect(o.stdout).toBe('');
  expect(o.readyFileMade).toBe(false);
  expect(programHolders().has(o.pid)).toBe(false);
}

describe('bad input to the real agent: one line, non-zero exit, nothing started', () => {
  const logDir = join(dir, 'logs');

  it('malformed YAML: exit 2 naming the file and line', async () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'outputs:\n  prometheus: [\n');
    expectCleanFailure(await runAgent(['run', '--config', cfg, '--log-dir', logDir]), 2, new RegExp(`^contguard: config ${cfg}: line \\d+: .+\\n$`));
  });

  it('an unknown key and a bad value: exit 2 naming the key', async () => {
    const cfg = join(dir, 'unknown.yaml');
    writeFileSync(cfg, 'sensrs:\n  exec: {}\n');
    expectCleanFailure(await runAgent(['run', '--config', cfg, '--log-dir', logDir]), 2, new RegExp(`^contguard: config ${cfg}: unknown key "sensrs" at top level\\n$`));
    writeFileSync(cfg, 'redaction:\n  rules: [{ name: x, flag: password }]\n');
    expectCleanFailure(await runAgent(['run', '--config', cfg, '--log-dir', logDir]), 2, /^contguard: config .*: redaction\.rules\."0"\.flag: expected an option such as --password or -p, got "password"\n$/);
  });

  it('a config file that cannot be read: exit 2', async () => {
    expectCleanFailure(await runAgent(['run', '--config', join(dir, 'missing.yaml')]), 2, /^contguard: config .*missing\.yaml: cannot read: ENOENT.*\n$/);
  });

  it('unknown flags and bad flag values: exit 2 pointing at help', async () => {
    expectCleanFailure(await runAgent(['run', '--bogus']), 2, /^contguard: .*--bogus.*\(see "contguard help"\)\n$/);
    expectCleanFailure(await runAgent(['run', '--prometheus', 'nohost']), 2, /^contguard: .*--prometheus.*\n$/);
    expectCleanFailure(await runAgent(['frobnicate']), 2, /^contguard: .*frobnicate.*\n$/);
  });

  it('an unwritable log dir: exit 1 naming it, before any program loads', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const o = await runAgent(['run', '--log-dir', join(file, 'logs'), '--prometheus', 'off']);
    expectCleanFailure(o, 1, new RegExp(`^contguard: log dir ${join(file, 'logs')}: ENOTDIR.*\\n$`));
  });

  describe('the Prometheus port in use', () => {
    let server: net.Server;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      server = net.createServer();
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('exit 1 naming the address, before any program loads', async () => {
      const o = await runAgent(['run', '--log-dir', logDir, '--prometheus', `127.0.0.1:${port}`]);
      expectCleanFailure(o, 1, new RegExp(`^contguard: prometheus endpoint 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*\\n$`));
    });
  });

  it('missing BTF (btf_path pointing nowhere): exit 1 naming the file, before any program loads', async () => {
    const cfg = join(dir, 'btf.yaml');
    writeFileSync(cfg, `btf_path: ${join(dir, 'no-such-vmlinux')}\n`);
    expectCleanFailure(await runAgent(['run', '--config', cfg, '--log-dir', logDir]), 1, new RegExp(`^contguard: btf_path ${join(dir, 'no-such-vmlinux')}: no such file\\n$`));
    writeFileSync(join(dir, 'not-btf'), 'just text\n');
    writeFileSync(cfg, `btf_path: ${join(dir, 'not-btf')}\n`);
    expectCleanFailure(await runAgent(['run', '--config', cfg, '--log-dir', logDir]), 1, /^contguard: btf_path .*not-btf: not a BTF file \(neither BTF nor ELF magic\)\n$/);
  });

  it('a BTF file libbpf rejects (right magic, garbage after): exit 1 with libbpf`s reason, nothing left attached', async () => {
    const bogus = join(dir, 'bogus.btf');
    writeFileSync(bogus, Buffer.concat([Buffer.from([0x9f, 0xeb, 1, 0]), Buffer.alloc(64, 0xff)]));
    const cfg = join(dir, 'bogus.yaml');
    writeFileSync(cfg, `btf_path: ${bogus}\n`);
    const o = await runAgent(['run', '--config', cfg, '--log-dir', logDir, '--prometheus', 'off']);
    expect(o.code).toBe(1);
    const last = o.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^contguard: .*(registry|load|open).*\((E[A-Z]+)\)$/);
    expect(o.stderr).not.toMatch(/attached/);
    expect(o.readyFileMade).toBe(false);
    expect(programHolders().has(o.pid)).toBe(false);
  });

  it('btf_path pointing at a real BTF file (the kernel`s own): the agent relocates against it and runs', async () => {
    const cfg = join(dir, 'good-btf.yaml');
    writeFileSync(cfg, 'btf_path: /sys/kernel/btf/vmlinux\n');
    const agent = await startAgent({ args: ['--config', cfg, '--prometheus', 'off'] });
    try {
      expect(agent.stderr()).toMatch(/registry \((tp_btf|raw_tracepoint)\): attached /);
    } finally {
      expect(await agent.stop()).toBe(0);
      await agent.cleanup();
    }
  });

  it('OTLP headers to a plaintext endpoint off the host (config or environment): exit 2', async () => {
    const cfg = join(dir, 'otlp.yaml');
    // 192.0.2.1 (TEST-NET-1): never contacted, the agent refuses before any export.
    writeFileSync(cfg, 'outputs:\n  otlp:\n    endpoint: http://192.0.2.1:4317\n    headers: { authorization: "Bearer t" }\n');
    expectCleanFailure(
      await runAgent(['run', '--config', cfg, '--log-dir', logDir]),
      2,
      /^contguard: outputs\.otlp\.headers: not sent in plaintext to http:\/\/192\.0\.2\.1:4317 \(not loopback\): use an https:\/\/ endpoint or set outputs\.otlp\.allow_plaintext_headers: true\n$/,
    );
    expectCleanFailure(
      await runAgent(['run', '--log-dir', logDir, '--otlp-endpoint', 'http://192.0.2.1:4317'], { OTEL_EXPORTER_OTLP_HEADERS: 'api-key=secret' }),
      2,
      /^contguard: environment OTEL_EXPORTER_OTLP_HEADERS: not sent in plaintext to http:\/\/192\.0\.2\.1:4317/,
    );
  });

  it('a ready file it cannot write (found after loading): exit 1, every program detached first', async () => {
    const o = await runAgent(['run', '--log-dir', logDir, '--prometheus', 'off', '--ready-file', join(dir, 'no-dir', 'ready')]);
    expect(o.code).toBe(1);
    expect(o.stderr).toContain('attached'); // it got that far
    expect(o.stderr.trimEnd().split('\n').at(-1)).toBe(`contguard: ready file ${join(dir, 'no-dir', 'ready')}: ENOENT: no such file or directory, open '${join(dir, 'no-dir', 'ready')}'`);
    expect(programHolders().has(o.pid)).toBe(false);
  });
});
