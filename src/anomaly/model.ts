// SPDX-License-Identifier: Apache-2.0
/**
 * One image's model: the baseline (what its containers did while learning), the feature
 * vector built against it, the optional preprocessing and feature weights, the forest, and
 * the explanation of a score. See docs in README "Anomaly detection" for every formula.
 */
import { IsolationForest, type ForestJson } from './forest.js';
import type { WindowSummary } from './features.js';

/** The optimisations, each switchable. */
export interface ModelOptions {
  trees: number;
  sampleSize: number;
  seed: number;
  /** Syscalls named in the vector (the baseline's most frequent); the rest share "other". */
  topSyscalls: number;
  /**
   * Volatility damping: the resource features are the median of the container's last
   * medianWindows windows (a one-window spike is dropped, a sustained change passes one window
   * late), then log1p of every count, then robust per-feature scaling (x - median) / IQR.
   */
  damping: boolean;
  medianWindows: number;
  /**
   * With damping, syscall shares are shrunk toward the baseline's: (n_i + a mu_i) / (N + a) with
   * a = sharePrior pseudo-calls, so a window of few calls does not read as a new mix.
   */
  sharePrior: number;
  /** Weighted feature selection (weights 1 / (1 + CV) of the baseline) with novelty splits. */
  weighted: boolean;
  noveltyMargin: number;
  /** Weight of a feature constant in the baseline (its novelty splits), instead of 1. */
  noveltyWeight: number;
  /** Modified path length: isolate at a node a value beyond its range by rangeMargin x spread. */
  modifiedPath: boolean;
  rangeMargin: number;
  /**
   * Also isolate at the root (h = 0) a window beyond a tree's subsample range: on no feature
   * ('off'), on the features constant in the baseline ('constant': something it never varied),
   * or on any feature ('all').
   */
  rootRange: 'off' | 'constant' | 'all';
  /**
   * Noise floors: the smallest change of a feature that a novelty split, the root check or a
   * node's range margin treats as new: per second of window for the resource features (times
   * the base window), in share points for the syscall shares. A margin is never below its feature's floor, so a 4 KiB writeback
   * in a container that did no block IO while learning, or a share 0.01 off an httpd's very
   * steady mix, is not isolated. Features without a floor (counts of execs, opens, peers...) keep
   * the plain margins: one never-seen exec is new.
   */
  noiseFloors: NoiseFloors;
  /** Counts and levels below the baseline's 5th percentile are scored as that percentile. */
  quietAsBaseline: boolean;
  /** Features an explanation names. */
  explainFeatures: number;
}

export interface NoiseFloors {
  share: number;
  cpuMs: number;
  diskBytes: number;
  networkBytes: number;
  throttledMs: number;
}

/** Resource floors per second: 1 % of a core, 32 KiB of block IO, 8 KiB of traffic, 0.5 % throttled. */
export const DEFAULT_NOISE_FLOORS: NoiseFloors = { share: 0.03, cpuMs: 10, diskBytes: 32_768, networkBytes: 8_192, throttledMs: 5 };

/** A feature's noise floor in raw units of a base window of `seconds` (0: none). */
function floorOf(name: string, f: NoiseFloors, seconds: number): number {
  if (name.startsWith('syscall_share.')) return f.share;
  switch (name) {
    case 'cpu_ms':
      return f.cpuMs * seconds;
    case 'disk_bytes':
      return f.diskBytes * seconds;
    case 'network_bytes':
      return f.networkBytes * seconds;
    case 'throttled_ms':
      return f.throttledMs * seconds;
    default:
      return 0;
  }
}

export const DEFAULT_MODEL_OPTIONS: ModelOptions = {
  trees: 100,
  sampleSize: 256,
  seed: 1,
  topSyscalls: 8,
  damping: true,
  medianWindows: 3,
  sharePrior: 0,
  weighted: true,
  noveltyMargin: 0.5,
  noveltyWeight: 1,
  modifiedPath: true,
  rangeMargin: 1.5,
  rootRange: 'constant',
  noiseFloors: DEFAULT_NOISE_FLOORS,
  quietAsBaseline: true,
  explainFeatures: 3,
};

