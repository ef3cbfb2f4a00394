// SPDX-License-Identifier: Apache-2.0
/**
 * A hostile container against the real agent (real eBPF programs, real Docker): argv and file
 * names with newlines, ANSI escapes, bytes that are not UTF-8, quotes, backslashes, U+2028 and a
 * bidi override; a 4 KiB path in a bind mount; secrets on the command line. Every output stays
 * one record per line (the console read from the agent's stdout, the JSON lines on disk), the
 * JSON lines are valid JSON that give back the exact bytes, and no secret reaches any output
 * (console, JSON lines, OTLP log records, process spans).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort, jsonlFiles, readJsonLines, startAgent, waitForJsonLine, type AgentHandle } from '../support/agent-process.js';
import { dockerRm, dockerRun, ensureTestImage, uniqueName, waitForExit, TEST_IMAGE } from '../support/docker.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { surrogateEscapedBytes } from '../../src/telemetry/escape.js';

const marker = randomBytes(4).toString('hex');
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

// Newline, ANSI colour, invalid UTF-8 (ff fe), quotes, backslash, CR, BEL, U+2028, U+202E (RLO).
const HOSTILE_ARG = bytes('x\ny\x1b[31mred', [0xff, 0xfe], `'"\\\r\x07`, '\u2028\u202e', `end-${marker}`);
// A file name: no '/' or NUL, otherwise the same kinds of bytes.
const HOSTILE_NAME = bytes('f\nn\x1b[2J', [0xff], `'"`, '\u2028', `-${marker}`);
const SECRET = `hunter2${marker}`;

/** A busybox printf format that writes exactly `b` (every byte but letters and digits as \ooo). */
function printfFormat(b: Buffer): string {
  return [...b].map((c) => (/[A-Za-z0-9-]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `\\${c.toString(8).padStart(3, '0')}`)).join('');
}

const isExec = (name: string, pred: (r: any) => boolean) => (r: any) =>
  r.event === 'contguard.process.exec' && r.attributes['container.name'] === name && pred(r);
const isOpen = (name: string, pred: (r: any) => boolean) => (r: any) =>
  r.event === 'contguard.file.open' && r.attributes['container.name'] === name && pred(r);

/** Characters no console line may hold raw: C0, DEL, C1, U+2028/9, bidi and other format characters, lone surrogates. */
const RAW_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

