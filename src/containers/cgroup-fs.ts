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
  /** Minimum time between two rescans triggered by cache misses. Default 200 ms. */
  rescanIntervalMs?: number;
}

/**
 * Maps kernel cgroup ids to cgroup paths.
 *
 * On 64-bit Linux a cgroup's id is the inode number of its directory, and
 * kernfs does not reuse those numbers, so a cached mapping stays valid after
 * the cgroup is gone (late events still resolve); call {@link forget} when a
 * cgroup is known to be removed to bound memory.
 */
const MAX_CACHED_CGROUPS = 16_384;

export class CgroupIdResolver {
  private readonly cache = new Map<bigint, string>();
  private readonly maxDepth: number;
  private readonly rescanIntervalMs: number;
  private lastScanAt = Number.NEGATIVE_INFINITY;

  /**
   * @param hierarchyRoot directory of the hierarchy, e.g. from {@link cgroupHierarchyRoot}.
   * @param opts scan depth and rescan rate limit.
   */
  constructor(
    readonly hierarchyRoot: string,
    opts: CgroupIdResolverOptions = {},
  ) {
    this.maxDepth = Math.max(0, Math.floor(opts.maxDepth ?? 12));
    this.rescanIntervalMs = Math.max(0, opts.rescanIntervalMs ?? 200);
  }

  /**
   * Resolves a cgroup id to its path relative to the hierarchy root
   * (`/` for the root, otherwise e.g. `/system.slice/docker-<id>.scope`).
   *
   * A miss rescans the hierarchy, at most once per `rescanIntervalMs`;
   * a miss inside that interval returns `null` without touching the disk.
   */
  resolve(cgroupId: bigint): string | null {
    if (typeof cgroupId !== 'bigint') return null;
    const hit = this.cache.get(cgroupId);
    if (hit !== undefined) return hit;

    const now = performance.now();
    if (now - this.lastScanAt < this.rescanIntervalMs) return null;
    this.lastScanAt = now;
    this.scan();
    return this.cache.get(cgroupId) ?? null;
  }

  /** Drops the cached path of a cgroup, e.g. after it was removed. */
  /** Every cgroup under the root now (a fresh walk): id and path relative to the root. */
  list(): Array<{ id: bigint; path: string }> {
    this.scan();
    this.lastScanAt = performance.now();
    return [...this.cache].map(([id, p]) => ({ id, path: p }));
  }

  forget(cgroupId: bigint): void {
    this.cache.delete(cgroupId);
  }

  /** Number of cached cgroup ids. */
  get size(): number {
    return this.cache.size;
  }

  private scan(): void {
    const rootIno = inodeOf(this.hierarchyRoot);
    if (rootIno === null) return;
    // Removed cgroups stay resolvable (late events) until the cache is this large; then a
    // scan keeps only what exists, so years of host cgroup churn cannot grow it forever.
    if (this.cache.size > MAX_CACHED_CGROUPS) this.cache.clear();
    this.cache.set(rootIno, '/');

    // Iterative walk: no recursion depth to worry about, whatever the tree.
    const stack: { dir: string; rel: string; depth: number }[] = [
      { dir: this.hierarchyRoot, rel: '', depth: 0 },
    ];
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
        this.cache.set(ino, childRel);
        stack.push({ dir: childDir, rel: childRel, depth: depth + 1 });
      }
    }
  }
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
  for (const line of text.split('\n')) {
    // `hierarchy-id:controllers:path`; the path itself may contain ':'.
    const first = line.indexOf(':');
    if (first === -1) continue;
    const second = line.indexOf(':', first + 1);
    if (second === -1) continue;
    const hierarchy = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const cgPath = line.slice(second + 1).replace(/\r$/, '');
    if (cgPath === '') continue;
    if (mode === 'v1') {
      if (controllers.split(',').includes('memory')) return cgPath;
    } else if (hierarchy === '0' && controllers === '') {
      return cgPath;
    }
  }
  return null;
}
