// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/kubernetes/: every object validates against the Kubernetes schemas (kubernetes-models,
 * the OpenAPI schemas of the API server), and the agent DaemonSet and the Collector gateway fit
 * together: the agents' OTLP endpoint is the gateway Service, the gateway runs the shipped
 * Collector config, both hold no API token and no RBAC, and each runs with least privilege.
 * (kubernetes-models checks types, required fields and formats; like a non-strict API server it
 * does not reject unknown fields.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import { REPO_ROOT } from '../support/agent-process.js';

const FILES = ['deploy/kubernetes/daemonset.yaml', 'deploy/kubernetes/collector.yaml'];
const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

/** The kubernetes-models class for an apiVersion and kind. */
function modelFor(apiVersion: string, kind: string): (new (data: any) => { validate(): void }) | undefined {
  const group: Record<string, unknown> | undefined = ({ v1: core, 'apps/v1': apps } as Record<string, Record<string, unknown>>)[apiVersion];
  return group?.[kind] as (new (data: any) => { validate(): void }) | undefined;
}

const objects: Array<{ file: string; obj: K8sObject }> = FILES.flatMap((file) =>
  YAML.parseAllDocuments(read(file)).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return { file, obj: doc.toJS() as K8sObject };
  }),
);
const get = (kind: string, name: string) => objects.find((o) => o.obj.kind === kind && o.obj.metadata.name === name)?.obj;

describe('deploy/kubernetes', () => {
  it('validates every object against the Kubernetes schemas', () => {
    expect(objects.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`)).toEqual([
      'Namespace/contguard',
      'ServiceAccount/contguard',
      'ConfigMap/contguard-config',
      'DaemonSet/contguard',
      'ConfigMap/contguard-collector-config',
      'ServiceAccount/contguard-collector',
      'Deployment/contguard-collector',
      'Service/contguard-collector',
    ]);
    for (const { file, obj } of objects) {
      const Model = modelFor(obj.apiVersion, obj.kind);
      expect(Model, `${file}: ${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj).validate(), `${file}: ${obj.kind}/${obj.metadata.name}`).not.toThrow();
    }
    // The validation bites: a capability list written as a string is rejected.
    const ds = structuredClone(get('DaemonSet', 'contguard')!);
    ds.spec.template.spec.containers[0].securityContext.capabilities.add = 'BPF';
    expect(() => new apps.DaemonSet(ds).validate()).toThrow(/capabilities\/add must be array/);
  });

  it('puts everything in one namespace, with no API token and no RBAC', () => {
    const ns = get('Namespace', 'contguard')!.metadata.name;
    for (const { obj } of objects.slice(1)) expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(ns);
    expect(objects.filter((o) => /Role|Binding/.test(o.obj.kind))).toEqual([]);
    for (const kind of ['DaemonSet', 'Deployment']) {
      const w = objects.find((o) => o.obj.kind === kind)!.obj;
      expect(w.spec.template.spec.automountServiceAccountToken, kind).toBe(false);
      expect(get('ServiceAccount', w.spec.template.spec.serviceAccountName)?.automountServiceAccountToken, kind).toBe(false);
    }
  });

  it('sends the agents to the gateway Service, which runs otel-config/collector.yaml', () => {
    const agent = get('DaemonSet', 'contguard')!.spec.template.spec.containers[0];
    const env = new Map<string, any>(agent.env.map((e: { name: string }) => [e.name, e]));
    const url = new URL(env.get('OTEL_EXPORTER_OTLP_ENDPOINT').value);
    const svc = get('Service', 'contguard-collector')!;
    expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
    const otlpPort = svc.spec.ports.find((p: { name: string }) => p.name === 'otlp-grpc');
    expect(Number(url.port)).toBe(otlpPort.port);
    // The node name from the downward API, as the agents' resource attribute.
    expect(env.get('K8S_NODE_NAME')?.valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(env.get('OTEL_RESOURCE_ATTRIBUTES')?.value).toBe('k8s.node.name=$(K8S_NODE_NAME)');

    const gw = get('Deployment', 'contguard-collector')!;
    expect(svc.spec.selector).toEqual(gw.spec.selector.matchLabels);
    expect(gw.spec.template.metadata.labels).toMatchObject(gw.spec.selector.matchLabels);
    const c = gw.spec.template.spec.containers[0];
    const ports = new Map<string, number>(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports.get(otlpPort.targetPort)).toBe(4317);
    // The config is the shipped file, mounted where --config points.
    const cm = get('ConfigMap', 'contguard-collector-config')!;
    expect(cm.data['collector.yaml'] === read('otel-config/collector.yaml'), 'the ConfigMap holds otel-config/collector.yaml verbatim (indented 4 under `collector.yaml: |`)').toBe(true);
    const configArg = (c.args as string[]).find((a) => a.startsWith('--config='))!.slice('--config='.length);
    const mount = c.volumeMounts.find((m: { mountPath: string }) => configArg.startsWith(`${m.mountPath}/`));
    expect(gw.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name).configMap.name).toBe(cm.metadata.name);
    expect(configArg.slice(mount.mountPath.length + 1)).toBe('collector.yaml');
    // Its ports are the ones the config listens on, and the exporters' endpoints are set.
    const cfg = YAML.parse(cm.data['collector.yaml']);
    expect(cfg.receivers.otlp.protocols.grpc.endpoint).toBe(`0.0.0.0:${ports.get('otlp-grpc')}`);
    expect(cfg.exporters.prometheus.endpoint).toBe(`0.0.0.0:${ports.get('metrics')}`);
    expect(cfg.extensions.health_check.endpoint).toBe(`0.0.0.0:${ports.get('health')}`);
    expect(gw.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(ports.get('metrics')));
    const gwEnv = new Set((c.env as Array<{ name: string }>).map((e) => e.name));
    for (const m of cm.data['collector.yaml'].matchAll(/\$\{env:([A-Z_]+)/g)) expect(gwEnv.has(m[1]), m[1]).toBe(true);
  });

  it('runs the agent with only the capabilities README "Privileges" names, the gateway with none', () => {
    const pod = get('DaemonSet', 'contguard')!.spec.template.spec;
    const sc = pod.containers[0].securityContext;
    expect(sc).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(sc.capabilities.drop).toEqual(['ALL']);
    const privileges = /## Privileges\n([\s\S]*?)\n## /.exec(read('README.md'))?.[1] ?? '';
    for (const cap of sc.capabilities.add as string[]) expect(privileges, cap).toContain(`CAP_${cap}`);
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    const mounts = pod.containers[0].volumeMounts as Array<{ name: string; readOnly?: boolean }>;
    for (const v of (pod.volumes as Array<{ name: string; hostPath?: unknown }>).filter((x) => x.hostPath)) {
      expect(mounts.find((m) => m.name === v.name)?.readOnly, v.name).toBe(true);
    }

    const gw = get('Deployment', 'contguard-collector')!.spec.template.spec;
    expect(gw.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(gw.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(gw.hostPID).toBeUndefined();
    expect(gw.volumes.every((v: { hostPath?: unknown }) => !v.hostPath)).toBe(true);
  });
});
