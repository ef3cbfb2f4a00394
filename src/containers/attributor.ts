// SPDX-License-Identifier: Apache-2.0
/**
 * Kernel cgroup reference -> container, enriched with runtime metadata (Docker, Podman, containerd,
 * CRI-O: see sources.ts). Events that arrive before the metadata wait for it (bounded), so a
 * container's first exec carries its name. A pod's sandbox ("pause") container resolves to null,
 * like a host cgroup, once its metadata says what it is.
 *
 * Every cache is bounded: cgroups (maxCgroups, oldest quarter out), container records
 * (maxContainers, least recently looked up out), metadata retries (maxContainers) and removals
 * waiting out their grace period (maxCgroups, the oldest runs early). Removed cgroups
 * (onCgroupRemoved, any runtime) and destroyed Docker containers go after removalGraceMs.
 */
import type { Attributes } from '../telemetry/record.js';
import { cgroupPathFromKernelNames, parseContainerFromCgroupPath } from './cgroup-path.js';
import type { CgroupIdResolver } from './cgroup-fs.js';
import { kubernetesAttributes } from './kubernetes.js';
import type { ContainerMetadata, MetadataSource } from './metadata-source.js';
import { metadataFromEvent } from './docker-metadata.js';

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

/** A Kubernetes pod's sandbox ("pause") container: never reported (see kubernetes.ts). */
export function isSandbox(info: ContainerInfo | null): boolean {
  return info?.metadata?.kubernetes?.sandbox === true;
}

/**
 * container.* attributes, and k8s.* ones for a Kubernetes container (the pod uid falls back to
 * the one in `cgroupPath`; `nodeName` becomes k8s.node.name).
 */
export function containerAttributes(id: string, runtime: string, m: ContainerMetadata | null, cgroupPath = '', nodeName?: string): Attributes {
  const a: Attributes = { 'container.id': id };
  const runtimeName = m?.runtimeName ?? (runtime === 'unknown' ? undefined : runtime);
  if (runtimeName) a['container.runtime.name'] = runtimeName;
  if (m?.name) a['container.name'] = m.name;
  if (m?.imageName) a['container.image.name'] = m.imageName;
  if (m?.imageTags?.length) a['container.image.tags'] = m.imageTags;
  if (m?.imageId) a['container.image.id'] = m.imageId;
  for (const [k, v] of Object.entries(m?.labels ?? {})) a[`container.label.${k}`] = v;
  if (m?.kubernetes) Object.assign(a, kubernetesAttributes(m.kubernetes, cgroupPath, nodeName));
  return a;
}

export interface AttributorOptions {
  resolver: CgroupIdResolver | null;
  /**
   * Where names, images and labels come from. A container's lookup asks the source of the runtime
   * its cgroup path names first, then the others in this order; the first that knows it answers.
   */
  sources: readonly MetadataSource[];
  /** k8s.node.name of Kubernetes containers (from the environment). */
  nodeName?: string;
  /** Longest an event may wait for metadata before it is emitted with the cgroup-derived id only. */
  metadataWaitMs: number;
  /** The agent's own cgroup path: its container (if any) is never reported. */
  selfCgroupPath: string | null;
  /** How long a removed cgroup (or destroyed container) stays resolvable for late events. Default 60 s. */
  removalGraceMs?: number;
  /** Least time between two metadata lookups of a container whose lookup failed (not a 404). Default 30 s. */
  metadataRetryMs?: number;
  /** Most cgroups remembered (the oldest quarter goes when full); also bounds pending removals. Default 16384. */
  maxCgroups?: number;
  /** Most container records remembered (the least recently looked up goes first); also bounds pending retries. Default 8192. */
  maxContainers?: number;
}

const MAX_CACHED_CGROUPS = 16_384;
const MAX_CACHED_CONTAINERS = 8_192;

/** One cgroup's attribution: the promise every caller shares, and its result once settled. */
interface CgroupEntry {
  promise: Promise<ContainerInfo | null>;
  settled: boolean;
  value: ContainerInfo | null;
  /** Counted in liveCgroups (settled to a container while in byCgroup). */
  counted: boolean;
}

