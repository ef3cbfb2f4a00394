// SPDX-License-Identifier: Apache-2.0
/**
 * Container metadata read (read-only) from the OCI bundle config.json a runtime keeps for each
 * running container under its state directory: no API, no socket, no write access.
 *
 * - containerd: `<state_dir>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`, every
 *   namespace but `moby` (Docker's containers: the Docker source describes them). Only the OCI
 *   annotations are read: the CRI plugin's io.kubernetes.cri.* ones (pod, namespace, uid,
 *   container name, container type, image-name). Container labels and the image of containers
 *   made without CRI live in containerd's metadata database, which is not read.
 * - CRI-O: `<state_dir>/overlay-containers/<id>/userdata/config.json`, only containers whose
 *   annotations carry io.kubernetes.cri-o.ContainerType (Podman keeps its own containers' bundles
 *   in the same store). Read: the kubelet's io.kubernetes.* annotations, io.kubernetes.cri-o.Name
 *   (container.name), io.kubernetes.cri-o.ImageName and the container labels in
 *   io.kubernetes.cri-o.Labels.
 *
 * The files are written by root-owned runtimes but hold what a pod spec put there: sizes, counts
 * and value lengths are bounded, and anything malformed is "not known" rather than an error.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentLogger } from '../log.js';
import { kubernetesFromLabels } from './kubernetes.js';
import { boundedLabels, boundedValue, splitImageReference, type ContainerMetadata, type MetadataSource } from './metadata-source.js';

/** Largest config.json read (real ones are tens of KiB). */
export const MAX_CONFIG_BYTES = 1 << 20;
/** Largest io.kubernetes.cri-o.Labels annotation parsed. */
const MAX_LABELS_JSON = 64 * 1024;
/** Most containerd namespaces looked in. */
const MAX_NAMESPACES = 64;
const HEX64 = /^[0-9a-f]{64}$/;

export const CONTAINERD_TASK_DIR = 'io.containerd.runtime.v2.task';

/** "Not there" errors: the runtime does not know the container (or is not installed). */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The annotations of the OCI spec at `path` (string values only), {} when it has none, or null
 * when the file is missing, too large or not a JSON object. Rejects on other I/O errors
 * (permission, EIO): the caller may ask again later.
 */
export async function readSpecAnnotations(path: string, maxBytes = MAX_CONFIG_BYTES): Promise<Record<string, string> | null> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > maxBytes) return null;
      const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > maxBytes) return null; // grew while reading
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  return annotationsOfSpec(text);
}

/** The string annotations of an OCI spec's JSON text; null when it is not a JSON object. */
export function annotationsOfSpec(text: string): Record<string, string> | null {
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch {
    return null;
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return null;
  const raw = (spec as { annotations?: unknown }).annotations;
  const out: Record<string, string> = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function imageFields(ref: string | undefined): Pick<ContainerMetadata, 'imageName' | 'imageTags'> {
  if (!ref || ref.startsWith('sha256:')) return {};
  const { name, tag } = splitImageReference(boundedValue(ref));
  return tag ? { imageName: name, imageTags: [tag] } : { imageName: name };
}

/** containerd's metadata from the annotations of a task's config.json. */
export function metadataFromContainerdAnnotations(annotations: Readonly<Record<string, string>>): ContainerMetadata {
  const m: ContainerMetadata = { runtimeName: 'containerd', labels: {}, ...imageFields(annotations['io.kubernetes.cri.image-name']) };
  const kubernetes = kubernetesFromLabels(annotations);
  if (kubernetes) m.kubernetes = kubernetes;
  return m;
}

/** CRI-O's metadata from the annotations of a container's config.json; null when CRI-O did not make it. */
export function metadataFromCrioAnnotations(annotations: Readonly<Record<string, string>>): ContainerMetadata | null {
  if (!Object.hasOwn(annotations, 'io.kubernetes.cri-o.ContainerType')) return null;
  let labels: Record<string, string> = {};
  const labelsJson = annotations['io.kubernetes.cri-o.Labels'];
  if (labelsJson && labelsJson.length <= MAX_LABELS_JSON) {
    try {
      labels = boundedLabels(JSON.parse(labelsJson));
    } catch {
      // malformed: no labels
    }
  }
  const name = annotations['io.kubernetes.cri-o.Name'];
  const m: ContainerMetadata = {
    runtimeName: 'cri-o',
    labels,
    ...imageFields(annotations['io.kubernetes.cri-o.ImageName']),
  };
  if (name) m.name = boundedValue(name);
  const kubernetes = kubernetesFromLabels(labels, annotations);
  if (kubernetes) m.kubernetes = kubernetes;
  return m;
}

/** containerd's running tasks, from its state directory (read-only). */
export class ContainerdStateSource implements MetadataSource {
  readonly runtime = 'containerd' as const;
  readonly taskDir: string;

  constructor(
    readonly stateDir: string,
    private readonly logger: AgentLogger,
  ) {
    this.taskDir = join(stateDir, CONTAINERD_TASK_DIR);
  }

  async inspect(containerId: string): Promise<ContainerMetadata | null> {
    if (!HEX64.test(containerId)) return null;
    let namespaces: string[];
    try {
      namespaces = await readdir(this.taskDir);
    } catch (err) {
      if (isMissing(err)) return null;
      this.logger.debug(`containerd ${this.taskDir}: ${(err as Error).message}`);
      throw err;
    }
    for (const ns of namespaces.slice(0, MAX_NAMESPACES)) {
      if (ns === 'moby') continue;
      const annotations = await readSpecAnnotations(join(this.taskDir, ns, containerId, 'config.json'));
      if (annotations) return metadataFromContainerdAnnotations(annotations);
    }
    return null;
  }
}

/** CRI-O's containers, from its state directory (read-only). */
export class CrioStateSource implements MetadataSource {
  readonly runtime = 'cri-o' as const;

  constructor(
    readonly stateDir: string,
    private readonly logger: AgentLogger,
  ) {}

  async inspect(containerId: string): Promise<ContainerMetadata | null> {
    if (!HEX64.test(containerId)) return null;
    const path = join(this.stateDir, 'overlay-containers', containerId, 'userdata', 'config.json');
    try {
      const annotations = await readSpecAnnotations(path);
      return annotations ? metadataFromCrioAnnotations(annotations) : null;
    } catch (err) {
      this.logger.debug(`cri-o ${path}: ${(err as Error).message}`);
      throw err;
    }
  }
}
