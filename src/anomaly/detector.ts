// SPDX-License-Identifier: Apache-2.0
/**
 * The detector shared by the agent and the offline replay: takes closed windows, merges them up
 * to each container's monitoring period, learns one model per image over the first
 * `learningWindows` windows of its containers, then scores; optional retraining on windows
 * judged normal; models persist in a state directory.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeInto, emptySummary, type ClosedWindow, type WindowSummary } from './features.js';
import { ImageModel, resourceValues, type Contribution, type ModelJson, type ModelOptions, type Sample } from './model.js';

export interface AdaptiveOptions {
  enabled: boolean;
  /** Shortest period, seconds. */
  minWindowSeconds: number;
  /** A score at or above threshold - band halves the period (down to the minimum). */
  band: number;
  /** Scores below threshold - band this many windows in a row double it (up to windowSeconds). */
  relaxWindows: number;
}

export interface DetectorOptions {
  windowSeconds: number;
  learningWindows: number;
  threshold: number;
  /** Refit after this many windows judged normal (0: never), on the latest learningWindows normal windows. */
  retrainWindows: number;
  /** Offline: learn every window ending before this time (ms) instead of counting learningWindows. */
  learnUntilMs?: number;
  adaptive: AdaptiveOptions;
  model: ModelOptions;
}

export type Phase = 'learning' | 'trained' | 'scoring';

export interface WindowResult {
  summary: WindowSummary;
  phase: Phase;
  /** Scoring phase only. */
  score: number | null;
  threshold: number;
  /** The features that moved most, when the window passed the threshold. */
  explanation: Contribution[] | null;
  /** The container's monitoring period after this window (adaptive), seconds. */
  period: number;
  /** Microseconds spent scoring (scoring phase). */
  scoreMicros: number;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Where models are kept between runs (null: memory only). */
export interface ModelStore {
  load(image: string): StoredImage | null;
  save(image: string, state: StoredImage): void;
}

export interface StoredImage {
  model: ModelJson | null;
  /** Baseline windows learned so far while no model exists yet. */
  learning: SerializedSample[];
}

interface SerializedSample {
  s: Omit<WindowSummary, 'syscalls' | 'executables' | 'peers'> & { syscalls: Record<string, number>; executables: Record<string, number>; peers: Record<string, number> };
  r: number[];
}

function serialize(x: Sample): SerializedSample {
  const s = x.summary;
  return { s: { ...s, syscalls: Object.fromEntries(s.syscalls), executables: Object.fromEntries(s.executables), peers: Object.fromEntries(s.peers) }, r: x.smoothed };
}

function counts(o: unknown): Map<string, number> {
  const m = new Map<string, number>();
  if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Number.isFinite(v)) m.set(k, v);
  return m;
}

function deserialize(x: SerializedSample): Sample {
  const s = { ...emptySummary('', '', ''), ...x.s, syscalls: counts(x.s.syscalls), executables: counts(x.s.executables), peers: counts(x.s.peers) };
  return { summary: s, smoothed: Array.isArray(x.r) ? x.r.map(Number) : resourceValues(s, 1) };
}

/** Models as JSON files, one per image, written atomically (temporary file, then rename). */
export class FileModelStore implements ModelStore {
  constructor(
    readonly dir: string,
    private readonly onError: (msg: string) => void,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }

  fileOf(image: string): string {
    const safe = image.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
    return join(this.dir, `${safe}-${createHash('sha256').update(image).digest('hex').slice(0, 12)}.json`);
  }

  load(image: string): StoredImage | null {
    const file = this.fileOf(image);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(`anomaly: cannot read ${file}: ${(err as Error).message}; learning again`);
      return null;
    }
    try {
      const j = JSON.parse(text) as StoredImage;
      if (!j || typeof j !== 'object' || !Array.isArray(j.learning)) throw new Error('not a model state file');
      return j;
    } catch (err) {
      this.onError(`anomaly: ${file} is not a model state file (${(err as Error).message}); learning again`);
      return null;
    }
  }

  save(image: string, state: StoredImage): void {
    const file = this.fileOf(image);
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o640 });
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.onError(`anomaly: cannot write ${file}: ${(err as Error).message}`);
    }
  }
}

interface ImageState {
  model: ImageModel | null;
  learning: Sample[];
  /** Windows judged normal since the last fit (retraining). */
  normal: Sample[];
  sinceFit: number;
  dirty: boolean;
}

interface ContainerState {
  pending: WindowSummary | null;
  /** The resource values of the last windows (median smoothing). */
  recent: number[][];
  period: number;
  calm: number;
}

export class AnomalyDetector {
  private readonly images = new Map<string, ImageState>();
  private readonly containers = new Map<string, ContainerState>();

