// SPDX-License-Identifier: Apache-2.0
/**
 * Where a container's resource files are, on cgroup v2, v1 and hybrid hosts, and one read of
 * them. Each controller is read where it is mounted: a v1 hierarchy of its own when there is one
 * (`<root>/<controller>`), else the unified hierarchy. Every read is asynchronous and one at a
 * time; a file that is missing (controller not enabled, cgroup removed) is simply not reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseBlkioServiceBytes, parseFlatKeyed, parseIoStat, parsePressure, parseProcCgroup, parseSingleValue, type DiskBytes } from './parse.js';

/** v1 controllers whose files are read. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** PSI resources, as the files name them. */
export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];

/** cpuacct.stat counts in USER_HZ, which is 100 on Linux whatever the kernel's HZ. */
export const USER_HZ = 100;

/** The host's cgroup mounts. */
export interface CgroupLayout {
  /** The unified (v2) hierarchy: the root on a v2 host, `<root>/unified` on a hybrid one; null on v1 only. */
  unified: string | null;
  /** The v1 hierarchy of each controller mounted as v1 (none on a v2 host). */
  v1: Partial<Record<V1Controller, string>>;
}

/** A container's cgroup directory in each hierarchy it could be found in. */
export interface ContainerDirs {
  unified: string | null;
  v1: Partial<Record<V1Controller, string>>;
}

/** One read of a container's resource files; a group is absent when its files are. Times in seconds. */
export interface ResourceSample {
  cpu?: { user: number; system: number };
  throttling?: { periods: number; throttledPeriods: number; throttledTime: number };
  memory?: { usage: number; workingSet?: number; rss?: number };
  memoryEvents?: { oom?: number; oomKill?: number };
  disk?: DiskBytes;
  pids?: number;
  pressure?: Array<{ resource: PressureResource; kind: 'some' | 'full'; avg10: number; stallTime: number }>;
}

/** Errors that mean "not there (any more)": a controller not enabled, a removed cgroup, PSI off. */
const ABSENT = new Set(['ENOENT', 'ENODEV', 'ENOTDIR', 'ESRCH', 'ENXIO', 'EOPNOTSUPP', 'ENOTSUP']);

export function isAbsentError(err: unknown): boolean {
  return ABSENT.has((err as NodeJS.ErrnoException)?.code ?? '');
}

/** Most bytes one read takes, and most read from one file. */
const READ_CHUNK = 64 * 1024;
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Reads a cgroup file as text; null when it is absent (see isAbsentError); other errors throw.
 * open, one read, close: a cgroup file is generated whole on its first read (one seq_file
 * record), so a read that does not fill the buffer got all of it (half the cost of readFile,
 * which also stats and reads again to see the end). Bounded to MAX_FILE_BYTES.
 */
