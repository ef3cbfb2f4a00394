// SPDX-License-Identifier: Apache-2.0
/**
 * containerd and CRI-O metadata from the OCI config.json in their state directories: parsing of
 * the annotations, and the sources over a temp directory laid out as each runtime lays out its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import {
  CONTAINERD_TASK_DIR,
  ContainerdStateSource,
  CrioStateSource,
  MAX_CONFIG_BYTES,
  annotationsOfSpec,
  metadataFromContainerdAnnotations,
  metadataFromCrioAnnotations,
  readSpecAnnotations,
} from '../../src/containers/oci-state.js';

const A = '0123456789abcdef'.repeat(4);
const B = 'fedcba9876543210'.repeat(4);
const UID = '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8';
const logger = createLogger('error');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'contguard-oci-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeSpec(file: string, spec: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
}

const CRI_CONTAINER = {
  'io.kubernetes.cri.container-type': 'container',
  'io.kubernetes.cri.container-name': 'app',
  'io.kubernetes.cri.sandbox-name': 'api-0',
  'io.kubernetes.cri.sandbox-namespace': 'prod',
  'io.kubernetes.cri.sandbox-uid': UID,
  'io.kubernetes.cri.image-name': 'registry:5000/team/app:1.2',
};

describe('annotationsOfSpec', () => {
  it('keeps string annotations only', () => {
    expect(annotationsOfSpec(JSON.stringify({ ociVersion: '1.0.2', annotations: { a: 'x', n: 5, o: { p: 1 }, nul: null } }))).toStrictEqual({ a: 'x' });
  });
  it('{} for a spec without annotations (or with a non-object), null for what is not a JSON object', () => {
    expect(annotationsOfSpec('{"ociVersion":"1.0.2"}')).toStrictEqual({});
    expect(annotationsOfSpec('{"annotations":["a"]}')).toStrictEqual({});
    expect(annotationsOfSpec('[1,2]')).toBeNull();
    expect(annotationsOfSpec('null')).toBeNull();
    expect(annotationsOfSpec('{"annotations":')).toBeNull();
    expect(annotationsOfSpec('')).toBeNull();
  });
  it('a __proto__ key is data, not a prototype', () => {
    const a = annotationsOfSpec('{"annotations":{"__proto__":"x","io.kubernetes.pod.name":"p"}}');
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(a?.['io.kubernetes.pod.name']).toBe('p');
  });
});

describe('metadataFromContainerdAnnotations', () => {
  it('image name and tag from io.kubernetes.cri.image-name; pod, namespace, uid and container name from the CRI annotations', () => {
    expect(metadataFromContainerdAnnotations(CRI_CONTAINER)).toStrictEqual({
      runtimeName: 'containerd',
      labels: {},
      imageName: 'registry:5000/team/app',
      imageTags: ['1.2'],
      kubernetes: { podName: 'api-0', podUid: UID, namespace: 'prod', containerName: 'app', sandbox: false },
    });
  });
  it('a container made without CRI has only its runtime', () => {
    expect(metadataFromContainerdAnnotations({})).toStrictEqual({ runtimeName: 'containerd', labels: {} });
  });
  it('an image id is not a name; a digest reference keeps no tag', () => {
    expect(metadataFromContainerdAnnotations({ 'io.kubernetes.cri.image-name': 'sha256:' + 'ab'.repeat(32) }).imageName).toBeUndefined();
    const m = metadataFromContainerdAnnotations({ 'io.kubernetes.cri.image-name': 'nginx@sha256:' + 'ab'.repeat(32) });
    expect(m.imageName).toBe('nginx');
    expect(m.imageTags).toBeUndefined();
  });
  it('the sandbox', () => {
    expect(metadataFromContainerdAnnotations({ ...CRI_CONTAINER, 'io.kubernetes.cri.container-type': 'sandbox' }).kubernetes?.sandbox).toBe(true);
  });
});

describe('metadataFromCrioAnnotations', () => {
  const CRIO = {
    'io.container.manager': 'cri-o',
    'io.kubernetes.cri-o.ContainerType': 'container',
    'io.kubernetes.cri-o.Name': `k8s_app_api-0_prod_${UID}_0`,
    'io.kubernetes.cri-o.ImageName': 'quay.io/team/app:2.0',
    'io.kubernetes.cri-o.Labels': JSON.stringify({
      'io.kubernetes.container.name': 'app',
      'io.kubernetes.pod.name': 'api-0',
      'io.kubernetes.pod.namespace': 'prod',
      'io.kubernetes.pod.uid': UID,
    }),
    'io.kubernetes.pod.name': 'api-0',
  };
  it('name, image, labels and the kubelet labels', () => {
    expect(metadataFromCrioAnnotations(CRIO)).toStrictEqual({
      runtimeName: 'cri-o',
      name: `k8s_app_api-0_prod_${UID}_0`,
      imageName: 'quay.io/team/app',
      imageTags: ['2.0'],
      labels: {
        'io.kubernetes.container.name': 'app',
        'io.kubernetes.pod.name': 'api-0',
        'io.kubernetes.pod.namespace': 'prod',
        'io.kubernetes.pod.uid': UID,
      },
      kubernetes: { podName: 'api-0', podUid: UID, namespace: 'prod', containerName: 'app', sandbox: false },
    });
  });
  it('a container CRI-O did not make (Podman shares the store) is not CRI-O\'s', () => {
    expect(metadataFromCrioAnnotations({ 'io.container.manager': 'libpod' })).toBeNull();
  });
  it('malformed or oversized labels JSON: no labels, the annotations still count', () => {
    const bad = metadataFromCrioAnnotations({ ...CRIO, 'io.kubernetes.cri-o.Labels': '{"a":' });
    expect(bad?.labels).toStrictEqual({});
    expect(bad?.kubernetes?.podName).toBe('api-0');
    const big = metadataFromCrioAnnotations({ ...CRIO, 'io.kubernetes.cri-o.Labels': JSON.stringify({ a: 'x'.repeat(70_000) }) });
    expect(big?.labels).toStrictEqual({});
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(metadataFromCrioAnnotations({ ...CRIO, 'io.kubernetes.cri-o.Labels': JSON.stringify(many) })?.labels ?? {})).toHaveLength(64);
  });
});

describe('readSpecAnnotations', () => {
  it('null for a missing file, a directory, or a file over the size bound', async () => {
    expect(await readSpecAnnotations(path.join(tmp, 'none.json'))).toBeNull();
    expect(await readSpecAnnotations(tmp)).toBeNull();
    const big = path.join(tmp, 'big.json');
    writeSpec(big, { annotations: { a: 'x'.repeat(2000) } });
    expect(await readSpecAnnotations(big, 1000)).toBeNull();
    expect(await readSpecAnnotations(big)).toStrictEqual({ a: 'x'.repeat(2000) });
    expect(MAX_CONFIG_BYTES).toBe(1 << 20);
  });
});

describe('ContainerdStateSource', () => {
  const task = (ns: string, id: string) => path.join(tmp, CONTAINERD_TASK_DIR, ns, id, 'config.json');

  it('finds a task in any namespace but moby', async () => {
    writeSpec(task('default', B), { annotations: {} });
    writeSpec(task('k8s.io', A), { annotations: CRI_CONTAINER });
    const s = new ContainerdStateSource(tmp, logger);
    expect(s.runtime).toBe('containerd');
    expect((await s.inspect(A))?.kubernetes?.podName).toBe('api-0');
    expect(await s.inspect(B)).toStrictEqual({ runtimeName: 'containerd', labels: {} });
  });

  it('leaves Docker\'s containers (namespace moby) to the Docker source', async () => {
    writeSpec(task('moby', A), { annotations: {} });
    expect(await new ContainerdStateSource(tmp, logger).inspect(A)).toBeNull();
  });

  it('null for an unknown container, a missing state directory, a malformed spec or an id that is not 64 hex', async () => {
    const s = new ContainerdStateSource(tmp, logger);
    expect(await s.inspect(A)).toBeNull(); // no task directory yet
    writeSpec(task('k8s.io', B), '{not json');
    expect(await s.inspect(A)).toBeNull();
    expect(await s.inspect(B)).toBeNull();
    expect(await s.inspect('../../etc')).toBeNull();
    expect(await new ContainerdStateSource(path.join(tmp, 'absent'), logger).inspect(A)).toBeNull();
  });

  it('rejects when the task directory cannot be read as a directory (asked again later)', async () => {
    fs.writeFileSync(path.join(tmp, CONTAINERD_TASK_DIR), 'not a directory');
    // ENOTDIR is "not there": null, not an error.
    expect(await new ContainerdStateSource(tmp, logger).inspect(A)).toBeNull();
    // Any other failure to list it is an error (root never sees EACCES: a symlink loop stands in).
    fs.rmSync(path.join(tmp, CONTAINERD_TASK_DIR));
    fs.symlinkSync(path.join(tmp, CONTAINERD_TASK_DIR), path.join(tmp, CONTAINERD_TASK_DIR));
    await expect(new ContainerdStateSource(tmp, logger).inspect(A)).rejects.toThrow(/ELOOP/);
  });
});

describe('CrioStateSource', () => {
  const bundle = (id: string) => path.join(tmp, 'overlay-containers', id, 'userdata', 'config.json');

  it("reads CRI-O's containers and leaves Podman's alone", async () => {
    writeSpec(bundle(A), { annotations: { 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.pod.name': 'web' } });
    writeSpec(bundle(B), { annotations: { 'io.container.manager': 'libpod' } });
    const s = new CrioStateSource(tmp, logger);
    expect(s.runtime).toBe('cri-o');
    expect((await s.inspect(A))?.kubernetes).toStrictEqual({ podName: 'web', sandbox: true });
    expect(await s.inspect(B)).toBeNull();
    expect(await s.inspect('f'.repeat(64))).toBeNull();
    expect(await s.inspect('x')).toBeNull();
  });
});
