#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Renders the telemetry reference into README.md between `<!-- telemetry:begin -->` and
 * `<!-- telemetry:end -->`: every metric and log event the agent emits, read from the compiled
 * specs (dist/src/sensors/all.js SENSORS[].telemetry and dist/src/telemetry/agent-telemetry.js),
 * so the README cannot drift from the code. Run `npm run build:ts` first.
 *
 * Usage: node scripts/gen-docs.mjs [--check]
 *   --check   write nothing; exit 1 when README.md is out of date
 * Exit codes: 0 ok, 1 out of date (--check) or README markers missing, 2 not built / invalid spec.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BEGIN = '<!-- telemetry:begin -->';
export const END = '<!-- telemetry:end -->';

const INSTRUMENTS = ['counter', 'updowncounter', 'gauge', 'histogram'];
const NAME_RE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;

/** A problem with the inputs; printed as one line. */
export class DocsError extends Error {
  constructor(message, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Prometheus form of an attribute or metric name, as @opentelemetry/exporter-prometheus writes it. */
export function prometheusLabel(name) {
  return name.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
}

/**
 * The Prometheus series names of a metric on the agent's own /metrics endpoint: dots become
 * underscores, monotonic counters get `_total`, histograms `_bucket`/`_sum`/`_count`; units are
 * never appended (ecosystem.md §3.1). UpDownCounters are exported as plain gauges.
 */
export function prometheusSeries(metric) {
  const base = prometheusLabel(metric.name);
  switch (metric.instrument) {
    case 'counter':
      return [base.endsWith('_total') ? base : `${base}_total`];
    case 'histogram':
      return [`${base}_bucket`, `${base}_sum`, `${base}_count`];
    default:
      return [base];
  }
}

/** Loads every telemetry spec from the compiled sources: the sensors in registry order, then the agent's own. */
export async function loadTelemetry(distDir = join(ROOT, 'dist')) {
  const registryPath = join(distDir, 'src/sensors/all.js');
  const agentPath = join(distDir, 'src/telemetry/agent-telemetry.js');
  const containerRegistryPath = join(distDir, 'src/registry/telemetry.js');
  const resourcesPath = join(distDir, 'src/resources/telemetry.js');
  const anomalyPath = join(distDir, 'src/anomaly/telemetry.js');
  for (const p of [registryPath, agentPath, containerRegistryPath, resourcesPath, anomalyPath]) {
    if (!existsSync(p)) throw new DocsError(`${relative(ROOT, p)} missing: run "npm run build:ts" first`);
  }
  const { SENSORS } = await import(pathToFileURL(registryPath).href);
  const { agentTelemetry } = await import(pathToFileURL(agentPath).href);
  const { registryTelemetry } = await import(pathToFileURL(containerRegistryPath).href);
  const { resourcesTelemetry } = await import(pathToFileURL(resourcesPath).href);
  const { anomalyTelemetry } = await import(pathToFileURL(anomalyPath).href);
  const sources = [
    ...SENSORS.map((s) => ({ source: `${s.name} sensor`, telemetry: s.telemetry })),
    { source: 'container registry', telemetry: registryTelemetry },
    { source: 'resources', telemetry: resourcesTelemetry },
    { source: 'anomaly detection', telemetry: anomalyTelemetry },
    { source: 'agent', telemetry: agentTelemetry },
  ];
  validate(sources);
  return sources;
}

function validate(sources) {
  const metricNames = new Map();
  const seriesNames = new Map();
  const eventNames = new Map();
  for (const { source, telemetry } of sources) {
    const where = (what) => `${source}: ${what}`;
    if (!telemetry || !Array.isArray(telemetry.metrics) || !Array.isArray(telemetry.events)) {
      throw new DocsError(where('telemetry must have metrics[] and events[]'));
    }
    for (const m of telemetry.metrics) {
      if (!NAME_RE.test(m.name ?? '')) throw new DocsError(where(`invalid metric name ${JSON.stringify(m.name)}`));
      if (!INSTRUMENTS.includes(m.instrument)) throw new DocsError(where(`${m.name}: invalid instrument ${JSON.stringify(m.instrument)}`));
      if (typeof m.unit !== 'string' || typeof m.description !== 'string' || m.description === '') {
        throw new DocsError(where(`${m.name}: unit and description are required`));
      }
      if (!Array.isArray(m.attributes) || m.attributes.some((a) => typeof a !== 'string' || a === '')) {
        throw new DocsError(where(`${m.name}: attributes must be a list of names`));
      }
      if (metricNames.has(m.name)) throw new DocsError(where(`metric ${m.name} also defined by ${metricNames.get(m.name)}`));
      metricNames.set(m.name, source);
      for (const s of prometheusSeries(m)) {
        if (seriesNames.has(s)) throw new DocsError(where(`${m.name}: Prometheus name ${s} collides with ${seriesNames.get(s)}`));
        seriesNames.set(s, m.name);
      }
    }
    for (const e of telemetry.events) {
      if (!NAME_RE.test(e.name ?? '')) throw new DocsError(where(`invalid event name ${JSON.stringify(e.name)}`));
      if (typeof e.severity !== 'string' || typeof e.description !== 'string' || e.description === '') {
        throw new DocsError(where(`${e.name}: severity and description are required`));
      }
      if (!e.attributes || typeof e.attributes !== 'object') throw new DocsError(where(`${e.name}: attributes must be a mapping`));
      if (eventNames.has(e.name)) throw new DocsError(where(`event ${e.name} also defined by ${eventNames.get(e.name)}`));
      eventNames.set(e.name, source);
    }
  }
}

/** Text for a Markdown table cell: one line, pipes escaped. */
function cell(text) {
  return String(text).replace(/\s*[\r\n]+\s*/g, ' ').replace(/\|/g, '\\|');
}

const code = (s) => `\`${cell(s)}\``;

/** The Markdown between the markers (without them), ending in a newline. */
export function renderTelemetry(sources) {
  const out = [];
  out.push('<!-- Generated by `node scripts/gen-docs.mjs` from src/sensors/*/telemetry.ts, src/registry/telemetry.ts, src/resources/telemetry.ts and src/telemetry/agent-telemetry.ts: edit those, not this section. -->');
  out.push('');
  out.push('### Metrics');
  out.push('');
  out.push('| Metric | Prometheus name | Instrument | Unit | Attributes | Source | Description |');
  out.push('|---|---|---|---|---|---|---|');
  for (const { source, telemetry } of sources) {
    for (const m of telemetry.metrics) {
      const attrs = m.attributes.length ? m.attributes.map(code).join(', ') : '—';
      const series = prometheusSeries(m).map(code).join(', ');
      out.push(`| ${code(m.name)} | ${series} | ${m.instrument} | ${code(m.unit)} | ${attrs} | ${cell(source)} | ${cell(m.description)} |`);
    }
  }
  out.push('');
  out.push(
    'Prometheus names are those of the agent\'s own `/metrics` endpoint: `.` becomes `_`, counters end in `_total`, units are never appended. ' +
      'Label names are the attribute names written the same way (`container.id` → `container_id`). ' +
      'Every series also carries `otel_scope_name` and `otel_scope_version`; the agent Resource (`service.*`, `host.name`, `os.type`) is exported once as `target_info`. ' +
      'Through the Collector, `translation_strategy: UnderscoreEscapingWithoutSuffixes` gives the same names when Prometheus scrapes it with OpenMetrics, its default (see otel-config/).',
  );
  out.push('');
  out.push('### Log events');
  out.push('');
  out.push(
    'Each event is one OpenTelemetry log record whose EventName is the heading below; the console and JSON-lines outputs write the same records.',
  );
  for (const { source, telemetry } of sources) {
    for (const e of telemetry.events) {
      out.push('');
      out.push(`#### ${code(e.name)}`);
      out.push('');
      out.push(`Source: ${cell(source)} · Severity: ${code(e.severity)}`);
      out.push('');
      out.push(cell(e.description));
      out.push('');
      out.push('| Attribute | Description |');
      out.push('|---|---|');
      for (const [name, description] of Object.entries(e.attributes)) out.push(`| ${code(name)} | ${cell(description)} |`);
    }
  }
  return `${out.join('\n')}\n`;
}

function countOf(text, needle) {
  return text.split(needle).length - 1;
}

/** README text with the section between the markers replaced by `body`. */
export function replaceSection(readme, body, source = 'README.md') {
  if (countOf(readme, BEGIN) !== 1 || countOf(readme, END) !== 1) {
    throw new DocsError(`${source}: expected exactly one "${BEGIN}" and one "${END}"`, 1);
  }
  const start = readme.indexOf(BEGIN) + BEGIN.length;
  const end = readme.indexOf(END);
  if (end < start) throw new DocsError(`${source}: "${END}" comes before "${BEGIN}"`, 1);
  return `${readme.slice(0, start)}\n${body}${readme.slice(end)}`;
}

/** src/ files newer than their compiled file (a stale dist/ documents old specs). */
function staleSources() {
  const stale = [];
  const walk = (dir) => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const js = join(ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, rel)).mtimeMs) stale.push(rel);
      }
    }
  };
  walk('src');
  return stale;
}

async function main(argv) {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) throw new DocsError(`unknown argument ${JSON.stringify(unknown[0])} (usage: gen-docs.mjs [--check])`);
  const stale = staleSources();
  if (stale.length) {
    process.stderr.write(`gen-docs: warning: dist/ is older than ${stale[0]}${stale.length > 1 ? ` and ${stale.length - 1} more` : ''}: run "npm run build:ts"\n`);
  }
  const readmePath = join(ROOT, 'README.md');
  if (!existsSync(readmePath)) throw new DocsError(`README.md missing: it must contain "${BEGIN}" and "${END}"`, 1);
  const readme = readFileSync(readmePath, 'utf8');
  const updated = replaceSection(readme, renderTelemetry(await loadTelemetry()));
  if (updated === readme) {
    if (!check) process.stdout.write('gen-docs: README.md is up to date\n');
    return 0;
  }
  if (check) {
    process.stderr.write('gen-docs: README.md telemetry section is out of date: run "node scripts/gen-docs.mjs"\n');
    return 1;
  }
  writeFileSync(readmePath, updated);
  process.stdout.write('gen-docs: README.md telemetry section updated\n');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-docs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof DocsError ? err.exitCode : 2;
  }
}
