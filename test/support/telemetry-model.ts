// SPDX-License-Identifier: Apache-2.0
/**
 * The telemetry model as Prometheus, Loki and Tempo see it, for tests of the shipped dashboards
 * and alert rules: every series name with its labels, every log event with the Loki labels and
 * structured metadata a query may use, every span attribute TraceQL may use. Built from the
 * compiled specs (scripts/gen-docs.mjs loadTelemetry, like README's reference) plus what the
 * pipeline adds (job/instance, target_info, Loki's own fields, the Collector's groupbyattrs).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './agent-process.js';
import type { MetricSpec, TelemetrySpec } from '../../src/sensors/sensor.js';
import { sdkLogMetrics } from '../../src/telemetry/sdk-telemetry.js';
import { CONTAINER_ATTRIBUTES } from '../../src/telemetry/container-attributes.js';
import { PROCESS_SPAN_ATTRIBUTES } from '../../src/sensors/process/telemetry.js';

interface GenDocs {
  loadTelemetry(): Promise<Array<{ source: string; telemetry: TelemetrySpec }>>;
  prometheusSeries(metric: MetricSpec): string[];
  prometheusLabel(name: string): string;
}

export const MODEL_BUILT = existsSync(join(REPO_ROOT, 'dist/src/sensors/all.js'));
export const MODEL_NOT_BUILT = 'dist/ missing: run "npm run build:ts" first (npm test builds before testing)';

/** k8s.* attributes (issue 10, runtime metadata) the Collector groups by next to container.*. */
export const K8S_KEYS = ['k8s.pod.name', 'k8s.pod.uid', 'k8s.namespace.name', 'k8s.container.name', 'k8s.node.name'];

/** The agent Resource (src/telemetry/otel.ts agentResource, + k8s.node.name from the DaemonSet). */
export const AGENT_RESOURCE = ['service.name', 'service.version', 'service.instance.id', 'host.name', 'os.type', 'k8s.node.name'];

/**
 * Loki index labels of a ContGuard record after the Collector (groupbyattrs) and Loki's default
 * resource-attribute list, minus what deploy/compose/loki.yaml demotes (k8s.pod.name,
 * service.instance.id): only these may appear in a stream selector `{...}`.
 */
export const LOKI_INDEX_LABELS = ['service_name', 'container_name', 'k8s_namespace_name', 'k8s_container_name'];
/** What Loki itself stores with every OTLP record (pkg/loghttp/push/otlp.go). */
const LOKI_RECORD_FIELDS = ['severity_text', 'severity_number', 'trace_id', 'span_id', 'observed_timestamp', 'scope_name', 'scope_version', 'flags', 'detected_level'];

export interface TelemetryModel {
  /** Prometheus series name -> labels it carries. */
  series: Map<string, Set<string>>;
  /** Log event name -> Loki labels and structured metadata keys of its records (`event_name` included). */
  events: Map<string, Set<string>>;
  /** TraceQL attributes of process spans: `span.x` and `resource.x`. */
  spanAttributes: Set<string>;
  prometheusLabel(name: string): string;
}

export async function loadTelemetryModel(): Promise<TelemetryModel> {
  const g = (await import(pathToFileURL(join(REPO_ROOT, 'scripts/gen-docs.mjs')).href)) as GenDocs;
  const sources = await g.loadTelemetry();
  const series = new Map<string, Set<string>>();
  const scrapeLabels = ['job', 'instance', 'otel_scope_name', 'otel_scope_version'];
  const addMetric = (m: MetricSpec) => {
    for (const s of g.prometheusSeries(m)) {
      const labels = new Set([...scrapeLabels, ...m.attributes.map(g.prometheusLabel)]);
      if (s.endsWith('_bucket')) labels.add('le');
      series.set(s, labels);
    }
  };
  for (const { telemetry } of sources) telemetry.metrics.forEach(addMetric);
  sdkLogMetrics.forEach(addMetric);
  series.set('target_info', new Set(['job', 'instance', ...AGENT_RESOURCE.map(g.prometheusLabel)]));
  series.set('up', new Set(['job', 'instance']));

  const resourceKeys = [...Object.keys(CONTAINER_ATTRIBUTES).filter((k) => !k.includes('<')), ...K8S_KEYS, ...AGENT_RESOURCE];
  const base = [...resourceKeys.map(g.prometheusLabel), ...LOKI_RECORD_FIELDS, 'event_name'];
  const events = new Map<string, Set<string>>();
  for (const { telemetry } of sources) {
    for (const e of telemetry.events) {
      const attrs = Object.keys(e.attributes).filter((k) => !k.includes('<'));
      events.set(e.name, new Set([...base, ...attrs.map(g.prometheusLabel)]));
    }
  }

  const spanAttributes = new Set([
    ...Object.keys(PROCESS_SPAN_ATTRIBUTES).map((k) => `span.${k}`),
    ...resourceKeys.map((k) => `resource.${k}`),
  ]);
  return { series, events, spanAttributes, prometheusLabel: g.prometheusLabel };
}

// ---------------------------------------------------------------------------------------------
// PromQL: the metric names and label names an expression uses.

