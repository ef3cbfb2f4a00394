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
  /** An id no directory of the temp tree has. */
  const UNKNOWN = 2n ** 62n + 777n;

  it('maps directory inodes to paths relative to the hierarchy root', async () => {
    const rootIno = fs.statSync(tmp, { bigint: true }).ino;
    const sys = mkdir('system.slice');
    const scope = mkdir(`system.slice/docker-${ID}.scope`);
    const pod = mkdir(`kubepods/burstable/pod1/${ID}`);
    touch('system.slice/cgroup.procs', '1\n');

    const r = new CgroupIdResolver(tmp);
    expect(await r.resolveAsync(rootIno)).toBe('/');
    expect(await r.resolveAsync(sys)).toBe('/system.slice');
    expect(await r.resolveAsync(scope)).toBe(`/system.slice/docker-${ID}.scope`);
    expect(await r.resolveAsync(pod)).toBe(`/kubepods/burstable/pod1/${ID}`);
    expect(r.resolve(pod)).toBe(`/kubepods/burstable/pod1/${ID}`);
    // root, system.slice, the scope, kubepods, burstable, pod1, the id dir
    expect(r.size).toBe(7);
  });

  it('list() walks the tree now and returns every cgroup with its path', () => {
    const rootIno = fs.statSync(tmp, { bigint: true }).ino;
    const a = mkdir('a');
    const b = mkdir('a/b');
    touch('a/cgroup.procs');
    const r = new CgroupIdResolver(tmp);
    const listed = r.list();
    expect(new Map(listed.map((e) => [e.id, e.path]))).toEqual(
      new Map([
        [rootIno, '/'],
        [a, '/a'],
        [b, '/a/b'],
      ]),
    );
    expect(r.resolve(b)).toBe('/a/b');
    // Only what exists now: a removed cgroup is not listed, even while its id stays cached.
    fs.rmdirSync(path.join(tmp, 'a/b'));
    expect(r.list().map((e) => e.id)).not.toContain(b);
    expect(r.resolve(b)).toBe('/a/b');
  });

  it('does not record files or follow symlinks', async () => {
    const fileIno = fs.statSync(touch('cgroup.procs'), { bigint: true }).ino;
    const target = mkdir('real');
    fs.symlinkSync(path.join(tmp, 'real'), path.join(tmp, 'link'));
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(target)).toBe('/real');
    expect(await r.resolveAsync(fileIno)).toBeNull();
    expect(r.size).toBe(2);
  });

  it('resolve() answers from the cache only: a miss never touches the disk', () => {
    const a = mkdir('a');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const spies = [
      vi.spyOn(fs, 'readdirSync'),
      vi.spyOn(fs, 'statSync'),
      vi.spyOn(fs.promises, 'readdir'),
      vi.spyOn(fs.promises, 'stat'),
      vi.spyOn(fs.promises, 'opendir'),
    ];
    expect(r.resolve(a)).toBeNull();
    expect(r.resolve(UNKNOWN)).toBeNull();
    for (const s of spies) expect(s).not.toHaveBeenCalled();
    expect(r.size).toBe(0);
  });

  it('serves hits from the cache without touching the disk', async () => {
    const a = mkdir('a');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(a)).toBe('/a');
    const spies = [vi.spyOn(fs, 'readdirSync'), vi.spyOn(fs, 'statSync'), vi.spyOn(fs.promises, 'readdir'), vi.spyOn(fs.promises, 'stat')];
    for (let i = 0; i < 5; i++) {
      expect(r.resolve(a)).toBe('/a');
      expect(await r.resolveAsync(a, { name: 'a', parentName: '' })).toBe('/a');
    }
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('keeps a cached path after the directory is removed, until forgotten', async () => {
    const a = mkdir('a');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(a)).toBe('/a');
    fs.rmdirSync(path.join(tmp, 'a'));
    expect(r.resolve(a)).toBe('/a');
    expect(await r.resolveAsync(a)).toBe('/a');
    const before = r.size;
    r.forget(a);
    r.forget(a); // twice: no effect
    expect(r.size).toBe(before - 1);
    expect(r.resolve(a)).toBeNull();
    expect(await r.resolveAsync(a)).toBeNull();
  });

  it('rescans on a miss to pick up new cgroups', async () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const rootIno = fs.statSync(tmp, { bigint: true }).ino;
    expect(await r.resolveAsync(rootIno)).toBe('/');
    const late = mkdir('late/child');
    expect(r.resolve(late)).toBeNull();
    expect(await r.resolveAsync(late)).toBe('/late/child');
    expect(r.resolve(late)).toBe('/late/child');
  });

  it('rate-limits rescans triggered by misses (counted from the end of the last scan)', async () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 100 });
    const readdir = vi.spyOn(fs.promises, 'readdir');
    expect(await r.resolveAsync(UNKNOWN)).toBeNull(); // first miss scans
    const scansAfterFirst = readdir.mock.calls.length;
    expect(scansAfterFirst).toBeGreaterThan(0);

    const late = mkdir('late');
    expect(await r.resolveAsync(late)).toBeNull(); // inside the interval: no rescan
    expect(readdir.mock.calls.length).toBe(scansAfterFirst);

    await sleep(150);
    expect(await r.resolveAsync(late)).toBe('/late'); // interval elapsed: rescans
    expect(readdir.mock.calls.length).toBeGreaterThan(scansAfterFirst);
  });

  it('list() counts as a scan for the rate limit', async () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 60_000 });
    r.list();
    const late = mkdir('late');
    const readdir = vi.spyOn(fs.promises, 'readdir');
    expect(await r.resolveAsync(late)).toBeNull();
    expect(readdir).not.toHaveBeenCalled();
  });

  it('concurrent misses share one scan', async () => {
    const ids = [mkdir('a'), mkdir('b/c'), mkdir('d/e/f')];
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const readdir = vi.spyOn(fs.promises, 'readdir');
    const results = await Promise.all([...ids, UNKNOWN, UNKNOWN + 1n, ...ids].map((id) => r.resolveAsync(id)));
    expect(results).toEqual(['/a', '/b/c', '/d/e/f', null, null, '/a', '/b/c', '/d/e/f']);
    const rootReads = readdir.mock.calls.filter(([dir]) => dir === tmp);
    expect(rootReads).toHaveLength(1);
  });

  it('a scan of thousands of directories lets the event loop run between its steps', async () => {
    const SLICES = 30;
    const PER_SLICE = 70;
    for (let i = 0; i < SLICES; i++) {
      for (let j = 0; j < PER_SLICE; j++) fs.mkdirSync(path.join(tmp, `s${i}.slice`, `c${j}.scope`), { recursive: true });
    }
    const total = 1 + SLICES + SLICES * PER_SLICE; // with the root
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const readdirSync = vi.spyOn(fs, 'readdirSync');
    const statSync = vi.spyOn(fs, 'statSync');

    // What other callbacks (the ring buffer drain, timers) see while the scan runs.
    const observed: number[] = [];
    let done = false;
    const tick = (): void => {
      if (done) return;
      observed.push(r.size);
      setImmediate(tick);
    };
    setImmediate(tick);
    let timerRan = false;
    setTimeout(() => (timerRan = !done), 0);

    const pending = r.resolveAsync(UNKNOWN);
    expect(r.size).toBeLessThan(total); // resolveAsync returned before the walk was done
    expect(await pending).toBeNull();
    done = true;

    expect(r.size).toBe(total);
    const midway = new Set(observed.filter((n) => n > 0 && n < total));
    // Callbacks ran at many points of the walk, not only before or after it.
    expect(midway.size).toBeGreaterThanOrEqual(SLICES);
    expect(timerRan).toBe(true);
    expect(readdirSync).not.toHaveBeenCalled();
    expect(statSync).not.toHaveBeenCalled();
  });

  it('yields to the event loop every scanBatch directories even when the reads are instant', async () => {
    for (let i = 0; i < 10; i++) mkdir(`d${i}`);
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0, scanBatch: 2 });
    const immediate = vi.spyOn(globalThis, 'setImmediate');
    await r.resolveAsync(UNKNOWN);
    // 11 directories read (root + 10): a yield after every 2nd one.
    expect(immediate.mock.calls.length).toBeGreaterThanOrEqual(5);
  });

  describe('a miss with the kernel names', () => {
    it('is confirmed by one stat of the suggested path, before any scan', async () => {
      mkdir('system.slice');
      mkdir('kubepods.slice/kubepods-pod1.slice');
      const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 60_000 }); // no scan allowed after list()
      r.list();
      const scope = mkdir(`system.slice/docker-${ID}.scope`);
      const pod = mkdir(`kubepods.slice/kubepods-pod1.slice/cri-containerd-${ID}.scope`);
      const top = mkdir('new.slice');
      const readdir = vi.spyOn(fs.promises, 'readdir');
      const stat = vi.spyOn(fs.promises, 'stat');

      expect(await r.resolveAsync(scope, { name: `docker-${ID}.scope`, parentName: 'system.slice' })).toBe(`/system.slice/docker-${ID}.scope`);
      expect(await r.resolveAsync(pod, { name: `cri-containerd-${ID}.scope`, parentName: 'kubepods-pod1.slice' })).toBe(
        `/kubepods.slice/kubepods-pod1.slice/cri-containerd-${ID}.scope`,
      );
      expect(await r.resolveAsync(top, { name: 'new.slice', parentName: '' })).toBe('/new.slice');
      expect(readdir).not.toHaveBeenCalled();
      expect(stat).toHaveBeenCalledTimes(3);
      // Cached: resolve() answers, and a child of a probed cgroup probes from it.
      expect(r.resolve(scope)).toBe(`/system.slice/docker-${ID}.scope`);
      const inner = mkdir(`system.slice/docker-${ID}.scope/init.scope`);
      expect(await r.resolveAsync(inner, { name: 'init.scope', parentName: `docker-${ID}.scope` })).toBe(
        `/system.slice/docker-${ID}.scope/init.scope`,
      );
      expect(readdir).not.toHaveBeenCalled();
    });

    it('accepts the suggested path only when its inode is the id', async () => {
      mkdir('system.slice');
      const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 60_000 });
      r.list();
      mkdir('system.slice/other.scope');
      const sizeBefore = r.size;
      expect(await r.resolveAsync(UNKNOWN, { name: 'other.scope', parentName: 'system.slice' })).toBeNull();
      expect(await r.resolveAsync(UNKNOWN, { name: 'missing.scope', parentName: 'system.slice' })).toBeNull();
      expect(await r.resolveAsync(UNKNOWN, { name: 'x', parentName: 'unknown-parent' })).toBeNull();
      expect(r.size).toBe(sizeBefore);
    });

    it('falls back to a scan when the parent is not cached either', async () => {
      const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
      const deep = mkdir('kubepods.slice/kubepods-pod9.slice/crio-x.scope');
      expect(await r.resolveAsync(deep, { name: 'crio-x.scope', parentName: 'kubepods-pod9.slice' })).toBe(
        '/kubepods.slice/kubepods-pod9.slice/crio-x.scope',
      );
    });

    it('never looks outside the hierarchy for hostile names', async () => {
      mkdir('a');
      const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 60_000 });
      r.list();
      const parentIno = fs.statSync(path.dirname(tmp), { bigint: true }).ino;
      const stat = vi.spyOn(fs.promises, 'stat');
      for (const hint of [
        { name: '..', parentName: '' },
        { name: '..', parentName: 'a' },
        { name: '.', parentName: 'a' },
        { name: 'x/../..', parentName: 'a' },
        { name: 'a', parentName: '../..' },
        { name: 'a\0b', parentName: '' },
        { name: 'x'.repeat(300), parentName: '' },
        { name: 42 as unknown as string, parentName: '' },
      ]) {
        expect(await r.resolveAsync(parentIno, hint)).toBeNull();
      }
      expect(stat).not.toHaveBeenCalled();
    });
  });

  it('holds at most maxCached ids; ids the latest scan saw are kept, removed ones go first', async () => {
    for (let i = 0; i < 8; i++) mkdir(`old${i}`);
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0, maxCached: 10 });
    const first = r.list();
    expect(r.size).toBe(9); // root + 8
    // Created before the removal: the test filesystem, unlike kernfs, would reuse the freed inodes.
    const fresh = Array.from({ length: 5 }, (_, i) => mkdir(`new${i}`));
    for (let i = 0; i < 4; i++) fs.rmdirSync(path.join(tmp, `old${i}`));
    const second = r.list(); // root, old4..old7, new0..new4: 10
    expect(second).toHaveLength(10);
    expect(r.size).toBe(10);
    for (const { id, path: p } of second) expect(r.resolve(id)).toBe(p);
    const removed = first.filter((e) => e.path.startsWith('/old') && Number(e.path.slice(4)) < 4);
    for (const { id } of removed) expect(r.resolve(id)).toBeNull();
    for (const id of fresh) expect(r.resolve(id)).not.toBeNull();

    // A tree larger than the bound: the cache stays at the bound (during an asynchronous scan too).
    for (let i = 0; i < 30; i++) mkdir(`more${i}`);
    r.list();
    expect(r.size).toBe(10);
    await r.resolveAsync(UNKNOWN);
    expect(r.size).toBe(10);
    // The name index behind the kernel-names probe never outgrows the cache.
    const byName = (r as unknown as { byName: Map<string, bigint> }).byName;
    expect(byName.size).toBeLessThanOrEqual(r.size);
    for (const id of byName.values()) expect(r.resolve(id)).not.toBeNull();
  });

  it('holds 16384 ids by default', () => {
    const r = new CgroupIdResolver(tmp);
    expect((r as unknown as { maxCached: number }).maxCached).toBe(16_384);
  });

  it('limits the scan depth', async () => {
    const d1 = mkdir('d1');
    const d2 = mkdir('d1/d2');
    const d3 = mkdir('d1/d2/d3');
    const r = new CgroupIdResolver(tmp, { maxDepth: 2, rescanIntervalMs: 0 });
    expect(await r.resolveAsync(d1)).toBe('/d1');
    expect(await r.resolveAsync(d2)).toBe('/d1/d2');
    expect(await r.resolveAsync(d3)).toBeNull();
    expect(r.size).toBe(3);
    const listed = new CgroupIdResolver(tmp, { maxDepth: 2 }).list();
    expect(listed).toHaveLength(3);
  });

  it('scans 12 levels deep by default', async () => {
    const rel12 = Array.from({ length: 12 }, (_, i) => `l${i + 1}`).join('/');
    const at12 = mkdir(rel12);
    const at13 = mkdir(rel12 + '/l13');
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(at12)).toBe('/' + rel12);
    expect(await r.resolveAsync(at13)).toBeNull();
  });

  it('tolerates a directory vanishing mid-walk', async () => {
    const keep = mkdir('keep');
    mkdir('gone/child');
    const realReaddir = fs.promises.readdir;
    vi.spyOn(fs.promises, 'readdir').mockImplementation((async (dir: fs.PathLike, opts: unknown) => {
      const entries = await (realReaddir as (d: fs.PathLike, o: unknown) => Promise<fs.Dirent[]>)(dir, opts);
      // Listed, then removed before the walker stats it.
      if (dir === tmp) fs.rmSync(path.join(tmp, 'gone'), { recursive: true });
      return entries;
    }) as typeof fs.promises.readdir);

    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    await expect(r.resolveAsync(keep)).resolves.toBe('/keep');
    expect(r.size).toBe(2); // root and keep; nothing from the vanished subtree
  });

  it('list() tolerates a directory vanishing mid-walk', () => {
    mkdir('keep');
    mkdir('gone/child');
    const realReaddir = fs.readdirSync;
    vi.spyOn(fs, 'readdirSync').mockImplementation(((dir: fs.PathLike, opts: unknown) => {
      const entries = (realReaddir as (d: fs.PathLike, o: unknown) => fs.Dirent[])(dir, opts);
      if (dir === tmp) fs.rmSync(path.join(tmp, 'gone'), { recursive: true });
      return entries;
    }) as typeof fs.readdirSync);
    const r = new CgroupIdResolver(tmp);
    expect(r.list().map((e) => e.path).sort()).toEqual(['/', '/keep']);
  });

  it('skips unreadable directories (EACCES) and keeps walking', async () => {
    const locked = mkdir('locked');
    mkdir('locked/inner');
    const open = mkdir('open/inner');
    const eacces = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const realReaddir = fs.promises.readdir;
    vi.spyOn(fs.promises, 'readdir').mockImplementation((async (dir: fs.PathLike, opts: unknown) => {
      if (dir === path.join(tmp, 'locked')) throw eacces();
      return (realReaddir as (d: fs.PathLike, o: unknown) => Promise<fs.Dirent[]>)(dir, opts);
    }) as typeof fs.promises.readdir);
    const realReaddirSync = fs.readdirSync;
    vi.spyOn(fs, 'readdirSync').mockImplementation(((dir: fs.PathLike, opts: unknown) => {
      if (dir === path.join(tmp, 'locked')) throw eacces();
      return (realReaddirSync as (d: fs.PathLike, o: unknown) => fs.Dirent[])(dir, opts);
    }) as typeof fs.readdirSync);

    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(open)).toBe('/open/inner');
    expect(r.resolve(locked)).toBe('/locked'); // listed by its parent, just not entered
    expect(r.size).toBe(4); // root, locked, open, open/inner
    expect(new CgroupIdResolver(tmp).list()).toHaveLength(4);
  });

  it('returns null for a missing hierarchy root', async () => {
    const r = new CgroupIdResolver(path.join(tmp, 'missing'), { rescanIntervalMs: 0 });
    expect(await r.resolveAsync(1n)).toBeNull();
    expect(await r.resolveAsync(1n, { name: 'a', parentName: '' })).toBeNull();
    expect(r.list()).toEqual([]);
    expect(r.size).toBe(0);
  });

  it('returns null for non-bigint ids', async () => {
    const r = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    expect(r.resolve(1 as unknown as bigint)).toBeNull();
    expect(await r.resolveAsync(1 as unknown as bigint)).toBeNull();
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
