// SPDX-License-Identifier: Apache-2.0
/**
 * The shipped deployment files agree with the code: the example config parses with the real
 * parser, the systemd unit verifies, the DaemonSet runs the real CLI with least privilege, the
 * Collector and Prometheus configs are coherent, and the dashboard queries real metric names.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';
import { DEFAULT_CONFIG, loadConfigFile, parseConfig } from '../../src/config.js';
import { parseCli } from '../../src/cli/args.js';
import { METRIC_CONTAINER_KEYS } from '../../src/telemetry/container-attributes.js';
import type { MetricSpec, TelemetrySpec } from '../../src/sensors/sensor.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const path = (p: string) => join(ROOT, p);
const read = (p: string) => readFileSync(path(p), 'utf8');
const BUILT =
  existsSync(path('dist/src/sensors/all.js')) && existsSync(path('dist/src/telemetry/agent-telemetry.js'));
const NOT_BUILT = 'dist/ missing: run "npm run build:ts" first (npm test builds before testing)';

/** First directory on PATH holding `name`, or null. */
function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const temps: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cg-deploy-'));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** Dotted paths of every leaf; a mapping whose keys are free-form (headers) counts as a leaf. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || prefix.endsWith('headers')) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('deploy/contguard.yaml', () => {
  it('parses with the real config loader', () => {
    expect(() => loadConfigFile(path('deploy/contguard.yaml'))).not.toThrow();
  });

  it('spells out every setting, each at its default (as its header says)', () => {
    const raw: unknown = YAML.parse(read('deploy/contguard.yaml'));
    expect(leafPaths(raw).sort()).toEqual(leafPaths(DEFAULT_CONFIG).sort());
    expect(loadConfigFile(path('deploy/contguard.yaml'))).toEqual(DEFAULT_CONFIG);
  });
});

/** `Key=value` lines of a unit file, comments dropped; repeated keys keep every value. */
function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m || !m[1]) continue;
    out.set(m[1], [...(out.get(m[1]) ?? []), m[2] ?? '']);
  }
  return out;
}

describe('deploy/contguard.service', () => {
  const unit = read('deploy/contguard.service');
  const d = unitDirectives(unit);
  const one = (key: string) => {
    expect(d.get(key), key).toHaveLength(1);
    return d.get(key)?.[0] ?? '';
  };

  it('runs the agent with the shipped config path', () => {
    expect(one('ExecStart')).toBe('/usr/bin/env node /opt/contguard/bin/contguard run --config /etc/contguard/contguard.yaml');
    const argv = one('ExecStart').split(' ').slice(3);
    expect(parseCli(argv)).toEqual({ kind: 'run', options: { config: '/etc/contguard/contguard.yaml' } });
  });

  it('keeps exactly the needed capabilities, ambient and bounding alike', () => {
    const caps = (v: string) => v.split(/\s+/).filter(Boolean).sort();
    const want = ['CAP_BPF', 'CAP_DAC_READ_SEARCH', 'CAP_NET_ADMIN', 'CAP_PERFMON'];
    expect(caps(one('AmbientCapabilities'))).toEqual(want);
    expect(caps(one('CapabilityBoundingSet'))).toEqual(want);
    expect(unit).toMatch(/#.*CAP_SYS_RESOURCE.*5\.11|#.*5\.11.*CAP_SYS_RESOURCE/);
  });

  it('hardens without the settings that break node or hide processes', () => {
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectKernelTunables', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality']) {
      expect(one(key), key).toBe('yes');
    }
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('SystemCallArchitectures')).toBe('native');
    expect(one('SystemCallFilter').split(/\s+/)).toEqual(expect.arrayContaining(['@system-service', 'bpf', 'perf_event_open']));
    expect(one('RestrictAddressFamilies').split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(one('ReadWritePaths')).toBe('/var/log/contguard');
    expect(one('LogsDirectory')).toBe('contguard');
    expect(d.has('MemoryDenyWriteExecute')).toBe(false);
    expect(d.has('ProtectProc')).toBe(false);
    expect(d.has('ProcSubset')).toBe(false);
    expect(d.has('PrivateUsers')).toBe(false);
    expect(one('SupplementaryGroups')).toBe('docker');
    expect(unit).toMatch(/ROOT-EQUIVALENT/);
    // The JSON-lines output writes where the unit allows it.
    expect(DEFAULT_CONFIG.outputs.jsonl.dir).toBe('/var/log/contguard');
  });

  it('passes systemd-analyze verify', (ctx) => {
    const tool = which('systemd-analyze');
    requireOrSkip(ctx, !tool && 'systemd-analyze not installed (apt-get install systemd)');
    // verify names the unit after its file: copy it so only this unit is checked.
    const dir = tempDir();
    writeFileSync(join(dir, 'contguard.service'), unit);
    const r = spawnSync(tool!, ['verify', '--man=no', join(dir, 'contguard.service')], { encoding: 'utf8', timeout: 60_000 });
    // Unknown keys are only warnings (exit 0): any line about our unit is a failure.
    const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('contguard.service'));
    expect({ status: r.status, complaints }).toEqual({ status: 0, complaints: [] });
  });
});

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: any;
}

