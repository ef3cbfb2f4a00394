// SPDX-License-Identifier: Apache-2.0
/**
 * Mount tables for the file-open sensor: where on the host a file a container opened lives
 * when it comes from a bind mount or a volume.
 *
 * The kernel event names the mount (`struct mount.mnt_id`, field 1 of /proc/<pid>/mountinfo),
 * the opener's mount namespace and the path as the container sees it. The container's
 * mountinfo line for that mount gives the mount's root within its file system, so
 * `root + (path - mountPoint)` is the file's path within that file system; a host mount of the
 * same device whose root is a prefix of it shows where the host sees the file.
 *
 * {@link MountResolver} caches both tables: per mount namespace (read asynchronously from
 * /proc/<pid>/mountinfo) and the host's (/proc/1/mountinfo), so answering an event is
 * synchronous and does no I/O.
 */

// Default import (not named imports) so tests can spy on individual calls.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/** One line of /proc/<pid>/mountinfo (proc(5)). */
export interface MountInfoEntry {
  /** (1) mount id: `struct mount.mnt_id`. */
  mountId: number;
  /** (2) the parent mount's id (for the root of the namespace: a mount outside it, or itself). */
  parentId: number;
  /** (3) `st_dev` of the file system: major. */
  major: number;
  /** (3) `st_dev` of the file system: minor. */
  minor: number;
  /**
   * (4) the directory (or file) of the file system that is mounted here, octal escapes decoded,
   * without the kernel's `//deleted` suffix (see {@link rootDeleted}). Usually absolute; pseudo
   * file systems may show something else (nsfs: `net:[4026532184]`).
   */
  root: string;
  /** The kernel marked {@link root} `//deleted`: the mounted file or directory was unlinked. */
  rootDeleted: boolean;
  /** (5) where it is mounted, relative to the reading process's root, octal escapes decoded. */
  mountPoint: string;
  /** (6) per-mount options (`rw,relatime`), as the kernel wrote them. */
  mountOptions: string;
  /** (7) optional fields (`shared:1`, `master:3`, `propagate_from:2`, `unbindable`). */
  optionalFields: string[];
  /** (9) file system type (`ext4`, `overlay`, `fuse.sshfs`), octal escapes decoded. */
  fsType: string;
  /** (10) mount source (`/dev/vda`, `overlay`, `tmpfs`), octal escapes decoded; may be empty. */
  source: string;
  /**
   * (11) per-superblock options, as the kernel wrote them: not decoded, because an escaped
   * comma (`\054`) decoded would make the list ambiguous to split.
   */
  superOptions: string;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const OCTAL_ESCAPE = /\\([0-7]{3})/g;
const UINT = /^\d{1,10}$/;
const DEVICE = /^(\d{1,10}):(\d{1,10})$/;
/** The kernel writes `ro` or `rw` first (show_mountinfo). */
const MOUNT_OPTIONS = /^r[ow](,|$)/;
const DELETED_SUFFIX = '//deleted';
const U32_MAX = 0xffff_ffff;

/**
 * Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
 * backslash; any `\ooo` up to `\377`). Anything else, including a lone backslash, is kept.
 */
export function unescapeMountinfo(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(OCTAL_ESCAPE, (whole, oct: string) => {
    const code = parseInt(oct, 8);
    return code <= 0xff ? String.fromCharCode(code) : whole;
  });
}

function parseUint(s: string | undefined): number | undefined {
  if (s === undefined || !UINT.test(s)) return undefined;
  const n = Number(s);
  return n <= U32_MAX ? n : undefined;
}

/** One mountinfo line, or undefined when it is not a well-formed one. Never throws. */
export function parseMountinfoLine(raw: string): MountInfoEntry | undefined {
  if (typeof raw !== 'string') return undefined;
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.length === 0) return undefined;
  // The kernel separates fields by exactly one space and escapes spaces inside them, so an
  // empty field (an empty mount source) is a real, empty value.
  const f = line.split(' ');
  if (f.length < 10) return undefined;
  let sep = -1;
  for (let i = 6; i < f.length; i++) {
    if (f[i] === '-') {
      sep = i;
      break;
    }
  }
  // Exactly three fields follow the separator today; more (a future kernel) are ignored.
  if (sep < 0 || f.length - sep - 1 < 3) return undefined;

