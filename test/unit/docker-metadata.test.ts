// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DockerMetadataSource, metadataFromEvent, metadataFromInspect, splitImageReference } from '../../src/containers/docker-metadata.js';
import { createLogger } from '../../src/log.js';
import { containerNetworkFromInspect, type ContainerNetwork } from '../../src/containers/docker-metadata.js';

const DIGEST = 'sha256:' + 'ab'.repeat(32);
const IMAGE_ID = 'sha256:' + 'cd'.repeat(32);

describe('splitImageReference', () => {
  const cases: [string, { name: string; tag?: string }][] = [
    ['nginx', { name: 'nginx' }],
    ['nginx:1.25', { name: 'nginx', tag: '1.25' }],
    ['library/nginx:latest', { name: 'library/nginx', tag: 'latest' }],
    ['docker.io/library/nginx:1.25-alpine', { name: 'docker.io/library/nginx', tag: '1.25-alpine' }],
    ['registry:5000/team/app:1.2', { name: 'registry:5000/team/app', tag: '1.2' }],
    ['registry:5000/team/app', { name: 'registry:5000/team/app' }],
    ['localhost:5000/app', { name: 'localhost:5000/app' }],
    ['ghcr.io/org/group/sub/deep/app:v1.0.0', { name: 'ghcr.io/org/group/sub/deep/app', tag: 'v1.0.0' }],
    ['ghcr.io/org/group/sub/deep/app', { name: 'ghcr.io/org/group/sub/deep/app' }],
    [`nginx@${DIGEST}`, { name: 'nginx' }],
    [`nginx:1.25@${DIGEST}`, { name: 'nginx', tag: '1.25' }],
    [`registry:5000/team/app@${DIGEST}`, { name: 'registry:5000/team/app' }],
    [`registry:5000/team/app:2@${DIGEST}`, { name: 'registry:5000/team/app', tag: '2' }],
  ];
  for (const [ref, expected] of cases) {
    it(ref, () => {
      expect(splitImageReference(ref)).toStrictEqual(expected);
    });
  }
});