export class ContainerAttributor {
  private readonly byCgroup = new Map<bigint, CgroupEntry>();
  /** Container id -> its record, shared by all its cgroups. */
  private readonly byId = new Map<string, ContainerInfo>();
  /** Container record -> how many byCgroup entries resolved to it. */
  private readonly liveCgroups = new Map<ContainerInfo, number>();
  /** Container id -> earliest time (performance.now) its failed metadata lookup may be retried. */
  private readonly retryAt = new Map<string, number>();
  /**
   * Metadata the runtime announced in a container's create/start event, by container id: the
   * fallback when inspect answers too late or not at all (a short-lived `--rm` container is
   * often gone before its inspect). Bounded by maxContainers; dropped with the container.
   */
  private readonly announced = new Map<string, ContainerMetadata>();
  /** Removals waiting out the grace period: cgroup id (bigint) or destroyed container id (string). */
  private readonly pendingRemovals = new Map<bigint | string, NodeJS.Timeout>();

  private readonly selfContainerId: string | null;
  private readonly removalGraceMs: number;
  private readonly metadataRetryMs: number;
  private readonly maxCgroups: number;
  private readonly maxContainers: number;

  constructor(private readonly opts: AttributorOptions) {
    this.selfContainerId = opts.selfCgroupPath ? (parseContainerFromCgroupPath(opts.selfCgroupPath)?.id ?? null) : null;
    this.removalGraceMs = Math.max(0, opts.removalGraceMs ?? 60_000);
    this.metadataRetryMs = Math.max(0, opts.metadataRetryMs ?? 30_000);
    this.maxCgroups = Math.max(4, Math.floor(opts.maxCgroups ?? MAX_CACHED_CGROUPS));
    this.maxContainers = Math.max(1, Math.floor(opts.maxContainers ?? MAX_CACHED_CONTAINERS));
  }

  /**
   * The container behind a cgroup, or null for a host process, the agent's own container or a
   * pod's sandbox (once its metadata says so).
   */
  attribute(ref: CgroupRef): Promise<ContainerInfo | null> {
    const entry = this.byCgroup.get(ref.cgroupId);
    if (entry !== undefined) {
      if (entry.settled && entry.value !== null) {
        // Metadata that arrived after the wait may have shown a sandbox.
        if (isSandbox(entry.value)) return Promise.resolve(null);
        this.retryIfDue(entry.value);
      }
      return entry.promise;
    }
    return this.add(ref.cgroupId, ref.name, ref.parentName).promise;
  }

  /**
   * The settled attribution of a cgroup already looked up, without a promise: the container,
   * `null` for a host cgroup (or the agent's own), or `undefined` when the cgroup is unknown or
   * its lookup (including the metadata wait) is still going on; then call {@link attribute}.
   * Only `ref.cgroupId` is read, and nothing is allocated on a hit.
   */
  attributeKnown(ref: Pick<CgroupRef, 'cgroupId'>): ContainerInfo | null | undefined {
    const entry = this.byCgroup.get(ref.cgroupId);
    if (entry === undefined || !entry.settled) return undefined;
    const info = entry.value;
    if (info === null) return null;
    if (isSandbox(info)) return null;
    this.retryIfDue(info);
    return info;
  }

  /**
   * The kernel removed this cgroup. After the grace period (late events still resolve) its
   * entry goes, with the resolver's cached path, and so does its container's record once no
   * other remembered cgroup resolves to it.
   */
  onCgroupRemoved(cgroupId: bigint): void {
    if (typeof cgroupId === 'bigint') this.schedule(cgroupId);
  }

