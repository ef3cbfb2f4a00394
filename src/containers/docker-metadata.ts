// SPDX-License-Identifier: Apache-2.0
/** Container metadata from the Docker Engine API (dockerode): name, image, tags, labels. */
import Docker from 'dockerode';
import type { AgentLogger } from '../log.js';
import { kubernetesFromLabels } from './kubernetes.js';
import { MAX_LABELS, boundedValue, splitImageReference, type ContainerMetadata, type MetadataSource } from './metadata-source.js';

export type { ContainerMetadata } from './metadata-source.js';
export { splitImageReference } from './metadata-source.js';

/**
 * Maps a `docker inspect` result (and the image's RepoTags) to OTel-ready metadata; Kubernetes
 * metadata from the kubelet's labels when it has them (cri-dockerd). `runtimeName` says whose
 * Engine API answered (Podman serves the same API).
 */
export function metadataFromInspect(
  info: { Name?: string; Image?: string; Config?: { Image?: string; Labels?: Record<string, string> | null } },
  repoTags: string[] = [],
  runtimeName: 'docker' | 'podman' = 'docker',
): ContainerMetadata {
  const configured = info.Config?.Image ?? '';
  const byName = configured && !configured.startsWith('sha256:') ? splitImageReference(configured) : null;
  const fromRepo = repoTags.map(splitImageReference);
  const imageName = byName?.name ?? fromRepo[0]?.name;
  const tags = new Set<string>();
  if (byName?.tag) tags.add(byName.tag);
  for (const r of fromRepo) if (r.name === imageName && r.tag) tags.add(r.tag);
  if (byName && !byName.tag && !configured.includes('@')) tags.add('latest');
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.Config?.Labels ?? {}).slice(0, MAX_LABELS)) {
    labels[k] = boundedValue(v); // whole code points
  }
  const m: ContainerMetadata = {
    name: info.Name ? info.Name.replace(/^\//, '') : undefined,
    imageName,
    imageTags: tags.size ? [...tags] : undefined,
    imageId: info.Image,
    runtimeName,
    labels,
  };
  const kubernetes = kubernetesFromLabels(labels);
  if (kubernetes) m.kubernetes = kubernetes;
  return m;
}

/** Keys of a container event's attributes that are not the container's labels. */
const EVENT_NON_LABEL_KEYS = new Set(['name', 'image', 'exitCode', 'execDuration', 'signal', 'execID', 'oldName', 'container']);

/**
 * Metadata from a container `create` or `start` event (its attributes are the container's labels
 * plus `name` and `image`), or null without a name. No image id or repo tags: those need an inspect.
 */
export function metadataFromEvent(attributes: Record<string, string>): ContainerMetadata | null {
  const name = attributes.name?.replace(/^\//, '');
  if (!name) return null;
  const image = attributes.image ?? '';
  const byName = image && !image.startsWith('sha256:') ? splitImageReference(image) : null;
  const labels: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(attributes)) {
    if (EVENT_NON_LABEL_KEYS.has(k)) continue;
    if (n++ >= MAX_LABELS) break;
    labels[k] = boundedValue(v);
  }
  const tag = byName?.tag ?? (byName && !image.includes('@') ? 'latest' : undefined);
  const m: ContainerMetadata = {
    name,
    imageName: byName?.name,
    imageTags: tag ? [tag] : undefined,
    imageId: image.startsWith('sha256:') ? image : undefined,
    runtimeName: 'docker',
    labels,
  };
  const kubernetes = kubernetesFromLabels(labels);
  if (kubernetes) m.kubernetes = kubernetes;
  return m;
}

/** One network endpoint of a container, as `docker inspect` reports it (`NetworkSettings.Networks.<name>`). */
export interface ContainerNetworkEndpoint {
  NetworkID?: string;
  IPAddress?: string;
  GlobalIPv6Address?: string;
  Gateway?: string;
  IPv6Gateway?: string;
  MacAddress?: string;
  IPAMConfig?: { LinkLocalIPs?: string[] | null } | null;
}

/**
 * The network part of a `docker inspect` result, with the Engine API's field names (what the
 * network sensor's peer directory reads: addresses per network, network mode, the sandbox's
 * network namespace path, published ports).
 */