describe('metadataFromInspect', () => {
  it('name without the leading slash; image, tag and id from the inspect result', () => {
    const m = metadataFromInspect(
      { Name: '/web-1', Image: IMAGE_ID, Config: { Image: 'nginx:1.25', Labels: { app: 'web' } } },
      ['nginx:1.25'],
    );
    expect(m).toStrictEqual({
      name: 'web-1',
      imageName: 'nginx',
      imageTags: ['1.25'],
      imageId: IMAGE_ID,
      runtimeName: 'docker',
      labels: { app: 'web' },
    });
  });

  it('Kubernetes metadata from the kubelet labels (cri-dockerd); the sandbox by io.kubernetes.docker.type', () => {
    const labels = {
      'io.kubernetes.pod.name': 'web-0',
      'io.kubernetes.pod.namespace': 'shop',
      'io.kubernetes.pod.uid': '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8',
      'io.kubernetes.container.name': 'nginx',
      'io.kubernetes.docker.type': 'container',
    };
    expect(metadataFromInspect({ Config: { Labels: labels } }).kubernetes).toStrictEqual({
      podName: 'web-0',
      podUid: '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8',
      namespace: 'shop',
      containerName: 'nginx',
      sandbox: false,
    });
    expect(metadataFromInspect({ Config: { Labels: { ...labels, 'io.kubernetes.docker.type': 'podsandbox' } } }).kubernetes?.sandbox).toBe(true);
  });

  it('names the runtime whose Engine API answered (Podman serves the same API)', () => {
    const m = metadataFromInspect({ Name: '/web', Config: { Image: 'localhost/app:1' } }, [], 'podman');
    expect(m.runtimeName).toBe('podman');
    expect(m.imageName).toBe('localhost/app');
  });

  it('only the first slash is removed; a name without slash is kept', () => {
    expect(metadataFromInspect({ Name: 'plain' }).name).toBe('plain');
    expect(metadataFromInspect({ Name: '//odd' }).name).toBe('/odd');
    expect(metadataFromInspect({}).name).toBeUndefined();
    expect(metadataFromInspect({ Name: '' }).name).toBeUndefined();
  });

  it('adds the other RepoTags of the same repository, not those of other names', () => {
    const m = metadataFromInspect({ Config: { Image: 'nginx:1.25' } }, ['nginx:1.25', 'nginx:stable', 'mirror/nginx:1.25', 'other:1']);
    expect(m.imageName).toBe('nginx');
    expect(m.imageTags).toEqual(['1.25', 'stable']);
  });

  it('Config.Image with a registry port and nested path', () => {
    const m = metadataFromInspect({ Config: { Image: 'registry:5000/team/sub/app:1.2' } }, ['registry:5000/team/sub/app:1.2']);
    expect(m.imageName).toBe('registry:5000/team/sub/app');
    expect(m.imageTags).toEqual(['1.2']);
  });

  it('a Config.Image without tag means latest', () => {
    expect(metadataFromInspect({ Config: { Image: 'nginx' } }).imageTags).toEqual(['latest']);
    const m = metadataFromInspect({ Config: { Image: 'registry:5000/team/app' } });
    expect(m.imageName).toBe('registry:5000/team/app');
    expect(m.imageTags).toEqual(['latest']);
  });

  it('a digest reference gets no implicit latest', () => {
    const m = metadataFromInspect({ Config: { Image: `nginx@${DIGEST}` } });
    expect(m.imageName).toBe('nginx');
    expect(m.imageTags).toBeUndefined();
    const tagged = metadataFromInspect({ Config: { Image: `nginx:1.25@${DIGEST}` } });
    expect(tagged.imageTags).toEqual(['1.25']);
  });

  it('a sha256 Config.Image (run by image id) falls back to RepoTags', () => {
    const m = metadataFromInspect({ Image: IMAGE_ID, Config: { Image: IMAGE_ID } }, ['registry:5000/team/app:2.0', 'registry:5000/team/app:stable']);
    expect(m.imageName).toBe('registry:5000/team/app');
    expect(m.imageTags).toEqual(['2.0', 'stable']);
    expect(m.imageId).toBe(IMAGE_ID);
  });

  it('a sha256 Config.Image of an untagged image has no image name or tags', () => {
    const m = metadataFromInspect({ Image: IMAGE_ID, Config: { Image: IMAGE_ID } }, []);
    expect(m.imageName).toBeUndefined();
    expect(m.imageTags).toBeUndefined();
    expect(m.imageId).toBe(IMAGE_ID);
  });

  it('no Config at all: image from RepoTags, empty labels', () => {
    const m = metadataFromInspect({ Name: '/x' }, ['alpine:3.20']);
    expect(m.imageName).toBe('alpine');
    expect(m.imageTags).toEqual(['3.20']);
    expect(m.labels).toEqual({});
    expect(metadataFromInspect({ Config: { Labels: null } }).labels).toEqual({});
  });

  it('keeps at most 64 labels (the first ones) and cuts values to 256 characters', () => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 100; i++) labels[`label.${String(i).padStart(3, '0')}`] = `v${i}`;
    labels['label.000'] = 'x'.repeat(1000);
    const m = metadataFromInspect({ Config: { Labels: labels } });
    const keys = Object.keys(m.labels);
    expect(keys).toHaveLength(64);
    expect(keys).toEqual(Object.keys(labels).slice(0, 64));
    expect(m.labels['label.000']).toBe('x'.repeat(256));
    expect(m.labels['label.063']).toBe('v63');
    expect(m.labels).not.toHaveProperty('label.064');
    for (const v of Object.values(m.labels)) expect(v.length).toBeLessThanOrEqual(256);
  });

  it('a 256-character value is kept whole', () => {
    const m = metadataFromInspect({ Config: { Labels: { k: 'y'.repeat(256) } } });
    expect(m.labels.k).toBe('y'.repeat(256));
  });
});

/**
 * A Docker daemon on a unix socket, answering the two Engine API calls the source makes
 * (container inspect, image inspect) from tables the test fills: a body, an HTTP status, or
 * 'hang' (no answer until released).
 */
class FakeDaemon {
  readonly socketPath: string;
  readonly requests: string[] = [];
  readonly containers = new Map<string, object | number>();
  readonly images = new Map<string, object | number | 'hang'>();
  private readonly hanging: http.ServerResponse[] = [];
  private readonly server: http.Server;

