// SPDX-License-Identifier: Apache-2.0
/** README's telemetry reference is generated from the compiled specs and must be up to date. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';
import type { MetricSpec, TelemetrySpec } from '../../src/sensors/sensor.js';
import { agentTelemetry } from '../../src/telemetry/agent-telemetry.js';
import { registryTelemetry } from '../../src/registry/telemetry.js';
import { resourcesTelemetry } from '../../src/resources/telemetry.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/gen-docs.mjs');
const BUILT =
  existsSync(join(ROOT, 'dist/src/sensors/all.js')) && existsSync(join(ROOT, 'dist/src/telemetry/agent-telemetry.js'));
const NOT_BUILT = 'dist/ missing: run "npm run build:ts" first (npm test builds before testing)';

/** What scripts/gen-docs.mjs exports (it is plain JavaScript, so typed here). */
interface GenDocs {
  BEGIN: string;
  END: string;
  prometheusSeries(metric: Pick<MetricSpec, 'name' | 'instrument'>): string[];
  prometheusLabel(name: string): string;
  loadTelemetry(distDir?: string): Promise<Array<{ source: string; telemetry: TelemetrySpec }>>;
  renderTelemetry(sources: Array<{ source: string; telemetry: TelemetrySpec }>): string;
  replaceSection(readme: string, body: string, source?: string): string;
}
const genDocs = (): Promise<GenDocs> => import(SCRIPT) as Promise<GenDocs>;

function runScript(script: string, args: string[]) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe('README telemetry reference', () => {
  it('is up to date (node scripts/gen-docs.mjs --check)', (ctx) => {
    requireOrSkip(ctx, !BUILT && NOT_BUILT);
    const r = runScript(SCRIPT, ['--check']);
    expect(r.status, `gen-docs --check failed: ${r.stderr.trim()}`).toBe(0);
  });

  it('--check exits 1 on an out-of-date README and leaves it alone; a plain run fixes it', (ctx) => {
    requireOrSkip(ctx, !BUILT && NOT_BUILT);
    // A copy of the script in a scratch tree whose dist/ is the real one, so the real README is never touched.
    const dir = mkdtempSync(join(tmpdir(), 'cg-docs-'));
    temps.push(dir);
    mkdirSync(join(dir, 'scripts'));
    copyFileSync(SCRIPT, join(dir, 'scripts/gen-docs.mjs'));
    symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'));
    const stale = '# Title\n\nbefore\n<!-- telemetry:begin -->\nold table\n<!-- telemetry:end -->\nafter\n';
    writeFileSync(join(dir, 'README.md'), stale);
    const script = join(dir, 'scripts/gen-docs.mjs');

    const check = runScript(script, ['--check']);
    expect(check.status).toBe(1);
    expect(check.stderr).toMatch(/out of date/);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe(stale);

    expect(runScript(script, []).status).toBe(0);
    const fixed = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(fixed.startsWith('# Title\n\nbefore\n<!-- telemetry:begin -->\n')).toBe(true);
    expect(fixed.endsWith('<!-- telemetry:end -->\nafter\n')).toBe(true);
    expect(fixed).not.toContain('old table');
    expect(runScript(script, ['--check']).status).toBe(0);

    writeFileSync(join(dir, 'README.md'), '# no markers\n');
    const noMarkers = runScript(script, ['--check']);
    expect(noMarkers.status).toBe(1);
    expect(noMarkers.stderr).toMatch(/telemetry:begin/);
  });

  it('documents every metric with its Prometheus name and every event attribute', async (ctx) => {
    requireOrSkip(ctx, !BUILT && NOT_BUILT);
    const g = await genDocs();
    const sources = await g.loadTelemetry();
    const text = g.renderTelemetry(sources);
    const metrics = sources.flatMap((s) => s.telemetry.metrics);
    expect(metrics.map((m) => m.name)).toEqual(expect.arrayContaining(['contguard.process.execs', 'contguard.events.lost']));
    for (const m of metrics) {
      const row = text.split('\n').find((l) => l.startsWith(`| \`${m.name}\` |`));
      expect(row, m.name).toBeDefined();
      for (const s of g.prometheusSeries(m)) expect(row).toContain(`\`${s}\``);
      expect(row).toContain(`\`${m.unit}\``);
      for (const a of m.attributes) expect(row).toContain(`\`${a}\``);
    }
    for (const e of sources.flatMap((s) => s.telemetry.events)) {
      expect(text).toContain(`#### \`${e.name}\``);
      for (const a of Object.keys(e.attributes)) expect(text).toContain(`| \`${a}\` |`);
    }
  });
});

