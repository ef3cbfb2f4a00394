// SPDX-License-Identifier: Apache-2.0
/**
 * Isolation Forest (Liu, Ting and Zhou, ICDM 2008), with two optional changes used by the
 * anomaly detector (both off by default, so the default forest is the paper's):
 *
 * - Vanilla: each tree is grown on a subsample of psi rows drawn without replacement (default
 *   256), up to height ceil(log2 psi); a node picks an attribute q uniformly among those that
 *   are not constant in its rows (as scikit-learn does; a node whose rows are all equal is a
 *   leaf) and a split value p uniformly in [min, max); x goes left when x_q < p. The path length
 *   of x in a tree is h(x) = e + c(size) at the leaf it reaches (e edges from the root, size the
 *   training rows in that leaf); score s(x) = 2^(-E(h(x)) / c(psi)) with
 *   c(n) = 2 H(n-1) - 2 (n-1) / n, H(i) = ln(i) + 0.5772156649, c(2) = 1, c(n <= 1) = 0.
 * - `weights` (weighted feature selection): q is drawn with probability w_q / sum(w) among the
 *   node's attributes with w_q > 0. Attributes constant in the node's rows are eligible when
 *   `noveltySplits` is set: the split is then p = value + `noveltyMargin` with every training
 *   row on the left (x_q < p), and the right child is an empty leaf, so a row exceeding the
 *   constant by more than the margin is isolated there (h = e + 1, c(0) = 0).
 * - `rangeMargin` (modified path length, range-aware): each tree keeps the range [lo_q, hi_q]
 *   of its subsample on every attribute, and each node the range of its rows on its split
 *   attribute. A row outside [lo_q - m_q, hi_q + m_q] of the tree's subsample on any attribute q
 *   is isolated at the root: h'(x) = 0; otherwise a row outside a node's range on its split
 *   attribute by more than m_q is isolated at that node: h'(x) = e (the edges down to it);
 *   otherwise h'(x) = h(x). m is one margin per attribute (or one for all). A vanilla forest
 *   cannot see a value beyond what its subsample spanned on an attribute it rarely splits: the
 *   row lands in an extreme leaf of normal depth.
 *
 * Trees are stored flat in typed arrays; scoring a row walks them without allocating.
 */

const EULER_GAMMA = 0.5772156649;

/** Average path length of an unsuccessful BST search among n points: the paper's c(n). */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

/** Small fast seeded PRNG (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ForestOptions {
  /** Trees (default 100). */
  trees?: number;
  /** Subsample size psi (default 256; the row count when fewer rows are given). */
  sampleSize?: number;
  /** PRNG seed (default 1): the same rows and seed give the same forest. */
  seed?: number;
  /** Per-attribute selection weights (weighted feature selection); null: uniform. */
  weights?: ArrayLike<number> | null;
  /** Constant attributes may be split (see the module comment); only with weights. */
  noveltySplits?: boolean;
  /** Where a novelty split falls above the constant: one value, or one per attribute (default 0). */
  noveltyMargin?: number | ArrayLike<number>;
  /** Modified path length: isolate rows outside a node's range by more than this, one value or one per attribute (null: off). */
  rangeMargin?: number | ArrayLike<number> | null;
  /** The margin below a range, per attribute (default: rangeMargin); Infinity: never isolated for a low value. */
  rangeMarginBelow?: ArrayLike<number> | null;
  /** Also check the tree's subsample range at the root: on every attribute (default true), none, or those flagged. */
  rootRange?: boolean | ArrayLike<boolean>;
}

/** The serialisable form of a fitted forest (typed arrays as plain arrays). */
export interface ForestJson {
  version: 1;
  features: number;
  sampleSize: number;
  trees: number;
  rangeMargin: number[] | null;
  /** null in JSON stands for Infinity. */
  rangeMarginBelow: Array<number | null> | null;
  /** Per tree, the subsample's range on every attribute (tree-major); empty without rangeMargin. */
  /** null: unbounded (an attribute not checked at the root). */
  rootLo: Array<number | null>;
  rootHi: Array<number | null>;
  roots: number[];
  feature: number[];
  split: number[];
  left: number[];
  right: number[];
  size: number[];
  lo: number[];
  hi: number[];
}

const LEAF = -1;

