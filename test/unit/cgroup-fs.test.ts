// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CgroupIdResolver,
  cgroupHierarchyRoot,
  detectCgroupMode,
  ownCgroupPath,
} from '../../src/containers/cgroup-fs.js';

const ID = '0123456789abcdef'.repeat(4);

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-cgroup-'));
});

afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function mkdir(rel: string): bigint {
  const dir = path.join(tmp, rel);
  fs.mkdirSync(dir, { recursive: true });
  return fs.statSync(dir, { bigint: true }).ino;
}

function touch(rel: string, content = ''): string {
  const file = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('detectCgroupMode', () => {
  it('detects v2 from cgroup.controllers at the root', () => {
    touch('cgroup.controllers', 'cpu memory pids\n');
    expect(detectCgroupMode(tmp)).toBe('v2');
  });

  it('detects hybrid from unified/cgroup.procs', () => {
    mkdir('memory');
    touch('unified/cgroup.procs');
    expect(detectCgroupMode(tmp)).toBe('hybrid');
  });

  it('prefers v2 when both markers exist', () => {
    touch('cgroup.controllers');
    touch('unified/cgroup.procs');
    expect(detectCgroupMode(tmp)).toBe('v2');
  });

  it('falls back to v1', () => {
    mkdir('memory');
    mkdir('cpu,cpuacct');
    expect(detectCgroupMode(tmp)).toBe('v1');
  });

  it('is v1 for an empty unified dir and for a missing root', () => {
    mkdir('unified');
    expect(detectCgroupMode(tmp)).toBe('v1');
    expect(detectCgroupMode(path.join(tmp, 'does-not-exist'))).toBe('v1');
  });
});

describe('cgroupHierarchyRoot', () => {
  it('maps each mode to the directory carrying the reported ids', () => {
    expect(cgroupHierarchyRoot('v2', '/r')).toBe('/r');
    expect(cgroupHierarchyRoot('hybrid', '/r')).toBe('/r/unified');
    expect(cgroupHierarchyRoot('v1', '/r')).toBe('/r/memory');
    expect(cgroupHierarchyRoot('v2')).toBe('/sys/fs/cgroup');
    expect(cgroupHierarchyRoot('hybrid')).toBe('/sys/fs/cgroup/unified');
    expect(cgroupHierarchyRoot('v1')).toBe('/sys/fs/cgroup/memory');
  });
});

describe('CgroupIdResolver', () => {
  it('maps directory inodes to paths relative to the hierarchy root', () => {
    const rootIno = fs.statSync(tmp, { bigint: true }).ino;
    const sys = mkdir('system.slice');
    const scope = mkdir(`system.slice/docker-${ID}.scope`);
    const pod = mkdir(`kubepods/burstable/pod1/${ID}`);
    touch('system.slice/cgroup.procs', '1\n');

    const r = new CgroupIdResolver(tmp);
    expect(r.resolve(rootIno)).toBe('/');
    expect(r.resolve(sys)).toBe('/system.slice');
    expect(r.resolve(scope)).toBe(`/system.slice/docker-${ID}.scope`);
    expect(r.resolve(pod)).toBe(`/kubepods/burstable/pod1/${ID}`);
    // root, system.slice, the scope, kubepods, burstable, pod1, the id dir
    expect(r.size).toBe(7);
  });

  it('does not record files or follow symlinks', () => {
    const fileIno = fs.statSync(touch('cgroup.procs'), { bigint: true }).ino;
    const target = mkdir('real');
    fs.symlinkSync(path.join(tmp, 'real'), path.join(tmp, 'link'));
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(target)).toBe('/real');
    expect(r.resolve(fileIno)).toBeNull();
    expect(r.size).toBe(2);
  });

  it('serves hits from the cache without touching the disk', () => {
    const a = mkdir('a');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(a)).toBe('/a');
    const readdir = vi.spyOn(fs, 'readdirSync');
    const stat = vi.spyOn(fs, 'statSync');
    for (let i = 0; i < 5; i++) expect(r.resolve(a)).toBe('/a');
    expect(readdir).not.toHaveBeenCalled();
    expect(stat).not.toHaveBeenCalled();
  });

  it('keeps a cached path after the directory is removed, until forgotten', () => {
    const a = mkdir('a');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(a)).toBe('/a');
    fs.rmdirSync(path.join(tmp, 'a'));
    expect(r.resolve(a)).toBe('/a');
    const before = r.size;
    r.forget(a);
    expect(r.size).toBe(before - 1);
    expect(r.resolve(a)).toBeNull();
  });

  it('rescans on a miss to pick up new cgroups', () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const rootIno = fs.statSync(tmp, { bigint: true }).ino;
    expect(r.resolve(rootIno)).toBe('/');
    const late = mkdir('late/child');
    expect(r.resolve(late)).toBe('/late/child');
  });

  it('rate-limits rescans triggered by misses', async () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 100 });
    const readdir = vi.spyOn(fs, 'readdirSync');
    expect(r.resolve(123456789n)).toBeNull(); // first miss scans
    const scansAfterFirst = readdir.mock.calls.length;
    expect(scansAfterFirst).toBeGreaterThan(0);

    const late = mkdir('late');
    expect(r.resolve(late)).toBeNull(); // inside the interval: no rescan
    expect(readdir.mock.calls.length).toBe(scansAfterFirst);

    await sleep(150);
    expect(r.resolve(late)).toBe('/late'); // interval elapsed: rescans
    expect(readdir.mock.calls.length).toBeGreaterThan(scansAfterFirst);
  });

  it('limits the scan depth', () => {
    const d1 = mkdir('d1');
    const d2 = mkdir('d1/d2');
    const d3 = mkdir('d1/d2/d3');
    const r = new CgroupIdResolver(tmp, { maxDepth: 2, rescanIntervalMs: 0 });
    expect(r.resolve(d1)).toBe('/d1');
    expect(r.resolve(d2)).toBe('/d1/d2');
    expect(r.resolve(d3)).toBeNull();
    expect(r.size).toBe(3);
  });

  it('scans 12 levels deep by default', () => {
    const rel12 = Array.from({ length: 12 }, (_, i) => `l${i + 1}`).join('/');
    const at12 = mkdir(rel12);
    const at13 = mkdir(rel12 + '/l13');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(at12)).toBe('/' + rel12);
    expect(r.resolve(at13)).toBeNull();
  });

  it('tolerates a directory vanishing mid-walk', () => {
    const keep = mkdir('keep');
    mkdir('gone/child');
    const realReaddir = fs.readdirSync;
    vi.spyOn(fs, 'readdirSync').mockImplementation(((dir: fs.PathLike, opts: unknown) => {
      const entries = (realReaddir as (d: fs.PathLike, o: unknown) => fs.Dirent[])(dir, opts);
      // Listed, then removed before the walker stats it.
      if (dir === tmp) fs.rmSync(path.join(tmp, 'gone'), { recursive: true });
      return entries;
    }) as typeof fs.readdirSync);

    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(() => r.resolve(keep)).not.toThrow();
    expect(r.resolve(keep)).toBe('/keep');
    expect(r.size).toBe(2); // root and keep; nothing from the vanished subtree
  });

  it('skips unreadable directories (EACCES) and keeps walking', () => {
    const locked = mkdir('locked');
    mkdir('locked/inner');
    const open = mkdir('open/inner');
    const realReaddir = fs.readdirSync;
    vi.spyOn(fs, 'readdirSync').mockImplementation(((dir: fs.PathLike, opts: unknown) => {
      if (dir === path.join(tmp, 'locked')) {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      }
      return (realReaddir as (d: fs.PathLike, o: unknown) => fs.Dirent[])(dir, opts);
    }) as typeof fs.readdirSync);

    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(open)).toBe('/open/inner');
    expect(r.resolve(locked)).toBe('/locked'); // listed by its parent, just not entered
    expect(r.size).toBe(4); // root, locked, open, open/inner
  });

  it('returns null for a missing hierarchy root', () => {
    const r = new CgroupIdResolver(path.join(tmp, 'missing'), { rescanIntervalMs: 0 });
    expect(r.resolve(1n)).toBeNull();
    expect(r.size).toBe(0);
  });

  it('returns null for non-bigint ids', () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(1 as unknown as bigint)).toBeNull();
  });
});