  const mountId = parseUint(f[0]);
  const parentId = parseUint(f[1]);
  const dev = DEVICE.exec(f[2]!);
  if (mountId === undefined || parentId === undefined || !dev) return undefined;
  const major = Number(dev[1]);
  const minor = Number(dev[2]);
  if (major > U32_MAX || minor > U32_MAX) return undefined;

  let root = unescapeMountinfo(f[3]!);
  const mountPoint = unescapeMountinfo(f[4]!);
  const mountOptions = f[5]!;
  const fsType = unescapeMountinfo(f[sep + 1]!);
  if (root.length === 0 || !mountPoint.startsWith('/') || !MOUNT_OPTIONS.test(mountOptions) || fsType.length === 0) {
    return undefined;
  }
  let rootDeleted = false;
  if (root.length > DELETED_SUFFIX.length && root.endsWith(DELETED_SUFFIX)) {
    root = root.slice(0, -DELETED_SUFFIX.length);
    rootDeleted = true;
  }
  return {
    mountId,
    parentId,
    major,
    minor,
    root,
    rootDeleted,
    mountPoint,
    mountOptions,
    optionalFields: f.slice(6, sep).filter((o) => o.length > 0),
    fsType,
    source: unescapeMountinfo(f[sep + 2]!),
    superOptions: f[sep + 3]!,
  };
}

/**
 * Parses /proc/<pid>/mountinfo text. Malformed lines (truncated, hostile, blank) are skipped;
 * never throws. At most `limit` entries are returned (the first ones).
 */
export function parseMountinfo(text: string, limit = Number.POSITIVE_INFINITY): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  if (typeof text !== 'string' || !(limit > 0)) return out;
  let start = 0;
  while (start <= text.length && out.length < limit) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const entry = parseMountinfoLine(text.slice(start, end));
    if (entry) out.push(entry);
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Host path of a container file

/**
 * File system types that are a container's image layers when mounted as its root file system.
 * Runtimes mount that overlay on the host too (/var/lib/docker/overlay2/<id>/merged,
 * /run/containerd/.../<id>/rootfs), but that is the runtime's private view of the container's
 * own files, not a directory the host shares with it: such files have no host path here.
 */
const CONTAINER_ROOTFS_UNION_TYPES: ReadonlySet<string> = new Set(['overlay', 'aufs', 'fuse.fuse-overlayfs']);

/** Path components of an absolute path; null for a relative path or one with `.`/`..`/NUL. */
function splitPath(p: string): string[] | null {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) return null;
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part.length === 0) continue; // duplicate or trailing slashes
    if (part === '.' || part === '..') return null; // never resolved: such a path is refused
    parts.push(part);
  }
  return parts;
}

function isPrefix(prefix: readonly string[], parts: readonly string[]): boolean {
  if (prefix.length > parts.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== parts[i]) return false;
  return true;
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && isPrefix(a, b);
}

function joinPath(parts: readonly string[]): string {
  return '/' + parts.join('/');
}

interface IndexedMount {
  entry: MountInfoEntry;
  /** Root components; null when the root is not an absolute path or was deleted. */
  rootParts: string[] | null;
  mountPointParts: string[];
}

/** A host mount table prepared for repeated lookups. */
interface HostIndex {
  /** Mounts by `major:minor`, longest root first (file order among equal lengths). */
  byDevice: Map<string, IndexedMount[]>;
  /** Mounts by parent id, then by mount point: the tree a path walk follows. */
  children: Map<number, Map<string, IndexedMount[]>>;
  /** The mount at `/` the walk starts from; undefined when the table has none (not verifiable). */
  root: IndexedMount | undefined;
  /** Upper bound on mounts stacked on one place (guards against cycles in hostile input). */
  size: number;
}

const deviceKey = (e: { major: number; minor: number }): string => `${e.major}:${e.minor}`;

