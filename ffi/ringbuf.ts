// SPDX-License-Identifier: Apache-2.0
/**
 * Ring buffers drained on Node's event loop: libuv watches libbpf's epoll fd and
 * each readiness drains every ring without blocking (ring_buffer__consume).
 */
import koffi from 'koffi';
import { libbpf, ring_buffer_sample_fn } from './libbpf.js';
import { BpfError } from './errors.js';

/** How often the rings are drained when the kernel did not wake user space (bounded latency). */
export const RING_DRAIN_INTERVAL_MS = 10;

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

interface PollHandle {
  close(): void;
}

export class RingBufferPoller {
  private rb: unknown = null;
  private poll: PollHandle | null = null;
  private readonly handlers: RecordHandler[] = [];
  /** Records received per ring, in add() order. */
  readonly received: number[] = [];
  private readonly callback: unknown;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onHandlerError: (err: unknown) => void,
    private readonly hooks: DrainHooks = {},
  ) {
    // One registered trampoline for all rings; ctx is the handler's slot.
    this.callback = koffi.register((ctx: unknown, data: unknown, size: number | bigint) => {
      try {
        const bytes = new Uint8Array(koffi.view(data as never, Number(size)));
        const slot = Number(ctx);
        this.received[slot]++;
        this.handlers[slot]?.(bytes);
      } catch (err) {
        this.onHandlerError(err);
      }
      return 0;
    }, koffi.pointer(ring_buffer_sample_fn));
  }

  /** Adds a ring buffer map; `name` is used in errors. */
  add(name: string, mapFd: number, handler: RecordHandler): void {
    const slot = this.handlers.length;
    this.handlers.push(handler);
    this.received.push(0);
    if (!this.rb) {
      this.rb = libbpf.ring_buffer__new(mapFd, this.callback, slot, null);
      if (!this.rb) throw new BpfError(`ring buffer ${name}`, koffi.errno());
    } else {
      const rc = libbpf.ring_buffer__add(this.rb, mapFd, this.callback, slot);
      if (rc < 0) throw new BpfError(`ring buffer ${name}`, -rc);
    }
  }

  /**
   * Starts draining: on readiness (the kernel wakes user space only when a ring is filling up)
   * and every `intervalMs` (records are submitted without a wake-up, so one drain takes many).
   */
  start(intervalMs = RING_DRAIN_INTERVAL_MS): void {
    if (!this.rb || this.poll) return;
    this.timer = setInterval(() => this.drain(), intervalMs);
    this.timer.unref();
    const fd = libbpf.ring_buffer__epoll_fd(this.rb);
    this.poll = (koffi as unknown as { node: { poll: Function } }).node.poll(
      fd,
      { readable: true },
      (status: number) => {
        if (status >= 0) this.drain();
      },
    ) as PollHandle;
  }

  /** Consumes everything available now; returns the record count. */
  drain(): number {
    if (!this.rb || this.closed) return 0;
    this.hooks.beforeDrain?.();
    try {
      const n = libbpf.ring_buffer__consume(this.rb);
      return n < 0 ? 0 : n;
    } finally {
      this.hooks.afterDrain?.();
    }
  }

  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.poll?.close();
    this.poll = null;
    if (this.rb) libbpf.ring_buffer__free(this.rb);
    this.rb = null;
    koffi.unregister(this.callback as never);
  }
}
