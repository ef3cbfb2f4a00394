// SPDX-License-Identifier: Apache-2.0
/**
 * cgroup filesystem helpers: which hierarchy the kernel's cgroup ids refer to,
 * and how to turn such an id back into a cgroup path.
 */

// Default import (not named imports) so tests can spy on individual calls.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** How cgroups are mounted: unified only, v1 plus unified, or v1 only. */
export type CgroupMode = 'v2' | 'hybrid' | 'v1';

function exists(p: string): boolean {
  try {
    return fs.existsSync(p);
  } catch {
    return false;
  }
}

/**
 * Detects the cgroup mount layout under `root`.
 *
 * `v2` when `root` itself is a cgroup2 mount (it has `cgroup.controllers`),
 * `hybrid` when cgroup2 is mounted at `root/unified`, otherwise `v1`.
 * Missing directories simply fall through to `v1`.
 */
export function detectCgroupMode(root = '/sys/fs/cgroup'): CgroupMode {
  if (exists(path.join(root, 'cgroup.controllers'))) return 'v2';
  if (exists(path.join(root, 'unified', 'cgroup.procs'))) return 'hybrid';
  return 'v1';
}

/**
 * The directory whose cgroup ids the kernel reports for `mode`:
 * the unified hierarchy for `v2`/`hybrid`, the memory controller for `v1`.
 */
export function cgroupHierarchyRoot(mode: CgroupMode, root = '/sys/fs/cgroup'): string {
  switch (mode) {
    case 'v2':
      return root;
    case 'hybrid':
      return path.join(root, 'unified');
    case 'v1':
      return path.join(root, 'memory');
  }
}

/** Options for {@link CgroupIdResolver}. */
export interface CgroupIdResolverOptions {
  /** Deepest directory level scanned below the hierarchy root (root is 0). Default 12. */
  maxDepth?: number;
  /** Minimum time from the end of one scan to the start of the next one triggered by a miss. Default 200 ms. */
  rescanIntervalMs?: number;
  /** Most cgroup ids kept (the least recently seen go first). Default 16384. */
  maxCached?: number;
  /** Directories an asynchronous scan reads between two explicit yields to the event loop. Default 64. */
  scanBatch?: number;
}

/** The cgroup's own name and its parent's, as the kernel reports them with an event. */
export interface CgroupNameHint {
  name: string;
  parentName: string;
}

const MAX_CACHED_CGROUPS = 16_384;

/**
 * Maps kernel cgroup ids to cgroup paths.
 *
 * On 64-bit Linux a cgroup's id is the inode number of its directory, and
 * kernfs does not reuse those numbers, so a cached mapping stays valid after
 * the cgroup is gone (late events still resolve); {@link forget} drops one
 * that is known to be removed.
 *
 * The cache holds at most `maxCached` ids. Every scan refreshes the ids it
 * finds, so when the bound is reached the ids not seen for the longest time
 * (removed cgroups first) are dropped.
 *
 * {@link resolve} answers from the cache only; {@link resolveAsync} also looks
 * on disk, without blocking the event loop. {@link list} walks the tree
 * synchronously and is meant for start-up only.
 */
export class CgroupIdResolver {
  private readonly cache = new Map<bigint, string>();
  /** Last path component -> id of the most recently seen cached directory of that name. */
  private readonly byName = new Map<string, bigint>();
  private readonly maxDepth: number;
  private readonly rescanIntervalMs: number;
  private readonly maxCached: number;
  private readonly scanBatch: number;
  /** When the last scan ended. */
  private lastScanAt = Number.NEGATIVE_INFINITY;
  /** The asynchronous scan in progress, shared by every miss that arrives meanwhile. */
  private scanning: Promise<void> | null = null;

  /**
   * @param hierarchyRoot directory of the hierarchy, e.g. from {@link cgroupHierarchyRoot}.
   * @param opts scan depth, rescan rate limit and cache bound.
   */
  constructor(
    readonly hierarchyRoot: string,
    opts: CgroupIdResolverOptions = {},
  ) {
    this.maxDepth = Math.max(0, Math.floor(opts.maxDepth ?? 12));
    this.rescanIntervalMs = Math.max(0, opts.rescanIntervalMs ?? 200);
    this.maxCached = Math.max(1, Math.floor(opts.maxCached ?? MAX_CACHED_CGROUPS));
    this.scanBatch = Math.max(1, Math.floor(opts.scanBatch ?? 64));
  }

