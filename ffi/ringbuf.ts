// SPDX-License-Identifier: Apache-2.0
/**
 * Ring buffers drained on Node's event loop. Two consumers, one interface:
 *
 * - `mmap` (x86_64): the ring is mapped into the process (consumer page read-write; producer
 *   page and data pages read-only, the data mapped twice in a row by the kernel so a record that
 *   wraps is contiguous) and read in JavaScript from long-lived views: no FFI call and no
 *   allocation per record. It relies on x86's load ordering (loads are not reordered with other
 *   loads; TurboFan keeps typed-array loads in program order), so it is not used elsewhere.
 * - `libbpf`: ring_buffer__consume calls a registered koffi callback per record; each record
 *   crosses into JavaScript and gets its own view (about 15 µs per record on the bench machine).
 *
 * Both wake on the ring's fd (libuv poll) and drain on a timer (records are submitted without a
 * wake-up until a ring is 1/8 full, bpf/include/common.h).
 */
import koffi from 'koffi';
import { libbpf, ring_buffer_sample_fn, BPF_MAP_TYPE_RINGBUF } from './libbpf.js';
import { BpfError } from './errors.js';

/**
 * Receives one record as a view of ring memory, valid only during the call (the kernel reuses
 * it after return): decode it there, keep no reference. No copy is made.
 */
export type RecordHandler = (record: Uint8Array) => void;

/** Called around each drain, e.g. so outputs write once per drain instead of once per record. */
export interface DrainHooks {
  beforeDrain?(): void;
  afterDrain?(): void;
}

export type RingConsumerKind = 'mmap' | 'libbpf';

/** `auto` picks mmap where its load-ordering assumption holds (x86_64), libbpf elsewhere. */
export function resolveRingConsumer(setting: 'auto' | RingConsumerKind, arch: string = process.arch): RingConsumerKind {
  if (setting !== 'auto') return setting;
  return arch === 'x64' ? 'mmap' : 'libbpf';
}

interface PollHandle {
  close(): void;
}

const libc = koffi.load('libc.so.6');
const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64 offset)');
const munmap = libc.func('int munmap(void *addr, size_t length)');
const sysconf = libc.func('long sysconf(int name)');
const SC_PAGESIZE = 30;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = BigInt.asUintN(64, -1n);

/** Record header bits (include/uapi/linux/bpf.h). */
const BPF_RINGBUF_BUSY_BIT = 0x80000000;
const BPF_RINGBUF_DISCARD_BIT = 0x40000000;
const BPF_RINGBUF_HDR_SZ = 8;

/** The type and max_entries of a BPF map (struct bpf_map_info: type @0, max_entries @16). */
export function mapInfo(fd: number): { type: number; maxEntries: number } {
  const info = new Uint8Array(88);
  const len = [info.length];
  const rc = libbpf.bpf_obj_get_info_by_fd(fd, info, len);
  if (rc < 0) throw new BpfError('bpf_obj_get_info_by_fd', -rc);
  const v = new DataView(info.buffer);
  return { type: v.getUint32(0, true), maxEntries: v.getUint32(16, true) };
}

function mapOrThrow(length: number, prot: number, fd: number, offset: number, what: string): unknown {
  const addr = mmap(null, length, prot, MAP_SHARED, fd, offset);
  if (addr === null || koffi.address(addr) === MAP_FAILED) throw new BpfError(`mmap ${what}`, koffi.errno());
  return addr;
}

/** One BPF_MAP_TYPE_RINGBUF mapped into the process, consumed in JavaScript. */
export class MappedRing {
  private consumerPos: BigUint64Array;
  private producerPos: BigUint64Array;
  private data: Uint8Array;
  private header: DataView;
  private readonly mask: number;
  private closed = false;

  private constructor(
    private readonly consumerAddr: unknown,
    private readonly producerAddr: unknown,
    private readonly pageSize: number,
    private readonly size: number,
  ) {
    this.mask = size - 1;
    this.consumerPos = new BigUint64Array(koffi.view(consumerAddr as never, pageSize) as ArrayBuffer, 0, 1);
    const producer = koffi.view(producerAddr as never, pageSize + 2 * size) as ArrayBuffer;
    this.producerPos = new BigUint64Array(producer, 0, 1);
    this.data = new Uint8Array(producer, pageSize, 2 * size);
    this.header = new DataView(producer, pageSize, 2 * size);
  }

  /** Maps the ring buffer map `fd` (its size read from the kernel). */
  static map(fd: number, name: string): MappedRing {
    const { type, maxEntries } = mapInfo(fd);
    if (type !== BPF_MAP_TYPE_RINGBUF) throw new Error(`ring buffer ${name}: map type ${type} is not a ring buffer`);
    const pageSize = Number(sysconf(SC_PAGESIZE));
    // Same layout as libbpf's ring_buffer__add: consumer page at 0, producer page + 2 x data at one page.
    const consumerAddr = mapOrThrow(pageSize, PROT_READ | PROT_WRITE, fd, 0, `${name} consumer page`);
    let producerAddr: unknown;
    try {
      producerAddr = mapOrThrow(pageSize + 2 * maxEntries, PROT_READ, fd, pageSize, `${name} data`);
    } catch (err) {
      munmap(consumerAddr, pageSize);
      throw err;
    }
    return new MappedRing(consumerAddr, producerAddr, pageSize, maxEntries);
  }

