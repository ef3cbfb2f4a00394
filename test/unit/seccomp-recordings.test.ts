// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYSCALLS_SNAPSHOT_EVENT } from '../../src/sensors/syscalls/telemetry.js';
import {
  JOINED_RUNNING_ATTRIBUTE,
  SNAPSHOT_EVENT,
  SeccompInputError,
  logFiles,
  parseSnapshotLine,
  readRecordings,
  selectRecordings,
  type Recording,
} from '../../src/seccomp/recordings.js';
import { nanosToIso, rotatedName, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import type { Attributes } from '../../src/telemetry/record.js';
import { callUnprivileged } from '../support/unprivileged.js';

const RECORDINGS_TS = fileURLToPath(new URL('../../src/seccomp/recordings.ts', import.meta.url));

// 2026-11-28T09:01:16Z
const T0 = 1_795_856_476_000_000_000n;
const SEC = 1_000_000_000n;
const ID_A = 'abcdef0123456789'.repeat(4);
const ID_B = '0123456789abcdef'.repeat(4);
const ID_C = 'c0ffee0000000000'.repeat(4);

interface Snap {
  id: string;
  at: bigint;
  name?: string;
  image?: string;
  tags?: string[];
  workload?: Record<string, number>;
  runtime?: Record<string, number>;
  final?: boolean;
  start?: bigint;
  lastNew?: bigint;
  arch?: string;
  /** contguard.syscalls.joined_running: the agent started after the container. */
  joined?: boolean;
}

/** One snapshot line exactly as the agent's JSON-lines sink writes it. */
function snapshotLine(s: Snap): string {
  const attributes: Attributes = {
    'container.id': s.id,
    'container.runtime.name': 'docker',
    'contguard.syscalls.arch': s.arch ?? 'x86_64',
    'contguard.syscalls.counts': s.workload ?? { read: 1 },
    'contguard.syscalls.runtime_counts': s.runtime ?? {},
    'contguard.syscalls.recording_start': nanosToIso(s.start ?? T0),
    'contguard.syscalls.final': s.final ?? false,
  };
  if (s.name !== undefined) attributes['container.name'] = s.name;
  if (s.image !== undefined) attributes['container.image.name'] = s.image;
  if (s.tags !== undefined) attributes['container.image.tags'] = s.tags;
  if (s.lastNew !== undefined) attributes['contguard.syscalls.last_new'] = nanosToIso(s.lastNew);
  if (s.joined !== undefined) attributes[JOINED_RUNNING_ATTRIBUTE] = s.joined;
  return toJsonLine({ eventName: SYSCALLS_SNAPSHOT_EVENT, timeUnixNano: s.at, severity: 'INFO', body: 'snapshot', attributes });
}

function execLine(id: string, at: bigint): string {
  return toJsonLine({
    eventName: 'contguard.process.exec',
    timeUnixNano: at,
    severity: 'INFO',
    body: 'pid=1 ppid=0 uid=0 sh -> /bin/true',
    attributes: { 'container.id': id, 'process.command_args': ['true'] },
  });
}

/** A raw line built by hand (for shapes the real writer never produces). */
function raw(attributes: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: '2026-11-28T09:01:16.000000000Z', event: SNAPSHOT_EVENT, severity: 'INFO', body: 'x', attributes, ...extra });
}

