// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  cgroupPathFromKernelNames,
  parseContainerFromCgroupPath,
  type ContainerRef,
} from '../../src/containers/cgroup-path.js';

const A = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'deadbeef';
const B = '0123456789abcdef'.repeat(4);
const UID = '8f6b7c2e_1d2a_4b5c_9e8f_0a1b2c3d4e5f';
const UIDD = '8f6b7c2e-1d2a-4b5c-9e8f-0a1b2c3d4e5f';

describe('parseContainerFromCgroupPath', () => {
  it('uses 64-hex fixtures', () => {
    expect(A).toMatch(/^[0-9a-f]{64}$/);
    expect(B).toMatch(/^[0-9a-f]{64}$/);
  });

  const positives: [string, string, ContainerRef][] = [
    ['docker cgroupfs', `/docker/${A}`, { id: A, runtime: 'docker' }],
    ['docker systemd', `/system.slice/docker-${A}.scope`, { id: A, runtime: 'docker' }],
    [
      'rootless docker',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${A}.scope`,
      { id: A, runtime: 'docker' },
    ],
    [
      'containerd systemd (k8s)',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID}.slice/cri-containerd-${A}.scope`,
      { id: A, runtime: 'containerd' },
    ],
    [
      'k8s cgroupfs bare id',
      `/kubepods/burstable/pod${UIDD}/${A}`,
      { id: A, runtime: 'unknown' },
    ],
    ['k8s cgroupfs guaranteed bare id', `/kubepods/pod${UIDD}/${A}`, { id: A, runtime: 'unknown' }],
    ['k8s cgroupfs besteffort bare id (ctr run --cgroup)', `/kubepods/besteffort/pod${UIDD}/${A}`, { id: A, runtime: 'unknown' }],
    ['containerd systemd, no qos slice', `/kubepods.slice/kubepods-pod${UID}.slice/cri-containerd-${A}.scope`, { id: A, runtime: 'containerd' }],
    [
      'systemd colon notation',
      `kubepods-besteffort-pod${UID}.slice:cri-containerd:${A}`,
      { id: A, runtime: 'containerd' },
    ],
    [
      'systemd colon notation, absolute',
      `/kubepods-besteffort-pod${UID}.slice:cri-containerd:${A}`,
      { id: A, runtime: 'containerd' },
    ],
    ['colon notation crio', `/kubepods-pod${UID}.slice:crio:${A}`, { id: A, runtime: 'cri-o' }],
    [
      'cri-o systemd',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID}.slice/crio-${A}.scope`,
      { id: A, runtime: 'cri-o' },
    ],
    ['cri-o cgroupfs', `/kubepods/besteffort/pod${UIDD}/crio-${A}`, { id: A, runtime: 'cri-o' }],
    ['podman user scope', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope`, { id: A, runtime: 'podman' }],
    ['podman inner container dir', `/machine.slice/libpod-${A}.scope/container`, { id: A, runtime: 'podman' }],
    ['podman machine.slice', `/machine.slice/libpod-${A}.scope`, { id: A, runtime: 'podman' }],
    ['podman cgroupfs', `/libpod_parent/libpod-${A}`, { id: A, runtime: 'podman' }],
    ['docker-in-docker', `/docker/${A}/docker/${B}`, { id: B, runtime: 'docker' }],
    ['nested systemd in cgroupfs', `/system.slice/docker-${A}.scope/docker/${B}`, { id: B, runtime: 'docker' }],
    ['container sub-cgroup', `/docker/${A}/init.scope`, { id: A, runtime: 'docker' }],
    ['trailing slash', `/docker/${A}/`, { id: A, runtime: 'docker' }],
    ['trailing newline from /proc', `/docker/${A}\n`, { id: A, runtime: 'docker' }],
    ['NUL-padded buffer', `/docker/${A}\0garbage/${B}`, { id: A, runtime: 'docker' }],
    ['cgroup namespace relative', `/../../system.slice/docker-${A}.scope`, { id: A, runtime: 'docker' }],
    ['dot segments', `/./docker/./${A}`, { id: A, runtime: 'docker' }],
    ['.. resolved lexically', `/docker/${A}/../${B}`, { id: B, runtime: 'docker' }],
    ['bare id at top level', `/${A}`, { id: A, runtime: 'unknown' }],
  ];

  it.each(positives)('%s', (_name, path, want) => {
    expect(parseContainerFromCgroupPath(path)).toEqual(want);
  });

  const negatives: [string, string][] = [
    ['root', '/'],
    ['empty', ''],
    ['user slice', '/user.slice/user-1000.slice/session-3.scope'],
    ['system service', '/system.slice/ssh.service'],
    ['docker daemon service', '/system.slice/docker.service'],
    ['/docker alone', '/docker'],
    ['init scope', '/init.scope'],
    ['pod slice only', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID}.slice`],
    ['crio conmon', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID}.slice/crio-conmon-${A}.scope`],
    ['libpod conmon', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-${A}.scope`],
    ['libpod conmon cgroupfs', `/libpod_parent/libpod-conmon-${A}`],
    ['63 hex', `/docker/${A.slice(1)}`],
    ['65 hex', `/docker/${A}0`],
    ['short id', `/docker/${A.slice(0, 12)}`],
    ['uppercase hex', `/docker/${A.toUpperCase()}`],
    ['non-hex char', `/docker/${A.slice(0, 63)}g`],
    ['unknown prefix', `/system.slice/rkt-${A}.scope`],
    ['wrong suffix', `/system.slice/docker-${A}.service`],
    ['control char inside id', `/docker/${A.slice(0, 32)}\x01${A.slice(32)}`],
    ['newline inside path', `/docker/\n${A}`],
    ['.. climbs out of the container', `/docker/${A}/..`],
    ['.. climbs out twice', `/system.slice/docker-${A}.scope/container/../..`],
    ['colon notation, unknown prefix', `/kubepods-pod${UID}.slice:rkt:${A}`],
    ['colon notation, bad id', `kubepods-pod${UID}.slice:cri-containerd:${A.slice(1)}`],
    ['only NUL', '\0'],
    ['only newlines', '\n\n'],
  ];

  it.each(negatives)('%s → null', (_name, path) => {
    expect(parseContainerFromCgroupPath(path)).toBeNull();
  });

  it('rejects paths longer than 4096 characters', () => {
    const valid = `/docker/${A}`;
    const atLimit = '/x'.repeat((4096 - valid.length) / 2) + valid;
    expect(atLimit.length).toBe(4096);
    expect(parseContainerFromCgroupPath(atLimit)).toEqual({ id: A, runtime: 'docker' });
    expect(parseContainerFromCgroupPath('/x' + atLimit)).toBeNull();
  });

  it('applies the length limit after cutting at NUL', () => {
    const long = `/docker/${A}\0` + 'y'.repeat(10_000);
    expect(parseContainerFromCgroupPath(long)).toEqual({ id: A, runtime: 'docker' });
  });

  it('handles huge hostile strings quickly', () => {
    const hostile = [
      '/'.repeat(5_000_000),
      '\n'.repeat(4000) + 'x',
      ('../'.repeat(1000) + A).slice(0, 4000),
      `docker-${A}`.repeat(100_000),
      ':'.repeat(4000),
      '\u{1F600}'.repeat(2000),
      Array.from({ length: 4096 }, (_, i) => String.fromCharCode(i % 256)).join(''),
    ];
    const start = performance.now();
    for (const h of hostile) expect(() => parseContainerFromCgroupPath(h)).not.toThrow();
    expect(performance.now() - start).toBeLessThan(1000);
    expect(parseContainerFromCgroupPath(hostile[3] as string)).toBeNull();
  });

  it('returns null rather than throwing on non-string input', () => {
    for (const bad of [undefined, null, 42, {}, [], Symbol('x')]) {
      expect(parseContainerFromCgroupPath(bad as unknown as string)).toBeNull();
    }
  });

  it('returns a fresh object each call', () => {
    const a = parseContainerFromCgroupPath(`/docker/${A}`);
    const b = parseContainerFromCgroupPath(`/docker/${A}`);
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
  });
});

describe('cgroupPathFromKernelNames', () => {
  it('joins parent and name', () => {
    expect(cgroupPathFromKernelNames(A, 'docker')).toBe(`/docker/${A}`);
    expect(cgroupPathFromKernelNames('container', `libpod-${A}.scope`)).toBe(
      `/libpod-${A}.scope/container`,
    );
  });

  it('handles an empty parent and the root', () => {
    expect(cgroupPathFromKernelNames('init.scope', '')).toBe('/init.scope');
    expect(cgroupPathFromKernelNames('', '')).toBe('/');
    expect(cgroupPathFromKernelNames('', '/')).toBe('/');
  });

  it('cuts NUL-padded names and strips stray slashes', () => {
    expect(cgroupPathFromKernelNames(`${A}\0\0\0`, 'docker\0\0')).toBe(`/docker/${A}`);
    expect(cgroupPathFromKernelNames(`/${A}/`, '/docker/')).toBe(`/docker/${A}`);
  });

  it('never throws on non-strings', () => {
    expect(cgroupPathFromKernelNames(undefined as unknown as string, null as unknown as string)).toBe('/');
  });

  const viaKernelNames: [string, string, string, ContainerRef | null][] = [
    ['docker cgroupfs', A, 'docker', { id: A, runtime: 'docker' }],
    ['docker systemd', `docker-${A}.scope`, 'system.slice', { id: A, runtime: 'docker' }],
    ['containerd systemd', `cri-containerd-${A}.scope`, `kubepods-burstable-pod${UID}.slice`, { id: A, runtime: 'containerd' }],
    ['k8s cgroupfs bare', A, `pod${UIDD}`, { id: A, runtime: 'unknown' }],
    ['cri-o', `crio-${A}.scope`, `kubepods-pod${UID}.slice`, { id: A, runtime: 'cri-o' }],
    ['cri-o conmon', `crio-conmon-${A}.scope`, `kubepods-pod${UID}.slice`, null],
    ['podman inner dir', 'container', `libpod-${A}.scope`, { id: A, runtime: 'podman' }],
    ['podman cgroupfs', `libpod-${A}`, 'libpod_parent', { id: A, runtime: 'podman' }],
    ['podman systemd', `libpod-${A}.scope`, 'machine.slice', { id: A, runtime: 'podman' }],
    ['containerd ctr --cgroup', A, `pod${UIDD}`, { id: A, runtime: 'unknown' }],
    ['libpod conmon', `libpod-conmon-${A}.scope`, 'user.slice', null],
    ['docker-in-docker', B, 'docker', { id: B, runtime: 'docker' }],
    ['host service', 'ssh.service', 'system.slice', null],
    ['top-level docker', 'docker', '', null],
    ['root', '', '', null],
  ];

  it.each(viaKernelNames)('parses %s', (_name, name, parent, want) => {
    expect(parseContainerFromCgroupPath(cgroupPathFromKernelNames(name, parent))).toEqual(want);
  });
});