  /**
   * The cached path of a cgroup id, relative to the hierarchy root (`/` for
   * the root, otherwise e.g. `/system.slice/docker-<id>.scope`), or `null`.
   * Never touches the disk: use {@link resolveAsync} to look further.
   */
  resolve(cgroupId: bigint): string | null {
    if (typeof cgroupId !== 'bigint') return null;
    return this.cache.get(cgroupId) ?? null;
  }

  /**
   * Like {@link resolve}, and on a miss looks on disk without blocking the event loop.
   *
   * With the kernel's names of the cgroup and its parent, it first tries the one
   * path they suggest (the cached directory named `parentName`, plus `name`) and
   * accepts it only if that directory's inode is the id. Otherwise it joins the
   * asynchronous scan in progress or starts one, at most one per `rescanIntervalMs`
   * (counted from the end of the previous scan); inside that interval a miss
   * resolves to `null` without a scan. Never rejects.
   */
  async resolveAsync(cgroupId: bigint, hint?: CgroupNameHint): Promise<string | null> {
    if (typeof cgroupId !== 'bigint') return null;
    const hit = this.cache.get(cgroupId);
    if (hit !== undefined) return hit;
    if (hint) {
      const probed = await this.probe(cgroupId, hint.name, hint.parentName);
      if (probed !== null) return probed;
    }
    let scan = this.scanning;
    if (!scan) {
      const found = this.cache.get(cgroupId); // another lookup may have found it meanwhile
      if (found !== undefined) return found;
      if (performance.now() - this.lastScanAt < this.rescanIntervalMs) return null;
      scan = this.startScan();
    }
    await scan;
    return this.cache.get(cgroupId) ?? null;
  }

  /**
   * Every cgroup under the root now (a fresh walk): id and path relative to the root.
   *
   * Synchronous: it blocks the event loop for the whole walk, so call it at
   * start-up only (before events flow); event handling uses {@link resolveAsync}.
   */
  list(): Array<{ id: bigint; path: string }> {
    const found: Array<{ id: bigint; path: string }> = [];
    this.walkSync(found);
    this.lastScanAt = performance.now();
    return found;
  }

  /** Drops the cached path of a cgroup, e.g. after it was removed. */
  forget(cgroupId: bigint): void {
    const p = this.cache.get(cgroupId);
    if (p === undefined) return;
    this.cache.delete(cgroupId);
    this.unindex(cgroupId, p);
  }

  /** Number of cached cgroup ids. */
  get size(): number {
    return this.cache.size;
  }