/** Features after the syscall shares, in vector order, with how they read in an explanation. */
const FIXED_FEATURES = [
  ['distinct_syscalls', 'distinct syscalls', false],
  ['new_syscalls', 'syscalls never seen in the baseline', false],
  ['syscall_rate', 'syscalls', true],
  ['execs', 'execs', true],
  ['new_executable_execs', 'execs of never-seen executables', true],
  ['tree_depth', 'process tree depth', false],
  ['sensitive_opens', 'sensitive file opens', true],
  ['host_shared_opens', 'host-shared file opens', true],
  ['connections', 'connections', true],
  ['new_peers', 'new peers', false],
  ['failed_connects', 'failed connects', true],
  ['policy_violations', 'policy violations', true],
  ['cpu_ms', 'CPU ms', true],
  ['cpu_us_per_syscall', 'CPU µs per syscall', false],
  ['memory_bytes', 'memory bytes', false],
  ['disk_bytes', 'block IO bytes', true],
  ['network_bytes', 'network bytes (closed TCP connections)', true],
  ['throttled_ms', 'CPU throttled ms', true],
  ['tasks', 'tasks', false],
] as const;
/** Resource features smoothed by the damping (median), by name. */
export const SMOOTHED = ['cpu_ms', 'memory_bytes', 'disk_bytes', 'network_bytes', 'throttled_ms', 'tasks'] as const;

/** What the baseline knows: names in the vector and the sets "never seen" is measured against. */
export interface Schema {
  topSyscalls: string[];
  /** The baseline's share of each top syscall, then of the rest (mu, for the share prior). */
  baseShares: number[];
  knownSyscalls: Set<string>;
  knownExecutables: Set<string>;
  knownPeers: Set<string>;
}

/** Most names a baseline set keeps (a bound on memory and on the state file). */
const MAX_KNOWN = 10_000;

export function featureNames(schema: Pick<Schema, 'topSyscalls'>): string[] {
  return [...schema.topSyscalls.map((s) => `syscall_share.${s}`), 'syscall_share.other', ...FIXED_FEATURES.map((f) => f[0])];
}

function featureLabel(name: string): string {
  if (name.startsWith('syscall_share.')) return `share of ${name.slice('syscall_share.'.length)} syscalls`;
  return FIXED_FEATURES.find((f) => f[0] === name)?.[1] ?? name;
}

/** A window with its resource values after median smoothing (same order as SMOOTHED). */
export interface Sample {
  summary: WindowSummary;
  smoothed: number[];
}

/** Raw (unsmoothed) values of the SMOOTHED features, normalised to the base window (times in ms, so log1p compresses them). */
export function resourceValues(s: WindowSummary, baseSeconds: number): number[] {
  const k = s.seconds > 0 ? baseSeconds / s.seconds : 1;
  return [s.cpuSeconds * 1000 * k, s.memoryBytes, s.diskBytes * k, s.networkBytes * k, s.throttledSeconds * 1000 * k, s.tasks];
}

/**
 * The raw feature vector of a window against a schema; counts are normalised to the base
 * window length (count x base / seconds) so windows of another length compare.
 */
export function vectorize(sample: Sample, schema: Schema, baseSeconds: number, smoothed: boolean, sharePrior = 0): Float64Array {
  const s = sample.summary;
  const k = s.seconds > 0 ? baseSeconds / s.seconds : 1;
  const names = schema.topSyscalls;
  const v = new Float64Array(names.length + 1 + FIXED_FEATURES.length);
  let total = 0;
  for (const n of s.syscalls.values()) total += n;
  let named = 0;
  const a = sharePrior;
  const mu = schema.baseShares;
  names.forEach((name, i) => {
    const n = s.syscalls.get(name) ?? 0;
    named += n;
    v[i] = total + a > 0 ? (n + a * (mu[i] ?? 0)) / (total + a) : 0;
  });
  v[names.length] = total + a > 0 ? (total - named + a * (mu[names.length] ?? 0)) / (total + a) : 0;
  let newSyscalls = 0;
  for (const name of s.syscalls.keys()) if (!schema.knownSyscalls.has(name)) newSyscalls++;
  let newExecs = 0;
  for (const [exe, n] of s.executables) if (!schema.knownExecutables.has(exe)) newExecs += n;
  let newPeers = 0;
  for (const peer of s.peers.keys()) if (!schema.knownPeers.has(peer)) newPeers++;
  const res = smoothed ? sample.smoothed : resourceValues(s, baseSeconds);
  const fixed = [
    s.syscalls.size,
    newSyscalls,
    total * k,
    s.execs * k,
    newExecs * k,
    s.treeDepth,
    s.sensitiveOpens * k,
    s.hostSharedOpens * k,
    s.connections * k,
    newPeers,
    s.failedConnects * k,
    s.policyViolations * k,
    res[0]!, // cpu
    // CPU per syscall (unsmoothed CPU): a busy loop (a miner) makes few syscalls for its CPU.
    (s.cpuSeconds * 1e6) / (total + 1),
    res[1]!, // memory
    res[2]!, // disk
    res[3]!, // network
    res[4]!, // throttled
    res[5]!, // tasks
  ];
  v.set(fixed, names.length + 1);
  return v;
}

