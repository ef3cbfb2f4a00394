// SPDX-License-Identifier: Apache-2.0
/**
 * ContainerAttributor over a real CgroupIdResolver (a temp directory tree stands in for
 * /sys/fs/cgroup: the resolver maps directory inodes to paths exactly as it does there).
 * The only stand-in is FakeDocker: a Docker daemon's inspect answer with controlled timing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CgroupIdResolver } from '../../src/containers/cgroup-fs.js';
import { ContainerAttributor, containerAttributes, type AttributorOptions, type CgroupRef, type ContainerInfo } from '../../src/containers/attributor.js';
import type { ContainerMetadata, MetadataSource } from '../../src/containers/metadata-source.js';

const A = '0123456789abcdef'.repeat(4);
const B = 'fedcba9876543210'.repeat(4);
const SELF = 'a1b2c3d4e5f60718'.repeat(4);
/** An id no directory of the temp tree has: the resolver misses. */
const UNKNOWN_ID = 2n ** 62n + 12345n;

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-attr-'));
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Creates a cgroup directory; returns its id (the directory inode, as the kernel reports it). */
function cgroup(rel: string): bigint {
  const dir = path.join(tmp, rel);
  fs.mkdirSync(dir, { recursive: true });
  return fs.statSync(dir, { bigint: true }).ino;
}

