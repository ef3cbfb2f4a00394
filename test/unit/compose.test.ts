// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/compose/: `docker-compose config` (the Debian docker-compose) accepts the stack, and
 * its parts agree: the agent runs with README's capabilities only and sends to the Collector,
 * the Collector's exporters reach the Loki and Tempo services, Prometheus scrapes the
 * Collector and loads the alert rules (promtool), Grafana's data sources and dashboard
 * provider point at the services and at grafana/. Nothing here starts a container.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/require.js';
import { REPO_ROOT } from '../support/agent-process.js';
import { loadConfigFile } from '../../src/config.js';
import { LOKI_INDEX_LABELS } from '../support/telemetry-model.js';

const DIR = join(REPO_ROOT, 'deploy/compose');
const FILE = join(DIR, 'docker-compose.yml');
const yaml = (p: string) => YAML.parse(readFileSync(join(REPO_ROOT, p), 'utf8'));
const find = (names: string[]) => names.find(existsSync) ?? null;
const dockerCompose = find(['/usr/bin/docker-compose', '/usr/local/bin/docker-compose']);
const promtool = find(['/usr/bin/promtool', '/usr/local/bin/promtool']);

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  volumes?: string[];
  [key: string]: any;
}

/** The stack as docker-compose resolves it (paths absolute, ports normalised). */
let cached: { services: Record<string, Service> } | null = null;
function resolved(): { services: Record<string, Service> } {
  if (cached) return cached;
  const r = spawnSync(dockerCompose!, ['-f', FILE, 'config'], { encoding: 'utf8', timeout: 60_000, cwd: DIR });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr.trim(), 'docker-compose config warnings').toBe('');
  cached = YAML.parse(r.stdout) as { services: Record<string, Service> };
  return cached;
}

