// SPDX-License-Identifier: Apache-2.0
/** Container metadata from the Docker Engine API (dockerode): name, image, tags, labels. */
import Docker from 'dockerode';
import type { AgentLogger } from '../log.js';

export interface ContainerMetadata {
  name?: string;
  imageName?: string;
  imageTags?: string[];
  imageId?: string;
  runtimeName: string;
  labels: Record<string, string>;
}

const MAX_LABELS = 64;
const MAX_LABEL_VALUE = 256;

/** `registry:5000/team/app:1.2` → name `registry:5000/team/app`, tag `1.2`; digests are dropped. */
export function splitImageReference(ref: string): { name: string; tag?: string } {
  const noDigest = ref.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > slash) return { name: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { name: noDigest };
}

/** Maps a `docker inspect` result (and the image's RepoTags) to OTel-ready metadata. */
export function metadataFromInspect(
  info: { Name?: string; Image?: string; Config?: { Image?: string; Labels?: Record<string, string> | null } },
  repoTags: string[] = [],
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
    labels[k] = Array.from(String(v)).slice(0, MAX_LABEL_VALUE).join(''); // whole code points
  }
  return {
    name: info.Name ? info.Name.replace(/^\//, '') : undefined,
    imageName,
    imageTags: tags.size ? [...tags] : undefined,
    imageId: info.Image,
    runtimeName: 'docker',
    labels,
  };
}

export class DockerMetadataSource {
  private readonly docker: Docker;
  private readonly imageTags = new Map<string, Promise<string[]>>();
  private events: NodeJS.ReadableStream | null = null;
  private stopped = false;

  constructor(
    socketPath: string,
    private readonly logger: AgentLogger,
  ) {
    this.docker = new Docker({ socketPath, timeout: 5000 });
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

  /** Metadata of one container, or null when Docker does not know it (another runtime, or gone). */
  async inspect(containerId: string): Promise<ContainerMetadata | null> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      const tags = info.Image ? await this.repoTags(info.Image) : [];
      return metadataFromInspect(info, tags);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404) this.logger.debug(`docker inspect ${containerId.slice(0, 12)}: ${(err as Error).message}`);
      return null;
    }
  }

  /** Follows container events (rename, destroy) until stop(); reconnects after errors. */
  watch(onEvent: (action: string, id: string, attributes: Record<string, string>) => void): void {
    const connect = async (since: number): Promise<void> => {
      if (this.stopped) return;
      try {
        const stream = (await this.docker.getEvents({ since, filters: { type: ['container'] } })) as NodeJS.ReadableStream;
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
              const e = JSON.parse(line) as { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number };
              if (e.time) last = e.time;
              if (e.Action && e.Actor?.ID) onEvent(e.Action, e.Actor.ID, e.Actor.Attributes ?? {});
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

  private repoTags(imageId: string): Promise<string[]> {
    let p = this.imageTags.get(imageId);
    if (!p) {
      p = this.docker
        .getImage(imageId)
        .inspect()
        .then((img) => img.RepoTags ?? [])
        .catch(() => []);
      this.imageTags.set(imageId, p);
    }
    return p;
  }
}