export interface ContainerNetwork {
  Id: string;
  Name?: string;
  Image?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  State?: { Running?: boolean; Pid?: number };
  /** `default`/`bridge`, `host`, `none`, `container:<id>`, or a user network's name (or id). */
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: {
    /** `/var/run/docker/netns/<x>` (`.../default` for host mode; empty for `container:` mode). */
    SandboxKey?: string;
    IPAddress?: string;
    GlobalIPv6Address?: string;
    LinkLocalIPv6Address?: string;
    Gateway?: string;
    IPv6Gateway?: string;
    MacAddress?: string;
    SecondaryIPAddresses?: { Addr?: string }[] | null;
    SecondaryIPv6Addresses?: { Addr?: string }[] | null;
    /** `"80/tcp"` -> its host bindings; null when exposed but not published. */
    Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
    Networks?: Record<string, ContainerNetworkEndpoint> | null;
  };
}

/** Keeps only the network part of a `docker inspect` result (see ContainerNetwork). */
export function containerNetworkFromInspect(info: ContainerNetwork): ContainerNetwork {
  const ns = info.NetworkSettings;
  return {
    Id: info.Id,
    Name: info.Name,
    Image: info.Image,
    Config: info.Config ? { Image: info.Config.Image, Labels: info.Config.Labels } : undefined,
    State: info.State ? { Running: info.State.Running, Pid: info.State.Pid } : undefined,
    HostConfig: info.HostConfig ? { NetworkMode: info.HostConfig.NetworkMode } : undefined,
    NetworkSettings: ns
      ? {
          SandboxKey: ns.SandboxKey,
          IPAddress: ns.IPAddress,
          GlobalIPv6Address: ns.GlobalIPv6Address,
          LinkLocalIPv6Address: ns.LinkLocalIPv6Address,
          Gateway: ns.Gateway,
          IPv6Gateway: ns.IPv6Gateway,
          MacAddress: ns.MacAddress,
          SecondaryIPAddresses: ns.SecondaryIPAddresses,
          SecondaryIPv6Addresses: ns.SecondaryIPv6Addresses,
          Ports: ns.Ports,
          Networks: ns.Networks
            ? Object.fromEntries(
                Object.entries(ns.Networks).map(([name, e]) => [
                  name,
                  {
                    NetworkID: e.NetworkID,
                    IPAddress: e.IPAddress,
                    GlobalIPv6Address: e.GlobalIPv6Address,
                    Gateway: e.Gateway,
                    IPv6Gateway: e.IPv6Gateway,
                    MacAddress: e.MacAddress,
                    IPAMConfig: e.IPAMConfig ? { LinkLocalIPs: e.IPAMConfig.LinkLocalIPs } : e.IPAMConfig,
                  },
                ]),
              )
            : ns.Networks,
        }
      : undefined,
  };
}

export interface DockerMetadataOptions {
  /** Least time between two lookups of an image whose lookup failed. Default 30 s. */
  imageRetryMs?: number;
  /** Whose Engine API the socket serves: docker (default) or podman (its Docker-compatible API). */
  runtime?: 'docker' | 'podman';
  /** Most images whose tags are remembered (the oldest go first); also bounds failed and in-flight lookups. Default 1024. */
  maxImages?: number;
}

/** Sets key -> value in a map that holds at most `max` keys, dropping the oldest first. */
function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.has(key)) {
    while (map.size >= max) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
    }
  }
  map.set(key, value);
}

/** A source speaking the Docker Engine API: Docker itself, or Podman's compatible service. */
export class DockerMetadataSource implements MetadataSource {
  readonly runtime: 'docker' | 'podman';
  private readonly docker: Docker;
  /** Image id -> RepoTags, successful answers only. */
  private readonly imageTags = new Map<string, string[]>();
  /** Image id -> the lookup in flight, shared by concurrent inspects. */
  private readonly imageLookups = new Map<string, Promise<string[]>>();
  /** Image id -> when (performance.now) its last lookup failed. */
  private readonly imageFailures = new Map<string, number>();
  private readonly imageRetryMs: number;
  private readonly maxImages: number;
  private events: NodeJS.ReadableStream | null = null;
  private stopped = false;

  constructor(
    readonly socketPath: string,
    private readonly logger: AgentLogger,
    opts: DockerMetadataOptions = {},
  ) {
    this.docker = new Docker({ socketPath, timeout: 5000 });
    this.runtime = opts.runtime ?? 'docker';
    this.imageRetryMs = Math.max(0, opts.imageRetryMs ?? 30_000);
    this.maxImages = Math.max(1, Math.floor(opts.maxImages ?? 1024));
  }

