// SPDX-License-Identifier: Apache-2.0
/**
 * `contguard anomaly train|score --log-dir DIR`: replays recorded JSON lines through the same
 * feature extraction and forest as the agent.
 *
 * Windows: the recording's `contguard.anomaly.window` records (written when the agent ran with
 * anomaly.enabled) end each container's windows, with the resource counters; consecutive
 * recorded windows merge until they cover anomaly.window_seconds (record with a short window to
 * try longer ones). A recording without them (anomaly off) is cut into windows of
 * window_seconds by record time, per container, and has no resource features (CPU, memory,
 * block IO, throttling, tasks read 0).
 *
 * train: learns each image's model from its first learning_windows windows (ignoring models in
 *   the state directory), writes the models there, and scores the rest of the recording.
 * score: scores every window with the models in the state directory (an image without one
 *   learns from the recording first, and says so).
 */
import { readFileSync } from 'node:fs';
import type { CliAnomalyOptions } from '../cli/options.js';
import { DEFAULT_CONFIG, loadConfigFile } from '../config.js';
import { logFiles } from '../seccomp/recordings.js';
import { parseIsoTime, formatNanos } from '../policy/time.js';
import { AnomalyDetector, FileModelStore, type ModelStore, type StoredImage, type WindowResult } from './detector.js';
import { ANOMALY_WINDOW_EVENT, FeatureExtractor, WINDOW_ATTRS, containerOf, type ObservedRecord } from './features.js';
import { detectorOptions } from './index.js';
import { fmt } from './model.js';

/** What the user must fix (a missing log dir, no records): one line, exit non-zero. */
export class AnomalyInputError extends Error {}


export interface ReadRecords {
  records: ObservedRecord[];
  corruptLines: number;
  files: string[];
}

/** Every record of a log dir, oldest file first, in the order the agent wrote them. */
export function readRecords(dir: string): ReadRecords {
  let files: string[];
  try {
    files = logFiles(dir);
  } catch (err) {
    throw new AnomalyInputError((err as Error).message);
  }
  const records: ObservedRecord[] = [];
  let corruptLines = 0;
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue; // rotated away between listing and reading
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = parseLine(line);
      if (r) records.push(r);
      else corruptLines++;
    }
  }
  return { records, corruptLines, files };
}

/** One JSON line back into a record, or null when it is not one. */
export function parseLine(line: string): ObservedRecord | null {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch {
    return null;
  }
  if (!j || typeof j !== 'object') return null;
  const o = j as Record<string, unknown>;
  if (typeof o.event !== 'string' || typeof o.time !== 'string' || !o.attributes || typeof o.attributes !== 'object' || Array.isArray(o.attributes)) return null;
  const t = parseIsoTime(o.time);
  if (t === null) return null;
  return { eventName: o.event, timeUnixNano: t, attributes: o.attributes as Record<string, unknown>, ...(typeof o.trace_id === 'string' ? { traceId: o.trace_id } : {}) };
}

/**
 * The records with window ends: as recorded when the recording has window records, else one
 * synthetic window record per container every `windowSeconds` of record time.
 */
export function withWindows(records: readonly ObservedRecord[], windowSeconds: number): ObservedRecord[] {
  if (records.some((r) => r.eventName === ANOMALY_WINDOW_EVENT)) return records.slice();
  const step = BigInt(Math.round(windowSeconds * 1e9));
  const ends = new Map<string, { end: bigint; attributes: Record<string, unknown> }>();
  const out: ObservedRecord[] = [];
  const close = (until: bigint) => {
    for (const c of ends.values()) {
      while (c.end <= until) {
        out.push({ eventName: ANOMALY_WINDOW_EVENT, timeUnixNano: c.end, attributes: { ...c.attributes, [WINDOW_ATTRS.seconds]: windowSeconds } });
        c.end += step;
      }
    }
  };
  for (const r of records) {
    close(r.timeUnixNano);
    const c = containerOf(r.attributes);
    if (c && !ends.has(c.id)) {
      const attributes: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r.attributes)) if (k.startsWith('container.')) attributes[k] = v;
      // The first window starts at the container's first record (a warm-up, as live).
      ends.set(c.id, { end: r.timeUnixNano, attributes });
      out.push({ eventName: ANOMALY_WINDOW_EVENT, timeUnixNano: r.timeUnixNano, attributes: { ...attributes, [WINDOW_ATTRS.seconds]: 0 } });
      ends.get(c.id)!.end += step;
    }
    out.push(r);
  }
  if (records.length) close(records[records.length - 1]!.timeUnixNano);
  return out;
}