export class IsolationForest {
  private constructor(
    readonly features: number,
    readonly sampleSize: number,
    /** Per attribute (modified path length), null when off. */
    readonly rangeMargin: Float64Array | null,
    private readonly marginBelow: Float64Array | null,
    private readonly roots: Int32Array,
    /** Split attribute per node, LEAF (-1) for a leaf. */
    private readonly feature: Int32Array,
    private readonly split: Float64Array,
    private readonly left: Int32Array,
    private readonly right: Int32Array,
    /** Training rows at a leaf. */
    private readonly size: Int32Array,
    /** Range of the node's rows on its split attribute (modified path length). */
    private readonly lo: Float64Array,
    private readonly hi: Float64Array,
    /** Subsample range per tree and attribute (tree * features + q), with rangeMargin. */
    private readonly rootLo: Float64Array,
    private readonly rootHi: Float64Array,
  ) {}

  get trees(): number {
    return this.roots.length;
  }

  /** Fits a forest to `rows` (each of the same length; at least 2 rows). */
  static fit(rows: ReadonlyArray<ArrayLike<number>>, opts: ForestOptions = {}): IsolationForest {
    const n = rows.length;
    if (n < 2) throw new Error(`an isolation forest needs at least 2 rows, got ${n}`);
    const f = rows[0]!.length;
    if (f === 0) throw new Error('rows have no attributes');
    for (const r of rows) if (r.length !== f) throw new Error(`rows differ in length (${r.length} vs ${f})`);
    const trees = opts.trees ?? 100;
    const psi = Math.min(opts.sampleSize ?? 256, n);
    const heightLimit = Math.ceil(Math.log2(psi));
    const rand = seededRandom(opts.seed ?? 1);
    const weights = opts.weights ?? null;
    if (weights && weights.length !== f) throw new Error(`weights: ${weights.length} values for ${f} attributes`);
    const novelty = !!(weights && opts.noveltySplits);
    const nm = opts.noveltyMargin ?? 0;
    if (typeof nm !== 'number' && nm.length !== f) throw new Error(`noveltyMargin: ${nm.length} values for ${f} attributes`);
    const noveltyMargin = typeof nm === 'number' ? new Float64Array(f).fill(nm) : Float64Array.from(nm);
    const m = opts.rangeMargin ?? null;
    if (m !== null && typeof m !== 'number' && m.length !== f) throw new Error(`rangeMargin: ${m.length} values for ${f} attributes`);
    const rangeMargin = m === null ? null : typeof m === 'number' ? new Float64Array(f).fill(m) : Float64Array.from(m);
    const below = opts.rangeMarginBelow ?? null;
    if (below !== null && below.length !== f) throw new Error(`rangeMarginBelow: ${below.length} values for ${f} attributes`);
    const marginBelow = rangeMargin === null ? null : below === null ? rangeMargin.slice() : Float64Array.from(below);
    const rr = opts.rootRange ?? true;
    if (typeof rr !== 'boolean' && rr.length !== f) throw new Error(`rootRange: ${rr.length} values for ${f} attributes`);
    const rootMask = typeof rr === 'boolean' ? new Uint8Array(f).fill(rr ? 1 : 0) : Uint8Array.from(rr, (b) => (b ? 1 : 0));
    const rootRange = rangeMargin !== null && rootMask.some((b) => b === 1);

    // Rows in one column-major block, so a node reads its rows' values of an attribute in order.
    const data = new Float64Array(n * f);
    for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) data[j * n + i] = Number(rows[i]![j]);

    const b = new TreeBuilder();
    const roots = new Int32Array(trees);
    const rootLo = new Float64Array(rootRange ? trees * f : 0);
    const rootHi = new Float64Array(rootRange ? trees * f : 0);
    const index = new Int32Array(n);
    const sample = new Int32Array(psi);
    const mins = new Float64Array(f);
    const maxs = new Float64Array(f);
    const eligible = new Float64Array(f);

