// SPDX-License-Identifier: Apache-2.0
/**
 * Pure helpers of the benchmark harness (bench/lib.mjs re-exports them): statistics, the
 * Prometheus text format, config merging. No side effects, so unit tests import them
 * (test/unit/bench-stats.test.ts).
 */

/** Median of the finite numbers of xs; null when there are none. */
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Per round, what a configuration adds over the baseline as a multiple of what the reference (an
 * empty program) adds, from the three round medians (arrays indexed by round; a round missing
 * any of the three, or whose reference adds nothing, gives null).
 */
export function roundRatios(configRounds, referenceRounds, baselineRounds) {
  return configRounds.map((c, i) => {
    const r = referenceRounds[i];
    const b = baselineRounds[i];
    if (![c, r, b].every((x) => typeof x === 'number' && Number.isFinite(x)) || r - b <= 0) return null;
    return (c - b) / (r - b);
  });
}

/** Least-squares slope of ys over xs (units of y per unit of x); null with fewer than 2 points. */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : null;
}

/**
 * Sum of a Prometheus series' samples over the lines whose labels include every `labels` entry
 * (exact values). Counter names as exposed (with `_total`); a name that only prefixes another
 * (contguard_events vs contguard_events_lost_total) does not match.
 */
export function metricSum(text, name, labels = {}) {
  let total = 0;
  const re = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const have = parseLabels(m[1] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === String(v))) total += Number(m[2]);
  }
  return total;
}

/** The labels of one Prometheus sample (`a="x",b="y"`, values unescaped). */
export function parseLabels(s) {
  const out = new Map();
  for (const m of s.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    out.set(m[1], m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c)));
  }
  return out;
}

/** Deep merge of plain objects (b wins); arrays and scalars replace. */
export function mergeConfig(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b ?? {})) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a?.[k] === 'object' ? mergeConfig(a[k], v) : v;
  return out;
}