/** The kernel's view of a cgroup: id plus its last two path components. */
function ref(cgroupId: bigint, rel: string): CgroupRef {
  const parts = rel.split('/').filter(Boolean);
  return { cgroupId, name: parts.at(-1) ?? '', parentName: parts.at(-2) ?? '' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Docker's inspect answer, with the test deciding when it arrives ('fail': the daemon could not answer). */
class FakeDocker {
  readonly calls: string[] = [];
  private readonly pending = new Map<string, Deferred<ContainerMetadata | null>>();
  constructor(readonly answers: Record<string, ContainerMetadata | null | 'slow' | 'fail'> = {}) {}

  inspect(id: string): Promise<ContainerMetadata | null> {
    this.calls.push(id);
    const a = this.answers[id];
    if (a === 'slow') {
      const d = deferred<ContainerMetadata | null>();
      this.pending.set(id, d);
      return d.promise;
    }
    if (a === 'fail') return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    return Promise.resolve(a ?? null);
  }

  /** Resolves once an inspect of `id` is pending (bounded), instead of guessing a delay. */
  async whenAsked(id: string, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.pending.has(id)) {
      if (Date.now() > end) throw new Error(`no inspect of ${id} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Lets a slow answer arrive now. */
  answer(id: string, m: ContainerMetadata | null): void {
    const d = this.pending.get(id);
    if (!d) throw new Error(`no pending inspect for ${id}`);
    d.resolve(m);
  }

  asSource(): MetadataSource {
    return this as unknown as MetadataSource;
  }
}

function meta(name: string, over: Partial<ContainerMetadata> = {}): ContainerMetadata {
  return {
    name,
    imageName: 'nginx',
    imageTags: ['1.25'],
    imageId: 'sha256:' + 'cd'.repeat(32),
    runtimeName: 'docker',
    labels: { app: 'web' },
    ...over,
  };
}

function attributor(opts: Partial<AttributorOptions> = {}): ContainerAttributor {
  return new ContainerAttributor({
    resolver: new CgroupIdResolver(tmp, { rescanIntervalMs: 0 }),
    sources: [],
    metadataWaitMs: 50,
    selfCgroupPath: null,
    ...opts,
  });
}

describe('ContainerAttributor without Docker', () => {
  it('host cgroups are not containers', async () => {
    const a = attributor();
    for (const rel of ['/system.slice/sshd.service', '/user.slice/user-1000.slice/session-3.scope', '/init.scope']) {
      expect(await a.attribute(ref(cgroup(rel), rel))).toBeNull();
    }
    const root = fs.statSync(tmp, { bigint: true }).ino;
    expect(await a.attribute({ cgroupId: root, name: '', parentName: '' })).toBeNull();
    expect(a.size).toBe(0);
  });

  it('docker (systemd driver): id, runtime, path and cgroup-derived attributes', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const a = attributor();
    const info = await a.attribute(ref(cgroup(rel), rel));
    expect(info).toEqual({
      id: A,
      cgroupPath: rel,
      runtime: 'docker',
      metadata: null,
      attributes: { 'container.id': A, 'container.runtime.name': 'docker' },
      ready: expect.any(Promise),
    });
    expect(a.size).toBe(1);
  });

  it('uses the resolver path, so a deep hierarchy attributes correctly', async () => {
    const rel = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-${A}.scope`;
    // Kernel names that alone would not identify the container: the resolver's path wins.
    const info = await attributor().attribute({ cgroupId: cgroup(rel), name: 'garbage', parentName: 'garbage' });
    expect(info?.id).toBe(A);
    expect(info?.runtime).toBe('containerd');
    expect(info?.cgroupPath).toBe(rel);
  });

  it('a bare id has runtime unknown and no container.runtime.name', async () => {
    const rel = `/kubepods/besteffort/pod1234/${A}`;
    const info = await attributor().attribute(ref(cgroup(rel), rel));
    expect(info?.runtime).toBe('unknown');
    expect(info?.attributes).toEqual({ 'container.id': A });
  });

  it('a sub-cgroup inside a container resolves to the container', async () => {
    const rel = `/machine.slice/libpod-${A}.scope/container`;
    const info = await attributor().attribute(ref(cgroup(rel), rel));
    expect(info?.id).toBe(A);
    expect(info?.runtime).toBe('podman');
  });

  it("the agent's own cgroup (selfCgroupPath) is never reported", async () => {
    const self = `/system.slice/docker-${SELF}.scope`;
    const other = `/system.slice/docker-${A}.scope`;
    const a = attributor({ selfCgroupPath: self });
    expect(await a.attribute(ref(cgroup(self), self))).toBeNull();
    expect((await a.attribute(ref(cgroup(other), other)))?.id).toBe(A);
  });

  it("the agent's own cgroup is excluded on the kernel-names fallback too (two-level path)", async () => {
    const self = `/system.slice/docker-${SELF}.scope`;
    const a = attributor({ resolver: null, selfCgroupPath: self });
    expect(await a.attribute(ref(UNKNOWN_ID, self))).toBeNull();
  });

  it("the agent's own cgroup is excluded on the fallback for a deep (k8s) path", async () => {
    const self = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-${SELF}.scope`;
    const a = attributor({ resolver: null, selfCgroupPath: self });
    expect(await a.attribute(ref(UNKNOWN_ID, self))).toBeNull();
  });

  it('the same cgroup is looked up once: every call returns the same cached promise', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const a = attributor();
    const p1 = a.attribute(ref(id, rel));
    const p2 = a.attribute(ref(id, rel)); // concurrent, before p1 settles
    expect(p2).toBe(p1);
    const info = await p1;
    // Even after the directory is gone (late events of a removed container), and even with other names.
    fs.rmSync(path.join(tmp, rel), { recursive: true });
    const p3 = a.attribute({ cgroupId: id, name: 'x', parentName: 'y' });
    expect(p3).toBe(p1);
    expect(await p3).toBe(info);
    expect(a.size).toBe(1);
  });

  it('a null result (host) is cached as well', async () => {
    const rel = '/system.slice/cron.service';
    const id = cgroup(rel);
    const a = attributor();
    const p1 = a.attribute(ref(id, rel));
    expect(await p1).toBeNull();
    expect(a.attribute(ref(id, rel))).toBe(p1);
  });

  it('falls back to the kernel names when the resolver has no entry for the id', async () => {
    cgroup('/system.slice'); // a real tree, just not containing this id
    const a = attributor();
    const info = await a.attribute({ cgroupId: UNKNOWN_ID, name: `docker-${A}.scope`, parentName: 'system.slice' });
    expect(info?.id).toBe(A);
    expect(info?.runtime).toBe('docker');
    expect(info?.cgroupPath).toBe(`/system.slice/docker-${A}.scope`);
  });

  it('falls back to the kernel names without a resolver', async () => {
    const a = attributor({ resolver: null });
    expect((await a.attribute({ cgroupId: 1n, name: A, parentName: 'docker' }))?.runtime).toBe('docker');
    expect((await a.attribute({ cgroupId: 2n, name: 'container', parentName: `libpod-${B}.scope` }))?.id).toBe(B);
    expect(await a.attribute({ cgroupId: 3n, name: 'sshd.service', parentName: 'system.slice' })).toBeNull();
    expect(await a.attribute({ cgroupId: 4n, name: '', parentName: '' })).toBeNull();
  });

  it('runtime events for unknown containers are ignored', () => {
    const a = attributor();
    expect(() => a.onRuntimeEvent('rename', B, { name: '/x' })).not.toThrow();
    expect(() => a.onRuntimeEvent('destroy', B, {})).not.toThrow();
    expect(a.size).toBe(0);
  });

  it('a destroyed container is forgotten 60 s later, then looked up again', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const a = attributor();
    const p1 = a.attribute(ref(id, rel));
    await p1;
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    a.onRuntimeEvent('destroy', A, {});
    vi.advanceTimersByTime(59_000);
    expect(a.size).toBe(1);
    expect(a.attribute(ref(id, rel))).toBe(p1);
    vi.advanceTimersByTime(1_000);
    vi.useRealTimers();
    await sleep(0); // forget() drops the cgroup entry once the cached promise settles
    expect(a.size).toBe(0);
    const p2 = a.attribute(ref(id, rel));
    expect(p2).not.toBe(p1);
    expect((await p2)?.id).toBe(A);
  });
});

describe('ContainerAttributor with Docker metadata', () => {
  it('metadata that arrives in time is on the first result', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const docker = new FakeDocker({ [A]: meta('web') });
    const a = attributor({ sources: [docker.asSource()], metadataWaitMs: 5_000 });
    const t0 = performance.now();
    const info = await a.attribute(ref(cgroup(rel), rel));
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(info?.metadata).toEqual(meta('web'));
    expect(info?.attributes).toEqual({
      'container.id': A,
      'container.runtime.name': 'docker',
      'container.name': 'web',
      'container.image.name': 'nginx',
      'container.image.tags': ['1.25'],
      'container.image.id': 'sha256:' + 'cd'.repeat(32),
      'container.label.app': 'web',
    });
    expect(docker.calls).toEqual([A]);
  });

  it('a container Docker does not know keeps the cgroup-derived attributes', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const docker = new FakeDocker({ [A]: null });
    const info = await attributor({ sources: [docker.asSource()] }).attribute(ref(cgroup(rel), rel));
    expect(info?.metadata).toBeNull();
    expect(info?.attributes).toEqual({ 'container.id': A, 'container.runtime.name': 'docker' });
  });

  it('host cgroups never reach Docker', async () => {
    const rel = '/system.slice/sshd.service';
    const docker = new FakeDocker();
    expect(await attributor({ sources: [docker.asSource()] }).attribute(ref(cgroup(rel), rel))).toBeNull();
    expect(docker.calls).toEqual([]);
  });

  it('concurrent events of one cgroup make one inspect call', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: meta('web') });
    const a = attributor({ sources: [docker.asSource()] });
    const results = await Promise.all(Array.from({ length: 10 }, () => a.attribute(ref(id, rel))));
    expect(new Set(results).size).toBe(1);
    expect(docker.calls).toEqual([A]);
  });

  it('slow metadata: resolves after metadataWaitMs without a name, later events carry it (late enrichment)', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: 'slow' });
    const a = attributor({ sources: [docker.asSource()], metadataWaitMs: 100 });

    const t0 = performance.now();
    const first = await a.attribute(ref(id, rel));
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(2_000);
    const firstAttributes = first!.attributes;
    expect(firstAttributes).toEqual({ 'container.id': A, 'container.runtime.name': 'docker' });
    expect(first?.metadata).toBeNull();

    docker.answer(A, meta('slowpoke'));
    await sleep(0);

    const later = await a.attribute(ref(id, rel));
    expect(later?.attributes['container.name']).toBe('slowpoke');
    expect(later?.attributes['container.image.name']).toBe('nginx');
    // The attributes an earlier event already used are a separate object, left as they were.
    expect(firstAttributes).toEqual({ 'container.id': A, 'container.runtime.name': 'docker' });
    expect(docker.calls).toEqual([A]);
  });

  it('slow or missing inspect answers: the name, image and labels of the create/start event are used', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const relB = `/system.slice/docker-${B}.scope`;
    // A: inspect never answers in time; B: gone before its inspect (a short-lived --rm container).
    const docker = new FakeDocker({ [A]: 'slow', [B]: null });
    const a = attributor({ sources: [docker.asSource()], metadataWaitMs: 50 });
    a.onRuntimeEvent('create', A, { name: 'web', image: 'nginx:1.25', app: 'shop' });
    a.onRuntimeEvent('start', B, { name: '/job-7', image: 'busybox' });
    const first = await a.attribute(ref(cgroup(rel), rel));
    expect(first?.attributes).toEqual({
      'container.id': A,
      'container.runtime.name': 'docker',
      'container.name': 'web',
      'container.image.name': 'nginx',
      'container.image.tags': ['1.25'],
      'container.label.app': 'shop',
    });
    const b = await a.attribute(ref(cgroup(relB), relB));
    expect(b?.attributes['container.name']).toBe('job-7');
    expect(b?.attributes['container.image.tags']).toEqual(['latest']);
    // The inspect answer, once it comes, replaces it (image id, the image's own tags).
    docker.answer(A, meta('web'));
    await sleep(0);
    expect((await a.attribute(ref(cgroup(rel), rel)))?.attributes['container.image.id']).toBe('sha256:' + 'cd'.repeat(32));
  });

  it('announced containers are forgotten after their destroy, and bounded', async () => {
    const a = attributor({ removalGraceMs: 0, maxContainers: 2 });
    for (const id of [A, B, SELF]) a.onRuntimeEvent('create', id, { name: id.slice(0, 4), image: 'x' });
    expect(a.cacheSizes().announced).toBe(2);
    a.onRuntimeEvent('destroy', B, {});
    a.onRuntimeEvent('destroy', SELF, {});
    await sleep(5);
    expect(a.cacheSizes().announced).toBe(0);
  });

  it('rename events update the name (leading slash removed)', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: meta('old-name') });
    const a = attributor({ sources: [docker.asSource()] });
    const before = (await a.attribute(ref(id, rel)))!.attributes;
    expect(before['container.name']).toBe('old-name');

    a.onRuntimeEvent('rename', A, { name: '/new-name', oldName: '/old-name' });
    const after = await a.attribute(ref(id, rel));
    expect(after?.attributes['container.name']).toBe('new-name');
    expect(after?.metadata?.name).toBe('new-name');
    // Everything else is unchanged.
    expect(after?.attributes).toEqual({ ...before, 'container.name': 'new-name' });
    expect(before['container.name']).toBe('old-name');

    a.onRuntimeEvent('rename', A, { name: 'no-slash' });
    expect((await a.attribute(ref(id, rel)))?.attributes['container.name']).toBe('no-slash');
    a.onRuntimeEvent('rename', A, {}); // no name: ignored
    a.onRuntimeEvent('start', A, { name: '/ignored' }); // other actions: ignored
    expect((await a.attribute(ref(id, rel)))?.attributes['container.name']).toBe('no-slash');
  });

  it('a rename reaches every cgroup of the container', async () => {
    const outer = `/system.slice/docker-${A}.scope`;
    const inner = `/system.slice/docker-${A}.scope/init.scope`;
    const outerId = cgroup(outer);
    const innerId = cgroup(inner);
    const docker = new FakeDocker({ [A]: meta('old-name') });
    const a = attributor({ sources: [docker.asSource()] });
    await a.attribute(ref(outerId, outer));
    await a.attribute(ref(innerId, inner));
    a.onRuntimeEvent('rename', A, { name: '/new-name' });
    expect((await a.attribute(ref(innerId, inner)))?.attributes['container.name']).toBe('new-name');
    expect((await a.attribute(ref(outerId, outer)))?.attributes['container.name']).toBe('new-name');
  });
});

describe('containerAttributes', () => {
  it('metadata runtime wins over the cgroup runtime; labels become container.label.*', () => {
    expect(containerAttributes(A, 'unknown', meta('x', { runtimeName: 'docker', labels: { 'com.example.a': '1' } }))).toMatchObject({
      'container.id': A,
      'container.runtime.name': 'docker',
      'container.label.com.example.a': '1',
    });
  });

  it('omits empty and missing metadata', () => {
    expect(containerAttributes(A, 'cri-o', null)).toEqual({ 'container.id': A, 'container.runtime.name': 'cri-o' });
    expect(
      containerAttributes(A, 'unknown', { runtimeName: '', labels: {}, imageTags: [] }),
    ).toEqual({ 'container.id': A });
  });
});

describe('ContainerAttributor cache bound', () => {
  it('keeps at most 16384 cgroups, evicting the oldest, and still answers for evicted ones', async () => {
    const { ContainerAttributor } = await import('../../src/containers/attributor.js');
    const a = new ContainerAttributor({ resolver: null, sources: [], metadataWaitMs: 0, selfCgroupPath: null });
    const id = 'a'.repeat(64);
    const first = await a.attribute({ cgroupId: 1n, name: `docker-${id}.scope`, parentName: 'system.slice' });
    for (let i = 2n; i <= 20_000n; i++) await a.attribute({ cgroupId: i, name: `session-${i}.scope`, parentName: 'user.slice' });
    const cache = (a as unknown as { byCgroup: Map<bigint, unknown> }).byCgroup;
    expect(cache.size).toBeLessThanOrEqual(16_384);
    expect(cache.has(1n)).toBe(false);
    const again = await a.attribute({ cgroupId: 1n, name: `docker-${id}.scope`, parentName: 'system.slice' });
    expect(again).toBe(first); // the same container record, found by id
  });
});

/** The attributor's private state, for the bound tests. */
function internals(a: ContainerAttributor) {
  return a as unknown as {
    byCgroup: Map<bigint, unknown>;
    byId: Map<string, ContainerInfo>;
    liveCgroups: Map<ContainerInfo, number>;
    retryAt: Map<string, number>;
    pendingRemovals: Map<bigint | string, unknown>;
  };
}

/** A 64-hex container id from a number. */
const hexId = (n: number) => n.toString(16).padStart(64, '0');

describe('ContainerAttributor over an asynchronous resolver', () => {
  it('a cache miss never walks the cgroup tree synchronously', async () => {
    const rel = `/kubepods.slice/kubepods-pod1.slice/cri-containerd-${A}.scope`;
    const id = cgroup(rel);
    const readdirSync = vi.spyOn(fs, 'readdirSync');
    const statSync = vi.spyOn(fs, 'statSync');
    // Names that match nothing cached: only a scan finds the path.
    const info = await attributor().attribute({ cgroupId: id, name: 'garbage', parentName: 'garbage' });
    expect(info?.cgroupPath).toBe(rel);
    expect(readdirSync).not.toHaveBeenCalled();
    expect(statSync).not.toHaveBeenCalled();
  });

  it('reads the ref once: a caller may reuse its ref object for the next event', async () => {
    const a = attributor({ resolver: null });
    const scratch: CgroupRef = { cgroupId: 1n, name: `docker-${A}.scope`, parentName: 'system.slice' };
    const p = a.attribute(scratch);
    scratch.cgroupId = 2n;
    scratch.name = 'sshd.service';
    const q = a.attribute(scratch);
    expect((await p)?.id).toBe(A);
    expect(await q).toBeNull();
  });
});

describe('ContainerAttributor.attributeKnown', () => {
  it('undefined while unknown or pending; then the settled result, synchronously and always the same', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const host = '/system.slice/cron.service';
    const hostId = cgroup(host);
    const docker = new FakeDocker({ [A]: 'slow' });
    const a = attributor({ sources: [docker.asSource()], metadataWaitMs: 60_000 });
    expect(a.attributeKnown(ref(id, rel))).toBeUndefined(); // never seen

    const p = a.attribute(ref(id, rel));
    await docker.whenAsked(A);
    expect(a.attributeKnown(ref(id, rel))).toBeUndefined(); // waiting for its metadata
    docker.answer(A, meta('web'));
    const info = await p;
    const known = a.attributeKnown({ cgroupId: id }); // only the id is read
    expect(known).toBe(info);
    expect(known?.attributes['container.name']).toBe('web');
    expect(a.attributeKnown(ref(id, rel))).toBe(info);
    expect(a.attributeKnown({ cgroupId: id })?.attributes).toBe(info?.attributes);

    const hp = a.attribute(ref(hostId, host));
    expect(a.attributeKnown(ref(hostId, host))).toBeUndefined();
    expect(await hp).toBeNull();
    expect(a.attributeKnown(ref(hostId, host))).toBeNull(); // settled: a host cgroup
  });

  it('the metadata wait running out settles it too', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: 'slow' });
    const a = attributor({ sources: [docker.asSource()], metadataWaitMs: 10 });
    const info = await a.attribute(ref(id, rel));
    expect(a.attributeKnown(ref(id, rel))).toBe(info);
    expect(info?.metadata).toBeNull();
  });
});

describe('ContainerAttributor.onCgroupRemoved', () => {
  it('a removed cgroup resolves for 60 s (late events), then its entry, cached path and container record go', async () => {
    const rel = `/system.slice/cri-containerd-${A}.scope`; // containerd: no Docker destroy event
    const id = cgroup(rel);
    const resolver = new CgroupIdResolver(tmp, { rescanIntervalMs: 0 });
    const a = attributor({ resolver });
    const p1 = a.attribute(ref(id, rel));
    const info = await p1;
    expect(resolver.resolve(id)).toBe(rel);

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    a.onCgroupRemoved(id);
    a.onCgroupRemoved(id); // a repeated notice changes nothing
    vi.advanceTimersByTime(59_999);
    expect(a.attribute(ref(id, rel))).toBe(p1);
    expect(a.attributeKnown(ref(id, rel))).toBe(info);
    expect(a.size).toBe(1);
    vi.advanceTimersByTime(1);
    vi.useRealTimers();

    expect(a.size).toBe(0);
    expect(a.attributeKnown(ref(id, rel))).toBeUndefined();
    expect(resolver.resolve(id)).toBeNull();
    const s = internals(a);
    expect(s.byCgroup.size).toBe(0);
    expect(s.liveCgroups.size).toBe(0);
    expect(s.pendingRemovals.size).toBe(0);
  });

  it('keeps the container record while another cgroup of the container lives', async () => {
    const outer = `/machine.slice/libpod-${A}.scope`;
    const inner = `/machine.slice/libpod-${A}.scope/container`;
    const outerId = cgroup(outer);
    const innerId = cgroup(inner);
    const a = attributor({ removalGraceMs: 0 });
    const info = await a.attribute(ref(outerId, outer));
    expect(await a.attribute(ref(innerId, inner))).toBe(info);

    a.onCgroupRemoved(innerId);
    await sleep(10);
    expect(a.attributeKnown(ref(innerId, inner))).toBeUndefined();
    expect(a.size).toBe(1);
    expect(a.attributeKnown(ref(outerId, outer))).toBe(info);

    a.onCgroupRemoved(outerId);
    await sleep(10);
    expect(a.size).toBe(0);
    expect(internals(a).liveCgroups.size).toBe(0);
  });

  it('a removed cgroup the cache bound had already evicted still frees its container record', async () => {
    const rel = `/system.slice/crio-${A}.scope`;
    const id = cgroup(rel);
    const a = attributor({ removalGraceMs: 0, maxCgroups: 4 });
    await a.attribute(ref(id, rel));
    for (let i = 0; i < 4; i++) {
      const host = `/system.slice/s${i}.service`;
      await a.attribute(ref(cgroup(host), host));
    }
    expect(internals(a).byCgroup.has(id)).toBe(false);
    expect(a.size).toBe(1);
    a.onCgroupRemoved(id);
    await sleep(10);
    expect(a.size).toBe(0);
  });

  it('an unknown cgroup id is harmless', async () => {
    const a = attributor({ removalGraceMs: 0 });
    a.onCgroupRemoved(UNKNOWN_ID);
    await sleep(10);
    expect(a.size).toBe(0);
  });

  it('a destroy event still works alongside, and both together remove once', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const a = attributor({ removalGraceMs: 0 });
    await a.attribute(ref(id, rel));
    a.onCgroupRemoved(id);
    a.onRuntimeEvent('destroy', A, {});
    await sleep(10);
    expect(a.size).toBe(0);
    expect(internals(a).byCgroup.size).toBe(0);
    expect(internals(a).pendingRemovals.size).toBe(0);
  });

  it('at most maxCgroups removals wait (default 16384): beyond that the oldest runs at once', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const a = attributor(); // 60 s grace, 16384 bound
    await a.attribute(ref(id, rel));
    a.onCgroupRemoved(id);
    for (let i = 1n; i < 16_384n; i++) a.onCgroupRemoved(UNKNOWN_ID + i);
    expect(internals(a).pendingRemovals.size).toBe(16_384);
    expect(a.size).toBe(1); // nothing ran yet
    a.onCgroupRemoved(UNKNOWN_ID + 16_384n);
    expect(internals(a).pendingRemovals.size).toBe(16_384);
    expect(a.size).toBe(0); // the oldest, our container's cgroup, ran at once
    expect(a.attributeKnown(ref(id, rel))).toBeUndefined();
  });
});

describe('ContainerAttributor metadata retries', () => {
  it('a failed inspect (not a 404) is retried by a later event, at most once per metadataRetryMs', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: 'fail' });
    const a = attributor({ sources: [docker.asSource()], metadataRetryMs: 100 });
    const first = await a.attribute(ref(id, rel));
    expect(first?.metadata).toBeNull();
    expect(docker.calls).toEqual([A]);

    // Events inside the interval do not ask again.
    await a.attribute(ref(id, rel));
    a.attributeKnown(ref(id, rel));
    expect(docker.calls).toEqual([A]);

    await sleep(130);
    await a.attribute(ref(id, rel)); // still failing: one more call, then another interval
    expect(docker.calls).toEqual([A, A]);
    a.attributeKnown(ref(id, rel));
    expect(docker.calls).toEqual([A, A]);

    docker.answers[A] = meta('web');
    await sleep(130);
    expect(a.attributeKnown(ref(id, rel))?.attributes['container.name']).toBeUndefined(); // this event goes out as it is
    await sleep(0);
    expect(docker.calls).toEqual([A, A, A]);
    expect(a.attributeKnown(ref(id, rel))?.attributes['container.name']).toBe('web'); // later ones carry the name
    expect(internals(a).retryAt.size).toBe(0);
    await sleep(130);
    await a.attribute(ref(id, rel));
    expect(docker.calls).toHaveLength(3); // named: never asked again
  });

  it('a container Docker does not know (404) is not asked again', async () => {
    const rel = `/system.slice/docker-${A}.scope`;
    const id = cgroup(rel);
    const docker = new FakeDocker({ [A]: null });
    const a = attributor({ sources: [docker.asSource()], metadataRetryMs: 10 });
    await a.attribute(ref(id, rel));
    await sleep(30);
    await a.attribute(ref(id, rel));
    a.attributeKnown(ref(id, rel));
    expect(docker.calls).toEqual([A]);
    expect(internals(a).retryAt.size).toBe(0);
  });

  it('pending retries are bounded by maxContainers and go with their container record', async () => {
    const answers: Record<string, 'fail'> = {};
    for (let i = 1; i <= 10; i++) answers[hexId(i)] = 'fail';
    const docker = new FakeDocker(answers);
    const a = attributor({ resolver: null, sources: [docker.asSource()], maxContainers: 4 });
    for (let i = 1; i <= 10; i++) await a.attribute({ cgroupId: BigInt(i), name: hexId(i), parentName: 'docker' });
    expect(internals(a).retryAt.size).toBeLessThanOrEqual(4);
    expect([...internals(a).retryAt.keys()].every((id) => internals(a).byId.has(id))).toBe(true);
  });
});

describe('ContainerAttributor container record bound', () => {
  it('keeps at most 8192 container records, the least recently looked up going first', async () => {
    const a = new ContainerAttributor({ resolver: null, sources: [], metadataWaitMs: 0, selfCgroupPath: null });
    const at = (cgroupId: bigint, n: number) => a.attribute({ cgroupId, name: hexId(n), parentName: 'docker' });
    for (let n = 1; n <= 8192; n++) await at(BigInt(n), n);
    expect(a.size).toBe(8192);
    const first = await at(100_000n, 1); // a new cgroup of container 1: looked up again, kept
    for (let n = 8193; n <= 8292; n++) await at(BigInt(n), n);
    expect(a.size).toBe(8192);
    const byId = internals(a).byId;
    expect(byId.get(hexId(1))).toBe(first);
    expect(byId.has(hexId(2))).toBe(false);
    expect(byId.has(hexId(101))).toBe(false);
    expect(byId.has(hexId(102))).toBe(true);
    // Counted cgroups never outnumber cached cgroups.
    expect(internals(a).liveCgroups.size).toBeLessThanOrEqual(internals(a).byCgroup.size);
  });
});