function buildHostIndex(entries: readonly MountInfoEntry[]): HostIndex {
  const byDevice = new Map<string, IndexedMount[]>();
  const children = new Map<number, Map<string, IndexedMount[]>>();
  const ids = new Set<number>();
  const atRoot: IndexedMount[] = [];
  for (const entry of entries) {
    const mountPointParts = splitPath(entry.mountPoint);
    if (!mountPointParts) continue;
    const rootParts = entry.rootDeleted ? null : splitPath(entry.root);
    const m: IndexedMount = { entry, rootParts, mountPointParts };
    ids.add(entry.mountId);
    if (mountPointParts.length === 0) atRoot.push(m);
    let list = byDevice.get(deviceKey(entry));
    if (!list) byDevice.set(deviceKey(entry), (list = []));
    list.push(m);
    let kids = children.get(entry.parentId);
    if (!kids) children.set(entry.parentId, (kids = new Map()));
    const key = joinPath(mountPointParts);
    let stack = kids.get(key);
    if (!stack) kids.set(key, (stack = []));
    stack.push(m);
  }
  for (const list of byDevice.values()) {
    // Array.prototype.sort is stable: equal lengths keep file order.
    list.sort((a, b) => (b.rootParts?.length ?? -1) - (a.rootParts?.length ?? -1));
  }
  // The namespace root: the `/` mount whose parent is outside the table (or itself).
  const root =
    atRoot.find((m) => m.entry.parentId === m.entry.mountId || !ids.has(m.entry.parentId)) ?? atRoot[0];
  return { byDevice, children, root, size: entries.length };
}

const hostIndexes = new WeakMap<readonly MountInfoEntry[], HostIndex>();

function hostIndexOf(hostEntries: readonly MountInfoEntry[]): HostIndex {
  let idx = hostIndexes.get(hostEntries);
  if (!idx) {
    idx = buildHostIndex(hostEntries);
    hostIndexes.set(hostEntries, idx);
  }
  return idx;
}

/** The topmost mount stacked at `key` on top of `cur` (or `cur`). */
function climb(idx: HostIndex, cur: IndexedMount, key: string): IndexedMount {
  for (let guard = 0; guard <= idx.size; guard++) {
    const stack = idx.children.get(cur.entry.mountId)?.get(key);
    const next = stack?.[stack.length - 1];
    if (!next || next === cur) return cur;
    cur = next;
  }
  return cur;
}

/** The mount a path walk through the host's mount tree ends on for `parts`. */
function servingMount(idx: HostIndex, parts: readonly string[]): IndexedMount | undefined {
  if (!idx.root) return undefined;
  let cur = climb(idx, idx.root, '/');
  let prefix = '';
  for (const part of parts) {
    prefix += '/' + part;
    cur = climb(idx, cur, prefix);
  }
  return cur;
}

/** Whether host path `hostParts` shows file-system path `fsParts` of device `dev`. */
function exposes(idx: HostIndex, hostParts: readonly string[], dev: MountInfoEntry, fsParts: readonly string[]): boolean {
  if (!idx.root) return true; // no root in the table (a chrooted reader): nothing to verify against
  const s = servingMount(idx, hostParts);
  if (!s || !s.rootParts || s.entry.major !== dev.major || s.entry.minor !== dev.minor) return false;
  return samePath(s.rootParts.concat(hostParts.slice(s.mountPointParts.length)), fsParts);
}

type Located = { hostPath: string; hostMount: MountInfoEntry };

/**
 * Located, `'unexposed'` (no host mount shows the file: a refresh of the host table might
 * help) or null (no host path by construction: bad input, rootfs overlay, deleted root).
 */
function locate(entry: MountInfoEntry, pathInContainer: string, idx: HostIndex): Located | 'unexposed' | null {
  const mountPointParts = splitPath(entry.mountPoint);
  const pathParts = splitPath(pathInContainer);
  if (!mountPointParts || !pathParts || entry.rootDeleted) return null;
  if (mountPointParts.length === 0 && CONTAINER_ROOTFS_UNION_TYPES.has(entry.fsType)) return null;
  const rootParts = splitPath(entry.root);
  if (!rootParts || !isPrefix(mountPointParts, pathParts)) return null;
  // For a single-file bind mount the path is the mount point itself: nothing is appended.
  const fsParts = rootParts.concat(pathParts.slice(mountPointParts.length));

  for (const c of idx.byDevice.get(deviceKey(entry)) ?? []) {
    if (!c.rootParts || !isPrefix(c.rootParts, fsParts)) continue;
    const hostParts = c.mountPointParts.concat(fsParts.slice(c.rootParts.length));
    // A later mount over (part of) the path hides the file there: try the next candidate.
    if (!exposes(idx, hostParts, entry, fsParts)) continue;
    return { hostPath: joinPath(hostParts), hostMount: c.entry };
  }
  return 'unexposed';
}