describe('deploy/compose', () => {
  it('passes docker-compose config, with every image pinned and every port on loopback', (ctx) => {
    requireOrSkip(ctx, !dockerCompose && 'docker-compose not installed (apt-get install docker-compose)');
    const { services } = resolved();
    expect(Object.keys(services).sort()).toEqual(['contguard', 'grafana', 'loki', 'otel-collector', 'prometheus', 'tempo']);
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, name).toMatch(/^[a-z0-9./-]+:[0-9a-z.-]+$/);
      expect(s.image, name).not.toMatch(/:latest$/);
      for (const p of s.ports ?? []) expect(p, `${name} port`).toMatch(/^127\.0\.0\.1:/);
      // Every bind-mounted file or directory is in the repository (or a host path the agent reads).
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0] ?? '';
        if (src.startsWith('/') && !src.startsWith('/sys/') && !src.startsWith('/var/run/')) expect(existsSync(src), `${name}: ${src}`).toBe(true);
      }
    }
    expect(services.contguard?.build).toEqual({ context: REPO_ROOT.replace(/\/$/, ''), dockerfile: 'deploy/Dockerfile' });
    expect(existsSync(join(REPO_ROOT, 'deploy/Dockerfile'))).toBe(true);
  });

  it('runs the agent unprivileged with the capabilities README "Privileges" names, host paths read-only', (ctx) => {
    requireOrSkip(ctx, !dockerCompose && 'docker-compose not installed (apt-get install docker-compose)');
    const a = resolved().services.contguard!;
    expect(a.privileged).toBe(false);
    expect(a.cap_drop).toEqual(['ALL']);
    expect([...a.cap_add].sort()).toEqual(['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE']);
    expect(a.read_only).toBe(true);
    expect(a.pid).toBe('host');
    expect(a.security_opt).toContain('no-new-privileges:true');
    for (const v of a.volumes as string[]) expect(v, v).toMatch(/:ro$/);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    for (const c of a.cap_add as string[]) expect(readme, c).toContain(`CAP_${c}`);
  });

  it('wires agent -> Collector -> Loki, Tempo and Prometheus by service name and port', (ctx) => {
    requireOrSkip(ctx, !dockerCompose && 'docker-compose not installed (apt-get install docker-compose)');
    const { services } = resolved();
    const mounted = (svc: string, target: string) => (services[svc]?.volumes ?? []).find((v) => v.split(':')[1] === target)?.split(':')[0];
    // The agent's config: the real parser, OTLP to the collector service on its receiver port.
    const agentCfg = loadConfigFile(mounted('contguard', '/etc/contguard/contguard.yaml')!);
    const collector = YAML.parse(readFileSync(mounted('otel-collector', '/etc/otelcol-contrib/config.yaml')!, 'utf8'));
    expect(mounted('otel-collector', '/etc/otelcol-contrib/config.yaml')).toBe(join(REPO_ROOT, 'otel-config/collector.yaml'));
    const receiverPort = collector.receivers.otlp.protocols.grpc.endpoint.split(':')[1];
    expect(agentCfg.outputs.otlp.endpoint).toBe(`http://otel-collector:${receiverPort}`);
    expect(agentCfg.outputs.prometheus.enabled).toBe(false);
    expect(agentCfg.outputs.jsonl.enabled).toBe(false);
    // Collector exporters -> Loki's HTTP port and Tempo's OTLP receiver.
    const loki = yaml('deploy/compose/loki.yaml');
    const tempo = yaml('deploy/compose/tempo.yaml');
    // `${env:VAR:-default}`: compose sets no VAR, so the default applies.
    const envDefault = (v: string) => /^\$\{env:[A-Z_]+:-(.*)\}$/.exec(v)?.[1];
    expect(services['otel-collector']?.environment).toBeUndefined();
    expect(envDefault(collector.exporters['otlp_http/loki'].endpoint)).toBe(`http://loki:${loki.server.http_listen_port}/otlp`);
    expect(envDefault(collector.exporters['otlp_grpc/tempo'].endpoint)).toBe(`tempo:${tempo.distributor.receivers.otlp.protocols.grpc.endpoint.split(':')[1]}`);
    // Loki stores OTLP attributes as structured metadata, and keeps per-pod / per-start ids out of the index.
    expect(loki.schema_config.configs[0]).toMatchObject({ store: 'tsdb', schema: 'v13' });
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
    const demoted = loki.limits_config.otlp_config.resource_attributes.attributes_config.find((c: { action: string }) => c.action === 'structured_metadata').attributes;
    expect(demoted.sort()).toEqual(['k8s.pod.name', 'service.instance.id']);
    expect(LOKI_INDEX_LABELS).not.toContain('k8s_pod_name');
    // Prometheus scrapes the collector's prometheus exporter.
    const prom = yaml('deploy/compose/prometheus.yml');
    const exporterPort = collector.exporters.prometheus.endpoint.split(':')[1];
    expect(prom.scrape_configs.flatMap((j: { static_configs: Array<{ targets: string[] }> }) => j.static_configs.flatMap((s) => s.targets))).toEqual([`otel-collector:${exporterPort}`]);
    expect(prom.scrape_configs[0].honor_labels).toBe(true);
    expect(mounted('prometheus', '/etc/prometheus/contguard-alerts.yml')).toBe(join(REPO_ROOT, 'deploy/prometheus/contguard-alerts.yml'));
  });

  it('provisions Grafana with the three data sources and the dashboards of grafana/', (ctx) => {
    requireOrSkip(ctx, !dockerCompose && 'docker-compose not installed (apt-get install docker-compose)');
    const { services } = resolved();
    const g = services.grafana!;
    const ds = yaml('deploy/compose/grafana/datasources.yaml').datasources as Array<{ type: string; uid: string; url: string; jsonData?: any }>;
    expect(ds.map((d) => [d.type, d.url])).toEqual([
      ['prometheus', 'http://prometheus:9090'],
      ['loki', `http://loki:${yaml('deploy/compose/loki.yaml').server.http_listen_port}`],
      ['tempo', `http://tempo:${yaml('deploy/compose/tempo.yaml').server.http_listen_port}`],
    ]);
    const uids = new Set(ds.map((d) => d.uid));
    expect(uids.has(ds.find((d) => d.type === 'loki')?.jsonData.derivedFields[0].datasourceUid)).toBe(true);
    expect(uids.has(ds.find((d) => d.type === 'tempo')?.jsonData.tracesToLogsV2.datasourceUid)).toBe(true);
    const provider = yaml('deploy/compose/grafana/dashboards.yaml').providers[0];
    const dashMount = (g.volumes ?? []).find((v) => v.split(':')[1] === provider.options.path);
    expect(dashMount?.split(':')[0]).toBe(join(REPO_ROOT, 'grafana'));
    const home = g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string;
    expect(existsSync(join(REPO_ROOT, 'grafana', home.slice(provider.options.path.length + 1))), home).toBe(true);
  });

  it('builds the agent image from what a built checkout holds (deploy/Dockerfile, not built here)', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8');
    // The final stage copies these from the build stage's /src: each is in a built checkout.
    const copied = [...dockerfile.matchAll(/^COPY --from=build \/src\/(\S+) /gm)].map((m) => m[1] ?? '');
    expect(copied.sort()).toEqual(['bin', 'bpf/build', 'dist', 'node_modules', 'package.json']);
    expect(dockerfile).toMatch(/^RUN npm run build && npm prune --omit=dev$/m);
    expect(dockerfile).toMatch(/libbpf1/);
    // The image starts bin/contguard; compose's command is its arguments.
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/opt\/contguard\/bin\/contguard"\]$/m);
    const compose = yaml('deploy/compose/docker-compose.yml');
    expect(compose.services.contguard.command.slice(0, 3)).toEqual(['run', '--config', '/etc/contguard/contguard.yaml']);
    // The build context leaves out what the image builds itself.
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'bpf/build']));
  });

  it('has a Prometheus config promtool accepts, with the alert rules', (ctx) => {
    requireOrSkip(ctx, !promtool && 'promtool not installed (apt-get install prometheus)');
    // The rule file sits next to prometheus.yml in the container: the same here.
    const dir = mkdtempSync(join(tmpdir(), 'cg-compose-'));
    temps.push(dir);
    copyFileSync(join(DIR, 'prometheus.yml'), join(dir, 'prometheus.yml'));
    copyFileSync(join(REPO_ROOT, 'deploy/prometheus/contguard-alerts.yml'), join(dir, 'contguard-alerts.yml'));
    const r = spawnSync(promtool!, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 1 rule files found/);
  });
});