describe('deploy/kubernetes/daemonset.yaml', () => {
  const docs = YAML.parseAllDocuments(read('deploy/kubernetes/daemonset.yaml'));
  const objects = docs.map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as K8sObject;
  });
  const ds = objects.find((o) => o.kind === 'DaemonSet');
  const cm = objects.find((o) => o.kind === 'ConfigMap');
  const pod = ds?.spec.template.spec;
  const c = pod?.containers[0];
  const mounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> = c?.volumeMounts ?? [];
  const volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string }; emptyDir?: object }> = pod?.volumes ?? [];
  const mountOf = (mountPath: string) => mounts.find((m) => m.mountPath === mountPath);
  const volumeOf = (name: string | undefined) => volumes.find((v) => v.name === name);
  const cli = () => {
    const cmd = parseCli(c.command.slice(2));
    if (cmd.kind !== 'run') throw new Error(`expected a run command, got ${cmd.kind}`);
    return cmd.options;
  };

  it('holds a Namespace, ServiceAccount, ConfigMap and DaemonSet in one namespace', () => {
    expect(objects.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
    const ns = objects[0]?.metadata.name;
    for (const o of objects.slice(1)) expect(o.metadata.namespace, o.kind).toBe(ns);
    expect(ds?.spec.selector.matchLabels).toEqual(ds?.spec.template.metadata.labels);
  });

  it('ships a config the real parser accepts, mounted where --config points', () => {
    const cfg = parseConfig(cm?.data['contguard.yaml'], 'ConfigMap contguard-config');
    expect(c.command.slice(0, 2)).toEqual(['node', '/opt/contguard/bin/contguard']);
    const opts = cli();
    expect(opts.config).toBe('/etc/contguard/contguard.yaml');
    const m = mountOf(dirname(opts.config!));
    expect(m?.readOnly).toBe(true);
    expect(volumeOf(m?.name)?.configMap?.name).toBe(cm?.metadata.name);
    // Scraped on the pod IP at the annotated port.
    expect(cfg.outputs.prometheus.host).toBe('0.0.0.0');
    const ann = ds?.spec.template.metadata.annotations;
    expect(ann['prometheus.io/scrape']).toBe('true');
    expect(Number(ann['prometheus.io/port'])).toBe(cfg.outputs.prometheus.port);
    expect(ann['prometheus.io/path']).toBe(cfg.outputs.prometheus.path);
    expect(c.ports.map((p: { containerPort: number }) => p.containerPort)).toContain(cfg.outputs.prometheus.port);
    // No writable log dir on a read-only root: JSON lines stay off unless one is mounted.
    if (cfg.outputs.jsonl.enabled) expect(mountOf(cfg.outputs.jsonl.dir)?.readOnly).not.toBe(true);
  });

  it('is ready when the --ready-file exists, on a writable volume', () => {
    const ready = cli().readyFile;
    expect(ready).toBe('/run/contguard/ready');
    expect(c.readinessProbe.exec.command).toEqual(['test', '-f', ready]);
    const m = mountOf(dirname(ready!));
    expect(m?.readOnly).not.toBe(true);
    expect(volumeOf(m?.name)?.emptyDir).toBeDefined();
  });

  it('runs unprivileged with hostPID and only the eBPF capabilities', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    const sc = c.securityContext;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect([...sc.capabilities.add].sort()).toEqual(['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE']);
    expect(pod.tolerations.map((t: { effect: string }) => t.effect).sort()).toEqual(['NoExecute', 'NoSchedule']);
  });

  it('mounts the host paths it reads read-only, and the Docker socket', () => {
    for (const p of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup']) {
      const m = mountOf(p);
      expect(m?.readOnly, p).toBe(true);
      expect(volumeOf(m?.name)?.hostPath?.path, p).toBe(p);
    }
    const sock = mountOf('/var/run/docker.sock');
    expect(volumeOf(sock?.name)?.hostPath?.path).toBe('/var/run/docker.sock');
    expect(read('deploy/kubernetes/daemonset.yaml')).toMatch(/Docker hosts only/);
    // Every hostPath is mounted read-only.
    for (const v of volumes.filter((v) => v.hostPath)) {
      expect(mounts.find((m) => m.name === v.name)?.readOnly, v.name).toBe(true);
    }
  });

  it('names the node and the collector in the environment', () => {
    const env = new Map<string, any>(c.env.map((e: { name: string }) => [e.name, e]));
    expect(env.get('K8S_NODE_NAME')?.valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(env.get('OTEL_RESOURCE_ATTRIBUTES')?.value).toBe('k8s.node.name=$(K8S_NODE_NAME)');
    // Defined before use, or Kubernetes leaves $(K8S_NODE_NAME) unexpanded.
    const names = c.env.map((e: { name: string }) => e.name);
    expect(names.indexOf('K8S_NODE_NAME')).toBeLessThan(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
    expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toMatch(/^http:\/\/[a-z0-9.-]+:4317$/);
  });
});