/**
 * Where the host sees a file a container opened, or null when no host mount exposes it.
 *
 * `containerEntry` is the container's mountinfo entry of the mount the file was opened through,
 * `pathInContainer` the file's absolute path as the container sees it (taken as given: symlinks
 * are not resolved, and a path with `.` or `..` components, which the kernel never produces,
 * gives null), `hostEntries` the host's mount table (its root mount namespace).
 *
 * The file's path within its file system is the container mount's root plus the path below the
 * container mount point (for a single-file bind mount, the root itself). Of the host mounts of
 * the same device whose root contains it, the one with the longest root wins, provided the
 * resulting host path really leads to the file (no later host mount covers it). Null for a
 * container's union root file system (overlay: its image layers), a mount whose source was
 * deleted, a file system the host does not mount (a tmpfs private to the container), or a path
 * outside the entry's mount point.
 */
export function hostPathOf(
  containerEntry: MountInfoEntry,
  pathInContainer: string,
  hostEntries: readonly MountInfoEntry[],
): string | null {
  const hit = locate(containerEntry, pathInContainer, hostIndexOf(hostEntries));
  return hit !== null && hit !== 'unexposed' ? hit.hostPath : null;
}

// ---------------------------------------------------------------------------------------------
// Runtime plumbing

/** Where container runtimes keep their state (each list: alternative locations). */
export interface RuntimeRoots {
  /** Docker data-root (`containers/<id>/{hosts,hostname,resolv.conf}`). */
  docker: readonly string[];
  /** containerd CRI plugin root (`sandboxes/<id>/{hosts,hostname,resolv.conf}`). */
  containerdCri: readonly string[];
  /** kubelet root dir (`pods/<uid>/etc-hosts`, `pods/<uid>/containers/<name>/<id>` termination logs). */
  kubelet: readonly string[];
  /** containers/storage run and graph roots, Podman and CRI-O (`<driver>-containers/<id>/userdata/...`). */
  containersStorage: readonly string[];
}

/**
 * Default locations. Mountinfo shows real paths (symlinks resolved), so /var/run, a symlink
 * to /run on current distributions, appears as /run: both are listed.
 */
export const DEFAULT_RUNTIME_ROOTS: RuntimeRoots = {
  docker: ['/var/lib/docker'],
  containerdCri: ['/var/lib/containerd/io.containerd.grpc.v1.cri'],
  kubelet: ['/var/lib/kubelet'],
  containersStorage: ['/var/run/containers/storage', '/run/containers/storage', '/var/lib/containers/storage'],
};

const CONTAINER_ID = /^[0-9a-f]{64}$/;
const POD_UID = /^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$/;
const TERMINATION_LOG_ID = /^[0-9a-f]{8}$/;
const STORAGE_CONTAINERS_DIR = /^[a-z0-9]+-containers$/;
const NETWORK_FILES: ReadonlySet<string> = new Set(['hosts', 'hostname', 'resolv.conf']);
const USERDATA_FILES: ReadonlySet<string> = new Set(['hosts', 'hostname', 'resolv.conf', '.containerenv']);

/** Components of `parts` below one of `roots`, or null. */
function below(parts: readonly string[], roots: readonly string[]): string[] | null {
  for (const root of roots) {
    const rootParts = splitPath(root);
    if (rootParts && rootParts.length > 0 && isPrefix(rootParts, parts)) return parts.slice(rootParts.length);
  }
  return null;
}

/**
 * Whether a host path is one of the files a container runtime bind-mounts into every container
 * (its /etc/hosts, /etc/hostname, /etc/resolv.conf, /run/.containerenv, /dev/termination-log):
 * runtime plumbing, not data a user chose to share with the container.
 */
