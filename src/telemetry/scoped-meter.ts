// SPDX-License-Identifier: Apache-2.0
/**
 * A Meter whose observable callbacks can be taken back. A sensor registers callbacks that read
 * its maps when it starts; when that variant then fails to attach, its object (and the map fds
 * the callbacks read) is closed, and a callback left behind would read a closed fd, or whatever
 * map reused that fd number, at every collection. The agent gives each attempt a scoped meter and
 * revokes it on failure.
 */
import type { BatchObservableCallback, Meter, Observable, ObservableCallback } from '@opentelemetry/api';

export interface ScopedMeter {
  meter: Meter;
  /** Removes every callback registered through `meter` (instruments stay, unobserved). */
  revoke(): void;
}

export function scopeMeter(base: Meter): ScopedMeter {
  const undo: Array<() => void> = [];
  const meter = new Proxy(base, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop === 'string' && prop.startsWith('createObservable')) {
        return (...args: unknown[]) => {
          const instrument = (value as (...a: unknown[]) => Observable).apply(target, args);
          return new Proxy(instrument, {
            get(i, p, r) {
              const v = Reflect.get(i, p, r) as unknown;
              if (p === 'addCallback') {
                return (cb: ObservableCallback) => {
                  i.addCallback(cb);
                  undo.push(() => i.removeCallback(cb));
                };
              }
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(i) : v;
            },
          });
        };
      }
      if (prop === 'addBatchObservableCallback') {
        return (cb: BatchObservableCallback, observables: Observable[]) => {
          target.addBatchObservableCallback(cb, observables);
          undo.push(() => target.removeBatchObservableCallback(cb, observables));
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return {
    meter,
    revoke() {
      for (const u of undo.splice(0).reverse()) u();
    },
  };
}
