#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * The summary of bench/hooks.mjs: figures from its blocks (off, empty tp_btf sys_enter, a
 * configuration, off), grouped by how many other processes held syscall-hook programs. Used by
 * hooks.mjs after every round; run on its own it re-summarises a results file with the current
 * validity rules and rewrites it: node bench/hooks-summary.mjs bench/results/hooks-<date>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A block's two off batches differ by more than this: something else changed meanwhile. */
export const OFF_AGREE = 0.05;

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const fmt = (x, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** Valid: as many other holders at its end as at its start, and the off batches agree. */
export function blockValid(b) {
  const sameHolders = b.holders_before === undefined ? b.stable : b.holders_before === b.holders;
  return sameHolders && Math.abs(b.off1 - b.off2) <= OFF_AGREE * Math.min(b.off1, b.off2);
}

function stats(bs) {
  const ratios = bs.map((b) => (b.ns - b.off) / (b.empty - b.off));
  const added = bs.map((b) => b.ns - b.off);
  const emptyAdded = bs.map((b) => b.empty - b.off);
  return {
    blocks: bs.length,
    ratio_median: median(ratios),
    ratio_min: ratios.length ? Math.min(...ratios) : null,
    ratio_max: ratios.length ? Math.max(...ratios) : null,
    // steadier than the median of per-block ratios when the reference's own figure is noisy
    ratio_of_medians: bs.length ? median(added) / median(emptyAdded) : null,
    added_ns_median: median(added),
    empty_added_ns_median: median(emptyAdded),
    off_ns_median: median(bs.map((b) => b.off)),
    ratios: ratios.map((x) => Number(x.toFixed(3))),
  };
}

/** { rows, lines }: per configuration (in `configs` order, { key, label }) over every valid block and per holder count. */
export function summarizeBlocks(blocks, configs) {
  const valid = blocks.filter(blockValid);
  const groups = [...new Set(valid.map((b) => b.holders))].sort((a, b) => a - b);
  const rows = configs.map((c) => ({
    key: c.key,
    label: c.label,
    all: stats(valid.filter((b) => b.key === c.key)),
    by_other_holders: Object.fromEntries(groups.map((g) => [g, stats(valid.filter((b) => b.key === c.key && b.holders === g))])),
  }));
  const lines = [];
  for (const g of ['all', ...groups]) {
    const pick = (r) => (g === 'all' ? r.all : r.by_other_holders[g]);
    const n = Math.max(...rows.map((r) => pick(r).blocks));
    lines.push(`== ${g === 'all' ? 'every valid block' : `blocks while ${g} other process(es) held syscall-hook programs`} (${n} per configuration at most) ==`);
    lines.push(`${'configuration'.padEnd(76)}added ns  x empty sys_enter: ratio of medians; median of per-block ratios (min-max) [blocks]`);
    for (const r of rows) {
      const s = pick(r);
      if (!s.blocks) continue;
      lines.push(`${r.label.padEnd(76)}${fmt(s.added_ns_median).padStart(8)}  ${fmt(s.ratio_of_medians, 2)}x; ${fmt(s.ratio_median, 2)}x (${fmt(s.ratio_min, 2)}-${fmt(s.ratio_max, 2)}) [${s.blocks}]`);
    }
    const e = pick(rows.find((r) => pick(r).blocks) ?? rows[0]);
    lines.push(`(empty tp_btf sys_enter added ${fmt(e.empty_added_ns_median)} ns on ${fmt(e.off_ns_median)} ns off)`);
  }
  lines.push(`${blocks.length - valid.length} of ${blocks.length} block(s) left out (other holders changed, or the off batches disagreed by more than ${OFF_AGREE * 100} %)`);
  return { rows, lines, valid: valid.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/hooks-summary.mjs RESULTS.json\n');
    process.exit(2);
  }
  let data;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`hooks-summary: cannot read ${file}: ${err.message}\n`);
    process.exit(2);
  }
  const { rows, lines } = summarizeBlocks(data.blocks, data.results.map((r) => ({ key: r.key, label: r.label })));
  data.results = rows;
  data.summary_rules = `valid block: as many other holders of syscall-hook programs at its end as at its start, off batches within ${OFF_AGREE * 100} %`;
  writeFileSync(file, `${JSON.stringify(data, null, 1)}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