export function isRuntimeManagedFile(hostPath: string, roots: RuntimeRoots = DEFAULT_RUNTIME_ROOTS): boolean {
  const parts = splitPath(hostPath);
  if (!parts) return false;
  let rest = below(parts, roots.docker);
  if (rest?.length === 3 && rest[0] === 'containers' && CONTAINER_ID.test(rest[1]!) && NETWORK_FILES.has(rest[2]!)) {
    return true;
  }
  rest = below(parts, roots.containerdCri);
  if (rest?.length === 3 && rest[0] === 'sandboxes' && CONTAINER_ID.test(rest[1]!) && NETWORK_FILES.has(rest[2]!)) {
    return true;
  }
  rest = below(parts, roots.kubelet);
  if (rest && rest[0] === 'pods' && rest.length >= 3 && POD_UID.test(rest[1]!)) {
    if (rest.length === 3 && rest[2] === 'etc-hosts') return true;
    if (rest.length === 5 && rest[2] === 'containers' && TERMINATION_LOG_ID.test(rest[4]!)) return true;
  }
  rest = below(parts, roots.containersStorage);
  if (
    rest?.length === 4 &&
    STORAGE_CONTAINERS_DIR.test(rest[0]!) &&
    CONTAINER_ID.test(rest[1]!) &&
    rest[2] === 'userdata' &&
    USERDATA_FILES.has(rest[3]!)
  ) {
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Resolver

/** Options for {@link MountResolver}. */
export interface MountResolverOptions {
  /** Where the host's procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** The host's mount table. Default `<procRoot>/1/mountinfo`. */
  hostMountinfoPath?: string;
  /** Read when {@link hostMountinfoPath} is unreadable. Default `<procRoot>/self/mountinfo`. */
  fallbackMountinfoPath?: string;
  /** Most mount namespaces cached (least recently used out first). Default 1024. */
  maxNamespaces?: number;
  /** Most mounts kept per namespace (the first ones of its table). Default 8192. */
  maxMountsPerNamespace?: number;
  /** Minimum time between two reads of one namespace's table, and of the host's. Default 1000 ms. */
  refreshIntervalMs?: number;
  /**
   * A miss re-reads the host table only when it is older than the namespace's table (a mount
   * the host made for a new container) or older than this. Default 60 000 ms.
   */
  hostMaxAgeMs?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Reads a mountinfo file. Default `fs.promises.readFile(path, 'utf8')`. */
  readFile?: (path: string) => Promise<string>;
  /** Reads a symlink (/proc/<pid>/ns/mnt). Default `fs.promises.readlink`. */
  readlink?: (path: string) => Promise<string>;
}

/** Where the host sees a file a container opened. */
export interface HostSource {
  /** The file's path on the host. */
  hostPath: string;
  /** The container mount's source (`/dev/vda`, a tmpfs name, a fuse source). */
  mountSource: string;
  /** The container mount's file system type. */
  fsType: string;
  /** Where the mount is in the container (`/mnt/data`, or `/etc/hosts` for a single file). */
  mountPoint: string;
  /** Mount point of the host mount the host path goes through. */
  hostMountPoint: string;
  /** The container's mount is read-only. */
  readOnly: boolean;
  /** {@link isRuntimeManagedFile} of {@link hostPath}. */
  runtimeManaged: boolean;
}

/** The device the kernel reported for the opened file. */
export interface DeviceNumber {
  major: number;
  minor: number;
}

interface NamespaceRecord {
  mounts: Map<number, MountInfoEntry>;
  /** Start time of the last read that produced {@link mounts} (−∞: none yet). */
  loadedAt: number;
  /** Start time of the last read attempt, successful or not. */
  attemptedAt: number;
  inflight: Promise<void> | undefined;
}

interface HostTable {
  entries: MountInfoEntry[];
  index: HostIndex;
  /** Start time of the read that produced it. */
  loadedAt: number;
}

const DEFAULT_MAX_NAMESPACES = 1024;
const DEFAULT_MAX_MOUNTS = 8192;
const DEFAULT_REFRESH_MS = 1000;
const DEFAULT_HOST_MAX_AGE_MS = 60_000;

function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as { code?: unknown }).code as string);
}

/**
 * Mount tables of container mount namespaces and of the host, cached for synchronous use.
 *
 * Event path: `lookup`/`hostSource` answer from the caches; on a miss (`lookup` undefined) the
 * caller runs `load(pid, mntns)` (or uses `resolve`, which does both). Reads are rate-limited
 * per namespace and verified: a table is kept only if /proc/<pid>/ns/mnt still names `mntns`
 * after the read (a recycled pid cannot poison another namespace's cache). A process that is
 * gone resolves quietly; what was cached for its namespace stays (late events still resolve).
 */
export class MountResolver {
  private readonly procRoot: string;
  private readonly hostMountinfoPath: string;
  private readonly fallbackMountinfoPath: string;
  private readonly maxNamespaces: number;
  private readonly maxMounts: number;
  private readonly refreshIntervalMs: number;
  private readonly hostMaxAgeMs: number;
  private readonly now: () => number;
  private readonly readFile: (path: string) => Promise<string>;
  private readonly readlink: (path: string) => Promise<string>;