describe('gen-docs helpers', () => {
  it('names series as @opentelemetry/exporter-prometheus does', async () => {
    const g = await genDocs();
    expect(g.prometheusSeries({ name: 'contguard.process.execs', instrument: 'counter' })).toEqual(['contguard_process_execs_total']);
    expect(g.prometheusSeries({ name: 'contguard.ring.usage', instrument: 'updowncounter' })).toEqual(['contguard_ring_usage']);
    expect(g.prometheusSeries({ name: 'contguard.ring.fill', instrument: 'gauge' })).toEqual(['contguard_ring_fill']);
    expect(g.prometheusSeries({ name: 'contguard.exec.duration', instrument: 'histogram' })).toEqual([
      'contguard_exec_duration_bucket',
      'contguard_exec_duration_sum',
      'contguard_exec_duration_count',
    ]);
    expect(g.prometheusLabel('container.image.name')).toBe('container_image_name');
  });

  it('replaces exactly the text between the markers and rejects missing or misordered markers', async () => {
    const g = await genDocs();
    const readme = `a\n${g.BEGIN}\nold\n${g.END}\nb\n`;
    expect(g.replaceSection(readme, 'new\n')).toBe(`a\n${g.BEGIN}\nnew\n${g.END}\nb\n`);
    expect(() => g.replaceSection('a\n', 'x\n')).toThrow(/exactly one/);
    expect(() => g.replaceSection(`${g.BEGIN}${g.BEGIN}${g.END}`, 'x\n')).toThrow(/exactly one/);
    expect(() => g.replaceSection(`${g.END}\n${g.BEGIN}`, 'x\n')).toThrow(/comes before/);
  });
});

describe.each([
  ['src/agent.ts', agentTelemetry],
  ['src/registry/index.ts', registryTelemetry],
  ['src/resources/index.ts', resourcesTelemetry],
])('telemetry spec of %s', (file, spec) => {
  it('matches every instrument the file creates (name, unit, description)', () => {
    const agentTelemetry = spec;
    const source = readFileSync(join(ROOT, file), 'utf8');
    const created = [...source.matchAll(/\.create(\w+)\(\s*'([^']+)'\s*,\s*\{([\s\S]*?)\}\s*\)/g)].map(([, kind, name, body]) => ({
      kind: kind ?? '',
      name: name ?? '',
      unit: /unit:\s*'([^']*)'/.exec(body ?? '')?.[1],
      description: /description:\s*'([^']*)'/.exec(body ?? '')?.[1],
    }));
    expect(created.length).toBeGreaterThan(0);
    expect(created.map((c) => c.name).sort()).toEqual(agentTelemetry.metrics.map((m) => m.name).sort());
    for (const c of created) {
      const spec = agentTelemetry.metrics.find((m) => m.name === c.name);
      expect(spec?.unit, c.name).toBe(c.unit);
      expect(spec?.description, c.name).toBe(c.description);
      const instrument = /Histogram/.test(c.kind) ? 'histogram' : /UpDown/.test(c.kind) ? 'updowncounter' : /Counter/.test(c.kind) ? 'counter' : 'gauge';
      expect(spec?.instrument, c.name).toBe(instrument);
    }
  });

});

describe('agent-level telemetry spec', () => {
  it('lists the sensor attribute agent.ts puts on contguard.events.lost', () => {
    const source = readFileSync(join(ROOT, 'src/agent.ts'), 'utf8');
    expect(source).toMatch(/observe\(.*\{\s*sensor:/);
    expect(agentTelemetry.metrics.find((m) => m.name === 'contguard.events.lost')?.attributes).toEqual(['sensor']);
  });
});
