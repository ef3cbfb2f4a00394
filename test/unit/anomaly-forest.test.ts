import { describe, expect, it } from 'vitest';
import { IsolationForest, averagePathLength, seededRandom } from '../../src/anomaly/forest.js';

function gaussianRows(n: number, dims: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r: number[] = [];
    for (let j = 0; j < dims; j++) {
      // Box-Muller
      const u = Math.max(rand(), 1e-12);
      r.push(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()));
    }
    rows.push(r);
  }
  return rows;
}

describe('c(n), the average path length', () => {
  it('matches hand-computed values', () => {
    expect(averagePathLength(0)).toBe(0);
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    // c(3) = 2 (ln 2 + 0.5772156649) - 4/3
    expect(averagePathLength(3)).toBeCloseTo(1.2073924, 6);
    // c(256) = 2 (ln 255 + 0.5772156649) - 510/256
    expect(averagePathLength(256)).toBeCloseTo(10.2447709, 6);
  });
});

describe('IsolationForest', () => {
  it('two rows: one split, each leaf holds one row, h = 1 and s = 2^(-1/c(2)) = 0.5', () => {
    const f = IsolationForest.fit([[0], [1]], { trees: 5, seed: 3 });
    expect(f.sampleSize).toBe(2);
    for (let t = 0; t < 5; t++) {
      expect(f.pathLength([0], t)).toBe(1);
      expect(f.pathLength([1], t)).toBe(1);
      expect(f.pathLength([7], t)).toBe(1);
    }
    expect(f.score([0.5])).toBe(0.5);
  });

  it('identical rows: the root is a leaf of psi rows, h = c(psi), s = 0.5', () => {
    const rows = Array.from({ length: 10 }, () => [4, 4]);
    const f = IsolationForest.fit(rows, { trees: 3 });
    expect(f.pathLength([4, 4], 0)).toBeCloseTo(averagePathLength(10), 12);
    expect(f.score([100, -3])).toBeCloseTo(0.5, 12);
  });

  it('height limit ceil(log2 psi): no path is longer than the limit plus c(leaf size)', () => {
    const rows = gaussianRows(300, 3, 9);
    const f = IsolationForest.fit(rows, { trees: 20, seed: 2 });
    expect(f.sampleSize).toBe(256);
    for (let t = 0; t < 20; t++) for (const r of rows.slice(0, 50)) expect(f.pathLength(r, t)).toBeLessThanOrEqual(8 + averagePathLength(256));
  });

  it('scores lie in [0, 1] and an outlier scores above the inliers', () => {
    const rows = gaussianRows(500, 4, 1);
    const f = IsolationForest.fit(rows, { seed: 7 });
    const s = f.scoreAll(rows);
    for (const v of s) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const outlier = f.score([8, -8, 8, -8]);
    const sorted = Array.from(s).sort((a, b) => a - b);
    expect(outlier).toBeGreaterThan(sorted[sorted.length - 1]!);
    expect(outlier).toBeGreaterThan(0.65);
    expect(sorted[Math.floor(sorted.length / 2)]!).toBeLessThan(0.5);
  });

  it('is deterministic under a seed and differs with another seed', () => {
    const rows = gaussianRows(400, 5, 4);
    const a = IsolationForest.fit(rows, { seed: 11 });
    const b = IsolationForest.fit(rows, { seed: 11 });
    const c = IsolationForest.fit(rows, { seed: 12 });
    const probe = [1.5, -0.2, 0.3, 2.2, -1];
    expect(a.score(probe)).toBe(b.score(probe));
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    expect(a.score(probe)).not.toBe(c.score(probe));
  });

  it('survives a JSON round trip with identical scores', () => {
    const rows = gaussianRows(300, 3, 5);
    const f = IsolationForest.fit(rows, { seed: 5, rangeMargin: 0.5 });
    const g = IsolationForest.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));
    for (const r of rows.slice(0, 40)) expect(g.score(r)).toBe(f.score(r));
    expect(g.score([9, 9, 9])).toBe(f.score([9, 9, 9]));
  });

  it('rejects malformed persisted forests', () => {
    const f = IsolationForest.fit(gaussianRows(50, 2, 1), { trees: 2 });
    const j = f.toJSON();
    expect(() => IsolationForest.fromJSON({ ...j, left: j.left.slice(1) })).toThrow(/inconsistent/);
    const bad = { ...j, feature: j.feature.map((q) => (q >= 0 ? 99 : q)) };
    expect(() => IsolationForest.fromJSON(bad)).toThrow(/malformed/);
  });

  it('modified path length: a row outside a node range by more than the margin is isolated at that node', () => {
    const f = IsolationForest.fit([[0], [1]], { trees: 4, seed: 1, rangeMargin: 0.5 });
    for (let t = 0; t < 4; t++) {
      expect(f.pathLength([1.4], t)).toBe(1);
      expect(f.pathLength([1.6], t)).toBe(0);
      expect(f.pathLength([-0.6], t)).toBe(0);
    }
    expect(f.score([10])).toBe(1);
  });

  it('modified path length: a row outside the subsample range on an attribute no node splits is isolated at the root', () => {
    const rand = seededRandom(5);
    const rows = Array.from({ length: 100 }, () => [rand(), 2]);
    const plain = IsolationForest.fit(rows, { seed: 1 });
    const ranged = IsolationForest.fit(rows, { seed: 1, rangeMargin: [0.1, 0.5] });
    expect(plain.score([0.5, 9])).toBe(plain.score([0.5, 2]));
    for (let t = 0; t < 5; t++) expect(ranged.pathLength([0.5, 9], t)).toBe(0);
    expect(ranged.score([0.5, 2.4])).toBe(ranged.score([0.5, 2]));
  });

  it('modified path length one-sided: with an infinite margin below, a low value is not isolated', () => {
    const rand = seededRandom(6);
    const rows = Array.from({ length: 100 }, () => [rand(), 5 + rand()]);
    const f = IsolationForest.fit(rows, { seed: 1, rangeMargin: [0.1, 0.1], rangeMarginBelow: [0.1, Infinity], rootRange: false });
    const plain = IsolationForest.fit(rows, { seed: 1 });
    expect(f.score([0.5, -100])).toBe(plain.score([0.5, -100]));
    expect(f.score([0.5, 100])).toBeGreaterThan(plain.score([0.5, 100]));
    const g = IsolationForest.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));
    expect(g.score([0.5, -100])).toBe(f.score([0.5, -100]));
    expect(g.score([0.5, 100])).toBe(f.score([0.5, 100]));
  });

  it('root range on flagged attributes only: an excess on an unflagged one is not isolated at the root', () => {
    const rand = seededRandom(8);
    const rows = Array.from({ length: 100 }, () => [rand(), 0]);
    const f = IsolationForest.fit(rows, { seed: 1, rangeMargin: [10, 0.5], rootRange: [false, true] });
    for (let t = 0; t < 5; t++) expect(f.pathLength([0.5, 1], t)).toBe(0);
    expect(f.score([0.5, 0.4])).toBe(f.score([0.5, 0]));
    expect(f.score([5, 0])).toBeLessThan(1);
    const g = IsolationForest.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));
    expect(g.score([5, 0])).toBe(f.score([5, 0]));
    expect(g.score([0.5, 1])).toBe(1);
  });

  it('weighted selection with novelty splits isolates a deviation on an attribute constant in training', () => {
    const rand = seededRandom(3);
    const rows = Array.from({ length: 200 }, () => [rand(), 0]);
    const plain = IsolationForest.fit(rows, { seed: 1 });
    const weighted = IsolationForest.fit(rows, { seed: 1, weights: [1, 1], noveltySplits: true, noveltyMargin: 0.5 });
    // The vanilla forest never splits on the constant attribute: the deviation is invisible.
    expect(plain.score([0.5, 3])).toBeCloseTo(plain.score([0.5, 0]), 12);
    expect(weighted.score([0.5, 3])).toBeGreaterThan(weighted.score([0.5, 0]) + 0.1);
    // Within the margin it is not isolated.
    expect(weighted.score([0.5, 0.4])).toBe(weighted.score([0.5, 0]));
  });

  it('weights of zero exclude an attribute', () => {
    const rows = gaussianRows(200, 2, 8);
    const f = IsolationForest.fit(rows, { seed: 1, weights: [1, 0] });
    expect(f.score([0, 50])).toBe(f.score([0, 0]));
    expect(f.toJSON().feature.every((q) => q === -1 || q === 0)).toBe(true);
  });

  it('rejects too few rows and ragged rows', () => {
    expect(() => IsolationForest.fit([[1]])).toThrow(/at least 2 rows/);
    expect(() => IsolationForest.fit([[1, 2], [1]])).toThrow(/differ in length/);
  });
});
