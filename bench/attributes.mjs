#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * Micro-benchmark behind ContainerEventRecord.attributes (src/telemetry/record.ts): the cost of
 * merging a container's attributes with an event's, per call, on this Node: an object spread of
 * two sources against Object.assign. Usage: node bench/attributes.mjs [--n 100000]
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100000' } } });
const N = Number(values.n);
const container = {
  'container.id': 'decb251528dc3b6e907c1f3d2e1156aed3b4819dca00c6cf9d24aa05061d3940',
  'container.runtime.name': 'docker',
  'container.name': 'gallant_dubinsky',
  'container.image.name': 'contguard-test/busybox',
  'container.image.tags': ['latest'],
  'container.image.id': 'sha256:b36affb5c895ad1994d9edba892ce2ac49c33ac4b445f699d2c570188dbcdcc7',
};
const own = () => ({
  'process.pid': 1234, 'process.vpid': 12, 'process.parent_pid': 1200, 'process.user.id': 0,
  'process.real_user.id': 0, 'process.group.id': 0, 'process.executable.path': '/bin/busybox',
  'contguard.process.exec_filename': '/bin/true', 'process.executable.name': 'true',
  'process.command_args': ['/bin/true'], 'contguard.process.args_truncated': false, 'contguard.process.mount_namespace': 4026532,
});
let sink;
function bench(name, f) {
  for (let i = 0; i < N / 10; i++) f();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  const us = Number(process.hrtime.bigint() - t) / N / 1000;
  console.log(`${name.padEnd(34)} ${us.toFixed(3)} µs per merge`);
  return us;
}
console.log(`node ${process.version}, ${N} merges each`);
const spread = bench('{ ...container, ...own }', () => { sink = { ...container, ...own() }; });
const assign = bench('Object.assign({}, container, own)', () => { sink = Object.assign({}, container, own()); });
console.log(`spread / assign: ${(spread / assign).toFixed(1)}x`);
void sink;