  /** Applies a runtime event: renames update the name, destroyed containers are forgotten. */
  onRuntimeEvent(action: string, id: string, attributes: Record<string, string>): void {
    if (action === 'create' || action === 'start') {
      const m = metadataFromEvent(attributes);
      if (m) {
        if (!this.announced.has(id) && this.announced.size >= this.maxContainers) this.announced.delete(this.announced.keys().next().value as string);
        this.announced.set(id, m);
      }
    }
    const info = this.byId.get(id);
    if (!info) {
      // Not looked up yet: only a destroy matters (the announcement goes after the grace period).
      if (action === 'destroy' && this.announced.has(id)) this.schedule(id);
      return;
    }
    if (action === 'rename' && attributes.name && info.metadata) {
      info.metadata = { ...info.metadata, name: attributes.name.replace(/^\//, '') };
      info.attributes = this.attributesOf(info);
    } else if (action === 'destroy') {
      // Late events of a removed container still resolve from the cache for a while.
      this.schedule(id);
    }
  }

  /** Number of container records. */
  get size(): number {
    return this.byId.size;
  }

  /** Entries of each cache (exported as contguard.agent.cache.entries). */
  cacheSizes(): Record<string, number> {
    return {
      containers: this.byId.size,
      cgroups: this.byCgroup.size,
      pending_removals: this.pendingRemovals.size,
      metadata_retries: this.retryAt.size,
      announced: this.announced.size,
    };
  }

  private add(cgroupId: bigint, name: string, parentName: string): CgroupEntry {
    // Bounded: host cgroups come and go (a scope per cron job or login); the oldest
    // entries go first, and a forgotten container cgroup finds its record again by id.
    if (this.byCgroup.size >= this.maxCgroups) {
      let n = this.maxCgroups >> 2;
      for (const [id, old] of this.byCgroup) {
        if (n-- <= 0) break;
        this.deleteEntry(id, old);
      }
    }
    const entry: CgroupEntry = { promise: null as unknown as Promise<ContainerInfo | null>, settled: false, value: null, counted: false };
    this.byCgroup.set(cgroupId, entry);
    // The ref's fields are copied: a caller may reuse its ref object for the next event.
    entry.promise = this.lookup(cgroupId, name, parentName).then((info) => {
      entry.value = info;
      entry.settled = true;
      if (info !== null && this.byCgroup.get(cgroupId) === entry) {
        entry.counted = true;
        this.liveCgroups.set(info, (this.liveCgroups.get(info) ?? 0) + 1);
      }
      return info;
    });
    return entry;
  }

  private deleteEntry(cgroupId: bigint, entry: CgroupEntry): void {
    this.byCgroup.delete(cgroupId);
    if (!entry.counted || entry.value === null) return;
    entry.counted = false;
    const n = (this.liveCgroups.get(entry.value) ?? 1) - 1;
    if (n > 0) this.liveCgroups.set(entry.value, n);
    else this.liveCgroups.delete(entry.value);
  }

  /** Runs a removal after the grace period; beyond maxCgroups pending ones, the oldest runs now. */
  private schedule(key: bigint | string): void {
    if (this.pendingRemovals.has(key)) return;
    if (this.pendingRemovals.size >= this.maxCgroups) {
      const oldest = this.pendingRemovals.keys().next();
      if (!oldest.done) this.runRemoval(oldest.value);
    }
    const timer = setTimeout(() => this.runRemoval(key), this.removalGraceMs);
    timer.unref();
    this.pendingRemovals.set(key, timer);
  }

  private runRemoval(key: bigint | string): void {
    const timer = this.pendingRemovals.get(key);
    if (timer !== undefined) clearTimeout(timer);
    this.pendingRemovals.delete(key);
    if (typeof key === 'bigint') this.dropCgroup(key);
    else this.forgetContainer(key);
  }

  private dropCgroup(cgroupId: bigint): void {
    const entry = this.byCgroup.get(cgroupId);
    if (entry === undefined) {
      // Evicted (cache bound) or never looked up: its record, if any, goes when nothing else uses it.
      const path = this.opts.resolver?.resolve(cgroupId);
      this.opts.resolver?.forget(cgroupId);
      const id = path ? parseContainerFromCgroupPath(path)?.id : undefined;
      const info = id === undefined ? undefined : this.byId.get(id);
      if (info !== undefined && !this.liveCgroups.has(info)) this.dropRecord(info.id);
      return;
    }
    if (!entry.settled) {
      // Still looking up after the grace period (rare): drop it once settled.
      void entry.promise.then(() => {
        if (this.byCgroup.get(cgroupId) === entry) this.dropCgroup(cgroupId);
      });
      return;
    }
    // A cgroup that settled to null may still have a record (a sandbox): find it by its path.
    const path = entry.value === null ? this.opts.resolver?.resolve(cgroupId) : undefined;
    this.opts.resolver?.forget(cgroupId);
    this.deleteEntry(cgroupId, entry);
    const id = path ? parseContainerFromCgroupPath(path)?.id : undefined;
    const info = entry.value ?? (id === undefined ? undefined : this.byId.get(id));
    if (info && !this.liveCgroups.has(info) && this.byId.get(info.id) === info) this.dropRecord(info.id);
  }

  /** A destroyed container: its record and every settled cgroup entry that resolves to it. */
  private forgetContainer(id: string): void {
    this.dropRecord(id);
    for (const [cgroupId, entry] of this.byCgroup) {
      if (entry.settled && entry.value?.id === id) {
        this.deleteEntry(cgroupId, entry);
        this.opts.resolver?.forget(cgroupId);
      }
    }
  }

  private dropRecord(id: string): void {
    this.byId.delete(id);
    this.retryAt.delete(id);
    this.announced.delete(id);
  }

  private async lookup(cgroupId: bigint, name: string, parentName: string): Promise<ContainerInfo | null> {
    const kernelPath = cgroupPathFromKernelNames(name, parentName);
    const resolved = this.opts.resolver ? await this.opts.resolver.resolveAsync(cgroupId, { name, parentName }) : null;
    const path = resolved ?? kernelPath;
    if (this.opts.selfCgroupPath && path === this.opts.selfCgroupPath) return null;
    const parsed = parseContainerFromCgroupPath(path) ?? parseContainerFromCgroupPath(kernelPath);
    if (!parsed || parsed.id === this.selfContainerId) return null;
    // One record per container, shared by all its cgroups: one inspect, and renames reach every cgroup.
    const known = this.byId.get(parsed.id);
    if (known) {
      // Most recently looked up: the last to go when the bound is reached.
      this.byId.delete(parsed.id);
      this.byId.set(parsed.id, known);
      this.retryIfDue(known);
      await known.ready;
      return isSandbox(known) ? null : known;
    }
    const info: ContainerInfo = {
      id: parsed.id,
      cgroupPath: path,
      runtime: parsed.runtime,
      metadata: null,
      attributes: containerAttributes(parsed.id, parsed.runtime, null),
      ready: Promise.resolve(),
    };
    if (this.byId.size >= this.maxContainers) {
      const oldest = this.byId.keys().next();
      if (!oldest.done) this.dropRecord(oldest.value);
    }
    this.byId.set(parsed.id, info);
    info.ready = this.enrich(info);
    await info.ready;
    return isSandbox(info) ? null : info;
  }

  private attributesOf(info: ContainerInfo): Attributes {
    return containerAttributes(info.id, info.runtime, info.metadata, info.cgroupPath, this.opts.nodeName);
  }

  /** The sources to ask about a container: its runtime's first (from its cgroup path), then the rest in order. */
  private sourcesFor(runtime: string): readonly MetadataSource[] {
    const sources = this.opts.sources;
    if (sources.length < 2) return sources;
    const own = sources.filter((s) => s.runtime === runtime);
    return own.length === 0 ? sources : [...own, ...sources.filter((s) => s.runtime !== runtime)];
  }

  /** Waits for metadata up to metadataWaitMs; a slower answer still enriches later events. */
  private async enrich(info: ContainerInfo): Promise<void> {
    if (this.opts.sources.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.opts.metadataWaitMs);
      timer.unref();
    });
    await Promise.race([this.fetchMetadata(info), timeout]);
    clearTimeout(timer);
    this.useAnnounced(info);
  }

