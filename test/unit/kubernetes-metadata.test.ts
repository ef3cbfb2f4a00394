// SPDX-License-Identifier: Apache-2.0
/** Kubernetes metadata from kubelet labels and CRI annotations; the pod uid from cgroup paths; the node name. */
import { describe, expect, it } from 'vitest';
import { kubernetesAttributes, kubernetesFromLabels, nodeNameFromEnv, podUidFromCgroupPath } from '../../src/containers/kubernetes.js';

const UID = '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8';
const ID = '0123456789abcdef'.repeat(4);

describe('kubernetesFromLabels', () => {
  it('reads the kubelet labels (containerd, CRI-O and cri-dockerd keep them on the container)', () => {
    expect(
      kubernetesFromLabels({
        'io.kubernetes.pod.name': 'web-7d9f',
        'io.kubernetes.pod.namespace': 'shop',
        'io.kubernetes.pod.uid': UID,
        'io.kubernetes.container.name': 'nginx',
      }),
    ).toStrictEqual({ podName: 'web-7d9f', podUid: UID, namespace: 'shop', containerName: 'nginx', sandbox: false });
  });

  it("reads containerd's CRI annotations", () => {
    expect(
      kubernetesFromLabels({
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.container-name': 'app',
        'io.kubernetes.cri.sandbox-name': 'api-0',
        'io.kubernetes.cri.sandbox-namespace': 'prod',
        'io.kubernetes.cri.sandbox-uid': UID,
        'io.kubernetes.cri.sandbox-id': 'ab'.repeat(32),
        'io.kubernetes.cri.image-name': 'docker.io/library/nginx:1.25',
      }),
    ).toStrictEqual({ podName: 'api-0', podUid: UID, namespace: 'prod', containerName: 'app', sandbox: false });
  });

  it('prefers the kubelet label over the CRI annotation, whichever map holds it', () => {
    const k = kubernetesFromLabels({ 'io.kubernetes.cri.sandbox-name': 'from-cri' }, { 'io.kubernetes.pod.name': 'from-kubelet' });
    expect(k?.podName).toBe('from-kubelet');
  });

  it.each([
    ['containerd', { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-name': 'web' }],
    ['CRI-O', { 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.pod.name': 'web' }],
    ['dockershim / cri-dockerd', { 'io.kubernetes.docker.type': 'podsandbox', 'io.kubernetes.pod.name': 'web' }],
  ])('marks the %s sandbox container', (_runtime, labels) => {
    const k = kubernetesFromLabels(labels as Record<string, string>);
    expect(k?.sandbox).toBe(true);
    expect(k?.podName).toBe('web');
  });

  it('a workload container of each runtime is not a sandbox', () => {
    expect(kubernetesFromLabels({ 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-name': 'p' })?.sandbox).toBe(false);
    expect(kubernetesFromLabels({ 'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.pod.name': 'p' })?.sandbox).toBe(false);
    expect(kubernetesFromLabels({ 'io.kubernetes.docker.type': 'container', 'io.kubernetes.pod.name': 'p' })?.sandbox).toBe(false);
  });

  it('is undefined for a container outside Kubernetes', () => {
    expect(kubernetesFromLabels({ app: 'web', 'com.docker.compose.service': 'db' })).toBeUndefined();
    expect(kubernetesFromLabels({})).toBeUndefined();
    expect(kubernetesFromLabels(undefined)).toBeUndefined();
    // A container name alone names no pod.
    expect(kubernetesFromLabels({ 'io.kubernetes.container.name': 'x' })).toBeUndefined();
  });

  it('ignores empty values and inherited keys, and bounds long ones', () => {
    const hostile = Object.create({ 'io.kubernetes.pod.name': 'inherited' }) as Record<string, string>;
    hostile['io.kubernetes.pod.namespace'] = '';
    hostile['io.kubernetes.cri.sandbox-namespace'] = 'n'.repeat(10_000);
    const k = kubernetesFromLabels(hostile);
    expect(k?.podName).toBeUndefined();
    expect(k?.namespace).toBe('n'.repeat(256));
  });
});

describe('podUidFromCgroupPath', () => {
  it.each([
    ['cgroupfs besteffort (ctr run --cgroup)', `/kubepods/besteffort/pod${UID}/${ID}`],
    ['cgroupfs guaranteed', `/kubepods/pod${UID}/${ID}`],
    ['systemd driver, containerd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${ID}.scope`],
    ['systemd driver, guaranteed', `/kubepods.slice/kubepods-pod${UID.replaceAll('-', '_')}.slice/crio-${ID}.scope`],
  ])('%s', (_name, path) => {
    expect(podUidFromCgroupPath(path)).toBe(UID);
  });

  it('is undefined outside a pod cgroup', () => {
    expect(podUidFromCgroupPath(`/system.slice/docker-${ID}.scope`)).toBeUndefined();
    expect(podUidFromCgroupPath(`/kubepods/besteffort/${ID}`)).toBeUndefined();
    expect(podUidFromCgroupPath(`/kubepods/podnot-a-uid/${ID}`)).toBeUndefined();
    expect(podUidFromCgroupPath('/' + 'pod'.repeat(2000))).toBeUndefined();
  });
});

describe('kubernetesAttributes', () => {
  it('semconv k8s.* names; the uid from the cgroup path when no label has it; the node name', () => {
    expect(kubernetesAttributes({ podName: 'web', namespace: 'shop', containerName: 'nginx', sandbox: false }, `/kubepods/pod${UID}/${ID}`, 'node-1')).toStrictEqual({
      'k8s.pod.name': 'web',
      'k8s.pod.uid': UID,
      'k8s.namespace.name': 'shop',
      'k8s.container.name': 'nginx',
      'k8s.node.name': 'node-1',
    });
  });

  it('the label uid wins over the path; nothing unknown is invented', () => {
    const other = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    expect(kubernetesAttributes({ podName: 'web', podUid: other, sandbox: false }, `/kubepods/pod${UID}/${ID}`, undefined)).toStrictEqual({
      'k8s.pod.name': 'web',
      'k8s.pod.uid': other,
    });
  });
});

describe('nodeNameFromEnv', () => {
  it('K8S_NODE_NAME first, then NODE_NAME; blank is unset', () => {
    expect(nodeNameFromEnv({ K8S_NODE_NAME: 'a', NODE_NAME: 'b' })).toBe('a');
    expect(nodeNameFromEnv({ NODE_NAME: ' b ' })).toBe('b');
    expect(nodeNameFromEnv({ K8S_NODE_NAME: '  ', NODE_NAME: 'b' })).toBe('b');
    expect(nodeNameFromEnv({})).toBeUndefined();
  });
});
