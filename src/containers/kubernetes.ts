// SPDX-License-Identifier: Apache-2.0
/**
 * The Kubernetes side of a container from what the kubelet and the CRI runtime wrote into it:
 * the kubelet's labels (containerd and CRI-O keep them as container labels, cri-dockerd as Docker
 * labels, CRI-O also as OCI annotations) and the runtimes' own OCI annotations. The first key
 * present wins:
 *
 * | attribute          | keys                                                                          |
 * |--------------------|-------------------------------------------------------------------------------|
 * | k8s.pod.name       | io.kubernetes.pod.name, io.kubernetes.cri.sandbox-name                        |
 * | k8s.namespace.name | io.kubernetes.pod.namespace, io.kubernetes.cri.sandbox-namespace              |
 * | k8s.pod.uid        | io.kubernetes.pod.uid, io.kubernetes.cri.sandbox-uid, else the cgroup path    |
 * | k8s.container.name | io.kubernetes.container.name, io.kubernetes.cri.container-name                |
 *
 * A sandbox ("pause") container is one with io.kubernetes.cri.container-type=sandbox
 * (containerd), io.kubernetes.cri-o.ContainerType=sandbox (CRI-O) or
 * io.kubernetes.docker.type=podsandbox (dockershim, cri-dockerd).
 */
import type { Attributes } from '../telemetry/record.js';
import { boundedValue, type KubernetesMetadata } from './metadata-source.js';

const POD_NAME = ['io.kubernetes.pod.name', 'io.kubernetes.cri.sandbox-name'];
const NAMESPACE = ['io.kubernetes.pod.namespace', 'io.kubernetes.cri.sandbox-namespace'];
const POD_UID = ['io.kubernetes.pod.uid', 'io.kubernetes.cri.sandbox-uid'];
const CONTAINER_NAME = ['io.kubernetes.container.name', 'io.kubernetes.cri.container-name'];
const SANDBOX_MARKS: ReadonlyArray<readonly [string, string]> = [
  ['io.kubernetes.cri.container-type', 'sandbox'],
  ['io.kubernetes.cri-o.ContainerType', 'sandbox'],
  ['io.kubernetes.docker.type', 'podsandbox'],
];

function first(maps: ReadonlyArray<Readonly<Record<string, string>>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    for (const m of maps) {
      const v = Object.hasOwn(m, key) ? m[key] : undefined;
      if (typeof v === 'string' && v !== '') return boundedValue(v);
    }
  }
  return undefined;
}

/**
 * The Kubernetes metadata in a container's labels and annotations, or undefined when neither
 * names a pod (nor marks a sandbox): then the container is not a Kubernetes one.
 */
export function kubernetesFromLabels(...maps: ReadonlyArray<Readonly<Record<string, string>> | undefined>): KubernetesMetadata | undefined {
  const present = maps.filter((m): m is Readonly<Record<string, string>> => m !== undefined && m !== null);
  const sandbox = SANDBOX_MARKS.some(([k, v]) => present.some((m) => Object.hasOwn(m, k) && m[k] === v));
  const k: KubernetesMetadata = {
    podName: first(present, POD_NAME),
    podUid: first(present, POD_UID),
    namespace: first(present, NAMESPACE),
    containerName: first(present, CONTAINER_NAME),
    sandbox,
  };
  if (!sandbox && k.podName === undefined && k.namespace === undefined && k.podUid === undefined) return undefined;
  for (const key of ['podName', 'podUid', 'namespace', 'containerName'] as const) if (k[key] === undefined) delete k[key];
  return k;
}

// The kubelet names a pod's cgroup pod<uid> (cgroupfs driver) or kubepods-<qos>-pod<uid with
// "_" for "-">.slice (systemd driver).
const POD_CGROUP = /^(?:kubepods(?:-[a-z]+)?-)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/** The pod uid in a kubelet-made cgroup path (`.../pod<uid>/<id>`, `...-pod<uid_>.slice/...`), or undefined. */
export function podUidFromCgroupPath(path: string): string | undefined {
  if (typeof path !== 'string' || path.length > 4096) return undefined;
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const m = POD_CGROUP.exec(parts[i] as string);
    if (m) return (m[1] as string).replaceAll('_', '-');
  }
  return undefined;
}

/**
 * The k8s.* attributes (semconv names) of a Kubernetes container; `nodeName` (from the
 * environment) becomes k8s.node.name.
 */
export function kubernetesAttributes(k: KubernetesMetadata, cgroupPath: string, nodeName: string | undefined): Attributes {
  const a: Attributes = {};
  if (k.podName) a['k8s.pod.name'] = k.podName;
  const uid = k.podUid ?? podUidFromCgroupPath(cgroupPath);
  if (uid) a['k8s.pod.uid'] = uid;
  if (k.namespace) a['k8s.namespace.name'] = k.namespace;
  if (k.containerName) a['k8s.container.name'] = k.containerName;
  if (nodeName) a['k8s.node.name'] = nodeName;
  return a;
}

/** The environment variables k8s.node.name is read from, first set wins (set one with the downward API: spec.nodeName). */
export const NODE_NAME_VARIABLES = ['K8S_NODE_NAME', 'NODE_NAME'] as const;

/** The node name from the environment, or undefined. */
export function nodeNameFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (const v of NODE_NAME_VARIABLES) {
    const s = env[v]?.trim();
    if (s) return boundedValue(s);
  }
  return undefined;
}