  /** No inspect answer (yet, or a 404): the name, image and labels the runtime's events announced. */
  private useAnnounced(info: ContainerInfo): void {
    if (info.metadata !== null) return;
    const m = this.announced.get(info.id);
    if (!m) return;
    info.metadata = m;
    info.attributes = containerAttributes(info.id, info.runtime, m);
  }

  /**
   * One metadata lookup: the sources in turn until one knows the container. When none does and
   * one of them could not answer, a retry is allowed after metadataRetryMs. Never rejects.
   */
  private async fetchMetadata(info: ContainerInfo): Promise<void> {
    let m: ContainerMetadata | null = null;
    let failed = false;
    for (const source of this.sourcesFor(info.runtime)) {
      try {
        m = await source.inspect(info.id);
      } catch {
        failed = true;
        continue;
      }
      if (m) break;
    }
    if (!m && failed) {
      if (this.byId.get(info.id) !== info) return;
      if (!this.retryAt.has(info.id) && this.retryAt.size >= this.maxContainers) {
        const oldest = this.retryAt.keys().next();
        if (!oldest.done) this.retryAt.delete(oldest.value);
      }
      this.retryAt.set(info.id, performance.now() + this.metadataRetryMs);
      return;
    }
    if (m) {
      info.metadata = m;
      info.attributes = this.attributesOf(info);
    }
  }

  /** A later event of a container whose metadata lookup failed retries it, at most once per metadataRetryMs. */
  private retryIfDue(info: ContainerInfo): void {
    if (this.retryAt.size === 0 || info.metadata !== null) return;
    const at = this.retryAt.get(info.id);
    if (at === undefined || performance.now() < at || this.byId.get(info.id) !== info) return;
    this.retryAt.delete(info.id); // none while this one is in flight
    void this.fetchMetadata(info);
  }
}
