// SPDX-License-Identifier: Apache-2.0
import { ContainerEventRecord, type Attributes, type EventRecord, type RecordFields } from './record.js';

/** container.* attributes on every record and data point (semconv; Resource holds only the agent). */
export const CONTAINER_ATTRIBUTES: Record<string, string> = {
  'container.id': 'full container id from the cgroup path',
  'container.name': 'runtime name (docker/podman inspect Name; CRI-O io.kubernetes.cri-o.Name; none for containerd)',
  'container.image.name': 'image name without tag',
  'container.image.tags': 'image tags',
  'container.image.id': 'image id (sha256:...)',
  'container.runtime.name': 'docker, containerd, cri-o, podman',
  'container.label.<key>': 'container labels (at most 64)',
  'k8s.pod.name': 'pod name (kubelet label io.kubernetes.pod.name or CRI annotation)',
  'k8s.pod.uid': 'pod uid (kubelet label, CRI annotation, or the pod cgroup)',
  'k8s.namespace.name': 'pod namespace (kubelet label io.kubernetes.pod.namespace or CRI annotation)',
  'k8s.container.name': 'container name in the pod spec (kubelet label or CRI annotation)',
  'k8s.node.name': 'node name from K8S_NODE_NAME or NODE_NAME (Kubernetes containers only)',
};

/** The container.* subset used on metrics: one value per container, strings only (no arrays, no labels). */
export const METRIC_CONTAINER_KEYS = ['container.id', 'container.name', 'container.image.name', 'container.runtime.name'] as const;

/** The k8s.* subset used on metrics (Kubernetes containers only; no uids). */
export const METRIC_K8S_KEYS = ['k8s.namespace.name', 'k8s.pod.name', 'k8s.container.name'] as const;

/** Every attribute a container puts on its metric data points. */
export const METRIC_ATTRIBUTE_KEYS = [...METRIC_CONTAINER_KEYS, ...METRIC_K8S_KEYS] as const;

/** The metric attributes of a container (the METRIC_ATTRIBUTE_KEYS it has); {} for none. */
export function metricAttributes(containerAttributes: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const a: Record<string, string> = {};
  if (!containerAttributes) return a;
  for (const k of METRIC_ATTRIBUTE_KEYS) {
    const v = containerAttributes[k];
    if (typeof v === 'string') a[k] = v;
  }
  return a;
}

/**
 * A record with its container's attributes and its own: a ContainerEventRecord (merged lazily)
 * for a container, a plain record with `own` as its attributes otherwise (a host event).
 * `own` is the record's from here on: build it fully first.
 */
export function containerRecord(container: Readonly<Attributes> | undefined | null, own: Attributes, fields: RecordFields): EventRecord {
  if (container) return new ContainerEventRecord(fields, container, own);
  return Object.assign({ attributes: own }, fields);
}