describe('parseSnapshotLine', () => {
  it('uses the event name the sensor emits', () => {
    expect(SNAPSHOT_EVENT).toBe(SYSCALLS_SNAPSHOT_EVENT);
  });

  it('reads a full snapshot written by the JSON-lines sink', () => {
    const line = snapshotLine({
      id: ID_A,
      at: T0 + 30n * SEC + 5n,
      name: 'web',
      image: 'nginx',
      tags: ['1.25', 'latest'],
      workload: { read: 120, write: 40, epoll_wait: 7, '511': 2 },
      runtime: { execve: 1, capset: 2 },
      final: true,
      start: T0,
      lastNew: T0 + 12n * SEC,
      arch: 'aarch64',
    });
    expect(parseSnapshotLine(line)).toEqual<Recording>({
      containerId: ID_A,
      containerName: 'web',
      imageName: 'nginx',
      imageTags: ['1.25', 'latest'],
      arch: 'aarch64',
      workload: { read: 120, write: 40, epoll_wait: 7, '511': 2 },
      runtime: { execve: 1, capset: 2 },
      startedAt: '2026-11-28T09:01:16.000000000Z',
      lastNewAt: '2026-11-28T09:01:28.000000000Z',
      snapshotAt: '2026-11-28T09:01:46.000000005Z',
      final: true,
      joinedRunning: false,
    });
  });

  it('fills defaults for the optional attributes', () => {
    const r = parseSnapshotLine(raw({ 'container.id': ID_B, 'contguard.syscalls.counts': { read: 1 } }));
    expect(r).toEqual<Recording>({
      containerId: ID_B,
      containerName: undefined,
      imageName: undefined,
      imageTags: [],
      arch: 'unknown',
      workload: { read: 1 },
      runtime: {},
      startedAt: '2026-11-28T09:01:16.000000000Z',
      lastNewAt: undefined,
      snapshotAt: '2026-11-28T09:01:16.000000000Z',
      final: false,
      joinedRunning: false,
    });
  });

  it('reads contguard.syscalls.joined_running (a container already running when the agent started)', () => {
    expect(JOINED_RUNNING_ATTRIBUTE).toBe('contguard.syscalls.joined_running');
    const joined = parseSnapshotLine(snapshotLine({ id: ID_A, at: T0, joined: true }));
    expect(joined).toMatchObject({ containerId: ID_A, joinedRunning: true });
    expect(parseSnapshotLine(snapshotLine({ id: ID_A, at: T0, joined: false }))).toMatchObject({ joinedRunning: false });
    expect(parseSnapshotLine(snapshotLine({ id: ID_A, at: T0 }))).toMatchObject({ joinedRunning: false });
    // Only a JSON true counts.
    expect(parseSnapshotLine(raw({ 'container.id': ID_A, 'contguard.syscalls.counts': {}, [JOINED_RUNNING_ATTRIBUTE]: 'true' }))).toMatchObject({ joinedRunning: false });
    expect(parseSnapshotLine(raw({ 'container.id': ID_A, 'contguard.syscalls.counts': {}, [JOINED_RUNNING_ATTRIBUTE]: 1 }))).toMatchObject({ joinedRunning: false });
  });

  it('accepts an empty workload map (a container that has not run anything yet)', () => {
    const r = parseSnapshotLine(snapshotLine({ id: ID_A, at: T0, workload: {}, final: true }));
    expect(r).not.toBe('corrupt');
    expect(r && r !== 'corrupt' ? r.workload : null).toEqual({});
  });

  it('keeps only string tags and treats a non-true final as false', () => {
    const r = parseSnapshotLine(
      raw({ 'container.id': ID_A, 'contguard.syscalls.counts': {}, 'container.image.tags': ['1.0', 7, null, 'x'], 'contguard.syscalls.final': 'true' }),
    );
    expect(r).toMatchObject({ imageTags: ['1.0', 'x'], final: false });
  });

  it('returns null for other events and for JSON that is not an event', () => {
    expect(parseSnapshotLine(execLine(ID_A, T0))).toBeNull();
    expect(parseSnapshotLine(JSON.stringify({ time: 'x', event: 'contguard.syscalls.snapshotX', attributes: {} }))).toBeNull();
    expect(parseSnapshotLine('42')).toBeNull();
    expect(parseSnapshotLine('null')).toBeNull();
    expect(parseSnapshotLine('[]')).toBeNull();
    expect(parseSnapshotLine('"contguard.syscalls.snapshot"')).toBeNull();
    expect(parseSnapshotLine(JSON.stringify({ event: SNAPSHOT_EVENT, time: 'x' }))).toBeNull();
    expect(parseSnapshotLine(JSON.stringify({ event: SNAPSHOT_EVENT, time: 'x', attributes: null }))).toBeNull();
  });

  it("returns 'corrupt' for lines that are not JSON (a torn last line, garbage)", () => {
    const line = snapshotLine({ id: ID_A, at: T0 });
    expect(parseSnapshotLine(line.slice(0, line.length - 10))).toBe('corrupt');
    expect(parseSnapshotLine(line.slice(0, 1))).toBe('corrupt');
    expect(parseSnapshotLine('\u0000\u0000\u0000')).toBe('corrupt');
    expect(parseSnapshotLine(line + '}')).toBe('corrupt');
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>?]>([
    ['missing counts', { 'container.id': ID_A }],
    ['counts null', { 'container.id': ID_A, 'contguard.syscalls.counts': null }],
    ['counts an array', { 'container.id': ID_A, 'contguard.syscalls.counts': [1, 2] }],
    ['counts a number', { 'container.id': ID_A, 'contguard.syscalls.counts': 5 }],
    ['a negative count', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: 3, write: -1 } }],
    ['a string count', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: '3' } }],
    ['a null count', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: null } }],
    ['a boolean count', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: true } }],
    ['a nested count', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: { n: 1 } } }],
    ['missing container.id', { 'contguard.syscalls.counts': { read: 1 } }],
    ['a numeric container.id', { 'container.id': 12345, 'contguard.syscalls.counts': { read: 1 } }],
    ['missing time', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: 1 } }, { time: undefined }],
    ['a numeric time', { 'container.id': ID_A, 'contguard.syscalls.counts': { read: 1 } }, { time: 1795856476 }],
  ])("returns 'corrupt' for a snapshot with %s", (_what, attributes, extra) => {
    expect(parseSnapshotLine(raw(attributes, extra))).toBe('corrupt');
  });

  it("returns 'corrupt' for an overflowing count (1e400 parses as Infinity)", () => {
    const line = `{"time":"2026-11-28T09:01:16.000000000Z","event":"${SNAPSHOT_EVENT}","attributes":{"container.id":"${ID_A}","contguard.syscalls.counts":{"read":1e400}}}`;
    expect(parseSnapshotLine(line)).toBe('corrupt');
  });

  it('treats a missing runtime map as empty', () => {
    const r = parseSnapshotLine(raw({ 'container.id': ID_A, 'contguard.syscalls.counts': { read: 1 } }));
    expect(r).toMatchObject({ runtime: {} });
  });

  // An invalid runtime_counts map makes the line corrupt, like an invalid counts map.
  it.each<[string, unknown]>([
    ['a negative runtime count', { execve: -1 }],
    ['a string runtime count', { execve: '1' }],
    ['a runtime map that is an array', ['execve']],
  ])("returns 'corrupt' for %s", (_what, runtime) => {
    expect(parseSnapshotLine(raw({ 'container.id': ID_A, 'contguard.syscalls.counts': { read: 1 }, 'contguard.syscalls.runtime_counts': runtime }))).toBe(
      'corrupt',
    );
  });
});

