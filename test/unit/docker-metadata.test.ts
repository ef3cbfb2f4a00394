// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { metadataFromInspect, splitImageReference } from '../../src/containers/docker-metadata.js';

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