const PROMQL_WORDS = new Set([
  // aggregations and keywords
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  // functions
  'abs', 'absent', 'absent_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'delta', 'deriv', 'exp',
  'floor', 'histogram_quantile', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'ln', 'log2', 'log10',
  'predict_linear', 'rate', 'resets', 'round', 'scalar', 'sort', 'sort_desc', 'sqrt', 'time', 'timestamp', 'vector',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'last_over_time',
  'present_over_time', 'quantile_over_time', 'stddev_over_time', 'label_values', 'query_result',
]);

export interface PromqlUse {
  metrics: string[];
  labels: string[];
  /** Labels an expression creates (label_replace / label_join destinations). */
  created: string[];
}

/** Names a PromQL expression (Grafana variables already expanded) reads. */
export function promqlUses(expr: string): PromqlUse {
  const labels: string[] = [];
  const created: string[] = [];
  // Outside matchers, the only strings are label_replace / label_join arguments.
  const noMatchers = expr.replace(/\{[^}]*\}/g, '{}');
  for (const m of noMatchers.matchAll(/\blabel_replace\s*\([^"]*"([^"]*)"\s*,\s*"[^"]*"\s*,\s*"([^"]*)"/g)) {
    created.push(m[1] ?? '');
    labels.push(m[2] ?? '');
  }
  for (const m of noMatchers.matchAll(/\blabel_join\s*\([^"]*"([^"]*)"\s*,\s*"[^"]*"((?:\s*,\s*"[^"]*")*)\s*\)/g)) {
    created.push(m[1] ?? '');
    for (const l of (m[2] ?? '').matchAll(/"([^"]*)"/g)) labels.push(l[1] ?? '');
  }
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    labels.push(...(m[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  }
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const l of (m[1] ?? '').replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(l[1] ?? '');
  }
  for (const m of expr.matchAll(/\blabel_values\s*\([^,]+,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g)) labels.push(m[1] ?? '');
  // What is left after strings, matchers, grouping lists, durations and numbers: metric names and words.
  const rest = expr
    .replace(/\blabel_values\s*\(([^,]+),[^)]*\)/g, ' $1 ')
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]?\b/gi, ' ');
  const metrics = [...rest.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w));
  return { metrics: [...new Set(metrics)], labels: [...new Set(labels)], created: [...new Set(created)] };
}

/** Problems of one PromQL expression against the model: unknown metrics, labels the metrics lack. */
export function promqlProblems(model: TelemetryModel, expr: string, extraLabels: string[] = []): string[] {
  const use = promqlUses(expr);
  const problems: string[] = [];
  if (use.metrics.length === 0) problems.push(`no metric in ${expr}`);
  for (const m of use.metrics) if (!model.series.has(m)) problems.push(`unknown metric ${m} in ${expr}`);
  const allowed = new Set([...use.metrics.flatMap((m) => [...(model.series.get(m) ?? [])]), ...use.created, ...extraLabels]);
  for (const l of use.labels) if (!allowed.has(l)) problems.push(`label ${l} not on ${use.metrics.join(', ')} in ${expr}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// LogQL: stream selector labels, label filter keys, and the event it selects.

/** Problems of one LogQL query: selector labels that are not index labels, filter keys no selected event has. */
export function logqlProblems(model: TelemetryModel, expr: string): string[] {
  const problems: string[] = [];
  const selector = /^\s*(?:[a-z_]+\s*\(\s*)*\{([^}]*)\}/.exec(expr);
  if (!selector) return [`no stream selector in ${expr}`];
  for (const l of (selector[1] ?? '').replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
    if (!LOKI_INDEX_LABELS.includes(l[1] ?? '')) problems.push(`${l[1]} is not a Loki index label in ${expr}`);
  }
  const pipeline = expr.slice((selector.index ?? 0) + selector[0].length).replace(/\[[^\]]*\]\)?.*$/s, '');
  const eventNames = [...pipeline.matchAll(/\bevent_name\s*=\s*"([^"]+)"/g)].map((m) => m[1] ?? '');
  for (const n of eventNames) if (!model.events.has(n)) problems.push(`unknown event ${n} in ${expr}`);
  const selected = eventNames.length > 0 ? eventNames : [...model.events.keys()];
  const keys = new Set(selected.flatMap((n) => [...(model.events.get(n) ?? [])]));
  const stages = pipeline.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/`[^`]*`/g, '""');
  for (const stage of stages.split('|').slice(1)) {
    const s = stage.trim();
    if (/^(?:=|!=|~|!~)/.test(s) || /^(?:json|logfmt|line_format|label_format|unwrap|decolorize|drop|keep)\b/.test(s)) continue;
    for (const m of s.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|==|=|>=|<=|>|<)/g)) {
      if (!keys.has(m[1] ?? '')) problems.push(`${m[1]} is on no record of ${eventNames.join(', ') || 'any event'} in ${expr}`);
    }
  }
  return problems;
}

/** Problems of one TraceQL query: attributes that are not span or resource attributes of process spans. */
export function traceqlProblems(model: TelemetryModel, query: string): string[] {
  const problems: string[] = [];
  for (const m of query.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\b((?:span|resource)\.[a-zA-Z0-9_.]+)/g)) {
    if (!model.spanAttributes.has(m[1] ?? '')) problems.push(`${m[1]} is not an attribute of process spans in ${query}`);
  }
  return problems;
}
