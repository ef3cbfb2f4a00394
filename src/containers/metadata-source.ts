// SPDX-License-Identifier: Apache-2.0
/** What every container metadata source (Docker, Podman, containerd, CRI-O) answers, and how. */

/** The runtimes a source can serve; also the values of `metadata.sources` and `container.runtime.name`. */
export const RUNTIME_NAMES = ['docker', 'podman', 'containerd', 'cri-o'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** The Kubernetes side of a container, from what the kubelet and CRI wrote into it (see kubernetes.ts). */
export interface KubernetesMetadata {
  podName?: string;
  podUid?: string;
  namespace?: string;
  containerName?: string;
  /** The pod's sandbox ("pause") container: not a workload. */
  sandbox: boolean;
}

export interface ContainerMetadata {
  name?: string;
  imageName?: string;
  imageTags?: string[];
  imageId?: string;
  runtimeName: string;
  labels: Record<string, string>;
  /** Present when the container belongs to a Kubernetes pod. */
  kubernetes?: KubernetesMetadata;
}

/** One runtime's view of its containers; read-only. */
export interface MetadataSource {
  readonly runtime: RuntimeName;
  /**
   * Metadata of one container (a 64-hex id), or null when this runtime does not know it.
   * Rejects when the runtime could not answer (unreachable, timeout): the caller asks again later.
   */
  inspect(containerId: string): Promise<ContainerMetadata | null>;
  /** Ends background work (event streams); inspect() may still be called. */
  stop?(): void;
}

export const MAX_LABELS = 64;
export const MAX_LABEL_VALUE = 256;

/** A runtime-supplied string cut to MAX_LABEL_VALUE whole code points. */
export function boundedValue(v: unknown): string {
  return Array.from(String(v)).slice(0, MAX_LABEL_VALUE).join('');
}

/** At most MAX_LABELS string entries of a runtime-supplied map, values bounded; {} for anything else. */
export function boundedLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return out;
  let n = 0;
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (n >= MAX_LABELS) break;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') continue;
    out[boundedValue(k)] = boundedValue(v);
    n++;
  }
  return out;
}

/** `registry:5000/team/app:1.2` → name `registry:5000/team/app`, tag `1.2`; digests are dropped. */
export function splitImageReference(ref: string): { name: string; tag?: string } {
  const noDigest = ref.split('@')[0] as string;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > slash) return { name: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { name: noDigest };
}