  /** Insertion order is recency order: the first key is the least recently used. */
  private readonly namespaces = new Map<number, NamespaceRecord>();
  private lastTouched: number | undefined;
  private host: HostTable | undefined;
  private hostAttemptedAt = Number.NEGATIVE_INFINITY;
  private hostInflight: Promise<void> | undefined;

  constructor(options: MountResolverOptions = {}) {
    this.procRoot = (options.procRoot ?? '/proc').replace(/\/+$/, '') || '/';
    this.hostMountinfoPath = options.hostMountinfoPath ?? `${this.procRoot}/1/mountinfo`;
    this.fallbackMountinfoPath = options.fallbackMountinfoPath ?? `${this.procRoot}/self/mountinfo`;
    this.maxNamespaces = Math.max(1, Math.floor(options.maxNamespaces ?? DEFAULT_MAX_NAMESPACES));
    this.maxMounts = Math.max(1, Math.floor(options.maxMountsPerNamespace ?? DEFAULT_MAX_MOUNTS));
    this.refreshIntervalMs = Math.max(0, options.refreshIntervalMs ?? DEFAULT_REFRESH_MS);
    this.hostMaxAgeMs = Math.max(0, options.hostMaxAgeMs ?? DEFAULT_HOST_MAX_AGE_MS);
    this.now = options.now ?? (() => performance.now());
    this.readFile = options.readFile ?? ((p) => fs.promises.readFile(p, 'utf8'));
    this.readlink = options.readlink ?? ((p) => fs.promises.readlink(p));
  }

  /** Mount namespaces cached. */
  get namespaceCount(): number {
    return this.namespaces.size;
  }

  /** The cached host mount table (empty before the first successful read). */
  get hostMounts(): readonly MountInfoEntry[] {
    return this.host?.entries ?? [];
  }

  /**
   * The cached mountinfo entry of mount `mountId` in namespace `mntns`; synchronous, no I/O.
   * `pid` is accepted so call sites mirror {@link load}; the cache is keyed by namespace.
   */
  lookup(_pid: number, mntns: number, mountId: number): MountInfoEntry | undefined {
    const rec = this.namespaces.get(mntns);
    if (!rec) return undefined;
    this.touch(mntns, rec);
    return rec.mounts.get(mountId);
  }

