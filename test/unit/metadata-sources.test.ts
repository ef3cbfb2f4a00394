// SPDX-License-Identifier: Apache-2.0
/**
 * Several metadata sources behind one attributor (which is asked first, what a failure means),
 * Kubernetes attributes and sandbox containers, and which sources the agent selects from its
 * config and the host. The attributor runs over a real CgroupIdResolver on a temp directory tree;
 * the sources are stand-ins answering with controlled content (the real ones have their own tests
 * and the e2e tests in test/e2e/runtimes.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupIdResolver } from '../../src/containers/cgroup-fs.js';
import { ContainerAttributor, type AttributorOptions, type CgroupRef } from '../../src/containers/attributor.js';
import type { ContainerMetadata, MetadataSource, RuntimeName } from '../../src/containers/metadata-source.js';
import { selectMetadataSources, type SourceProbes } from '../../src/containers/sources.js';
import { ContainerdStateSource, CrioStateSource } from '../../src/containers/oci-state.js';
import { DockerMetadataSource } from '../../src/containers/docker-metadata.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';

const A = '0123456789abcdef'.repeat(4);
const UID = '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-src-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function cgroup(rel: string): bigint {
  const dir = path.join(tmp, rel);
  fs.mkdirSync(dir, { recursive: true });
  return fs.statSync(dir, { bigint: true }).ino;
}
function ref(cgroupId: bigint, rel: string): CgroupRef {
  const parts = rel.split('/').filter(Boolean);
  return { cgroupId, name: parts.at(-1) ?? '', parentName: parts.at(-2) ?? '' };
}

/** A runtime that knows some containers; 'fail' = could not answer; 'slow' = answers when told. */
class StubSource implements MetadataSource {
  readonly calls: string[] = [];
  private release: (() => void) | null = null;
  constructor(
    readonly runtime: RuntimeName,
    private readonly answers: Record<string, ContainerMetadata | 'fail' | 'slow'> = {},
  ) {}
  async inspect(id: string): Promise<ContainerMetadata | null> {
    this.calls.push(id);
    const a = this.answers[id];
    if (a === 'fail') throw new Error('unreachable');
    if (a === 'slow') {
      await new Promise<void>((r) => (this.release = r));
      return { runtimeName: this.runtime, labels: {}, kubernetes: { podName: 'p', sandbox: true } };
    }
    return a ?? null;
  }
  answerNow(): void {
    this.release?.();
  }
}

const k8sMeta = (over: Partial<ContainerMetadata> = {}): ContainerMetadata => ({
  runtimeName: 'containerd',
  labels: {},
  imageName: 'docker.io/library/nginx',
  imageTags: ['1.25'],
  kubernetes: { podName: 'web-0', namespace: 'shop', containerName: 'nginx', sandbox: false },
  ...over,
});

function attributor(opts: Partial<AttributorOptions>): ContainerAttributor {
  return new ContainerAttributor({
    resolver: new CgroupIdResolver(tmp, { rescanIntervalMs: 0 }),
    sources: [],
    metadataWaitMs: 2_000,
    selfCgroupPath: null,
    removalGraceMs: 0,
    ...opts,
  });
}

