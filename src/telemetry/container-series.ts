// SPDX-License-Identifier: Apache-2.0
/**
 * The series of removed containers on synchronous instruments (event counters such as
 * contguard.process.execs): the SDK exports a counter's last value for ever once it was used,
 * so with container churn /metrics would grow without bound. Every synchronous instrument a
 * sensor creates through {@link ContainerSeries.meter} is remembered; {@link ContainerSeries.retire}
 * forgets a removed container's series on all of them after a delay (registry.forget_after_ms).
 */
import type { Meter } from '@opentelemetry/api';
import { forgetSeries } from './forget-series.js';

export class ContainerSeries {
  private readonly instruments: unknown[] = [];
  /** Container id -> its pending retirement. */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  /** The meter sensors use: the same as `inner`, remembering the synchronous instruments it creates. */
  readonly meter: Meter;

  constructor(inner: Meter, private readonly maxPending = 65_536) {
    const remember = <T>(instrument: T): T => {
      this.instruments.push(instrument);
      return instrument;
    };
    this.meter = Object.assign(Object.create(inner) as Meter, {
      createCounter: (...a: Parameters<Meter['createCounter']>) => remember(inner.createCounter(...a)),
      createUpDownCounter: (...a: Parameters<Meter['createUpDownCounter']>) => remember(inner.createUpDownCounter(...a)),
      createHistogram: (...a: Parameters<Meter['createHistogram']>) => remember(inner.createHistogram(...a)),
      createGauge: (...a: Parameters<Meter['createGauge']>) => remember(inner.createGauge(...a)),
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
      this.forget(oldestId);
    }
    const timer = setTimeout(() => {
      this.pending.delete(containerId);
      if (!stillLive()) this.forget(containerId);
    }, delayMs);
    timer.unref();
    this.pending.set(containerId, timer);
  }

  /** Retirements waiting for their delay. */
  get pendingCount(): number {
    return this.pending.size;
  }

  stop(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
  }

  private forget(containerId: string): void {
    for (const i of this.instruments) forgetSeries(i, (a) => a['container.id'] === containerId);
  }
}
