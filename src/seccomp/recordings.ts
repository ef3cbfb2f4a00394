// SPDX-License-Identifier: Apache-2.0
/** Reads the syscalls snapshots the agent wrote to its JSON lines back in. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SNAPSHOT_EVENT = 'contguard.syscalls.snapshot';
/** Set (true) by the syscalls sensor on the snapshots of a container that already ran when the agent started. */
export const JOINED_RUNNING_ATTRIBUTE = 'contguard.syscalls.joined_running';

/** One container run's latest snapshot. */
export interface Recording {
  containerId: string;
  containerName?: string;
  imageName?: string;
  imageTags: string[];
  arch: string;
  workload: Record<string, number>;
  runtime: Record<string, number>;
  startedAt: string;
  lastNewAt?: string;
  snapshotAt: string;
  final: boolean;
  /**
   * The agent started after the container: counting began mid-run, so syscalls made at start-up
   * (the runtime's, the entrypoint's initialisation) may be missing. True when any snapshot of the
   * run says so.
   */
  joinedRunning: boolean;
}

export interface ReadResult {
  recordings: Recording[];
  /** Lines that were not valid JSON (a torn last line, a corrupt file): skipped, counted. */
  corruptLines: number;
  files: string[];
}

/** Thrown for what the user must fix: one line, exit non-zero. */
export class SeccompInputError extends Error {}

/** The JSON-lines files of a log dir, oldest first (contguard.N.jsonl ... contguard.jsonl). */
export function logFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new SeccompInputError(`cannot read log dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const rotated = names
    .map((n) => ({ n, m: /^contguard\.(\d+)\.jsonl$/.exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]))
    .map((x) => x.n);
  const current = names.includes('contguard.jsonl') ? ['contguard.jsonl'] : [];
  return [...rotated, ...current]
    .map((n) => join(dir, n))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false; // rotated away between listing and reading
      }
    });
}

function numberMap(v: unknown): Record<string, number> | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return null;
    out[k] = n;
  }
  return out;
}

/** Parses one JSON line into a snapshot, or null when it is another event or malformed. */
export function parseSnapshotLine(line: string): Recording | null | 'corrupt' {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return 'corrupt';
  }
  const rec = r as { event?: unknown; time?: unknown; attributes?: Record<string, unknown> };
  if (rec?.event !== SNAPSHOT_EVENT || typeof rec.attributes !== 'object' || rec.attributes === null) return null;
  const a = rec.attributes;
  const id = a['container.id'];
  const workload = numberMap(a['contguard.syscalls.counts']);
  const rawRuntime = a['contguard.syscalls.runtime_counts'];
  const runtime = rawRuntime === undefined ? {} : numberMap(rawRuntime);
  if (typeof id !== 'string' || !workload || !runtime || typeof rec.time !== 'string') return 'corrupt';
  const tags = Array.isArray(a['container.image.tags']) ? (a['container.image.tags'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
  return {
    containerId: id,
    containerName: typeof a['container.name'] === 'string' ? a['container.name'] : undefined,
    imageName: typeof a['container.image.name'] === 'string' ? a['container.image.name'] : undefined,
    imageTags: tags,
    arch: typeof a['contguard.syscalls.arch'] === 'string' ? a['contguard.syscalls.arch'] : 'unknown',
    workload,
    runtime,
    startedAt: typeof a['contguard.syscalls.recording_start'] === 'string' ? a['contguard.syscalls.recording_start'] : rec.time,
    lastNewAt: typeof a['contguard.syscalls.last_new'] === 'string' ? a['contguard.syscalls.last_new'] : undefined,
    snapshotAt: rec.time,
    final: a['contguard.syscalls.final'] === true,
    joinedRunning: a[JOINED_RUNNING_ATTRIBUTE] === true,
  };
}

/** Identifies one run: a container restarted keeps its id but starts a new recording. */
export function runKey(r: Recording): string {
  return `${r.containerId}@${r.startedAt}`;
}

/** The latest snapshot of every container run found in the log dir; a run is joinedRunning when any of its snapshots is. */
export function readRecordings(dir: string): ReadResult {
  const files = logFiles(dir);
  const latest = new Map<string, Recording>();
  let corruptLines = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new SeccompInputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const rec = parseSnapshotLine(line);
      if (rec === 'corrupt') corruptLines++;
      else if (rec) {
        const prev = latest.get(runKey(rec));
        const joinedRunning = rec.joinedRunning || (prev?.joinedRunning ?? false);
        if (!prev || prev.snapshotAt <= rec.snapshotAt) latest.set(runKey(rec), { ...rec, joinedRunning });
        else if (joinedRunning) prev.joinedRunning = true;
      }
    }
  }
  return { recordings: [...latest.values()], corruptLines, files };
}

/** Recordings of the target (name, id prefix, image[:tag]) and of every container sharing its image. */
export function selectRecordings(all: Recording[], target: string): Recording[] {
  const matches = (r: Recording) =>
    r.containerName === target ||
    (target.length >= 4 && /^[0-9a-f]+$/.test(target) && r.containerId.startsWith(target)) ||
    r.imageName === target ||
    r.imageTags.some((t) => `${r.imageName}:${t}` === target);
  const direct = all.filter(matches);
  const images = new Set(direct.map((r) => r.imageName).filter((n): n is string => !!n));
  return all.filter((r) => matches(r) || (r.imageName !== undefined && images.has(r.imageName)));
}
