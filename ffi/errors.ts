// SPDX-License-Identifier: Apache-2.0
import { clib } from './libbpf.js';
import { constants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, num]) => [num as number, name]),
);

/** A libbpf failure, named by what was attempted: `attach tp_btf/x: Operation not permitted (EPERM)`. */
export class BpfError extends Error {
  constructor(
    readonly action: string,
    readonly errno: number,
  ) {
    super(`${action}: ${describeErrno(errno)}`);
    this.name = 'BpfError';
  }
}

export function describeErrno(errno: number): string {
  const e = Math.abs(errno);
  const name = errnoNames.get(e);
  const text = clib.strerror(e) as string;
  return name ? `${text} (${name})` : `${text} (errno ${e})`;
}