  /**
   * Hands every committed record to `handler` (a view of ring memory, valid during the call),
   * releasing each one's space as it goes; stops at a record still being written. Returns the
   * number of records handed over (discarded records are skipped, not counted).
   */
  consume(handler: RecordHandler): number {
    if (this.closed) return 0;
    let n = 0;
    let cons = Number(this.consumerPos[0]);
    const prod = Number(this.producerPos[0]);
    while (cons < prod) {
      const off = cons & this.mask;
      const len = this.header.getUint32(off, true);
      if (len & BPF_RINGBUF_BUSY_BIT) break; // reserved, not committed yet
      const size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      const next = cons + ((size + BPF_RINGBUF_HDR_SZ + 7) & ~7);
      if ((len & BPF_RINGBUF_DISCARD_BIT) === 0) {
        n++;
        try {
          handler(this.data.subarray(off + BPF_RINGBUF_HDR_SZ, off + BPF_RINGBUF_HDR_SZ + size));
        } finally {
          // Released even when the handler throws: one bad record never wedges the ring.
          cons = next;
          this.consumerPos[0] = BigInt(cons);
        }
      } else {
        cons = next;
        this.consumerPos[0] = BigInt(cons);
      }
      if (this.closed) break; // a handler closed the poller
    }
    return n;
  }

  /** Views first (a late reader sees empty arrays), then the mappings. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.consumerPos = new BigUint64Array(1);
    this.producerPos = new BigUint64Array(1);
    this.data = new Uint8Array(0);
    this.header = new DataView(new ArrayBuffer(0));
    munmap(this.consumerAddr, this.pageSize);
    munmap(this.producerAddr, this.pageSize + 2 * this.size);
  }
}

/** The rings of every sensor, drained together; `kind` says how records are read. */
export class RingBufferPoller {
  /** Records received per ring, in add() order. */
  readonly received: number[] = [];
  private readonly handlers: RecordHandler[] = [];
  private readonly fds: number[] = [];
  private readonly names: string[] = [];
  // mmap consumer
  private readonly rings: MappedRing[] = [];
  private readonly polls: PollHandle[] = [];
  // libbpf consumer
  private rb: unknown = null;
  private callback: unknown = null;
  private libbpfPoll: PollHandle | null = null;

  private started = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onHandlerError: (err: unknown) => void,
    private readonly hooks: DrainHooks = {},
    readonly kind: RingConsumerKind = resolveRingConsumer('auto'),
  ) {
    if (kind === 'libbpf') {
      // One registered trampoline for all rings; ctx is the handler's slot.
      this.callback = koffi.register((ctx: unknown, data: unknown, size: number | bigint) => {
        try {
          const bytes = new Uint8Array(koffi.view(data as never, Number(size)));
          const slot = Number(ctx);
          this.received[slot]!++;
          this.handlers[slot]?.(bytes);
        } catch (err) {
          this.onHandlerError(err);
        }
        return 0;
      }, koffi.pointer(ring_buffer_sample_fn));
    }
  }

  /** Adds a ring buffer map; `name` is used in errors. */
  add(name: string, mapFd: number, handler: RecordHandler): void {
    const slot = this.handlers.length;
    if (this.kind === 'mmap') {
      this.rings.push(MappedRing.map(mapFd, name));
    } else if (!this.rb) {
      this.rb = libbpf.ring_buffer__new(mapFd, this.callback, slot, null);
      if (!this.rb) throw new BpfError(`ring buffer ${name}`, koffi.errno());
    } else {
      const rc = libbpf.ring_buffer__add(this.rb, mapFd, this.callback, slot);
      if (rc < 0) throw new BpfError(`ring buffer ${name}`, -rc);
    }
    this.handlers.push(handler);
    this.received.push(0);
    this.fds.push(mapFd);
    this.names.push(name);
  }

  /**
   * Starts draining: on readiness (the kernel wakes user space only when a ring is filling up)
   * and every `intervalMs` (records are submitted without a wake-up, so one drain takes many).
   */
  start(intervalMs: number): void {
    if (this.started || this.closed || this.handlers.length === 0) return;
    this.started = true;
    this.timer = setInterval(() => this.drain(), intervalMs);
    this.timer.unref();
    const poll = (koffi as unknown as { node: { poll: (fd: number, ev: object, cb: (status: number) => void) => PollHandle } }).node.poll;
    const onReady = (status: number) => {
      if (status >= 0) this.drain();
    };
    if (this.kind === 'mmap') for (const fd of this.fds) this.polls.push(poll(fd, { readable: true }, onReady));
    else this.libbpfPoll = poll(libbpf.ring_buffer__epoll_fd(this.rb), { readable: true }, onReady);
  }

  /** Consumes everything available now; returns the record count. */
  drain(): number {
    if (this.closed || this.handlers.length === 0) return 0;
    this.hooks.beforeDrain?.();
    try {
      if (this.kind === 'libbpf') {
        const n = libbpf.ring_buffer__consume(this.rb);
        return n < 0 ? 0 : n;
      }
      let total = 0;
      for (let i = 0; i < this.rings.length; i++) {
        const handler = this.handlers[i]!;
        const n = this.rings[i]!.consume((bytes) => {
          try {
            handler(bytes);
          } catch (err) {
            this.onHandlerError(err);
          }
        });
        this.received[i]! += n;
        total += n;
      }
      return total;
    } finally {
      this.hooks.afterDrain?.();
    }
  }

  /** Drains what is left, then stops polling and releases the rings (no read after this). */
  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.polls) p.close();
    this.polls.length = 0;
    this.libbpfPoll?.close();
    this.libbpfPoll = null;
    for (const r of this.rings) r.close();
    if (this.rb) libbpf.ring_buffer__free(this.rb);
    this.rb = null;
    if (this.callback) koffi.unregister(this.callback as never);
    this.callback = null;
  }
}