describe('ContainerAttributor with several sources', () => {
  it('asks the runtime the cgroup path names first', async () => {
    const docker = new StubSource('docker');
    const containerd = new StubSource('containerd', { [A]: k8sMeta() });
    const rel = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${A}.scope`;
    const info = await attributor({ sources: [docker, containerd] }).attribute(ref(cgroup(rel), rel));
    expect(containerd.calls).toEqual([A]);
    expect(docker.calls).toEqual([]);
    expect(info?.attributes['container.runtime.name']).toBe('containerd');
  });

  it('a bare id (cgroupfs driver) goes through the sources in order until one knows it', async () => {
    const docker = new StubSource('docker');
    const podman = new StubSource('podman');
    const containerd = new StubSource('containerd', { [A]: k8sMeta() });
    const rel = `/kubepods/besteffort/pod${UID}/${A}`;
    const info = await attributor({ sources: [docker, podman, containerd], nodeName: 'node-1' }).attribute(ref(cgroup(rel), rel));
    expect([docker.calls, podman.calls, containerd.calls]).toEqual([[A], [A], [A]]);
    expect(info?.attributes).toStrictEqual({
      'container.id': A,
      'container.runtime.name': 'containerd',
      'container.image.name': 'docker.io/library/nginx',
      'container.image.tags': ['1.25'],
      'k8s.pod.name': 'web-0',
      'k8s.pod.uid': UID, // from the cgroup path: no label had it
      'k8s.namespace.name': 'shop',
      'k8s.container.name': 'nginx',
      'k8s.node.name': 'node-1',
    });
  });

  it('a source that cannot answer does not stop the next one; its answer is not waited for again', async () => {
    const docker = new StubSource('docker', { [A]: 'fail' });
    const containerd = new StubSource('containerd', { [A]: k8sMeta() });
    const rel = `/kubepods/pod${UID}/${A}`;
    const a = attributor({ sources: [docker, containerd], metadataRetryMs: 0 });
    const id = cgroup(rel);
    expect((await a.attribute(ref(id, rel)))?.attributes['k8s.pod.name']).toBe('web-0');
    await a.attribute(ref(id, rel));
    expect(docker.calls).toEqual([A]); // found: no retry
  });

  it('nobody knows it and one could not answer: asked again later', async () => {
    const docker = new StubSource('docker', { [A]: 'fail' });
    const containerd = new StubSource('containerd');
    const rel = `/kubepods/pod${UID}/${A}`;
    const a = attributor({ sources: [docker, containerd], metadataRetryMs: 0 });
    const id = cgroup(rel);
    expect((await a.attribute(ref(id, rel)))?.metadata).toBeNull();
    await a.attribute(ref(id, rel));
    await new Promise((r) => setImmediate(r));
    expect(docker.calls).toEqual([A, A]);
  });

  it('a container outside Kubernetes gets no k8s.* attributes, even with a node name', async () => {
    const podman = new StubSource('podman', { [A]: { runtimeName: 'podman', name: 'web', labels: {} } });
    const rel = `/libpod_parent/libpod-${A}`;
    const info = await attributor({ sources: [podman], nodeName: 'node-1' }).attribute(ref(cgroup(rel), rel));
    expect(info?.attributes).toStrictEqual({ 'container.id': A, 'container.runtime.name': 'podman', 'container.name': 'web' });
  });
});

describe('sandbox (pause) containers', () => {
  const sandbox = k8sMeta({ kubernetes: { podName: 'web-0', namespace: 'shop', sandbox: true } });

  it('are not reported: attribute() and attributeKnown() give null', async () => {
    const rel = `/kubepods/besteffort/pod${UID}/${A}`;
    const id = cgroup(rel);
    const a = attributor({ sources: [new StubSource('containerd', { [A]: sandbox })] });
    expect(await a.attribute(ref(id, rel))).toBeNull();
    expect(a.attributeKnown({ cgroupId: id })).toBeNull();
    expect(await a.attribute(ref(id, rel))).toBeNull();
  });

  it('one recognised only after the metadata wait is not reported from then on', async () => {
    const rel = `/kubepods/besteffort/pod${UID}/${A}`;
    const id = cgroup(rel);
    const slow = new StubSource('containerd', { [A]: 'slow' });
    const a = attributor({ sources: [slow], metadataWaitMs: 10 });
    const first = await a.attribute(ref(id, rel));
    expect(first?.id).toBe(A); // the wait ran out: reported with its cgroup-derived id
    slow.answerNow();
    await new Promise((r) => setTimeout(r, 5));
    expect(a.attributeKnown({ cgroupId: id })).toBeNull();
    expect(await a.attribute(ref(id, rel))).toBeNull();
  });

  it('their record goes with their cgroup', async () => {
    const rel = `/kubepods/besteffort/pod${UID}/${A}`;
    const id = cgroup(rel);
    const a = attributor({ sources: [new StubSource('containerd', { [A]: sandbox })] });
    expect(await a.attribute(ref(id, rel))).toBeNull();
    expect(a.size).toBe(1);
    a.onCgroupRemoved(id);
    await new Promise((r) => setTimeout(r, 20));
    expect(a.size).toBe(0);
  });
});

describe('selectMetadataSources', () => {
  const answering = (sockets: string[]): SourceProbes => ({
    answers: async (s) => sockets.includes(s.socketPath),
    isDirectory: (p) => p === '/run/containerd' || p === '/srv/crio',
  });
  function capture() {
    const lines: string[] = [];
    return { lines, logger: createLogger('info', (l) => lines.push(l)) };
  }

  it('auto: Docker plus every runtime found, quietly leaving out the rest', async () => {
    const { lines, logger } = capture();
    const cfg = parseConfig('metadata: { crio: { state_dir: /absent } }', 't.yaml');
    const sel = await selectMetadataSources(cfg, logger, answering(['/var/run/docker.sock']));
    expect(sel.sources.map((s) => s.runtime)).toEqual(['docker', 'containerd']);
    expect(sel.docker).toBe(sel.sources[0]);
    expect(sel.sources[0]).toBeInstanceOf(DockerMetadataSource);
    expect(sel.sources[1]).toBeInstanceOf(ContainerdStateSource);
    expect(sel.described).toEqual(['docker (/var/run/docker.sock)', 'containerd (/run/containerd)']);
    expect(lines).toEqual([]);
  });

  it('auto without a Docker daemon: one warning, as before other runtimes were supported', async () => {
    const { lines, logger } = capture();
    const sel = await selectMetadataSources(parseConfig('', 't.yaml'), logger, answering(['/run/podman/podman.sock']));
    expect(sel.sources.map((s) => s.runtime)).toEqual(['podman', 'containerd']);
    expect(sel.docker).toBeNull();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^contguard warn: no Docker daemon at \/var\/run\/docker.sock/);
  });

  it('docker.enabled: false leaves Docker out without a word', async () => {
    const { lines, logger } = capture();
    const sel = await selectMetadataSources(parseConfig('docker: { enabled: false }', 't.yaml'), logger, answering([]));
    expect(sel.sources.map((s) => s.runtime)).toEqual(['containerd']);
    expect(lines).toEqual([]);
  });

  it('a list: exactly those, in its order; one warning line for each not found', async () => {
    const { lines, logger } = capture();
    const cfg = parseConfig('metadata: { sources: [cri-o, podman, containerd], crio: { state_dir: /srv/crio }, containerd: { state_dir: /nowhere } }', 't.yaml');
    const sel = await selectMetadataSources(cfg, logger, answering(['/var/run/docker.sock']));
    expect(sel.sources.map((s) => s.runtime)).toEqual(['cri-o']);
    expect(sel.sources[0]).toBeInstanceOf(CrioStateSource);
    expect(sel.docker).toBeNull(); // answers, but not listed
    expect(lines).toEqual([
      'contguard warn: metadata source podman: no Podman API at /run/podman/podman.sock (start it with: podman system service --time=0 unix:///run/podman/podman.sock): not used\n',
      'contguard warn: metadata source containerd: no state directory /nowhere: not used\n',
    ]);
  });
});