  /** True when the daemon answers; the caller degrades to cgroup-derived ids otherwise. */
  async available(timeoutMs = 2000): Promise<boolean> {
    try {
      await Promise.race([
        this.docker.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
      ]);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Metadata of one container, or null when Docker does not know it (404: another runtime, or gone).
   * Rejects when the daemon could not answer (unreachable, timeout, server error): the caller may
   * ask again later. A failed image lookup only leaves the tags out (it is retried after imageRetryMs).
   */
  async inspect(containerId: string): Promise<ContainerMetadata | null> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(containerId).inspect();
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) return null;
      this.logger.debug(`${this.runtime} inspect ${containerId.slice(0, 12)}: ${(err as Error).message}`);
      throw err;
    }
    const tags = info.Image ? await this.repoTags(info.Image) : [];
    return metadataFromInspect(info, tags, this.runtime);
  }

  /**
   * The network part of one container's `docker inspect` (addresses, network mode, SandboxKey,
   * published ports: see ContainerNetwork), or null when Docker does not know it (404). Rejects
   * when the daemon could not answer, as inspect() does. A stopped container is returned with
   * `State.Running: false` and no addresses.
   */
  async inspectNetwork(containerId: string): Promise<ContainerNetwork | null> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(containerId).inspect();
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) return null;
      this.logger.debug(`docker inspect (network) ${containerId.slice(0, 12)}: ${(err as Error).message}`);
      throw err;
    }
    return containerNetworkFromInspect(info as unknown as ContainerNetwork);
  }

  /** Ids of the running containers (to seed what already runs at start). Rejects when the daemon could not answer. */
  async listRunning(): Promise<string[]> {
    const list = await this.docker.listContainers({ all: false });
    return list.map((c) => c.Id).filter((id): id is string => typeof id === 'string' && id.length > 0);
  }

  /** Follows container events (rename, destroy) until stop(); reconnects after errors. */
  watch(onEvent: (action: string, id: string, attributes: Record<string, string>, type: string) => void): void {
    const connect = async (since: number): Promise<void> => {
      if (this.stopped) return;
      try {
        const stream = (await this.docker.getEvents({ since, filters: { type: ['container', 'network'] } })) as NodeJS.ReadableStream;
        this.events = stream;
        let buffered = '';
        let last = since;
        stream.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            try {
              const e = JSON.parse(line) as { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number };
              if (e.time) last = e.time;
              if (e.Action && e.Actor?.ID) onEvent(e.Action, e.Actor.ID, e.Actor.Attributes ?? {}, e.Type ?? 'container');
            } catch {
              // a malformed line is skipped; the next one is independent
            }
          }
        });
        const retry = () => {
          if (!this.stopped) setTimeout(() => void connect(last), 1000).unref();
        };
        stream.on('end', retry);
        stream.on('error', retry);
      } catch (err) {
        this.logger.debug(`docker events: ${(err as Error).message}`);
        if (!this.stopped) setTimeout(() => void connect(since), 2000).unref();
      }
    };
    void connect(Math.floor(Date.now() / 1000));
  }

  stop(): void {
    this.stopped = true;
    const s = this.events as unknown as { destroy?: () => void } | null;
    s?.destroy?.();
  }

  /** An image's RepoTags: answers are cached (bounded), a failure gives [] and is retried after imageRetryMs. */
  private repoTags(imageId: string): Promise<string[]> {
    const known = this.imageTags.get(imageId);
    if (known) return Promise.resolve(known);
    const inflight = this.imageLookups.get(imageId);
    if (inflight) return inflight;
    const failedAt = this.imageFailures.get(imageId);
    if (failedAt !== undefined && performance.now() - failedAt < this.imageRetryMs) return Promise.resolve([]);
    const lookup = this.docker
      .getImage(imageId)
      .inspect()
      .then(
        (img) => {
          const tags = img.RepoTags ?? [];
          this.imageFailures.delete(imageId);
          setBounded(this.imageTags, imageId, tags, this.maxImages);
          return tags;
        },
        (err: unknown) => {
          this.logger.debug(`${this.runtime} image inspect ${imageId.slice(0, 19)}: ${(err as Error).message}`);
          setBounded(this.imageFailures, imageId, performance.now(), this.maxImages);
          return [] as string[];
        },
      )
      .finally(() => {
        if (this.imageLookups.get(imageId) === lookup) this.imageLookups.delete(imageId);
      });
    // More lookups in flight than that (a daemon that hangs): they just are not shared.
    if (this.imageLookups.size < this.maxImages) this.imageLookups.set(imageId, lookup);
    return lookup;
  }
}
