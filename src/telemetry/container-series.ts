// SPDX-License-Identifier: Apache-2.0
/**
 * The series of removed containers on synchronous instruments (event counters such as
 * contguard.process.execs): the SDK exports a counter's last value for ever once it was used,
 * so with container churn /metrics would grow without bound. Every synchronous instrument a
 * sensor creates through {@link ContainerSeries.meter} is remembered; {@link ContainerSeries.retire}
 * forgets a removed container's series on all of them after a delay (registry.forget_after_ms).
 * A late event of a forgotten container (its record waited for metadata, say) is not counted
 * there any more, or its series would come back for good; {@link ContainerSeries.revive} undoes
 * that when the same container runs again (a restart keeps the id).
 */
import type { Meter } from '@opentelemetry/api';
import { forgetSeries } from './forget-series.js';

export class ContainerSeries {
  private readonly instruments: unknown[] = [];
  /** Container id -> its pending retirement. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /**
   * Forgotten container ids (oldest first, at most maxPending), each for another delay after it
   * was forgotten: their late events are not counted.
   */
  private readonly forgotten = new Map<string, NodeJS.Timeout>();
  /** The meter sensors use: the same as `inner`, remembering the synchronous instruments it creates. */
  readonly meter: Meter;

  constructor(inner: Meter, private readonly maxPending = 65_536) {
    // Each synchronous instrument is remembered (to forget series on it) and handed out behind a
    // proxy whose add/record skips forgotten containers.
    const remember = <T extends object>(instrument: T, method: 'add' | 'record'): T => {
      this.instruments.push(instrument);
      const forgotten = this.forgotten;
      return new Proxy(instrument, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (prop !== method || typeof value !== 'function') return value;
          return (v: number, attributes?: Record<string, unknown>, ...rest: unknown[]) => {
            const id = attributes?.['container.id'];
            if (typeof id === 'string' && forgotten.has(id)) return;
            return (value as (...a: unknown[]) => unknown).call(target, v, attributes, ...rest);
          };
        },
      });
    };
    this.meter = Object.assign(Object.create(inner) as Meter, {
      createCounter: (...a: Parameters<Meter['createCounter']>) => remember(inner.createCounter(...a), 'add'),
      createUpDownCounter: (...a: Parameters<Meter['createUpDownCounter']>) => remember(inner.createUpDownCounter(...a), 'add'),
      createHistogram: (...a: Parameters<Meter['createHistogram']>) => remember(inner.createHistogram(...a), 'record'),
      createGauge: (...a: Parameters<Meter['createGauge']>) => remember(inner.createGauge(...a), 'record'),
    });
  }

  /**
   * Forgets the container's series after delayMs, unless `stillLive()` says it runs again then
   * (a restarted container keeps its id). Beyond maxPending retirements the oldest runs now.
   */
  retire(containerId: string, delayMs: number, stillLive: () => boolean): void {
    const old = this.pending.get(containerId);
    if (old) clearTimeout(old);
    else if (this.pending.size >= this.maxPending) {
      const [oldestId, timer] = this.pending.entries().next().value as [string, NodeJS.Timeout];
      clearTimeout(timer);
      this.pending.delete(oldestId);
      this.forget(oldestId, delayMs);
    }
    const timer = setTimeout(() => {
      this.pending.delete(containerId);
      if (!stillLive()) this.forget(containerId, delayMs);
    }, delayMs);
    timer.unref();
    this.pending.set(containerId, timer);
  }

  /** The container runs again (tracked anew): its events count again. */
  revive(containerId: string): void {
    clearTimeout(this.forgotten.get(containerId));
    this.forgotten.delete(containerId);
  }

  /** Retirements waiting for their delay. */
  get pendingCount(): number {
    return this.pending.size;
  }

  stop(): void {
    for (const t of [...this.pending.values(), ...this.forgotten.values()]) clearTimeout(t);
    this.pending.clear();
    this.forgotten.clear();
  }

  /** Forgotten ids remembered (bounded like the pending retirements). */
  get forgottenCount(): number {
    return this.forgotten.size;
  }

  private forget(containerId: string, lateWindowMs: number): void {
    this.revive(containerId);
    if (this.forgotten.size >= this.maxPending) {
      const [oldestId, t] = this.forgotten.entries().next().value as [string, NodeJS.Timeout];
      clearTimeout(t);
      this.forgotten.delete(oldestId);
    }
    const t = setTimeout(() => this.forgotten.delete(containerId), lateWindowMs);
    t.unref();
    this.forgotten.set(containerId, t);
    for (const i of this.instruments) forgetSeries(i, (a) => a['container.id'] === containerId);
  }
}
