// SPDX-License-Identifier: Apache-2.0
/** Zero-copy views of BPF_F_MMAPABLE array maps: read with plain loads, no FFI call per read. */
import koffi from 'koffi';
import { BpfError } from './errors.js';

const libc = koffi.load('libc.so.6');
const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64 offset)');
const munmap = libc.func('int munmap(void *addr, size_t length)');
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = -1n;

export class MappedArray {
  private constructor(
    private readonly addr: unknown,
    private readonly length: number,
    /** The map's u64 values; valid until close(). */
    readonly u64: BigUint64Array,
  ) {}

  /** Maps `entries` u64 values of the array map `fd` read-write (user space zeroes freed slots). */
  static mapU64(fd: number, entries: number, name: string): MappedArray {
    const length = Math.ceil((entries * 8) / 4096) * 4096;
    const addr = mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr === null || koffi.address(addr) === BigInt.asUintN(64, MAP_FAILED)) throw new BpfError(`mmap ${name}`, koffi.errno());
    const buffer = koffi.view(addr, length) as ArrayBuffer;
    return new MappedArray(addr, length, new BigUint64Array(buffer, 0, entries));
  }

  close(): void {
    munmap(this.addr, this.length);
  }
}
