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
import { K8S_KEYS } from '../support/telemetry-model.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const path = (p: string) => join(ROOT, p);
const read = (p: string) => readFileSync(path(p), 'utf8');

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
    // Metrics go through the gateway: no scrape annotations (every series would be stored
    // twice); the pod-IP endpoint serves the liveness probe.
    expect(cfg.outputs.prometheus.host).toBe('0.0.0.0');
    expect(ds?.spec.template.metadata.annotations).toBeUndefined();
    expect(c.ports.map((p: { containerPort: number }) => p.containerPort)).toContain(cfg.outputs.prometheus.port);
    expect(c.livenessProbe.httpGet.path).toBe(cfg.outputs.prometheus.path);
    expect(cfg.outputs.otlp).toMatchObject({ endpoint: null, logs: true, metrics: true, traces: true });
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
    // README "Privileges": SYS_RESOURCE only on kernels < 5.11 (a comment says where to add it).
    expect([...sc.capabilities.add].sort()).toEqual(['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON']);
    expect(pod.tolerations.map((t: { effect: string }) => t.effect).sort()).toEqual(['NoExecute', 'NoSchedule']);
  });

  it('mounts the host paths it reads read-only, and no Docker socket unless asked', () => {
    for (const p of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup']) {
      const m = mountOf(p);
      expect(m?.readOnly, p).toBe(true);
      expect(volumeOf(m?.name)?.hostPath?.path, p).toBe(p);
    }
    expect(mountOf('/var/run/docker.sock')).toBeUndefined();
    expect(volumes.some((v) => v.hostPath?.path === '/var/run/docker.sock')).toBe(false);
    expect(parseConfig(cm?.data['contguard.yaml'], 'ConfigMap').docker.enabled).toBe(false);
    // How to add it is shown, commented out.
    expect(read('deploy/kubernetes/daemonset.yaml')).toMatch(/^ *# *- name: docker-sock$/m);
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
    // One agent's metrics come in one request: 12 MiB at 1,000 containers (README "Sizing").
    expect(cfg.receivers.otlp.protocols.grpc.max_recv_msg_size_mib).toBeGreaterThanOrEqual(16);
    expect([...cfg.processors.groupbyattrs.keys].sort()).toEqual([...new Set([...METRIC_CONTAINER_KEYS, ...K8S_KEYS])].sort());
    expect(cfg.service.pipelines.logs.processors).toEqual(['memory_limiter', 'transform/event_name', 'groupbyattrs', 'batch']);
    // Loki keeps no OTLP EventName: the dashboards select events by this attribute.
    expect(cfg.processors['transform/event_name'].log_statements).toEqual(['set(log.attributes["event.name"], log.event_name) where log.event_name != ""']);
    // On metrics it would move container.* to the Resource and off the Prometheus labels.
    expect(cfg.service.pipelines.metrics.processors).not.toContain('groupbyattrs');
  });

  it('sends logs to Loki over OTLP/HTTP and serves metrics under the agent\'s own names', () => {
    const logsExporter = cfg.service.pipelines.logs.exporters[0] as string;
    expect(logsExporter.split('/')[0]).toBe('otlp_http');
    expect(cfg.exporters[logsExporter].endpoint).toBe('${env:LOKI_OTLP_ENDPOINT:-http://loki:3100/otlp}');
    expect(cfg.service.pipelines.metrics.exporters).toEqual(['prometheus']);
    expect(cfg.exporters.prometheus).toMatchObject({
      endpoint: '0.0.0.0:8889',
      translation_strategy: 'UnderscoreEscapingWithoutSuffixes',
      enable_open_metrics: true,
    });
    expect(cfg.exporters).not.toHaveProperty('debug');
    // Process-tree traces to Tempo over OTLP/gRPC (otlp_grpc: the 0.144 name of the otlp exporter).
    expect(cfg.service.pipelines.traces.exporters).toEqual(['otlp_grpc/tempo']);
    expect(cfg.exporters['otlp_grpc/tempo'].endpoint).toBe('${env:TEMPO_OTLP_ENDPOINT:-tempo:4317}');
    expect(cfg.service.extensions).toEqual(['health_check']);
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

describe('deploy/install.sh', () => {
  const BUILT_PACKAGE = ['dist/src/main.js', 'bpf/build'].every((p) => existsSync(path(p)));
  const NOT_BUILT_PACKAGE = 'package not built: run "npm run build" first (npm test builds before testing)';
  let root = '';
  const installed = (p: string) => join(root, p);
  const install = (ctx: Parameters<typeof requireOrSkip>[0]) => {
    requireOrSkip(ctx, !BUILT_PACKAGE && NOT_BUILT_PACKAGE);
    if (root) return;
    root = tempDir();
    const r = spawnSync('sh', [path('deploy/install.sh'), '--root', root], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
  };

  it('lays out /opt/contguard, /etc/contguard and the unit under a root, and the installed agent runs', (ctx) => {
    install(ctx);
    for (const p of ['opt/contguard/bin/contguard', 'opt/contguard/dist/src/main.js', 'opt/contguard/bpf/build', 'opt/contguard/node_modules/yaml/package.json', 'etc/contguard/contguard.yaml', 'etc/systemd/system/contguard.service']) {
      expect(existsSync(installed(p)), p).toBe(true);
    }
    expect(readFileSync(installed('etc/systemd/system/contguard.service'), 'utf8')).toBe(read('deploy/contguard.service'));
    expect(loadConfigFile(installed('etc/contguard/contguard.yaml'))).toEqual(DEFAULT_CONFIG);
    // What ExecStart names exists in the layout, and the copied package runs from there.
    const exec = unitDirectives(read('deploy/contguard.service')).get('ExecStart')?.[0] ?? '';
    const [, , bin, , , config] = exec.split(/\s+/);
    expect([bin, config]).toEqual(['/opt/contguard/bin/contguard', '/etc/contguard/contguard.yaml']);
    expect(existsSync(installed(bin!.slice(1))) && existsSync(installed(config!.slice(1)))).toBe(true);
    const v = spawnSync(process.execPath, [installed('opt/contguard/bin/contguard'), '--version'], { encoding: 'utf8', timeout: 30_000 });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout.trim()).toMatch(/\d+\.\d+\.\d+/);
  }, 180_000);

  it('keeps an existing config, and rejects a bad argument with one line and exit 2', (ctx) => {
    install(ctx);
    writeFileSync(installed('etc/contguard/contguard.yaml'), 'log_level: debug\n');
    const again = spawnSync('sh', [path('deploy/install.sh'), '--root', root], { encoding: 'utf8', timeout: 120_000 });
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(installed('etc/contguard/contguard.yaml'), 'utf8')).toBe('log_level: debug\n');
    const bad = spawnSync('sh', [path('deploy/install.sh'), '--bogus'], { encoding: 'utf8', timeout: 10_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^install\.sh: unknown argument: --bogus\n/);
  }, 240_000);

  it('installs a unit systemd-analyze verify accepts, with the exposure score README reports', (ctx) => {
    install(ctx);
    const tool = which('systemd-analyze');
    requireOrSkip(ctx, !tool && 'systemd-analyze not installed (apt-get install systemd)');
    // verify checks the unit's syntax, its directives and that ExecStart's program (/usr/bin/env)
    // exists on this host; not the User, nor the node it finds (the test above ran the package).
    const unitFile = installed('etc/systemd/system/contguard.service');
    const r = spawnSync(tool!, ['verify', '--man=no', unitFile], { encoding: 'utf8', timeout: 60_000 });
    const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('contguard.service'));
    expect({ status: r.status, complaints }).toEqual({ status: 0, complaints: [] });
    const s = spawnSync(tool!, ['security', '--offline=true', unitFile], { encoding: 'utf8', timeout: 60_000 });
    const score = /Overall exposure level for contguard\.service: (\d+\.\d+) (\w+)/.exec(s.stdout);
    expect(score, s.stdout + s.stderr).not.toBeNull();
    expect(Number(score![1])).toBeLessThan(4);
    expect(read('README.md')).toContain(`\`systemd-analyze security\` exposure score of deploy/contguard.service is **${score![1]} ${score![2]}**`);
  }, 180_000);
});

describe('grafana/datasources.yaml', () => {
  const doc = YAML.parse(read('grafana/datasources.yaml')) as { apiVersion: number; datasources: Array<{ name: string; type: string; uid: string; jsonData: any }> };
  const ds = (type: string) => doc.datasources.find((d) => d.type === type)!;
  const collector = YAML.parse(read('otel-config/collector.yaml'));

  it('links a Loki record to its trace in Tempo by the trace_id Loki keeps from the OTLP log record', () => {
    expect(doc.apiVersion).toBe(1);
    const [field] = ds('loki').jsonData.derivedFields;
    expect(field).toMatchObject({ matcherType: 'label', matcherRegex: 'trace_id', datasourceUid: ds('tempo').uid });
    // `$$` is a literal `$` in provisioning files: the link is the field's raw value.
    expect(field.url).toBe('$${__value.raw}');
  });

  it('links a process span to the records of its container, trace and span', () => {
    const t = ds('tempo').jsonData.tracesToLogsV2;
    expect(t.datasourceUid).toBe(ds('loki').uid);
    expect(t.customQuery).toBe(true);
    expect(t.query).toBe('{$${__tags}} | trace_id="$${__span.traceId}" | span_id="$${__span.spanId}"');
    // The span Resource's container.name is the Loki index label container_name (the Collector's groupbyattrs).
    expect(t.tags).toEqual([{ key: 'container.name', value: 'container_name' }]);
    expect(collector.processors.groupbyattrs.keys).toContain('container.name');
    expect(collector.service.pipelines.logs.processors).toContain('groupbyattrs');
  });
});