export async function readCgroupFile(file: string): Promise<string | null> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, 'r');
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await handle.read(buf, 0, READ_CHUNK, null);
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (bytesRead < READ_CHUNK || total >= MAX_FILE_BYTES) break;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (isAbsentError(err)) return null;
    throw err;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.access(p);
    return true;
  } catch {
    return false;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The cgroup mounts under `root`: v2 when `root` is a cgroup2 mount (`cgroup.controllers`),
 * hybrid when one is at `root/unified`; v1 controller hierarchies are `root/<controller>` with a
 * `tasks` file (a v1-only file; `cpu` may be a link to `cpu,cpuacct`).
 */
export async function detectLayout(root = '/sys/fs/cgroup'): Promise<CgroupLayout> {
  if (await exists(path.join(root, 'cgroup.controllers'))) return { unified: root, v1: {} };
  const unified = (await exists(path.join(root, 'unified', 'cgroup.procs'))) ? path.join(root, 'unified') : null;
  const v1: Partial<Record<V1Controller, string>> = {};
  for (const c of V1_CONTROLLERS) {
    const dir = path.join(root, c);
    if (await exists(path.join(dir, 'tasks'))) v1[c] = dir;
  }
  return { unified, v1 };
}

/** A path from /proc/<pid>/cgroup that stays inside its hierarchy (not one seen from another cgroup namespace). */
function cleanCgroupPath(p: string | undefined): string | null {
  if (!p || !p.startsWith('/')) return null;
  if (p.split('/').some((part) => part === '..' || part === '.')) return null;
  return p;
}

/**
 * A container's directories in every hierarchy of `layout`, given its path `rel` in the hierarchy
 * `idRoot` the kernel's cgroup ids come from. In another hierarchy the path is the one
 * /proc/<pid>/cgroup gives for one of its tasks (from `cgroup.procs` of the known directory), else
 * the same relative path when that directory exists. Returns null for a hierarchy where neither is
 * found (no task yet, or the container is gone): the caller may try again later.
 */
export async function resolveContainerDirs(layout: CgroupLayout, idRoot: string, rel: string, procRoot = '/proc'): Promise<ContainerDirs> {
  const base = path.join(idRoot, rel);
  let procPaths: Map<string, string> | null | undefined; // undefined: not read yet
  const fromProc = async (): Promise<Map<string, string> | null> => {
    if (procPaths !== undefined) return procPaths;
    procPaths = null;
    const procs = await readCgroupFile(path.join(base, 'cgroup.procs')).catch(() => null);
    const pid = procs?.split('\n').find((l) => /^\d+$/.test(l.trim()))?.trim();
    if (!pid) return null;
    const text = await readCgroupFile(path.join(procRoot, pid, 'cgroup')).catch(() => null);
    procPaths = text === null ? null : parseProcCgroup(text);
    return procPaths;
  };
  const locate = async (mount: string, key: string): Promise<string | null> => {
    if (path.resolve(mount) === path.resolve(idRoot)) return base;
    const viaProc = cleanCgroupPath((await fromProc())?.get(key));
    if (viaProc !== null && (await isDir(path.join(mount, viaProc)))) return path.join(mount, viaProc);
    const same = path.join(mount, rel);
    return (await isDir(same)) ? same : null;
  };
  const dirs: ContainerDirs = { unified: null, v1: {} };
  if (layout.unified) dirs.unified = await locate(layout.unified, '');
  for (const c of V1_CONTROLLERS) {
    const mount = layout.v1[c];
    if (!mount) continue;
    const found = await locate(mount, c);
    if (found) dirs.v1[c] = found;
  }
  return dirs;
}

/** True when every hierarchy of the layout has a directory for the container. */
export function dirsComplete(layout: CgroupLayout, dirs: ContainerDirs): boolean {
  if (layout.unified && !dirs.unified) return false;
  return V1_CONTROLLERS.every((c) => !layout.v1[c] || dirs.v1[c]);
}

export type FileReader = (file: string) => Promise<string | null>;

/**
 * One read of a container's resource files, one file at a time. A controller mounted as v1 is
 * read there (`layout.v1`), otherwise from the unified directory:
 *
 * | group | cgroup v2 | cgroup v1 |
 * |---|---|---|
 * | cpu | cpu.stat user_usec, system_usec (hybrid hosts too) | cpuacct.stat user, system (USER_HZ) |
 * | throttling | cpu.stat nr_periods, nr_throttled, throttled_usec | cpu.stat nr_periods, nr_throttled, throttled_time (ns) |
 * | memory | memory.current; memory.stat inactive_file, anon | memory.usage_in_bytes; memory.stat total_inactive_file, total_rss |
 * | memory events | memory.events oom, oom_kill | memory.oom_control oom_kill |
 * | disk | io.stat rbytes, wbytes | blkio.throttle.io_service_bytes_recursive Read, Write |
 * | pids | pids.current | pids.current |
 * | pressure | cpu/memory/io.pressure some, full (avg10, total) | — |
 *
 * Working set = usage - inactive file pages (never below 0), as cAdvisor and `docker stats` count it.
 */
export async function readSample(layout: CgroupLayout, dirs: ContainerDirs, read: FileReader = readCgroupFile): Promise<ResourceSample> {
  const s: ResourceSample = {};
  const u = dirs.unified;
  const file = (dir: string | null | undefined, name: string): Promise<string | null> => (dir ? read(path.join(dir, name)) : Promise.resolve(null));
  let unifiedCpuStat: Map<string, number> | null | undefined;
  const v2CpuStat = async () => {
    if (unifiedCpuStat === undefined) {
      const t = await file(u, 'cpu.stat');
      unifiedCpuStat = t === null ? null : parseFlatKeyed(t);
    }
    return unifiedCpuStat;
  };

  // CPU time: the unified cpu.stat (a cgroup core file, there on hybrid hosts too whatever
  // hierarchy the cpu controller is in), else cpuacct.stat. Both split the exact run time by the
  // kernel's tick samples (cputime_adjust): the modes add up to it and never go back.
  // cpuacct.usage_user/usage_sys are the raw tick samples (their sum can exceed cpuacct.usage).
  const cpuStat = await v2CpuStat();
  if (cpuStat?.has('user_usec') && cpuStat.has('system_usec')) {
    s.cpu = { user: cpuStat.get('user_usec')! / 1e6, system: cpuStat.get('system_usec')! / 1e6 };
  } else if (layout.v1.cpuacct) {
    const stat = await file(dirs.v1.cpuacct, 'cpuacct.stat');
    const m = stat === null ? null : parseFlatKeyed(stat);
    if (m?.has('user') && m.has('system')) s.cpu = { user: m.get('user')! / USER_HZ, system: m.get('system')! / USER_HZ };
  }

  // CPU throttling (CFS bandwidth control: counts move only under a CPU quota).
  if (layout.v1.cpu) {
    const t = await file(dirs.v1.cpu, 'cpu.stat');
    const m = t === null ? null : parseFlatKeyed(t);
    if (m?.has('nr_periods') && m.has('nr_throttled') && m.has('throttled_time')) {
      s.throttling = { periods: m.get('nr_periods')!, throttledPeriods: m.get('nr_throttled')!, throttledTime: m.get('throttled_time')! / 1e9 };
    }
  } else {
    const m = await v2CpuStat();
    if (m?.has('nr_periods') && m.has('nr_throttled') && m.has('throttled_usec')) {
      s.throttling = { periods: m.get('nr_periods')!, throttledPeriods: m.get('nr_throttled')!, throttledTime: m.get('throttled_usec')! / 1e6 };
    }
  }

  // Memory and memory events.
  if (layout.v1.memory) {
    const d = dirs.v1.memory;
    const usage = await file(d, 'memory.usage_in_bytes');
    const un = usage === null ? null : parseSingleValue(usage);
    if (un !== null) {
      const stat = await file(d, 'memory.stat');
      const m = stat === null ? null : parseFlatKeyed(stat);
      s.memory = memoryOf(un, m?.get('total_inactive_file'), m?.get('total_rss'));
    }
    const oom = await file(d, 'memory.oom_control');
    const om = oom === null ? null : parseFlatKeyed(oom);
    if (om?.has('oom_kill')) s.memoryEvents = { oomKill: om.get('oom_kill')! };
  } else {
    const current = await file(u, 'memory.current');
    const cn = current === null ? null : parseSingleValue(current);
    if (cn !== null) {
      const stat = await file(u, 'memory.stat');
      const m = stat === null ? null : parseFlatKeyed(stat);
      s.memory = memoryOf(cn, m?.get('inactive_file'), m?.get('anon'));
    }
    const ev = await file(u, 'memory.events');
    const em = ev === null ? null : parseFlatKeyed(ev);
    if (em && (em.has('oom') || em.has('oom_kill'))) s.memoryEvents = { oom: em.get('oom'), oomKill: em.get('oom_kill') };
  }

  // Disk I/O.
  if (layout.v1.blkio) {
    const t = await file(dirs.v1.blkio, 'blkio.throttle.io_service_bytes_recursive');
    if (t !== null) s.disk = parseBlkioServiceBytes(t);
  } else {
    const t = await file(u, 'io.stat');
    if (t !== null) s.disk = parseIoStat(t);
  }

  // Tasks.
  const pids = await file(layout.v1.pids ? dirs.v1.pids : u, 'pids.current');
  const pn = pids === null ? null : parseSingleValue(pids);
  if (pn !== null) s.pids = pn;

  // Pressure stall information (the unified hierarchy only).
  if (u) {
    for (const resource of PRESSURE_RESOURCES) {
      const t = await file(u, `${resource}.pressure`);
      if (t === null) continue;
      for (const l of parsePressure(t)) (s.pressure ??= []).push({ resource, kind: l.kind, avg10: l.avg10, stallTime: l.totalUsec / 1e6 });
    }
  }
  return s;
}

function memoryOf(usage: number, inactiveFile: number | undefined, rss: number | undefined): NonNullable<ResourceSample['memory']> {
  const m: NonNullable<ResourceSample['memory']> = { usage };
  if (inactiveFile !== undefined) m.workingSet = Math.max(0, usage - inactiveFile);
  if (rss !== undefined) m.rss = rss;
  return m;
}