/** Per-feature statistics of the baseline (raw vectors) and of log1p values. */
interface Stats {
  median: number[];
  scale: number[];
  p5: number[];
  p95: number[];
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Log scaling of the damping: log1p of non-negative values (shares stay as they are). */
function logValue(x: number, isShare: boolean): number {
  return isShare ? x : Math.log1p(Math.max(0, x));
}

export interface Contribution {
  feature: string;
  label: string;
  value: number;
  baselineLow: number;
  baselineHigh: number;
  /** Robust deviation |log1p(x) - median| / scale (how it was ranked). */
  deviation: number;
  text: string;
}

export interface ModelJson {
  version: 1;
  image: string;
  options: ModelOptions;
  baseSeconds: number;
  schema: { topSyscalls: string[]; baseShares: number[]; knownSyscalls: string[]; knownExecutables: string[]; knownPeers: string[] };
  stats: Stats;
  weights: number[] | null;
  forest: ForestJson;
  trainedWindows: number;
}

export class ImageModel {
  private constructor(
    readonly image: string,
    readonly options: ModelOptions,
    readonly baseSeconds: number,
    readonly schema: Schema,
    private readonly stats: Stats,
    readonly weights: number[] | null,
    private readonly forest: IsolationForest,
    readonly trainedWindows: number,
  ) {}

  get featureNames(): string[] {
    return featureNames(this.schema);
  }