describe('readRecordings / logFiles', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-recordings-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, lines: string[], trailer = '\n') => fs.writeFileSync(path.join(dir, name), lines.join('\n') + trailer);

  it('orders the files oldest first: contguard.N ... contguard.1, then contguard.jsonl', () => {
    for (const n of ['contguard.jsonl', 'contguard.1.jsonl', 'contguard.2.jsonl', 'contguard.10.jsonl', 'contguard.3.jsonl']) write(n, []);
    // Not log files: other names, and a directory with a log file's name.
    for (const n of ['other.jsonl', 'contguard.jsonl.bak', 'contguard.x.jsonl', 'contguard..jsonl', 'contguard.1.jsonl.gz']) write(n, []);
    fs.mkdirSync(path.join(dir, 'contguard.4.jsonl'));
    expect(logFiles(dir).map((f) => path.basename(f))).toEqual([
      'contguard.10.jsonl',
      'contguard.3.jsonl',
      'contguard.2.jsonl',
      'contguard.1.jsonl',
      'contguard.jsonl',
    ]);
    expect(logFiles(dir).every((f) => path.dirname(f) === dir)).toBe(true);
  });

  it('uses the names the JSON-lines sink rotates to', () => {
    expect([rotatedName(2), rotatedName(1), rotatedName(null)]).toEqual(['contguard.2.jsonl', 'contguard.1.jsonl', 'contguard.jsonl']);
  });

  it('reads rotated and current files: the latest snapshot of each container wins; corrupt lines are counted', () => {
    // contguard.2.jsonl is the oldest file, contguard.1.jsonl the next, contguard.jsonl the live one.
    write(rotatedName(2), [
      snapshotLine({ id: ID_A, at: T0 + 1n * SEC, name: 'web', image: 'nginx', workload: { read: 1 } }),
      execLine(ID_A, T0 + 2n * SEC),
      snapshotLine({ id: ID_B, at: T0 + 3n * SEC, name: 'db', image: 'postgres', workload: { read: 9, fsync: 3 }, final: true }),
      '{"time":"2026-11-28T09:01:20.000000000Z","event":"contguard.sysc', // corrupt in an old file
    ]);
    write(rotatedName(1), [
      snapshotLine({ id: ID_A, at: T0 + 10n * SEC, name: 'web', image: 'nginx', workload: { read: 5, write: 2 } }),
      '',
      '   ',
      execLine(ID_B, T0 + 11n * SEC),
    ]);
    const torn = snapshotLine({ id: ID_A, at: T0 + 40n * SEC, name: 'web', image: 'nginx', workload: { read: 99, mkdir: 1 } });
    write(
      rotatedName(null),
      [
        snapshotLine({ id: ID_A, at: T0 + 20n * SEC, name: 'web', image: 'nginx', workload: { read: 8, write: 4, openat: 1 }, runtime: { execve: 1 }, final: true }),
        snapshotLine({ id: ID_C, at: T0 + 21n * SEC, name: 'cache', image: 'redis', workload: { epoll_wait: 3 } }),
        torn.slice(0, 80), // the agent was writing this line when we read: torn, no newline
      ],
      '',
    );

    const res = readRecordings(dir);
    expect(res.files.map((f) => path.basename(f))).toEqual(['contguard.2.jsonl', 'contguard.1.jsonl', 'contguard.jsonl']);
    expect(res.corruptLines).toBe(2);
    const byId = new Map(res.recordings.map((r) => [r.containerId, r]));
    expect([...byId.keys()].sort()).toEqual([ID_B, ID_A, ID_C].sort());
    expect(res.recordings).toHaveLength(3);
    expect(byId.get(ID_A)).toMatchObject({ workload: { read: 8, write: 4, openat: 1 }, runtime: { execve: 1 }, final: true, snapshotAt: nanosToIso(T0 + 20n * SEC) });
    // A container whose only snapshots are in the oldest rotated file is still there.
    expect(byId.get(ID_B)).toMatchObject({ containerName: 'db', workload: { read: 9, fsync: 3 }, final: true });
    expect(byId.get(ID_C)).toMatchObject({ imageName: 'redis', workload: { epoll_wait: 3 }, final: false });
  });

  it('compares snapshot times, not line order; on a tie the later line wins', () => {
    write(rotatedName(null), [
      snapshotLine({ id: ID_A, at: T0 + 50n * SEC, workload: { read: 50 } }),
      snapshotLine({ id: ID_A, at: T0 + 49n * SEC, workload: { read: 49 } }),
      snapshotLine({ id: ID_B, at: T0 + 7n * SEC, workload: { read: 1 } }),
      snapshotLine({ id: ID_B, at: T0 + 7n * SEC, workload: { read: 2 } }),
      // Nanosecond precision: .000000002 is later than .000000001 in the same second.
      snapshotLine({ id: ID_C, at: T0 + 2n, workload: { read: 2 } }),
      snapshotLine({ id: ID_C, at: T0 + 1n, workload: { read: 1 } }),
    ]);
    const res = readRecordings(dir);
    const by = new Map(res.recordings.map((r) => [r.containerId, r.workload.read]));
    expect(by).toEqual(new Map([[ID_A, 50], [ID_B, 2], [ID_C, 2]]));
    expect(res.corruptLines).toBe(0);
  });

  it('keeps joinedRunning for the whole run when any of its snapshots has it, in any order', () => {
    const START_B = T0 + 100n * SEC;
    write(rotatedName(1), [
      // Run 1 of ID_A: its first snapshot says joined, the later (winning) one does not repeat it.
      snapshotLine({ id: ID_A, at: T0 + 10n * SEC, joined: true, workload: { read: 1 } }),
      // ID_B: the later snapshot says joined and comes first in the file.
      snapshotLine({ id: ID_B, at: T0 + 30n * SEC, joined: true, workload: { read: 3 } }),
    ]);
    write(rotatedName(null), [
      snapshotLine({ id: ID_A, at: T0 + 20n * SEC, workload: { read: 2 }, final: true }),
      snapshotLine({ id: ID_B, at: T0 + 20n * SEC, workload: { read: 2 } }),
      // Run 2 of ID_A (restarted: same id, new recording start) was recorded from its start.
      snapshotLine({ id: ID_A, at: START_B + 5n * SEC, start: START_B, workload: { read: 7 } }),
      snapshotLine({ id: ID_C, at: T0 + 20n * SEC, workload: { read: 1 } }),
    ]);
    const res = readRecordings(dir);
    const runs = res.recordings.map((r) => [r.containerId, r.workload.read, r.joinedRunning]);
    expect(runs.sort()).toEqual(
      [
        [ID_A, 2, true],
        [ID_A, 7, false],
        [ID_B, 3, true],
        [ID_C, 1, false],
      ].sort(),
    );
  });

  it('reads a log dir with only the live file, or with no log files at all', () => {
    write(rotatedName(null), [snapshotLine({ id: ID_A, at: T0 })]);
    expect(readRecordings(dir).recordings.map((r) => r.containerId)).toEqual([ID_A]);
    fs.rmSync(path.join(dir, rotatedName(null)));
    expect(readRecordings(dir)).toEqual({ recordings: [], corruptLines: 0, files: [] });
  });

  it('reads CRLF line endings', () => {
    fs.writeFileSync(path.join(dir, rotatedName(null)), snapshotLine({ id: ID_A, at: T0 }) + '\r\n' + snapshotLine({ id: ID_B, at: T0 }) + '\r\n');
    const res = readRecordings(dir);
    expect(res.recordings).toHaveLength(2);
    expect(res.corruptLines).toBe(0);
  });

  it('throws SeccompInputError for a missing log dir', () => {
    const missing = path.join(dir, 'nope');
    expect(() => readRecordings(missing)).toThrow(SeccompInputError);
    expect(() => readRecordings(missing)).toThrow(`cannot read log dir ${missing}: ENOENT`);
  });

  it('throws SeccompInputError when the log dir is a file', () => {
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    expect(() => readRecordings(file)).toThrow(SeccompInputError);
    expect(() => readRecordings(file)).toThrow(`cannot read log dir ${file}: ENOTDIR`);
  });

  // Root reads everything: as root (CI) the reads run in a child process as nobody (uid 65534).
  const readUnprivileged = (d: string) => callUnprivileged(RECORDINGS_TS, 'readRecordings', readRecordings, d);

  it('throws SeccompInputError for a log dir it may not read', () => {
    fs.chmodSync(dir, 0o755); // the unprivileged user may reach it, not read what is inside
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked, { mode: 0o000 });
    try {
      const res = readUnprivileged(locked);
      expect(res).toMatchObject({ threw: true, error: { name: SeccompInputError.name } });
      expect(res.threw && res.error.message).toBe(`cannot read log dir ${locked}: EACCES`);
    } finally {
      fs.chmodSync(locked, 0o700);
    }
  });

  it('throws SeccompInputError for a log file it may not read', () => {
    fs.chmodSync(dir, 0o755);
    write(rotatedName(null), [snapshotLine({ id: ID_A, at: T0 })]);
    fs.chmodSync(path.join(dir, rotatedName(null)), 0o000);
    const res = readUnprivileged(dir);
    expect(res).toMatchObject({ threw: true, error: { name: SeccompInputError.name } });
    expect(res.threw && res.error.message).toBe(`cannot read ${path.join(dir, rotatedName(null))}: EACCES`);
  });

  it('reads the same log dir when the unprivileged user may (control for the two tests above)', () => {
    fs.chmodSync(dir, 0o755);
    write(rotatedName(null), [snapshotLine({ id: ID_A, at: T0, name: 'web' })]);
    fs.chmodSync(path.join(dir, rotatedName(null)), 0o644);
    const res = readUnprivileged(dir);
    expect(res).toMatchObject({ threw: false, value: { recordings: [{ containerId: ID_A, containerName: 'web' }], corruptLines: 0 } });
  });
});