  constructor(
    readonly options: DetectorOptions,
    private readonly store: ModelStore | null = null,
    private readonly onError: (msg: string) => void = () => undefined,
  ) {}

  /** The container's current monitoring period, seconds. */
  periodOf(containerId: string): number {
    return this.containers.get(containerId)?.period ?? this.options.windowSeconds;
  }

  /** The model of an image, if one is trained (tests, offline mode). */
  modelOf(image: string): ImageModel | null {
    return this.image(image).model;
  }

  forget(containerId: string): void {
    this.containers.delete(containerId);
  }

  /** Takes one closed window; returns a result when it completes a period, else null. */
  window(closed: ClosedWindow): WindowResult | null {
    const s = closed.summary;
    let c = this.containers.get(s.containerId);
    if (!c) {
      c = { pending: null, recent: [], period: this.options.windowSeconds, calm: 0 };
      this.containers.set(s.containerId, c);
    }
    // A warm-up window has no cumulative differences yet: neither learned nor scored.
    if (closed.warmup) return null;
    if (c.pending) mergeInto(c.pending, s);
    else c.pending = s;
    // Windows merge until they cover the period (5 % slack for timer jitter).
    if (c.pending.seconds < c.period * 0.95) return null;
    const summary = c.pending;
    c.pending = null;
    const o = this.options;
    const raw = resourceValues(summary, o.windowSeconds);
    // Median smoothing of the resource values over the container's last medianWindows windows.
    c.recent.push(raw);
    if (c.recent.length > o.model.medianWindows) c.recent.shift();
    const sample: Sample = { summary, smoothed: raw.map((_, i) => median(c!.recent.map((r) => r[i]!))) };
    const img = this.image(summary.image);
    const base = { summary, threshold: o.threshold, explanation: null, scoreMicros: 0 };
    if (!img.model) {
      img.learning.push(sample);
      img.dirty = true;
      const learning = o.learnUntilMs !== undefined ? summary.endMs < o.learnUntilMs || img.learning.length < 2 : img.learning.length < o.learningWindows;
      if (learning) return { ...base, phase: 'learning', score: null, period: c.period };
      img.model = ImageModel.fit(summary.image, img.learning, o.model, o.windowSeconds);
      img.learning = [];
      img.sinceFit = 0;
      this.persist(summary.image, img);
      return { ...base, phase: 'trained', score: null, period: c.period };
    }
    const t0 = process.hrtime.bigint();
    const { raw: vector, score } = img.model.score(sample);
    const scoreMicros = Number(process.hrtime.bigint() - t0) / 1000;
    const anomalous = score >= o.threshold;
    if (o.adaptive.enabled) {
      if (score >= o.threshold - o.adaptive.band) {
        c.period = Math.max(o.adaptive.minWindowSeconds, c.period / 2);
        c.calm = 0;
      } else if (++c.calm >= o.adaptive.relaxWindows) {
        c.period = Math.min(o.windowSeconds, c.period * 2);
        c.calm = 0;
      }
    }
    if (!anomalous && o.retrainWindows > 0) this.retrain(summary.image, img, sample);
    return { ...base, phase: 'scoring', score, explanation: anomalous ? img.model.explain(vector) : null, period: c.period, scoreMicros };
  }

  /** Writes every image whose state changed (learning progress) to the store. */
  flush(): void {
    for (const [image, img] of this.images) if (img.dirty) this.persist(image, img);
  }

  private retrain(image: string, img: ImageState, sample: Sample): void {
    img.normal.push(sample);
    if (img.normal.length > this.options.learningWindows) img.normal.shift();
    if (++img.sinceFit < this.options.retrainWindows || img.normal.length < 2) return;
    img.model = ImageModel.fit(image, img.normal, this.options.model, this.options.windowSeconds);
    img.sinceFit = 0;
    this.persist(image, img);
  }

  private persist(image: string, img: ImageState): void {
    img.dirty = false;
    this.store?.save(image, { model: img.model?.toJSON() ?? null, learning: img.learning.map(serialize) });
  }

  private image(image: string): ImageState {
    let img = this.images.get(image);
    if (img) return img;
    img = { model: null, learning: [], normal: [], sinceFit: 0, dirty: false };
    const stored = this.store?.load(image);
    if (stored) {
      try {
        img.model = stored.model ? ImageModel.fromJSON(stored.model) : null;
        img.learning = stored.learning.map(deserialize);
      } catch (err) {
        this.onError(`anomaly: the stored model of ${image} is unusable (${(err as Error).message}); learning again`);
        img.model = null;
        img.learning = [];
      }
    }
    this.images.set(image, img);
    return img;
  }
}