describe('hostile strings from a container (real kernel, real Docker)', () => {
  let agent: AgentHandle;
  let otlp: OtlpReceiver;
  const ids: string[] = [];
  const name = uniqueName('cg-hostile');
  const shared = realpathSync(mkdtempSync(join(tmpdir(), 'cg-hostile-')));
  // A path of about 4 KiB as the container sees it: 15 directories of 255 bytes and a file.
  const deepRel = [...Array.from({ length: 15 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(253)}`), `deep-${marker}-${'f'.repeat(180)}.txt`].join('/');
  const deepInContainer = `/mnt/data/${deepRel}`;

  beforeAll(async () => {
    await ensureTestImage();
    mkdirSync(join(shared, deepRel, '..'), { recursive: true });
    writeFileSync(join(shared, deepRel), 'deep\n');
    otlp = await startOtlpReceiver();
    const dir = mkdtempSync(join(tmpdir(), 'cg-hostile-cfg-'));
    // Records are matched by container name: wait for Docker's answer even on a loaded machine.
    writeFileSync(join(dir, 'contguard.yaml'), 'docker:\n  metadata_wait_ms: 10000\nsensors:\n  file_open:\n    fold_interval_ms: 1000\n');
    agent = await startAgent({
      args: ['--config', join(dir, 'contguard.yaml'), '--prometheus', `127.0.0.1:${await freePort()}`, '--otlp-endpoint', otlp.endpoint],
    });
    const script = [
      `a=$(printf '${printfFormat(HOSTILE_ARG)}')`,
      `/bin/true "$a" plain-${marker}`,
      `f="/mnt/data/$(printf '${printfFormat(HOSTILE_NAME)}')"`,
      'echo hi > "$f"',
      '/bin/cat "$f" >/dev/null',
      `/bin/cat ${deepInContainer} >/dev/null`,
      `/bin/true --password=${SECRET} --token ${SECRET} https://u:${SECRET}@example.com/ secret-${marker}`,
      `/bin/sh -c 'DB_PASSWORD=${SECRET} /bin/true scripted-${marker}'`,
    ].join('\n');
    ids.push(await dockerRun(['--name', name, '-v', `${shared}:/mnt/data`, TEST_IMAGE, 'sh', '-c', script]));
    expect(await waitForExit(name)).toBe(0);
  });

  afterAll(async () => {
    await agent?.cleanup();
    await otlp?.close();
    await dockerRm(ids);
    rmSync(shared, { recursive: true, force: true });
  });

  it('argv: the JSON line is valid JSON and gives back the exact bytes of every argument', async () => {
    const r = await waitForJsonLine(agent.logDir, isExec(name, (x) => x.attributes['process.command_args'][2] === `plain-${marker}`), 15_000);
    const argv: string[] = r.attributes['process.command_args'];
    expect(argv[0]).toBe('/bin/true');
    expect(Buffer.from(surrogateEscapedBytes(argv[1]!)).equals(HOSTILE_ARG)).toBe(true);
    // On disk: one line per record, every line JSON; the hostile bytes appear only escaped.
    for (const file of jsonlFiles(agent.logDir)) {
      const text = readFileSync(file);
      expect(text.includes(Buffer.from([0xff]))).toBe(false);
      // U+2028 and the bidi override are valid JSON raw, yet written \u2028, \u202e (a line to
      // Python's splitlines, a reordered line in a terminal).
      expect(text.includes(Buffer.from('\u2028'))).toBe(false);
      expect(text.includes(Buffer.from('\u202e'))).toBe(false);
      expect(text.includes(Buffer.from([0x1b]))).toBe(false);
      const lines = text.toString('utf8').split('\n').filter(Boolean);
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    }
    expect(readFileSync(jsonlFiles(agent.logDir).at(-1)!, 'utf8')).toContain('\\udcff\\udcfe');
  });

  it('file paths: a hostile name in a bind mount comes back byte for byte, written and read', async () => {
    const expected = Buffer.concat([Buffer.from('/mnt/data/'), HOSTILE_NAME]);
    const samePath = (x: any) => Buffer.from(surrogateEscapedBytes(x.attributes['file.path'])).equals(expected);
    const write = await waitForJsonLine(agent.logDir, isOpen(name, (x) => samePath(x) && x.attributes['contguard.file.access'].includes('write')), 15_000);
    const read = await waitForJsonLine(agent.logDir, isOpen(name, (x) => samePath(x) && x.attributes['contguard.file.access'][0] === 'read'), 15_000);
    expect(read.attributes['process.executable.name']).toBe('cat');
    expect(Buffer.from(surrogateEscapedBytes(write.attributes['contguard.file.host_path'])).equals(Buffer.concat([Buffer.from(`${shared}/`), HOSTILE_NAME]))).toBe(true);
  });

  it('a 4 KiB path: the record keeps its tail and says it was cut; the 4 KiB argv says so too', async () => {
    expect(Buffer.byteLength(deepInContainer)).toBeGreaterThan(4000);
    const r = await waitForJsonLine(agent.logDir, isOpen(name, (x) => String(x.attributes['file.path']).endsWith(`${'f'.repeat(180)}.txt`)), 15_000);
    expect(r.attributes['contguard.file.path_truncated']).toBe(true);
    expect(deepInContainer.endsWith(r.attributes['file.path'])).toBe(true);
    expect(Buffer.byteLength(r.attributes['file.path'])).toBeLessThan(512);
    const cat = await waitForJsonLine(agent.logDir, isExec(name, (x) => x.attributes['process.command_args'][0] === '/bin/cat' && String(x.attributes['process.command_args'][1]).startsWith('/mnt/data/00')), 15_000);
    // argv is capped at 4 KiB in the kernel: the path is there whole or cut, and flagged when cut.
    const arg: string = cat.attributes['process.command_args'][1];
    expect(deepInContainer.startsWith(arg)).toBe(true);
    expect(cat.attributes['contguard.process.args_truncated']).toBe(arg !== deepInContainer);
  });

  it('console (the agent stdout): one line per record, no raw control or invisible character, the hostile ones escaped', async () => {
    await waitForJsonLine(agent.logDir, isExec(name, (x) => x.attributes['process.command_args'][2] === `plain-${marker}`), 15_000);
    const line = await agent.waitForStdout(new RegExp(`^.* -> /bin/true .*plain-${marker}$`, 'm'), 15_000);
    expect(line[0]).toContain('\\x0a'); // the newline
    expect(line[0]).toContain('\\x1b[31m');
    expect(line[0]).toContain('\\xff\\xfe');
    expect(line[0]).toContain('\\u2028\\u202e');
    expect(line[0]).toContain('\\\\'); // the backslash, doubled
    const fileLine = await agent.waitForStdout(new RegExp(`^.*file\\.open \\[${name} .* comm=cat .* read '/mnt/data/f.*-${marker}' \\(host .*$`, 'm'), 15_000);
    expect(fileLine[0]).toContain(`'/mnt/data/f\\x0an\\x1b[2J\\xff'"'"'"\\u2028-${marker}'`);
    // Every line of stdout is one record: it starts with a timestamp and holds nothing raw.
    const lines = agent.stdout().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) {
      expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARN|ERROR) /);
      expect(RAW_UNSAFE.test(l)).toBe(false);
    }
    // As many lines mention the marker's exec as records do.
    const records = readJsonLines(agent.logDir).filter((x) => x.event === 'contguard.process.exec' && JSON.stringify(x).includes(`plain-${marker}`));
    expect(records.length).toBeGreaterThan(1); // the /bin/true exec and the script that ran it
    expect(lines.filter((l) => l.includes(`plain-${marker}`)).length).toBe(records.length);
  });

  it('secrets on the command line reach no output: console, JSON lines, OTLP log records, process spans', async () => {
    const r = await waitForJsonLine(agent.logDir, isExec(name, (x) => x.attributes['process.command_args'].includes(`secret-${marker}`)), 15_000);
    expect(r.attributes['process.command_args']).toEqual(['/bin/true', '--password=***', '--token', '***', 'https://u:***@example.com/', `secret-${marker}`]);
    expect(r.attributes['contguard.process.args_redacted']).toBe(true);
    const scripted = await waitForJsonLine(agent.logDir, isExec(name, (x) => x.attributes['process.command_args'][0] === '/bin/sh'), 15_000);
    expect(scripted.attributes['process.command_args'][2]).toBe(`DB_PASSWORD=*** /bin/true scripted-${marker}`);
    await otlp.waitForLog((l) => l.eventName === 'contguard.process.exec' && JSON.stringify(l.attributes).includes(`secret-${marker}`), 15_000);
    await otlp.waitForSpan((s) => JSON.stringify(s.attributes).includes(`secret-${marker}`), 20_000);
    await agent.waitForStdout(new RegExp(`secret-${marker}`), 15_000);
    for (const file of jsonlFiles(agent.logDir)) expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    expect(agent.stdout()).not.toContain(SECRET);
    expect(agent.stderr()).not.toContain(SECRET);
    expect(JSON.stringify(otlp.logs)).not.toContain(SECRET);
    expect(JSON.stringify(otlp.spans)).not.toContain(SECRET);
    // The raw-bytes copies (<key>_raw, base64) do not carry it either.
    const raw = otlp.logs.flatMap((l) => Object.entries(l.attributes).filter(([k]) => k.endsWith('_raw')).map(([, v]) => Buffer.from(String(v), 'base64').toString('latin1')));
    for (const b of raw) expect(b).not.toContain(SECRET);
  });
});