describe('otel-config/collector.yaml', () => {
  const cfg = YAML.parse(read('otel-config/collector.yaml'));

  it('wires every pipeline to defined components, memory_limiter first', () => {
    for (const [name, p] of Object.entries<any>(cfg.service.pipelines)) {
      for (const r of p.receivers) expect(cfg.receivers, `${name}: receiver ${r}`).toHaveProperty([r]);
      for (const x of p.processors) expect(cfg.processors, `${name}: processor ${x}`).toHaveProperty([x]);
      for (const e of p.exporters) expect(cfg.exporters, `${name}: exporter ${e}`).toHaveProperty([e]);
      expect(p.processors[0], name).toBe('memory_limiter');
    }
    expect(Object.keys(cfg.service.pipelines).sort()).toEqual(['logs', 'metrics', 'traces']);
  });

  it('takes OTLP/gRPC on 4317 and regroups logs by the container keys the agent sets', () => {
    expect(cfg.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(cfg.processors.groupbyattrs.keys).toEqual([...METRIC_CONTAINER_KEYS]);
    expect(cfg.service.pipelines.logs.processors).toEqual(['memory_limiter', 'groupbyattrs', 'batch']);
    // On metrics it would move container.* to the Resource and off the Prometheus labels.
    expect(cfg.service.pipelines.metrics.processors).not.toContain('groupbyattrs');
  });

  it('sends logs to Loki over OTLP/HTTP and serves metrics under the agent\'s own names', () => {
    const logsExporter = cfg.service.pipelines.logs.exporters[0] as string;
    expect(logsExporter.split('/')[0]).toBe('otlp_http');
    expect(cfg.exporters[logsExporter].endpoint).toBe('http://loki:3100/otlp');
    expect(cfg.service.pipelines.metrics.exporters).toEqual(['prometheus']);
    expect(cfg.exporters.prometheus).toMatchObject({
      endpoint: '0.0.0.0:8889',
      translation_strategy: 'UnderscoreEscapingWithoutSuffixes',
      enable_open_metrics: true,
    });
    expect(cfg.exporters).not.toHaveProperty('debug');
    // Process-tree traces to Tempo over OTLP/gRPC (otlp_grpc: the 0.144 name of the otlp exporter).
    expect(cfg.service.pipelines.traces.exporters).toEqual(['otlp_grpc/tempo']);
    expect(cfg.exporters['otlp_grpc/tempo'].endpoint).toBe('tempo:4317');
    expect(read('otel-config/collector.yaml')).toMatch(/^ *# *debug:/m);
  });
});

describe('otel-config/prometheus.yml', () => {
  it('scrapes the agent at its default address as job contguard', () => {
    const cfg = YAML.parse(read('otel-config/prometheus.yml'));
    const job = cfg.scrape_configs.find((j: { job_name: string }) => j.job_name === 'contguard');
    const { host, port, path: metricsPath } = DEFAULT_CONFIG.outputs.prometheus;
    expect(job.static_configs[0].targets).toEqual([`${host}:${port}`]);
    expect(job.metrics_path ?? '/metrics').toBe(metricsPath);
  });

  it('passes promtool check config', (ctx) => {
    const tool = which('promtool');
    requireOrSkip(ctx, !tool && 'promtool not installed (apt-get install prometheus)');
    const r = spawnSync(tool!, ['check', 'config', path('otel-config/prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: Target[];
}

/** What scripts/gen-docs.mjs exports that these tests use. */
interface GenDocs {
  loadTelemetry(): Promise<Array<{ source: string; telemetry: TelemetrySpec }>>;
  prometheusSeries(metric: MetricSpec): string[];
  prometheusLabel(name: string): string;
}

/** Replaces Grafana's variables so the expression is plain PromQL. */
function expandGrafanaVars(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval/g, '1m').replace(/\$__range/g, '1h').replace(/\$\{?container_name\}?/g, '.*');
}

/** Label names an expression groups by or matches on. */
function labelsUsed(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    out.push(...(m[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  }
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const l of (m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) out.push(l[1] ?? '');
  }
  return out;
}

describe('grafana/contguard-dashboard.json', () => {
  const dash = JSON.parse(read('grafana/contguard-dashboard.json'));
  const panels = dash.panels as Panel[];
  const PROM = '${DS_PROMETHEUS}';
  const LOKI = '${DS_LOKI}';
  const promTargets = panels.flatMap((p) => p.targets.filter((t) => t.datasource.uid === PROM));
  const lokiTargets = panels.flatMap((p) => p.targets.filter((t) => t.datasource.uid === LOKI));
  const variable = (name: string) => dash.templating.list.find((v: { name: string }) => v.name === name);

  it('is a Grafana dashboard with datasource variables and unique panel ids', () => {
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dash.schemaVersion).toBeLessThanOrEqual(41);
    expect(dash.uid).toBe('contguard');
    expect(variable('DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variable('DS_LOKI')).toMatchObject({ type: 'datasource', query: 'loki' });
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect([PROM, LOKI], p.title).toContain(p.datasource.uid);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(p.datasource);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
  });

  it('has a container_name variable from the exec counter and the required panels', () => {
    const v = variable('container_name');
    expect(v.datasource.uid).toBe(PROM);
    expect(v.definition).toBe('label_values(contguard_process_execs_total, container_name)');
    expect(v.query.query ?? v.query).toBe(v.definition);
    const exprs = promTargets.map((t) => t.expr);
    expect(exprs).toContain('sum by (container_name) (rate(contguard_process_execs_total{container_name=~"$container_name"}[5m]))');
    expect(exprs.some((e) => e.includes('contguard_events_lost_total'))).toBe(true);
    expect(panels.find((p) => p.type === 'logs')?.targets[0]?.expr).toBe('{service_name="contguard"} | container_name=~"$container_name"');
    for (const t of lokiTargets) expect(t.expr).toMatch(/^\{service_name="contguard"\}/);
  });

  it('queries only metrics and labels the agent exports', async (ctx) => {
    requireOrSkip(ctx, !BUILT && NOT_BUILT);
    const g = (await import(path('scripts/gen-docs.mjs'))) as GenDocs;
    const labelsOf = new Map<string, Set<string>>();
    for (const { telemetry } of await g.loadTelemetry()) {
      for (const m of telemetry.metrics) {
        const labels = new Set(['job', 'instance', 'otel_scope_name', 'otel_scope_version', ...m.attributes.map(g.prometheusLabel)]);
        for (const s of g.prometheusSeries(m)) labelsOf.set(s, labels);
      }
    }
    expect([...labelsOf.keys()]).toEqual(expect.arrayContaining(['contguard_process_execs_total', 'contguard_events_lost_total']));
    const queries = [...promTargets.map((t) => t.expr), variable('container_name').definition as string];
    for (const expr of queries) {
      const metrics = [...expr.matchAll(/\bcontguard_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
      expect(metrics.length, expr).toBeGreaterThan(0);
      for (const name of metrics) expect([...labelsOf.keys()], `${name} in ${expr}`).toContain(name);
      const allowed = new Set(metrics.flatMap((n) => [...(labelsOf.get(n) ?? [])]));
      const used = [...labelsUsed(expr), ...[...expr.matchAll(/label_values\([^,]+,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)/g)].map((m) => m[1] ?? '')];
      for (const l of used) expect([...allowed], `label ${l} in ${expr}`).toContain(l);
    }
  });

  it('has PromQL that promtool parses', (ctx) => {
    const tool = which('promtool');
    requireOrSkip(ctx, !tool && 'promtool not installed (apt-get install prometheus)');
    // promtool parses PromQL only inside rule files: one recording rule per query.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: promTargets.map((t, i) => ({ record: `contguard:dashboard_query_${i}`, expr: expandGrafanaVars(t.expr) })),
        },
      ],
    };
    const file = join(tempDir(), 'rules.yml');
    writeFileSync(file, YAML.stringify(rules));
    const r = spawnSync(tool!, ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
