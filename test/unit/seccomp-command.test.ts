// SPDX-License-Identifier: Apache-2.0
/** `contguard seccomp` on JSON-lines fixtures: joined runs, --config (log dir, Docker socket). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { describeRun, joinedRunningWarning, runSeccomp } from '../../src/seccomp/command.js';
import { JOINED_RUNNING_ATTRIBUTE, SeccompInputError, type Recording } from '../../src/seccomp/recordings.js';
import { hostSyscallArch } from '../../src/sensors/syscalls/names.js';
import { SYSCALLS_SNAPSHOT_EVENT } from '../../src/sensors/syscalls/telemetry.js';
import { nanosToIso, rotatedName, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import type { Attributes } from '../../src/telemetry/record.js';

const T0 = 1_795_856_476_000_000_000n; // 2026-11-28T09:01:16Z
const SEC = 1_000_000_000n;
const ID_A = 'abcdef0123456789'.repeat(4);
const ID_B = '0123456789abcdef'.repeat(4);
const ARCH = hostSyscallArch();

function snapshot(id: string, name: string, opts: { joined?: boolean; at?: bigint; workload?: Record<string, number> } = {}): string {
  const attributes: Attributes = {
    'container.id': id,
    'container.name': name,
    'container.image.name': 'nginx',
    'container.image.tags': ['1.25'],
    'container.runtime.name': 'docker',
    'contguard.syscalls.arch': ARCH,
    'contguard.syscalls.counts': opts.workload ?? { read: 5, write: 2, exit_group: 1 },
    'contguard.syscalls.runtime_counts': { execve: 1 },
    'contguard.syscalls.recording_start': nanosToIso(T0),
    'contguard.syscalls.final': true,
  };
  if (opts.joined !== undefined) attributes[JOINED_RUNNING_ATTRIBUTE] = opts.joined;
  return toJsonLine({ eventName: SYSCALLS_SNAPSHOT_EVENT, timeUnixNano: opts.at ?? T0 + 30n * SEC, severity: 'INFO', body: 'snapshot', attributes });
}

let work: string;
let logDir: string;
let reference: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-seccomp-cmd-'));
  logDir = path.join(work, 'logs');
  fs.mkdirSync(logDir);
  // A small reference profile, so the report does not depend on the host's copy of Docker's.
  reference = path.join(work, 'default.json');
  fs.writeFileSync(reference, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write', 'mkdir'], action: 'SCMP_ACT_ALLOW' }] }));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const writeLog = (dir: string, lines: string[]) => fs.writeFileSync(path.join(dir, rotatedName(null)), lines.join('\n') + '\n');

async function seccomp(o: Parameters<typeof runSeccomp>[0]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runSeccomp(o, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join(''), errLines: err.join('').split('\n').filter(Boolean) };
}

describe('contguard seccomp: runs joined while running', () => {
  it('warns once on stderr and names the joined runs in the report', async () => {
    writeLog(logDir, [snapshot(ID_A, 'web', { joined: true }), snapshot(ID_B, 'web-2')]);
    const r = await seccomp({ target: 'web', logDir, dockerDefault: reference });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).defaultAction).toBe('SCMP_ACT_ERRNO');
    const warnings = r.errLines.filter((l) => l.includes('warning'));
    expect(warnings).toEqual([
      'contguard seccomp: warning: 1 of 2 run(s) were already running when the agent started: their start-up syscalls may be missing from the profile (record a fresh start to include them)',
    ]);
    // The warning comes before the report; the report names the run.
    expect(r.errLines.indexOf(warnings[0]!)).toBeLessThan(r.errLines.findIndex((l) => l.includes('recorded 2 run(s)')));
    expect(r.errLines).toContain(
      'contguard seccomp: joined while already running, start-up syscalls may be missing: web (abcdef012345, recording from 2026-11-28T09:01:16.000000000Z)',
    );
  });

  it('counts a run as joined when an earlier snapshot said so', async () => {
    writeLog(logDir, [snapshot(ID_A, 'web', { joined: true, at: T0 + 10n * SEC }), snapshot(ID_A, 'web', { at: T0 + 20n * SEC }), snapshot(ID_B, 'web-2', { joined: true })]);
    const r = await seccomp({ target: 'nginx', logDir, dockerDefault: reference });
    expect(r.errLines.filter((l) => l.includes('warning'))).toHaveLength(1);
    expect(r.errLines).toContainEqual(expect.stringMatching(/warning: 2 of 2 run\(s\) were already running/));
    expect(r.errLines).toContainEqual(expect.stringMatching(/joined while already running, start-up syscalls may be missing: web \(abcdef012345, .*\), web-2 \(0123456789ab, .*\)$/));
  });

  it('says nothing about it when every run was recorded from its start', async () => {
    writeLog(logDir, [snapshot(ID_A, 'web', { joined: false }), snapshot(ID_B, 'web-2')]);
    const r = await seccomp({ target: 'web', logDir, dockerDefault: reference });
    expect(r.code).toBe(0);
    expect(r.errLines.join('\n')).not.toMatch(/warning|joined|already running/);
  });

  it('joinedRunningWarning / describeRun', () => {
    const base: Recording = {
      containerId: ID_A,
      imageTags: [],
      arch: ARCH,
      workload: {},
      runtime: {},
      startedAt: 'S',
      snapshotAt: 'E',
      final: true,
      joinedRunning: false,
    };
    expect(joinedRunningWarning([base])).toBeNull();
    expect(joinedRunningWarning([])).toBeNull();
    expect(joinedRunningWarning([base, { ...base, joinedRunning: true }])).toMatch(/^warning: 1 of 2 run\(s\) were already running/);
    expect(describeRun({ ...base, containerName: 'db' })).toBe('db (abcdef012345, recording from S)');
    expect(describeRun({ ...base, imageName: 'redis' })).toBe('redis (abcdef012345, recording from S)');
    expect(describeRun(base)).toBe('? (abcdef012345, recording from S)');
  });
});

describe('contguard seccomp --config', () => {
  const config = (text: string) => {
    const f = path.join(work, 'contguard.yaml');
    fs.writeFileSync(f, text);
    return f;
  };

  it("reads the log dir the config's JSON-lines output writes to", async () => {
    const elsewhere = path.join(work, 'agent-logs');
    fs.mkdirSync(elsewhere);
    writeLog(elsewhere, [snapshot(ID_A, 'web')]);
    const cfg = config(`outputs:\n  jsonl:\n    dir: ${elsewhere}\n`);
    const r = await seccomp({ target: 'web', config: cfg, dockerDefault: reference });
    expect(r.code).toBe(0);
    expect(r.errLines).toContainEqual(expect.stringMatching(/recorded 1 run\(s\) of image nginx/));
    // --log-dir still wins over the config.
    await expect(seccomp({ target: 'web', config: cfg, logDir, dockerDefault: reference })).rejects.toThrow(`no recorded syscalls for "web" in ${logDir}`);
  });

  it("asks Docker on the config's docker.socket for --check", async () => {
    writeLog(logDir, [snapshot(ID_A, 'web')]);
    const socket = path.join(work, 'no-docker.sock');
    const cfg = config(`docker:\n  socket: ${socket}\n`);
    const run = seccomp({ check: 'web', config: cfg, logDir, dockerDefault: reference });
    await expect(run).rejects.toThrow(SeccompInputError);
    await expect(seccomp({ check: 'web', config: cfg, logDir, dockerDefault: reference })).rejects.toThrow(`docker inspect web (${socket}):`);
  });

  it('rejects a config the agent would reject, as strictly as run does', async () => {
    const bad = config('docker:\n  sockett: /x\n');
    await expect(seccomp({ target: 'web', config: bad, logDir })).rejects.toThrow(ConfigError);
    await expect(seccomp({ target: 'web', config: bad, logDir })).rejects.toThrow(`config ${bad}: unknown key "sockett" in docker`);
    const missing = path.join(work, 'nope.yaml');
    await expect(seccomp({ target: 'web', config: missing, logDir })).rejects.toThrow(`config ${missing}: cannot read`);
  });
});