  /**
   * Reads /proc/<pid>/mountinfo into the cache of namespace `mntns` (and refreshes the host
   * table when due). At most one read per namespace per `refreshIntervalMs`; concurrent calls
   * share one read. Never rejects.
   */
  load(pid: number, mntns: number): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0 || !Number.isSafeInteger(mntns) || mntns <= 0) {
      return Promise.resolve();
    }
    let rec = this.namespaces.get(mntns);
    if (rec?.inflight) return rec.inflight;
    const now = this.now();
    if (rec && now - rec.attemptedAt < this.refreshIntervalMs) return this.host ? Promise.resolve() : this.refreshHost();
    if (rec) {
      this.touch(mntns, rec);
    } else {
      rec = { mounts: new Map(), loadedAt: Number.NEGATIVE_INFINITY, attemptedAt: now, inflight: undefined };
      this.insert(mntns, rec);
    }
    rec.attemptedAt = now;
    const record = rec;
    const done = Promise.all([this.readNamespace(pid, mntns, record, now), this.refreshHost()]).then(
      () => undefined,
      () => undefined,
    );
    record.inflight = done.finally(() => {
      record.inflight = undefined;
    });
    return record.inflight;
  }

  /**
   * Re-reads the host mount table unless it was read less than `refreshIntervalMs` ago
   * (concurrent calls share one read). Never rejects.
   */
  refreshHost(): Promise<void> {
    if (this.hostInflight) return this.hostInflight;
    const now = this.now();
    if (now - this.hostAttemptedAt < this.refreshIntervalMs) return Promise.resolve();
    this.hostAttemptedAt = now;
    this.hostInflight = this.readHost(now)
      .catch(() => undefined)
      .finally(() => {
        this.hostInflight = undefined;
      });
    return this.hostInflight;
  }

  /**
   * Where the host sees `pathInContainer`, opened through mount `mountId` in `mntns`; null when
   * the mount is not cached, `device` (when given) disagrees with the cached entry (a stale
   * table: load again), or no host mount exposes the file. Synchronous, no I/O: a miss on the
   * host side may start a background refresh of the host table (see {@link refreshHost}).
   */
  hostSource(
    pid: number,
    mntns: number,
    mountId: number,
    pathInContainer: string,
    device?: DeviceNumber,
  ): HostSource | null {
    const entry = this.lookup(pid, mntns, mountId);
    if (!entry) return null;
    if (device && (device.major !== entry.major || device.minor !== entry.minor)) return null;
    const host = this.host;
    const hit = host ? locate(entry, pathInContainer, host.index) : 'unexposed';
    if (hit === null) return null;
    if (hit === 'unexposed') {
      const rec = this.namespaces.get(mntns);
      if (!host || host.loadedAt < (rec?.loadedAt ?? 0) || this.now() - host.loadedAt >= this.hostMaxAgeMs) {
        void this.refreshHost();
      }
      return null;
    }
    return {
      hostPath: hit.hostPath,
      mountSource: entry.source,
      fsType: entry.fsType,
      mountPoint: entry.mountPoint,
      hostMountPoint: hit.hostMount.mountPoint,
      readOnly: entry.mountOptions.split(',').includes('ro'),
      runtimeManaged: isRuntimeManagedFile(hit.hostPath),
    };
  }

  /** {@link hostSource}, loading the namespace's table first when it misses. */
  async resolve(
    pid: number,
    mntns: number,
    mountId: number,
    pathInContainer: string,
    device?: DeviceNumber,
  ): Promise<HostSource | null> {
    const entry = this.lookup(pid, mntns, mountId);
    const stale = entry && device && (device.major !== entry.major || device.minor !== entry.minor);
    if (!entry || stale || !this.host) await this.load(pid, mntns);
    return this.hostSource(pid, mntns, mountId, pathInContainer, device);
  }

  /** Drops a namespace's table (its last process is gone). */
  forget(mntns: number): void {
    this.namespaces.delete(mntns);
    if (this.lastTouched === mntns) this.lastTouched = undefined;
  }

  private insert(mntns: number, rec: NamespaceRecord): void {
    this.namespaces.set(mntns, rec);
    this.lastTouched = mntns;
    while (this.namespaces.size > this.maxNamespaces) {
      const oldest = this.namespaces.keys().next();
      if (oldest.done) break;
      this.namespaces.delete(oldest.value);
    }
  }

  /** Marks a namespace most recently used (cheap when it already is). */
  private touch(mntns: number, rec: NamespaceRecord): void {
    if (this.lastTouched === mntns) return;
    this.namespaces.delete(mntns);
    this.namespaces.set(mntns, rec);
    this.lastTouched = mntns;
  }

  private async readNamespace(pid: number, mntns: number, rec: NamespaceRecord, startedAt: number): Promise<void> {
    let text: string;
    try {
      text = await this.readFile(`${this.procRoot}/${pid}/mountinfo`);
    } catch {
      return; // gone (ENOENT, ESRCH), a zombie (EINVAL) or not ours to read
    }
    // The table is the namespace's only if the pid still is in it after the read.
    try {
      if ((await this.readlink(`${this.procRoot}/${pid}/ns/mnt`)) !== `mnt:[${mntns}]`) return;
    } catch (err) {
      if (!isErrno(err, 'EACCES', 'EPERM')) return; // gone meanwhile: cannot tell whose table it was
    }
    const entries = parseMountinfo(text, this.maxMounts);
    if (entries.length === 0) return; // an exiting task shows an empty table: keep what we had
    const mounts = new Map<number, MountInfoEntry>();
    for (const e of entries) if (!mounts.has(e.mountId)) mounts.set(e.mountId, e);
    rec.mounts = mounts;
    rec.loadedAt = startedAt;
  }

  private async readHost(startedAt: number): Promise<void> {
    for (const p of [this.hostMountinfoPath, this.fallbackMountinfoPath]) {
      let text: string;
      try {
        text = await this.readFile(p);
      } catch {
        continue;
      }
      const entries = parseMountinfo(text);
      if (entries.length === 0) continue;
      this.host = { entries, index: buildHostIndex(entries), loadedAt: startedAt };
      return;
    }
  }
}