  constructor(dir: string) {
    this.socketPath = path.join(dir, 'docker.sock');
    this.server = http.createServer((req, res) => {
      const url = decodeURIComponent((req.url ?? '').split('?')[0]!).replace(/^\/v[0-9.]+/, '');
      this.requests.push(url);
      const c = /^\/containers\/([^/]+)\/json$/.exec(url);
      const i = /^\/images\/(.+)\/json$/.exec(url);
      const answer = c ? this.containers.get(c[1]!) : i ? this.images.get(i[1]!) : undefined;
      if (answer === 'hang') {
        this.hanging.push(res);
        return;
      }
      const status = answer === undefined ? 404 : typeof answer === 'number' ? answer : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status === 200 ? answer : { message: `status ${status}` }));
    });
  }

  start(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  count(url: string): number {
    return this.requests.filter((r) => r === url).length;
  }

  /** Lets every hanging request fail now. */
  release(): void {
    for (const res of this.hanging.splice(0)) {
      res.writeHead(500);
      res.end('{}');
    }
  }

  async stop(): Promise<void> {
    this.release();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('DockerMetadataSource against a daemon', () => {
  const C1 = '1'.repeat(64);
  const C2 = '2'.repeat(64);
  const C3 = '3'.repeat(64);
  const img = (n: number) => 'sha256:' + String(n).repeat(64).slice(0, 64);
  /** A container run by image id: its image name and tags come from the image's RepoTags only. */
  const container = (name: string, image: string) => ({ Name: `/${name}`, Image: image, Config: { Image: image, Labels: {} } });

  let dir: string;
  let daemon: FakeDaemon;
  const quiet = createLogger('error', () => undefined);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const internals = (s: DockerMetadataSource) =>
    s as unknown as { imageTags: Map<string, string[]>; imageFailures: Map<string, number>; imageLookups: Map<string, Promise<string[]>>; maxImages: number; imageRetryMs: number };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-docker-'));
    daemon = new FakeDaemon(dir);
    await daemon.start();
  });

  afterEach(async () => {
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('inspect: a 404 is null; a daemon error rejects, so a later call asks again', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet);
    expect(await src.inspect(C1)).toBeNull(); // not a Docker container
    daemon.containers.set(C2, 500);
    await expect(src.inspect(C2)).rejects.toThrow();
    daemon.containers.set(C2, { Name: '/web', Config: { Image: 'nginx:1.25' } });
    daemon.images.set('nginx:1.25', { RepoTags: ['nginx:1.25'] });
    expect((await src.inspect(C2))?.name).toBe('web');
    expect(daemon.count(`/containers/${C2}/json`)).toBe(2);
  });

  it('image tags: a failed lookup is not remembered as an answer; it is retried after imageRetryMs, not before', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet, { imageRetryMs: 150 });
    daemon.containers.set(C1, container('web', img(1)));
    daemon.images.set(img(1), 503);
    const first = await src.inspect(C1);
    expect(first?.name).toBe('web'); // the container's metadata still arrives
    expect(first?.imageName).toBeUndefined();

    daemon.images.set(img(1), { RepoTags: ['registry:5000/app:1.2'] });
    expect((await src.inspect(C1))?.imageName).toBeUndefined(); // inside the interval: the daemon is not asked
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(1);

    await sleep(200);
    const later = await src.inspect(C1);
    expect(later?.imageName).toBe('registry:5000/app');
    expect(later?.imageTags).toEqual(['1.2']);
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(2);
    expect(internals(src).imageFailures.size).toBe(0);

    await src.inspect(C1); // an answer is remembered
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(2);
  });

  it('image tags: answers are shared by concurrent lookups and at most maxImages are kept, oldest out', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet, { maxImages: 2 });
    for (const [c, n] of [[C1, 1], [C2, 2], [C3, 3]] as const) {
      daemon.containers.set(c, container(`c${n}`, img(n)));
      daemon.images.set(img(n), { RepoTags: [`app${n}:v${n}`] });
    }
    await src.inspect(C1);
    await Promise.all([src.inspect(C2), src.inspect(C2), src.inspect(C2)]);
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(1);
    expect(daemon.count(`/images/${img(2)}/json`)).toBe(1);
    expect((await src.inspect(C3))?.imageName).toBe('app3');
    expect(internals(src).imageTags.size).toBe(2);
    expect([...internals(src).imageTags.keys()]).toEqual([img(2), img(3)]);
    expect((await src.inspect(C1))?.imageTags).toEqual(['v1']); // evicted: asked again
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(2);
    expect(internals(src).imageTags.size).toBe(2);
  });

  it('failed image lookups remembered for the retry interval are bounded by maxImages too', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet, { maxImages: 2, imageRetryMs: 60_000 });
    for (const [c, n] of [[C1, 1], [C2, 2], [C3, 3]] as const) {
      daemon.containers.set(c, container(`c${n}`, img(n)));
      daemon.images.set(img(n), 500);
    }
    await src.inspect(C1);
    await src.inspect(C2);
    await src.inspect(C3);
    expect(internals(src).imageFailures.size).toBe(2);
    await src.inspect(C1); // its failure was the oldest, dropped: asked again
    await src.inspect(C3); // still inside its interval
    expect(daemon.count(`/images/${img(1)}/json`)).toBe(2);
    expect(daemon.count(`/images/${img(3)}/json`)).toBe(1);
    expect(internals(src).imageFailures.size).toBe(2);
  });

  it('image lookups in flight are bounded by maxImages', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet, { maxImages: 1 });
    daemon.containers.set(C1, container('c1', img(1)));
    daemon.containers.set(C2, container('c2', img(2)));
    daemon.images.set(img(1), 'hang');
    daemon.images.set(img(2), 'hang');
    const pending = [src.inspect(C1), src.inspect(C2)];
    while (daemon.count(`/images/${img(1)}/json`) + daemon.count(`/images/${img(2)}/json`) < 2) await sleep(5);
    expect(internals(src).imageLookups.size).toBe(1);
    daemon.release();
    const results = await Promise.all(pending);
    expect(results.map((m) => m?.name)).toEqual(['c1', 'c2']);
    expect(internals(src).imageLookups.size).toBe(0);
  });

  it('defaults: 1024 images, a failed image lookup retried after 30 s', () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet);
    expect(internals(src).maxImages).toBe(1024);
    expect(internals(src).imageRetryMs).toBe(30_000);
  });
});

