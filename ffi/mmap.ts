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

/**
 * An mmap'd array map. Its views are valid until close(); close() swaps them for empty ones
 * first, so a late reader gets undefined values instead of touching unmapped memory.
 */
export class MappedArray {
  private closed = false;

  private constructor(
    private readonly addr: unknown,
    private readonly length: number,
    private buffer: ArrayBuffer,
    private readonly bytes: number,
  ) {}

  /** Maps the first `bytes` bytes of the array map `fd` read-write. */
  static map(fd: number, bytes: number, name: string): MappedArray {
    const length = Math.ceil(bytes / 4096) * 4096;
    const addr = mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr === null || koffi.address(addr) === BigInt.asUintN(64, MAP_FAILED)) throw new BpfError(`mmap ${name}`, koffi.errno());
    return new MappedArray(addr, length, koffi.view(addr, length) as ArrayBuffer, bytes);
  }

  /** Maps `entries` u64 values of the array map `fd` read-write (user space zeroes freed slots). */
  static mapU64(fd: number, entries: number, name: string): MappedArray {
    return MappedArray.map(fd, entries * 8, name);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The map's u64 values (empty after close). */
  get u64(): BigUint64Array {
    return new BigUint64Array(this.buffer, 0, this.closed ? 0 : this.bytes / 8);
  }

  /** A DataView over the map's bytes (empty after close). */
  view(): DataView {
    return new DataView(this.buffer, 0, this.closed ? 0 : this.bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = new ArrayBuffer(0);
    munmap(this.addr, this.length);
  }
}