  /** Learns a model from the baseline windows of one image (at least 2). */
  static fit(image: string, samples: readonly Sample[], options: ModelOptions, baseSeconds: number): ImageModel {
    if (samples.length < 2) throw new Error(`a model needs at least 2 windows, got ${samples.length}`);
    const totals = new Map<string, number>();
    const knownSyscalls = new Set<string>();
    const knownExecutables = new Set<string>();
    const knownPeers = new Set<string>();
    const addBounded = (set: Set<string>, v: string) => {
      if (set.size < MAX_KNOWN) set.add(v);
    };
    for (const { summary } of samples) {
      for (const [name, n] of summary.syscalls) {
        totals.set(name, (totals.get(name) ?? 0) + n);
        addBounded(knownSyscalls, name);
      }
      for (const exe of summary.executables.keys()) addBounded(knownExecutables, exe);
      for (const peer of summary.peers.keys()) addBounded(knownPeers, peer);
    }
    const topSyscalls = [...totals.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, options.topSyscalls)
      .map(([n]) => n);
    let grand = 0;
    for (const n of totals.values()) grand += n;
    const topShares = topSyscalls.map((n) => (grand > 0 ? totals.get(n)! / grand : 0));
    const baseShares = [...topShares, grand > 0 ? 1 - topShares.reduce((x, y) => x + y, 0) : 0];
    const schema: Schema = { topSyscalls, baseShares, knownSyscalls, knownExecutables, knownPeers };
    const names = featureNames(schema);
    const shares = names.map((n) => n.startsWith('syscall_share.'));
    const prior = options.damping ? options.sharePrior : 0;
    const raw = samples.map((s) => vectorize(s, schema, baseSeconds, options.damping, prior));
    const f = names.length;
    const stats: Stats = { median: [], scale: [], p5: [], p95: [] };
    const weights: number[] = [];
    // Each feature's noise floor: raw units, and the same step in the units scaled below (log1p
    // around the baseline's median; shares as they are).
    const rawFloors = names.map((name) => floorOf(name, options.noiseFloors ?? DEFAULT_NOISE_FLOORS, baseSeconds));
    const logFloors: number[] = [];
    for (let j = 0; j < f; j++) {
      const col = Float64Array.from(raw, (r) => r[j]!).sort();
      stats.p5.push(quantile(col, 0.05));
      stats.p95.push(quantile(col, 0.95));
      const logs = Float64Array.from(col, (x) => logValue(x, shares[j]!)).sort();
      const med = quantile(logs, 0.5);
      const iqr = quantile(logs, 0.75) - quantile(logs, 0.25);
      const half = (logs[logs.length - 1]! - logs[0]!) / 2;
      stats.median.push(med);
      // The scale is never below the feature's noise floor (in the units scaled here): a feature
      // steadier than its floor in the baseline (an httpd's syscall mix, to 0.01) does not make
      // a floor-sized move look like many spreads to the forest's ordinary splits.
      const floor = rawFloors[j]!;
      logFloors.push(!(floor > 0) ? 0 : shares[j] ? floor : Math.log1p(Math.max(0, Math.expm1(med)) + floor) - med);
      stats.scale.push(Math.max(iqr > 0 ? iqr : half > 0 ? half : 1, logFloors[j]!));
      // Weight: 1 / (1 + coefficient of variation of the raw values), CV capped at 10.
      let mean = 0;
      for (const x of col) mean += x;
      mean /= col.length;
      let sq = 0;
      for (const x of col) sq += (x - mean) ** 2;
      const std = Math.sqrt(sq / col.length);
      const cv = std === 0 ? 0 : Math.min(10, std / (Math.abs(mean) + 1e-9));
      weights.push(std === 0 ? options.noveltyWeight : 1 / (1 + cv));
    }
    const rows = raw.map((r) => transform(r, stats, shares, options.damping));
    const constant: boolean[] = [];
    // Levels (memory, tasks) drift and linger (a page, a process not yet reaped): never "novel",
    // even when constant while learning; the forest still sees them.
    for (let j = 0; j < f; j++) constant.push(names[j] !== 'memory_bytes' && names[j] !== 'tasks' && raw.every((r) => r[j] === raw[0]![j]));
    // Each feature's noise floor in the units the forest sees.
    const floors = names.map((_, j) => (options.damping ? logFloors[j]! / stats.scale[j]! : rawFloors[j]!));
    const noveltyMargins = floors.map((fl) => Math.max(options.noveltyMargin, fl));
    let rangeMargins: Float64Array | null = null;
    let below: Float64Array | null = null;
    if (options.modifiedPath) {
      rangeMargins = new Float64Array(f);
      // One-sided for counts and levels: less of something than the baseline saw is not isolated.
      below = Float64Array.from(shares, (isShare) => (isShare ? 0 : Infinity));
      for (let j = 0; j < f; j++) {
        const col = Float64Array.from(rows, (r) => r[j]!).sort();
        const spread = Math.max(quantile(col, 0.75) - quantile(col, 0.25), (col[col.length - 1]! - col[0]!) / 2);
        // A feature constant in the baseline: any excess beyond novelty_margin is new.
        rangeMargins[j] = constant[j] ? noveltyMargins[j]! : Math.max(options.rangeMargin * (spread > 0 ? spread : 1), floors[j]!);
        if (shares[j]) below[j] = rangeMargins[j]!;
      }
    }
    const forest = IsolationForest.fit(rows, {
      trees: options.trees,
      sampleSize: options.sampleSize,
      seed: options.seed,
      weights: options.weighted ? weights : null,
      noveltySplits: options.weighted,
      noveltyMargin: noveltyMargins,
      rangeMargin: rangeMargins,
      rangeMarginBelow: below,
      rootRange: options.rootRange === 'all' ? true : options.rootRange === 'off' ? false : constant,
    });
    return new ImageModel(image, options, baseSeconds, schema, stats, options.weighted ? weights : null, forest, samples.length);
  }

  /** The raw vector and the score of one window. */
  score(sample: Sample): { raw: Float64Array; score: number } {
    const raw = vectorize(sample, this.schema, this.baseSeconds, this.options.damping, this.options.damping ? this.options.sharePrior : 0);
    const shares = this.featureNames.map((n) => n.startsWith('syscall_share.'));
    let row = raw;
    if (this.options.quietAsBaseline) {
      // Less of a count or level than the baseline's 5th percentile scores as that percentile:
      // a quieter window (one request where the baseline saw several) is not an anomaly.
      row = Float64Array.from(raw, (x, j) => (shares[j] ? x : Math.max(x, this.stats.p5[j]!)));
    }
    return { raw, score: this.forest.score(transform(row, this.stats, shares, this.options.damping)) };
  }