    const grow = (idx: Int32Array, from: number, to: number, depth: number): number => {
      const count = to - from;
      const node = b.add();
      if (depth >= heightLimit || count <= 1) return b.leaf(node, count);
      // Range of each attribute over the node's rows; which attributes may split.
      let total = 0;
      for (let j = 0; j < f; j++) {
        let lo = Infinity;
        let hi = -Infinity;
        const col = j * n;
        for (let k = from; k < to; k++) {
          const v = data[col + idx[k]!]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        mins[j] = lo;
        maxs[j] = hi;
        const w = weights ? Number(weights[j]) : 1;
        eligible[j] = w > 0 && (hi > lo || novelty) ? w : 0;
        total += eligible[j]!;
      }
      if (total <= 0) return b.leaf(node, count);
      let r = rand() * total;
      let q = 0;
      for (; q < f - 1; q++) {
        r -= eligible[q]!;
        if (r < 0 && eligible[q]! > 0) break;
      }
      while (eligible[q] === 0) q--; // rounding at the end of the cumulative sum
      const lo = mins[q]!;
      const hi = maxs[q]!;
      const p = hi > lo ? lo + rand() * (hi - lo) : lo + noveltyMargin[q]!;
      // Partition idx[from, to) on x_q < p.
      let mid = from;
      const col = q * n;
      for (let k = from; k < to; k++) {
        if (data[col + idx[k]!]! < p) {
          const t = idx[mid]!;
          idx[mid] = idx[k]!;
          idx[k] = t;
          mid++;
        }
      }
      b.internal(node, q, p, lo, hi);
      const l = grow(idx, from, mid, depth + 1);
      const rr = grow(idx, mid, to, depth + 1);
      b.link(node, l, rr);
      return node;
    };

    for (let t = 0; t < trees; t++) {
      // psi distinct rows: a partial Fisher-Yates shuffle.
      for (let i = 0; i < n; i++) index[i] = i;
      for (let i = 0; i < psi; i++) {
        const k = i + Math.floor(rand() * (n - i));
        const tmp = index[i]!;
        index[i] = index[k]!;
        index[k] = tmp;
        sample[i] = index[i]!;
      }
      if (rootRange) {
        for (let j = 0; j < f; j++) {
          let lo = Infinity;
          let hi = -Infinity;
          for (let i = 0; i < psi; i++) {
            const v = data[j * n + sample[i]!]!;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
          // An attribute not checked at the root gets an infinite range.
          rootLo[t * f + j] = rootMask[j] ? lo : -Infinity;
          rootHi[t * f + j] = rootMask[j] ? hi : Infinity;
        }
      }
      roots[t] = grow(sample, 0, psi, 0);
    }
    const a = b.finish();
    return new IsolationForest(f, psi, rangeMargin, marginBelow, roots, a.feature, a.split, a.left, a.right, a.size, a.lo, a.hi, rootLo, rootHi);
  }

  /** Path length h(x) of `row` in tree `t` (the modified one when rangeMargin is set). */
  pathLength(row: ArrayLike<number>, t: number): number {
    let node = this.roots[t]!;
    let e = 0;
    const m = this.rangeMargin;
    const mb = this.marginBelow!;
    if (m !== null && this.rootLo.length) {
      const base = t * this.features;
      for (let q = 0; q < this.features; q++) {
        const v = row[q]!;
        if (v < this.rootLo[base + q]! - mb[q]! || v > this.rootHi[base + q]! + m[q]!) return 0;
      }
    }
    for (;;) {
      const q = this.feature[node]!;
      if (q === LEAF) return e + averagePathLength(this.size[node]!);
      const v = row[q]!;
      if (m !== null && (v < this.lo[node]! - mb[q]! || v > this.hi[node]! + m[q]!)) return e;
      node = v < this.split[node]! ? this.left[node]! : this.right[node]!;
      e++;
    }
  }

  /** Mean path length E(h(x)) over the trees. */
  meanPathLength(row: ArrayLike<number>): number {
    if (row.length !== this.features) throw new Error(`row has ${row.length} attributes, the forest ${this.features}`);
    let sum = 0;
    for (let t = 0; t < this.roots.length; t++) sum += this.pathLength(row, t);
    return sum / this.roots.length;
  }

  /** Anomaly score in (0, 1]: 2^(-E(h(x)) / c(psi)); about 0.5 or less is normal, near 1 anomalous. */
  score(row: ArrayLike<number>): number {
    const c = averagePathLength(this.sampleSize);
    return c > 0 ? Math.pow(2, -this.meanPathLength(row) / c) : 0.5;
  }

  scoreAll(rows: ReadonlyArray<ArrayLike<number>>): Float64Array {
    const out = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.score(rows[i]!);
    return out;
  }

  toJSON(): ForestJson {
    return {
      version: 1,
      features: this.features,
      sampleSize: this.sampleSize,
      trees: this.roots.length,
      rangeMargin: this.rangeMargin ? Array.from(this.rangeMargin) : null,
      rangeMarginBelow: this.marginBelow ? Array.from(this.marginBelow, (v) => (Number.isFinite(v) ? v : null)) : null,
      roots: Array.from(this.roots),
      feature: Array.from(this.feature),
      split: Array.from(this.split),
      left: Array.from(this.left),
      right: Array.from(this.right),
      size: Array.from(this.size),
      lo: Array.from(this.lo),
      hi: Array.from(this.hi),
      rootLo: Array.from(this.rootLo, (v) => (Number.isFinite(v) ? v : null)),
      rootHi: Array.from(this.rootHi, (v) => (Number.isFinite(v) ? v : null)),
    };
  }

  /** Rebuilds a forest from {@link toJSON}; throws on a malformed document. */
  static fromJSON(j: ForestJson): IsolationForest {
    if (!j || j.version !== 1) throw new Error('not a version 1 forest');
    const nodes = j.feature?.length ?? 0;
    const arrays = [j.split, j.left, j.right, j.size, j.lo, j.hi];
    if (!Array.isArray(j.roots) || j.roots.length !== j.trees || arrays.some((a) => !Array.isArray(a) || a.length !== nodes)) throw new Error('forest arrays are inconsistent');
    const inRange = (i: number) => Number.isInteger(i) && i >= 0 && i < nodes;
    for (let i = 0; i < nodes; i++) {
      const q = j.feature[i]!;
      if (q === LEAF) continue;
      if (!Number.isInteger(q) || q < 0 || q >= j.features || !inRange(j.left[i]!) || !inRange(j.right[i]!) || j.left[i]! <= i || j.right[i]! <= i) throw new Error(`forest node ${i} is malformed`);
    }
    if (!j.roots.every(inRange)) throw new Error('forest roots are malformed');
    const f64 = (a: number[]) => Float64Array.from(a, (v) => (v === null ? NaN : v));
    const margins = j.rangeMargin ?? null;
    if (margins !== null && (!Array.isArray(margins) || margins.length !== j.features)) throw new Error('forest margins are malformed');
    const below = j.rangeMarginBelow ?? null;
    if (margins !== null && (!Array.isArray(below) || below.length !== j.features)) throw new Error('forest margins are malformed');
    const boxSize = margins === null ? 0 : j.trees * j.features;
    if (!Array.isArray(j.rootLo) || !Array.isArray(j.rootHi) || (j.rootLo.length !== boxSize && j.rootLo.length !== 0) || j.rootHi.length !== j.rootLo.length) throw new Error('forest ranges are malformed');
    return new IsolationForest(j.features, j.sampleSize, margins === null ? null : f64(margins), margins === null ? null : Float64Array.from(below!, (v) => (v === null ? Infinity : v)), Int32Array.from(j.roots), Int32Array.from(j.feature), f64(j.split), Int32Array.from(j.left), Int32Array.from(j.right), Int32Array.from(j.size), f64(j.lo), f64(j.hi), Float64Array.from(j.rootLo, (v) => (v === null ? -Infinity : v)), Float64Array.from(j.rootHi, (v) => (v === null ? Infinity : v)));
  }
}

/** Growable flat node arrays. */
class TreeBuilder {
  private cap = 1024;
  private n = 0;
  private feature = new Int32Array(this.cap);
  private split = new Float64Array(this.cap);
  private left = new Int32Array(this.cap);
  private right = new Int32Array(this.cap);
  private size = new Int32Array(this.cap);
  private lo = new Float64Array(this.cap);
  private hi = new Float64Array(this.cap);

  add(): number {
    if (this.n === this.cap) this.grow();
    return this.n++;
  }

  leaf(node: number, size: number): number {
    this.feature[node] = LEAF;
    this.size[node] = size;
    return node;
  }

  internal(node: number, q: number, p: number, lo: number, hi: number): void {
    this.feature[node] = q;
    this.split[node] = p;
    this.lo[node] = lo;
    this.hi[node] = hi;
  }

  link(node: number, l: number, r: number): void {
    this.left[node] = l;
    this.right[node] = r;
  }

  finish() {
    const n = this.n;
    return {
      feature: this.feature.slice(0, n),
      split: this.split.slice(0, n),
      left: this.left.slice(0, n),
      right: this.right.slice(0, n),
      size: this.size.slice(0, n),
      lo: this.lo.slice(0, n),
      hi: this.hi.slice(0, n),
    };
  }

  private grow(): void {
    this.cap *= 2;
    const g = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a);
      return b;
    };
    this.feature = g(this.feature);
    this.split = g(this.split);
    this.left = g(this.left);
    this.right = g(this.right);
    this.size = g(this.size);
    this.lo = g(this.lo);
    this.hi = g(this.hi);
  }
}