/** Runs records through an extractor and a detector; every completed window's result, in order. */
export function* replay(records: Iterable<ObservedRecord>, detector: AnomalyDetector, extractor = new FeatureExtractor()): Generator<WindowResult> {
  for (const r of records) {
    const closed = extractor.observe(r);
    if (!closed) continue;
    const result = detector.window(closed);
    if (result) yield result;
  }
}

/** A store that writes but never reads (train starts from nothing). */
class WriteOnlyStore implements ModelStore {
  constructor(private readonly inner: ModelStore) {}
  load(): StoredImage | null {
    return null;
  }
  save(image: string, state: StoredImage): void {
    this.inner.save(image, state);
  }
}

export async function runAnomaly(o: CliAnomalyOptions, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const cfg = o.config ? loadConfigFile(o.config) : DEFAULT_CONFIG;
  const logDir = o.logDir ?? cfg.outputs.jsonl.dir;
  const stateDir = o.stateDir ?? cfg.anomaly.state_dir;
  const { records, corruptLines, files } = readRecords(logDir);
  if (files.length === 0) throw new AnomalyInputError(`no contguard JSON lines in ${logDir}`);
  if (records.length === 0) throw new AnomalyInputError(`no records in ${logDir} (${files.length} files)`);
  const errors: string[] = [];
  let store: ModelStore;
  try {
    store = new FileModelStore(stateDir, (m) => errors.push(m));
  } catch (err) {
    throw new AnomalyInputError(`state dir ${stateDir}: ${(err as Error).message}`);
  }
  const opts = detectorOptions(cfg.anomaly);
  const detector = new AnomalyDetector(opts, o.mode === 'train' ? new WriteOnlyStore(store) : store, (m) => errors.push(m));
  const recorded = records.some((r) => r.eventName === ANOMALY_WINDOW_EVENT);
  const counts = { learning: 0, scored: 0, alerts: 0 };
  const trained: string[] = [];
  for (const r of replay(withWindows(records, opts.windowSeconds), detector)) {
    if (r.phase === 'learning') counts.learning++;
    if (r.phase === 'trained') {
      counts.learning++;
      trained.push(r.summary.image);
    }
    if (r.phase !== 'scoring') continue;
    counts.scored++;
    const alert = r.explanation !== null;
    if (alert) counts.alerts++;
    const time = formatNanos(BigInt(r.summary.endMs) * 1_000_000n);
    if (o.json) {
      out(JSON.stringify({ time, container: r.summary.containerName, container_id: r.summary.containerId, image: r.summary.image, window_seconds: r.summary.seconds, score: r.score, alert, features: (r.explanation ?? []).map((f) => f.text) }));
    } else {
      out(`${time}  ${r.summary.containerName}  ${r.summary.image}  ${r.summary.seconds.toFixed(1)}s  score ${fmt(r.score!)}${alert ? `  ALERT: ${r.explanation!.map((f) => f.text).join('; ')}` : ''}`);
    }
  }
  detector.flush();
  const summary = [
    `${records.length} records from ${files.length} files${corruptLines ? ` (${corruptLines} unreadable lines skipped)` : ''}`,
    recorded ? 'windows as recorded' : `no contguard.anomaly.window records: windows of ${opts.windowSeconds} s by record time, without resource features`,
    `${counts.learning} windows learned${trained.length ? ` (models of ${trained.join(', ')} written to ${stateDir})` : ''}`,
    `${counts.scored} windows scored, ${counts.alerts} at or above threshold ${opts.threshold}`,
  ];
  for (const e of errors) process.stderr.write(`contguard: ${e}\n`);
  process.stderr.write(`contguard anomaly ${o.mode}: ${summary.join('; ')}\n`);
  return 0;
}