  /**
   * The features that moved most: ranked by robust deviation |log1p(x) - median| / scale from
   * the baseline (shares without the log; scale at most 0.1 for a feature whose 5th and 95th
   * percentiles are equal), each with its value and the baseline's 5th-95th percentile.
   */
  explain(raw: Float64Array, count = this.options.explainFeatures): Contribution[] {
    const names = this.featureNames;
    const out: Contribution[] = [];
    for (let j = 0; j < names.length; j++) {
      const isShare = names[j]!.startsWith('syscall_share.');
      const lo = this.stats.p5[j]!;
      const hi = this.stats.p95[j]!;
      // A feature (nearly) constant in the baseline ranks with scale at most 0.1: any change of it counts.
      const scale = lo === hi ? Math.min(this.stats.scale[j]!, 0.1) : this.stats.scale[j]!;
      const deviation = Math.abs(logValue(raw[j]!, isShare) - this.stats.median[j]!) / scale;
      const value = raw[j]!;
      const label = featureLabel(names[j]!);
      out.push({ feature: names[j]!, label, value, baselineLow: lo, baselineHigh: hi, deviation, text: `${label}: ${fmt(value)} vs ${fmt(lo) === fmt(hi) ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`}` });
    }
    return out
      .filter((c) => c.deviation > 0)
      .sort((a, b) => b.deviation - a.deviation)
      .slice(0, count);
  }

  toJSON(): ModelJson {
    return {
      version: 1,
      image: this.image,
      options: this.options,
      baseSeconds: this.baseSeconds,
      schema: {
        topSyscalls: this.schema.topSyscalls,
        baseShares: this.schema.baseShares,
        knownSyscalls: [...this.schema.knownSyscalls],
        knownExecutables: [...this.schema.knownExecutables],
        knownPeers: [...this.schema.knownPeers],
      },
      stats: this.stats,
      weights: this.weights,
      forest: this.forest.toJSON(),
      trainedWindows: this.trainedWindows,
    };
  }

  /** Rebuilds a model from {@link toJSON}; throws with a short reason on a malformed document. */
  static fromJSON(j: ModelJson): ImageModel {
    if (!j || j.version !== 1 || typeof j.image !== 'string') throw new Error('not a version 1 model');
    const schema: Schema = {
      topSyscalls: strings(j.schema?.topSyscalls),
      baseShares: Array.isArray(j.schema?.baseShares) && j.schema.baseShares.every((x) => typeof x === 'number') ? j.schema.baseShares : [],
      knownSyscalls: new Set(strings(j.schema?.knownSyscalls)),
      knownExecutables: new Set(strings(j.schema?.knownExecutables)),
      knownPeers: new Set(strings(j.schema?.knownPeers)),
    };
    const f = featureNames(schema).length;
    const s = j.stats;
    if (!s || ![s.median, s.scale, s.p5, s.p95].every((a) => Array.isArray(a) && a.length === f && a.every((x) => typeof x === 'number'))) throw new Error('model statistics are malformed');
    const forest = IsolationForest.fromJSON(j.forest);
    if (forest.features !== f) throw new Error('model forest does not match its features');
    if (!(typeof j.baseSeconds === 'number' && j.baseSeconds > 0)) throw new Error('model window length is malformed');
    const options = { ...DEFAULT_MODEL_OPTIONS, ...j.options };
    return new ImageModel(j.image, options, j.baseSeconds, schema, s, Array.isArray(j.weights) ? j.weights : null, forest, Number(j.trainedWindows) || 0);
  }
}

function strings(a: unknown): string[] {
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) throw new Error('model schema is malformed');
  return a as string[];
}

/** The row the forest sees: the raw vector, or with damping log1p then (x - median) / scale. */
function transform(raw: Float64Array, stats: Stats, shares: boolean[], damping: boolean): Float64Array {
  if (!damping) return raw;
  const out = new Float64Array(raw.length);
  for (let j = 0; j < raw.length; j++) out[j] = (logValue(raw[j]!, shares[j]!) - stats.median[j]!) / stats.scale[j]!;
  return out;
}

/** Short human number: integers as they are, small values with 2-3 significant digits, big ones with k/M/G. */
export function fmt(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (Number.isInteger(x)) return String(x);
  if (a >= 10) return x.toFixed(0);
  if (a >= 0.1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}
