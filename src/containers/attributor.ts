// SPDX-License-Identifier: Apache-2.0
/**
 * Kernel cgroup reference -> container, enriched with runtime metadata. Events that arrive
 * before the metadata wait for it (bounded), so a container's first exec carries its name.
 */
import type { Attributes } from '../telemetry/record.js';
import { cgroupPathFromKernelNames, parseContainerFromCgroupPath } from './cgroup-path.js';
import type { CgroupIdResolver } from './cgroup-fs.js';
import type { ContainerMetadata, DockerMetadataSource } from './docker-metadata.js';

export interface CgroupRef {
  cgroupId: bigint;
  /** Last two path components as the kernel reported them (works after the cgroup is gone). */
  name: string;
  parentName: string;
}

export interface ContainerInfo {
  id: string;
  cgroupPath: string;
  runtime: string;
  metadata: ContainerMetadata | null;
  /** container.* attributes, computed once. */
  attributes: Attributes;
  /** Settles once metadata arrived or the wait ran out. */
  ready: Promise<void>;
}

export function containerAttributes(id: string, runtime: string, m: ContainerMetadata | null): Attributes {
  const a: Attributes = { 'container.id': id };
  const runtimeName = m?.runtimeName ?? (runtime === 'unknown' ? undefined : runtime);
  if (runtimeName) a['container.runtime.name'] = runtimeName;
  if (m?.name) a['container.name'] = m.name;
  if (m?.imageName) a['container.image.name'] = m.imageName;
  if (m?.imageTags?.length) a['container.image.tags'] = m.imageTags;
  if (m?.imageId) a['container.image.id'] = m.imageId;
  for (const [k, v] of Object.entries(m?.labels ?? {})) a[`container.label.${k}`] = v;
  return a;
}

export interface AttributorOptions {
  resolver: CgroupIdResolver | null;
  docker: DockerMetadataSource | null;
  /** Longest an event may wait for metadata before it is emitted with the cgroup-derived id only. */
  metadataWaitMs: number;
  /** The agent's own cgroup path: its container (if any) is never reported. */
  selfCgroupPath: string | null;
}

const MAX_CACHED_CGROUPS = 16_384;

export class ContainerAttributor {
  private readonly byCgroup = new Map<bigint, Promise<ContainerInfo | null>>();
  private readonly byId = new Map<string, ContainerInfo>();

  private readonly selfContainerId: string | null;

  constructor(private readonly opts: AttributorOptions) {
    this.selfContainerId = opts.selfCgroupPath ? (parseContainerFromCgroupPath(opts.selfCgroupPath)?.id ?? null) : null;
  }

  /** The container behind a cgroup, or null for a host process (or the agent's own container). */
  attribute(ref: CgroupRef): Promise<ContainerInfo | null> {
    let p = this.byCgroup.get(ref.cgroupId);
    if (!p) {
      // Bounded: host cgroups come and go (a scope per cron job or login); the oldest
      // entries go first, and a forgotten container cgroup finds its record again by id.
      if (this.byCgroup.size >= MAX_CACHED_CGROUPS) {
        for (const key of [...this.byCgroup.keys()].slice(0, MAX_CACHED_CGROUPS / 4)) this.byCgroup.delete(key);
      }
      p = this.lookup(ref);
      this.byCgroup.set(ref.cgroupId, p);
    }
    return p;
  }

  /** Applies a runtime event: renames update the name, destroyed containers are forgotten. */
  onRuntimeEvent(action: string, id: string, attributes: Record<string, string>): void {
    const info = this.byId.get(id);
    if (!info) return;
    if (action === 'rename' && attributes.name && info.metadata) {
      info.metadata = { ...info.metadata, name: attributes.name.replace(/^\//, '') };
      info.attributes = containerAttributes(info.id, info.runtime, info.metadata);
    } else if (action === 'destroy') {
      // Late events of a removed container still resolve from the cache for a while.
      setTimeout(() => this.forget(id), 60_000).unref();
    }
  }

  get size(): number {
    return this.byId.size;
  }

  private forget(id: string): void {
    this.byId.delete(id);
    for (const [cg, p] of this.byCgroup) {
      void p.then((info) => {
        if (info?.id === id) this.byCgroup.delete(cg);
      });
    }
  }

  private async lookup(ref: CgroupRef): Promise<ContainerInfo | null> {
    const path = this.opts.resolver?.resolve(ref.cgroupId) ?? cgroupPathFromKernelNames(ref.name, ref.parentName);
    if (this.opts.selfCgroupPath && path === this.opts.selfCgroupPath) return null;
    const parsed = parseContainerFromCgroupPath(path) ?? parseContainerFromCgroupPath(cgroupPathFromKernelNames(ref.name, ref.parentName));
    if (!parsed || parsed.id === this.selfContainerId) return null;
    // One record per container, shared by all its cgroups: one inspect, and renames reach every cgroup.
    const known = this.byId.get(parsed.id);
    if (known) {
      await known.ready;
      return known;
    }
    const info: ContainerInfo = {
      id: parsed.id,
      cgroupPath: path,
      runtime: parsed.runtime,
      metadata: null,
      attributes: containerAttributes(parsed.id, parsed.runtime, null),
      ready: Promise.resolve(),
    };
    this.byId.set(parsed.id, info);
    info.ready = this.enrich(info);
    await info.ready;
    return info;
  }

  /** Waits for metadata up to metadataWaitMs; a slower answer still enriches later events. */
  private async enrich(info: ContainerInfo): Promise<void> {
    const docker = this.opts.docker;
    if (!docker) return;
    const inspected = docker.inspect(info.id).then((m) => {
      if (m) {
        info.metadata = m;
        info.attributes = containerAttributes(info.id, info.runtime, m);
      }
    });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.opts.metadataWaitMs).unref());
    await Promise.race([inspected, timeout]);
  }
}
