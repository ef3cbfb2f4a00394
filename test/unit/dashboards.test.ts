// SPDX-License-Identifier: Apache-2.0
/**
 * The shipped Grafana dashboards (grafana/*.json, written by scripts/gen-dashboards.mjs):
 * each type-checks against @grafana/schema (the dashboard, and every panel's options and custom
 * field config against its panel plugin's schema), and every metric, label, log attribute and
 * span attribute a panel queries exists in the telemetry model (test/support/telemetry-model.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';
import { REPO_ROOT } from '../support/agent-process.js';
import {
  MODEL_BUILT,
  MODEL_NOT_BUILT,
  loadTelemetryModel,
  logqlProblems,
  promqlProblems,
  promqlUses,
  traceqlProblems,
  type TelemetryModel,
} from '../support/telemetry-model.js';

const FILES = ['grafana/contguard-fleet.json', 'grafana/contguard-container.json', 'grafana/contguard-connections.json', 'grafana/contguard-agents.json'];
const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  expr?: string;
  query?: string;
  legendFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: Target[];
  options?: unknown;
  fieldConfig?: { defaults: { custom?: unknown } };
}
interface Variable {
  name: string;
  type: string;
  query: { query?: string } | string;
}
interface Dash {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboards = FILES.map((f) => ({ file: f, dash: JSON.parse(read(f)) as Dash }));
const DS = { prometheus: '${DS_PROMETHEUS}', loki: '${DS_LOKI}', tempo: '${DS_TEMPO}' } as const;

/** Grafana's variables replaced, so queries are plain PromQL / LogQL / TraceQL. */
function expand(q: string): string {
  return q
    .replace(/\$__rate_interval|\$__interval/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$\{?(container_name|container)\}?/g, 'web');
}

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe('grafana dashboards', () => {
  let model: TelemetryModel;
  beforeAll(async () => {
    if (MODEL_BUILT) model = await loadTelemetryModel();
  });

  it('are what scripts/gen-dashboards.mjs writes', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/gen-dashboards.mjs'), '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
  });

  it('are the four dashboards the stack needs, each with unique uid and panel ids, on a 24-column grid', () => {
    expect(dashboards.map((d) => d.dash.uid)).toEqual(['contguard-fleet', 'contguard-container', 'contguard-connections', 'contguard-agents']);
    for (const { file, dash } of dashboards) {
      expect(new Set(dash.panels.map((p) => p.id)).size, file).toBe(dash.panels.length);
      for (const v of ['DS_PROMETHEUS', 'DS_LOKI', 'DS_TEMPO']) {
        expect(dash.templating.list.find((x) => x.name === v), `${file} ${v}`).toMatchObject({ type: 'datasource' });
      }
      for (const p of dash.panels) {
        expect(p.gridPos.x + p.gridPos.w, `${file} ${p.title}`).toBeLessThanOrEqual(24);
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        expect(Object.values(DS), p.title).toContain(p.datasource.uid);
        for (const t of p.targets) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(p.datasource);
      }
    }
    const titles = (uid: string) => dashboards.find((d) => d.dash.uid === uid)!.dash.panels.map((p) => `${p.type}:${p.title}`);
    expect(titles('contguard-fleet')).toEqual(
      expect.arrayContaining(['stat:Containers', 'timeseries:Top syscalls', 'timeseries:Execs per second by container', 'bargauge:Sensitive file opens by container', 'bargauge:Policy violations by container and rule', 'timeseries:Anomaly scores']),
    );
    expect(titles('contguard-container')).toEqual(
      expect.arrayContaining(['table:Process trees (Tempo)', 'logs:Events', 'timeseries:CPU', 'timeseries:Memory', 'timeseries:Disk I/O', 'timeseries:Network I/O']),
    );
    expect(titles('contguard-connections')).toContain('nodeGraph:Connections between containers');
    expect(titles('contguard-agents')).toEqual(
      expect.arrayContaining(['timeseries:Events received per second by sensor', 'timeseries:Events lost per second by agent and sensor', 'timeseries:OTLP export failures', 'timeseries:Agent CPU', 'timeseries:Agent RSS']),
    );
  });

  it('type-check against @grafana/schema (dashboard, panel options and custom field config)', () => {
    const schema = join(REPO_ROOT, 'node_modules/@grafana/schema/dist/types');
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    expect(existsSync(join(schema, 'index.d.ts')), 'node_modules/@grafana/schema').toBe(true);
    // Each panel type's plugin schema (raw/composable/<plugin>/panelcfg).
    const plugins: Record<string, { dir: string; custom: boolean }> = {
      timeseries: { dir: 'timeseries', custom: true },
      stat: { dir: 'stat', custom: false },
      bargauge: { dir: 'bargauge', custom: false },
      table: { dir: 'table', custom: true },
      logs: { dir: 'logs', custom: false },
      nodeGraph: { dir: 'nodegraph', custom: false },
    };
    const lines = [
      "import type { Dashboard } from '@grafana/schema';",
      // JSON spells the schema's TypeScript string enums as their values.
      'type Json<T> = T extends string ? `${T}` : T extends number ? T | number : T extends boolean ? T : T extends ReadonlyArray<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;',
    ];
    for (const [type, { dir, custom }] of Object.entries(plugins)) {
      lines.push(`import type { Options as ${type}Options${custom ? `, FieldConfig as ${type}Custom` : ''} } from '@grafana/schema/raw/composable/${dir}/panelcfg/x/types.gen';`);
    }
    dashboards.forEach(({ dash }, i) => {
      lines.push(`export const dashboard${i}: Json<Dashboard> = ${JSON.stringify(dash)};`);
      for (const p of dash.panels) {
        const plugin = plugins[p.type];
        expect(plugin, `${dash.uid} ${p.title}: panel type ${p.type} has a schema here`).toBeDefined();
        lines.push(`export const options${i}_${p.id}: Json<${p.type}Options> = ${JSON.stringify(p.options ?? {})};`);
        if (plugin?.custom) lines.push(`export const custom${i}_${p.id}: Json<${p.type}Custom> = ${JSON.stringify(p.fieldConfig?.defaults.custom ?? {})};`);
      }
    });
    // A known-bad panel proves the check bites: its errors are the only ones expected.
    lines.push("export const bad: Json<timeseriesOptions> = { legend: { displayMode: 'bogus', placement: 'bottom', showLegend: true, calcs: [] }, tooltip: { mode: 'single', sort: 'none' } };");
    const dir = mkdtempSync(join(tmpdir(), 'cg-dash-'));
    temps.push(dir);
    writeFileSync(join(dir, 'dashboards.ts'), `${lines.join('\n')}\n`);
    const tsconfig = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'es2022',
        module: 'esnext',
        moduleResolution: 'bundler',
        skipLibCheck: true,
        types: [],
        paths: { '@grafana/schema': [join(schema, 'index.d.ts')], '@grafana/schema/*': [join(schema, '*')] },
      },
      files: ['dashboards.ts'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
    const badLine = lines.length; // 1-based line of the bad panel
    expect(errors.filter((e) => !e.includes(`dashboards.ts(${badLine},`)), errors.join('\n')).toEqual([]);
    expect(errors.some((e) => e.includes(`dashboards.ts(${badLine},`) && e.includes('"bogus"'))).toBe(true);
  }, 180_000);

  it('query only metrics and labels the agent exports, in PromQL promtool parses', (ctx) => {
    requireOrSkip(ctx, !MODEL_BUILT && MODEL_NOT_BUILT);
    const exprs: Array<{ where: string; expr: string; legend?: string }> = [];
    for (const { dash } of dashboards) {
      for (const v of dash.templating.list.filter((x) => x.type === 'query')) exprs.push({ where: `${dash.uid} variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : (v.query.query ?? '') });
      for (const p of dash.panels) {
        for (const t of p.targets.filter((x) => x.datasource.uid === DS.prometheus)) {
          exprs.push({ where: `${dash.uid} ${p.title} ${t.refId}`, expr: expand(t.expr ?? ''), legend: t.legendFormat });
        }
      }
    }
    expect(exprs.length).toBeGreaterThan(30);
    const problems: string[] = [];
    for (const { where, expr, legend } of exprs) {
      problems.push(...promqlProblems(model, expr).map((p) => `${where}: ${p}`));
      // Every {{label}} of a legend is a label of the result.
      const use = promqlUses(expr);
      const labels = new Set([...use.metrics.flatMap((m) => [...(model.series.get(m) ?? [])]), ...use.created]);
      for (const m of (legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
        if (!labels.has(m[1] ?? '')) problems.push(`${where}: legend label ${m[1]}`);
      }
    }
    expect(problems).toEqual([]);
    // The checker itself rejects a name the agent does not export, and a label a metric lacks.
    expect(promqlProblems(model, 'rate(contguard_process_exec_total[1m])')).toHaveLength(1);
    expect(promqlProblems(model, 'sum by (syscall_name) (contguard_process_execs_total)')).toHaveLength(1);

    const tool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find(existsSync);
    requireOrSkip(ctx, !tool && 'promtool not installed (apt-get install prometheus)');
    const rules = { groups: [{ name: 'dashboards', rules: exprs.filter((e) => !e.expr.startsWith('label_values')).map((e, i) => ({ record: `contguard:dashboard_query_${i}`, expr: e.expr })) }] };
    const dir = mkdtempSync(join(tmpdir(), 'cg-dash-'));
    temps.push(dir);
    writeFileSync(join(dir, 'rules.yml'), YAML.stringify(rules));
    const r = spawnSync(tool!, ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('query only Loki labels and record attributes the agent writes, and span attributes of process spans', (ctx) => {
    requireOrSkip(ctx, !MODEL_BUILT && MODEL_NOT_BUILT);
    const problems: string[] = [];
    let loki = 0;
    let tempo = 0;
    for (const { dash } of dashboards) {
      for (const p of dash.panels) {
        for (const t of p.targets) {
          if (t.datasource.uid === DS.loki) {
            loki += 1;
            problems.push(...logqlProblems(model, expand(t.expr ?? '')).map((x) => `${dash.uid} ${p.title}: ${x}`));
            expect(t.expr, p.title).toMatch(/^\{service_name="contguard"/);
          }
          if (t.datasource.uid === DS.tempo) {
            tempo += 1;
            problems.push(...traceqlProblems(model, expand(t.query ?? '')).map((x) => `${dash.uid} ${p.title}: ${x}`));
          }
        }
      }
    }
    expect({ loki: loki > 0, tempo: tempo > 0 }).toEqual({ loki: true, tempo: true });
    expect(problems).toEqual([]);
    // The checkers reject an attribute no record has, a non-index selector label and a wrong span attribute.
    expect(logqlProblems(model, '{service_name="contguard"} | event_name="contguard.file.open" | process_command_args="x"')).toHaveLength(1);
    expect(logqlProblems(model, '{service_name="contguard", process_pid="1"}')).toHaveLength(1);
    expect(traceqlProblems(model, '{resource.container.nam="web"}')).toHaveLength(1);
  });
});