describe('selectRecordings', () => {
  const rec = (over: Partial<Recording> & { containerId: string }): Recording => ({
    imageTags: [],
    arch: 'x86_64',
    workload: { read: 1 },
    runtime: {},
    startedAt: '2026-11-28T09:00:00.000000000Z',
    snapshotAt: '2026-11-28T09:01:00.000000000Z',
    final: false,
    joinedRunning: false,
    ...over,
  });
  const web = rec({ containerId: ID_A, containerName: 'web', imageName: 'nginx', imageTags: ['1.25', 'latest'] });
  const web2 = rec({ containerId: 'a1b2c3d4'.repeat(8), containerName: 'web-2', imageName: 'nginx', imageTags: ['1.25'] });
  const webOld = rec({ containerId: 'deadbeef'.repeat(8), containerName: 'web-old', imageName: 'nginx', imageTags: ['1.24'] });
  const db = rec({ containerId: ID_B, containerName: 'db', imageName: 'postgres', imageTags: ['16'] });
  const anon1 = rec({ containerId: ID_C });
  const anon2 = rec({ containerId: 'c0ffee1111111111'.repeat(4) });
  const all = [web, db, web2, anon1, webOld, anon2];
  const names = (rs: Recording[]) => rs.map((r) => r.containerName ?? r.containerId.slice(0, 16));

  it('by container name, merging the runs that share its image', () => {
    expect(names(selectRecordings(all, 'web'))).toEqual(['web', 'web-2', 'web-old']);
    expect(names(selectRecordings(all, 'db'))).toEqual(['db']);
  });

  it('by image name', () => {
    expect(names(selectRecordings(all, 'nginx'))).toEqual(['web', 'web-2', 'web-old']);
    expect(names(selectRecordings(all, 'postgres'))).toEqual(['db']);
  });

  it('by image:tag, merging the other runs of the image', () => {
    expect(names(selectRecordings(all, 'nginx:latest'))).toEqual(['web', 'web-2', 'web-old']);
    expect(names(selectRecordings(all, 'postgres:16'))).toEqual(['db']);
    expect(selectRecordings(all, 'nginx:9.9')).toEqual([]);
    expect(selectRecordings(all, 'postgres:1.25')).toEqual([]);
  });

  it('by container id prefix of at least 4 lowercase hex digits', () => {
    expect(names(selectRecordings(all, ID_A))).toEqual(['web', 'web-2', 'web-old']);
    expect(names(selectRecordings(all, 'abcd'))).toEqual(['web', 'web-2', 'web-old']);
    expect(names(selectRecordings(all, '0123456789ab'))).toEqual(['db']);
    expect(selectRecordings(all, 'abc')).toEqual([]); // too short
    expect(selectRecordings(all, 'ABCD')).toEqual([]); // ids are lowercase
    expect(selectRecordings(all, 'bcde')).toEqual([]); // not a prefix
  });

  it('does not merge containers without an image name with each other', () => {
    expect(selectRecordings(all, 'c0ffee00')).toEqual([anon1]);
    expect(selectRecordings(all, 'c0ffee')).toEqual([anon1, anon2]);
  });

  it('finds nothing for an unknown target', () => {
    expect(selectRecordings(all, 'nope')).toEqual([]);
    expect(selectRecordings(all, '')).toEqual([]);
    expect(selectRecordings([], 'web')).toEqual([]);
  });
});