  /** Caches id -> rel as the most recently seen entry, dropping the least recently seen one when full. */
  private record(id: bigint, rel: string): void {
    const old = this.cache.get(id);
    if (old !== undefined) {
      this.cache.delete(id); // re-inserted below: most recently seen
      if (old !== rel) this.unindex(id, old);
    } else if (this.cache.size >= this.maxCached) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.forget(oldest.value);
    }
    this.cache.set(id, rel);
    if (rel !== '/') this.byName.set(rel.slice(rel.lastIndexOf('/') + 1), id);
  }

  private unindex(id: bigint, rel: string): void {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (this.byName.get(name) === id) this.byName.delete(name);
  }

  /** The path the kernel's names suggest, if that directory's inode is the id. */
  private async probe(cgroupId: bigint, name: string, parentName: string): Promise<string | null> {
    let candidate: string;
    if (name === '' && parentName === '') {
      candidate = '/';
    } else if (!isCgroupName(name)) {
      return null;
    } else if (parentName === '') {
      candidate = '/' + name;
    } else {
      if (!isCgroupName(parentName)) return null;
      const parentId = this.byName.get(parentName);
      const parent = parentId === undefined ? undefined : this.cache.get(parentId);
      if (parent === undefined) return null;
      candidate = (parent === '/' ? '' : parent) + '/' + name;
    }
    const ino = await inodeOfAsync(path.join(this.hierarchyRoot, candidate));
    if (ino !== cgroupId) return null;
    this.record(cgroupId, candidate);
    return candidate;
  }

  private startScan(): Promise<void> {
    const scan = this.walkAsync()
      .catch(() => undefined) // walkAsync handles its own errors; never let a scan reject
      .then(() => {
        this.scanning = null;
        this.lastScanAt = performance.now();
      });
    this.scanning = scan;
    return scan;
  }

  /** The walk of {@link list}, on the event loop. */
  private walkSync(found: Array<{ id: bigint; path: string }>): void {
    const rootIno = inodeOf(this.hierarchyRoot);
    if (rootIno === null) return;
    this.record(rootIno, '/');
    found.push({ id: rootIno, path: '/' });
    // Iterative walk: no recursion depth to worry about, whatever the tree.
    const stack: WalkItem[] = [{ dir: this.hierarchyRoot, rel: '', depth: 0 }];
    while (stack.length > 0) {
      const { dir, rel, depth } = stack.pop()!;
      if (depth >= this.maxDepth) continue;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        // Vanished (ENOENT), unreadable (EACCES) or otherwise gone: skip it.
        continue;
      }
      for (const entry of entries) {
        // Symlinks are never cgroups; following them could loop or escape.
        if (!entry.isDirectory()) continue;
        const childDir = path.join(dir, entry.name);
        const ino = inodeOf(childDir);
        if (ino === null) continue;
        const childRel = rel + '/' + entry.name;
        this.record(ino, childRel);
        found.push({ id: ino, path: childRel });
        stack.push({ dir: childDir, rel: childRel, depth: depth + 1 });
      }
    }
  }

  /**
   * The same walk with asynchronous reads: every readdir and stat runs off the
   * event loop, and every `scanBatch` directories it also yields explicitly
   * (setImmediate), so event handling goes on during a scan of any size.
   * Found ids are cached as they are found.
   */
  private async walkAsync(): Promise<void> {
    const rootIno = await inodeOfAsync(this.hierarchyRoot);
    if (rootIno === null) return;
    this.record(rootIno, '/');
    const stack: WalkItem[] = [{ dir: this.hierarchyRoot, rel: '', depth: 0 }];
    let dirs = 0;
    while (stack.length > 0) {
      const { dir, rel, depth } = stack.pop()!;
      if (depth >= this.maxDepth) continue;
      if (++dirs % this.scanBatch === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      // One read at a time: a scan never takes more than one of libuv's (4 by default) threads.
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        const childDir = path.join(dir, entry.name);
        const ino = await inodeOfAsync(childDir);
        if (ino === null) continue;
        const childRel = rel + '/' + entry.name;
        this.record(ino, childRel);
        stack.push({ dir: childDir, rel: childRel, depth: depth + 1 });
      }
    }
  }
}

interface WalkItem {
  dir: string;
  rel: string;
  depth: number;
}

/** A name the kernel could have given a cgroup directory: one path component, not `.` or `..`. */
function isCgroupName(s: unknown): s is string {
  return (
    typeof s === 'string' && s.length > 0 && s.length <= 255 && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0')
  );
}

/** Inode number of a directory, or null when it cannot be stat'ed (e.g. it just vanished). */
function inodeOf(dir: string): bigint | null {
  try {
    const st = fs.statSync(dir, { bigint: true, throwIfNoEntry: false });
    return st && st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

/** {@link inodeOf} off the event loop. */
async function inodeOfAsync(dir: string): Promise<bigint | null> {
  try {
    const st = await fs.promises.stat(dir, { bigint: true });
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

/**
 * This process's own cgroup path from `/proc/self/cgroup`: the unified
 * (`0::`) entry for `v2`/`hybrid`, the `memory` controller's for `v1`.
 *
 * @returns the path, or `null` if the file is unreadable or lacks the entry.
 */
export function ownCgroupPath(
  mode: CgroupMode,
  procSelfCgroup = '/proc/self/cgroup',
): string | null {
  let text: string;
  try {
    text = fs.readFileSync(procSelfCgroup, 'utf8');
  } catch {
    return null;
  }
  // The unified (`0::`) entry for v2 and hybrid, the memory controller's for v1.
  return parseProcCgroup(text).get(mode === 'v1' ? 'memory' : '') ?? null;
}

/**
 * /proc/<pid>/cgroup: `hierarchy-id:controllers:path` lines. Keys are the v1 controllers of each
 * line (`cpu`, `cpuacct`, `memory`, ...; `name=systemd` as written) and `''` for the unified
 * (`0::`) hierarchy; the path may itself contain ':'.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    if (first === -1) continue;
    const second = line.indexOf(':', first + 1);
    if (second === -1) continue;
    const hierarchy = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1).replace(/\r$/, '');
    if (path === '') continue;
    if (hierarchy === '0' && controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) if (c) out.set(c, path);
  }
  return out;
}