describe('ownCgroupPath', () => {
  const v1File = [
    '12:pids:/user.slice/user-1000.slice',
    '11:cpu,cpuacct:/user.slice',
    '4:memory:/user.slice/user-1000.slice/session-2.scope',
    '1:name=systemd:/user.slice/user-1000.slice/session-2.scope',
    '',
  ].join('\n');
  const hybridFile = [
    '5:memory:/system.slice/foo.service',
    '1:name=systemd:/system.slice/foo.service',
    `0::/system.slice/docker-${ID}.scope`,
    '',
  ].join('\n');
  const v2File = `0::/kubepods.slice/pod:with:colons/cri-containerd-${ID}.scope\n`;

  it('reads the unified entry for v2', () => {
    const f = touch('v2', v2File);
    expect(ownCgroupPath('v2', f)).toBe(`/kubepods.slice/pod:with:colons/cri-containerd-${ID}.scope`);
  });

  it('reads the unified entry for hybrid', () => {
    const f = touch('hybrid', hybridFile);
    expect(ownCgroupPath('hybrid', f)).toBe(`/system.slice/docker-${ID}.scope`);
  });

  it('reads the memory controller entry for v1', () => {
    const f = touch('v1', v1File);
    expect(ownCgroupPath('v1', f)).toBe('/user.slice/user-1000.slice/session-2.scope');
    const h = touch('hybrid', hybridFile);
    expect(ownCgroupPath('v1', h)).toBe('/system.slice/foo.service');
  });

  it('finds memory in a combined controller list', () => {
    const f = touch('combined', '3:cpu,memory:/lxc/c1\n');
    expect(ownCgroupPath('v1', f)).toBe('/lxc/c1');
  });

  it('returns null when the entry is missing', () => {
    const f = touch('v1only', v1File);
    expect(ownCgroupPath('v2', f)).toBeNull();
    const g = touch('v2only', v2File);
    expect(ownCgroupPath('v1', g)).toBeNull();
  });

  it('returns null for an unreadable or malformed file', () => {
    expect(ownCgroupPath('v2', path.join(tmp, 'nope'))).toBeNull();
    const f = touch('junk', 'garbage\n::\n0:\n\0\0\n');
    expect(ownCgroupPath('v2', f)).toBeNull();
  });
});