describe('DockerMetadataSource: network part (inspectNetwork, listRunning)', () => {
  const C1 = '1'.repeat(64);
  const C2 = '2'.repeat(64);
  const quiet = createLogger('error', () => undefined);
  /** A `docker inspect` result of a container on a user network with a published port (Docker 20.10), plus fields inspectNetwork drops. */
  const inspected = {
    Id: C1,
    Name: '/web',
    Image: IMAGE_ID,
    Path: 'sleep',
    Args: ['600'],
    Config: { Image: 'nginx:1.25', Labels: { app: 'web' }, Env: ['SECRET=x'], Cmd: ['sleep', '600'] },
    State: { Status: 'running', Running: true, Pid: 23926 },
    HostConfig: { NetworkMode: 'pg-usernet', Binds: ['/a:/b'] },
    Mounts: [],
    NetworkSettings: {
      SandboxID: 'bd07a6d4ade55bb4d228bf826aacc1a2a9fcaec14e9312804bb42a14a4174dce',
      SandboxKey: '/var/run/docker/netns/bd07a6d4ade5',
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18080' }, { HostIp: '::', HostPort: '18080' }], '443/tcp': null },
      IPAddress: '',
      GlobalIPv6Address: '',
      LinkLocalIPv6Address: '',
      Gateway: '',
      IPv6Gateway: '',
      MacAddress: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      Networks: {
        'pg-usernet': {
          IPAMConfig: null,
          Aliases: ['e88805265024'],
          NetworkID: '299fd01692545e8c45fdff1b0fc25ab8a31e1d8dff6d7b4c2f4459eed0eb6bed',
          EndpointID: '159ae4370cf0e148ca51d4f4891c99d61654f736748e0df91c438c6360c7e476',
          Gateway: '172.18.0.1',
          IPAddress: '172.18.0.2',
          IPPrefixLen: 16,
          IPv6Gateway: '',
          GlobalIPv6Address: '',
          GlobalIPv6PrefixLen: 0,
          MacAddress: '02:42:ac:12:00:02',
          DriverOpts: null,
        },
      },
    },
  };
  const expected: ContainerNetwork = {
    Id: C1,
    Name: '/web',
    Image: IMAGE_ID,
    Config: { Image: 'nginx:1.25', Labels: { app: 'web' } },
    State: { Running: true, Pid: 23926 },
    HostConfig: { NetworkMode: 'pg-usernet' },
    NetworkSettings: {
      SandboxKey: '/var/run/docker/netns/bd07a6d4ade5',
      IPAddress: '',
      GlobalIPv6Address: '',
      LinkLocalIPv6Address: '',
      Gateway: '',
      IPv6Gateway: '',
      MacAddress: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18080' }, { HostIp: '::', HostPort: '18080' }], '443/tcp': null },
      Networks: {
        'pg-usernet': {
          NetworkID: '299fd01692545e8c45fdff1b0fc25ab8a31e1d8dff6d7b4c2f4459eed0eb6bed',
          IPAddress: '172.18.0.2',
          GlobalIPv6Address: '',
          Gateway: '172.18.0.1',
          IPv6Gateway: '',
          MacAddress: '02:42:ac:12:00:02',
          IPAMConfig: null,
        },
      },
    },
  };

  let dir: string;
  let daemon: FakeDaemon;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-docker-'));
    daemon = new FakeDaemon(dir);
    await daemon.start();
  });
  afterEach(async () => {
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('containerNetworkFromInspect keeps the network part only (no env, mounts, command)', () => {
    expect(containerNetworkFromInspect(inspected as unknown as ContainerNetwork)).toStrictEqual(expected);
    expect(containerNetworkFromInspect({ Id: C2 })).toStrictEqual({
      Id: C2, Name: undefined, Image: undefined, Config: undefined, State: undefined, HostConfig: undefined, NetworkSettings: undefined,
    });
  });

  it('inspectNetwork: the network part; 404 is null; a daemon error rejects; no image lookup', async () => {
    const src = new DockerMetadataSource(daemon.socketPath, quiet);
    daemon.containers.set(C1, inspected);
    expect(await src.inspectNetwork(C1)).toStrictEqual(expected);
    expect(await src.inspectNetwork(C2)).toBeNull();
    daemon.containers.set(C2, 500);
    await expect(src.inspectNetwork(C2)).rejects.toThrow();
    expect(daemon.requests.filter((r) => r.startsWith('/images/'))).toEqual([]);
  });

  it('listRunning: the ids of running containers (GET /containers/json without all)', async () => {
    const queries: string[] = [];
    const sock = path.join(dir, 'list.sock');
    const server = http.createServer((req, res) => {
      queries.push(req.url ?? '');
      const url = (req.url ?? '').split('?')[0]!.replace(/^\/v[0-9.]+/, '');
      if (url !== '/containers/json') {
        res.writeHead(404).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ Id: C1, Names: ['/web'], State: 'running' }, { Id: C2, Names: ['/db'], State: 'running' }]));
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const src = new DockerMetadataSource(sock, quiet);
      expect(await src.listRunning()).toEqual([C1, C2]);
      expect(queries).toHaveLength(1);
      expect(queries[0]).not.toMatch(/all=(true|1)/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // Unreachable daemon: rejects.
    await expect(new DockerMetadataSource(path.join(dir, 'none.sock'), quiet).listRunning()).rejects.toThrow();
  });
});

describe('metadataFromEvent (Docker create/start event attributes)', () => {
  it('takes name, image reference and labels; no image id or repo tags', () => {
    expect(metadataFromEvent({ name: 'web', image: 'registry:5000/team/app:1.2', app: 'shop', 'com.example.tier': 'front' })).toEqual({
      name: 'web',
      imageName: 'registry:5000/team/app',
      imageTags: ['1.2'],
      imageId: undefined,
      runtimeName: 'docker',
      labels: { app: 'shop', 'com.example.tier': 'front' },
    });
    expect(metadataFromEvent({ name: '/job', image: 'busybox' })?.imageTags).toEqual(['latest']);
    expect(metadataFromEvent({ name: 'x', image: 'sha256:' + 'ab'.repeat(32) })).toMatchObject({ imageName: undefined, imageId: 'sha256:' + 'ab'.repeat(32) });
  });

  it('is null without a name, and bounds the labels', () => {
    expect(metadataFromEvent({ image: 'busybox' })).toBeNull();
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`l${i}`, 'v'.repeat(1000)]));
    const m = metadataFromEvent({ name: 'x', ...many })!;
    expect(Object.keys(m.labels)).toHaveLength(64);
    expect(m.labels.l0).toHaveLength(256);
  });
});
