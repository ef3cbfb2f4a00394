// SPDX-License-Identifier: Apache-2.0
/**
 * Removing the series of a finished container from an instrument. Synchronous instruments
 * (counters, histograms) keep every attribute set they were ever given as well: a counter of a
 * container that ended is exported for ever, the same way as described below.
 *
 * @opentelemetry/sdk-metrics 2.12 turns each observation of an asynchronous instrument into a
 * delta against the last one it remembers, then adds that to the last cumulative point it reported
 * to each reader. Both memories keep every attribute set ever observed: under cumulative
 * temporality (the Prometheus exporter's) an attribute set the callback stops observing is still
 * exported with its last value on every collection, for ever, and once an instrument has seen
 * 2000 attribute sets every new one is folded into `otel.metric.overflow`. The specification says
 * an SDK SHOULD NOT export a set the callback did not observe (metrics/sdk.md, "Observations
 * inside asynchronous callbacks"). Until the SDK does that, {@link forgetSeries} drops chosen
 * attribute sets from those memories, so the next collection neither exports them nor counts them.
 *
 * It reaches into SDK internals (pinned by package.json's exact version, and tested in
 * test/unit/resources-forget.test.ts against the installed SDK): `ObservableInstrument._metricStorages`,
 * `AsyncMetricStorage._deltaMetricStorage` (`_activeCollectionStorage`, `_cumulativeMemoStorage`) and
 * `._temporalMetricStorage` (`_reportHistory`, `_unreportedAccumulations`), whose maps are
 * `AttributeHashMap`s (`_valueMap` and `_keyMap`, keyed by an attribute hash). When they are not
 * there it changes nothing and returns false: series then stay, as without it.
 */
import type { Attributes } from '@opentelemetry/api';

interface HashMapLike {
  _valueMap: Map<unknown, unknown>;
  _keyMap: Map<unknown, Attributes>;
}

interface StorageLike {
  _deltaMetricStorage: { _activeCollectionStorage: HashMapLike; _cumulativeMemoStorage: HashMapLike };
  _temporalMetricStorage: {
    _reportHistory: Map<unknown, { accumulations: HashMapLike }>;
    _unreportedAccumulations: Map<unknown, HashMapLike[]>;
  };
}

function isHashMap(m: unknown): m is HashMapLike {
  const h = m as Partial<HashMapLike> | null;
  return !!h && h._valueMap instanceof Map && h._keyMap instanceof Map;
}

function storagesOf(instrument: unknown): StorageLike[] | null {
  // Asynchronous instruments hold their storages in `_metricStorages`; synchronous ones (counters,
  // histograms) in `_writableMetricStorage`: one storage (one reader), or a MultiMetricStorage
  // whose `_backingStorages` are one per reader; with the same two processors.
  const i = instrument as { _metricStorages?: unknown; _writableMetricStorage?: { _backingStorages?: unknown } } | null;
  const writable = i?._writableMetricStorage;
  const storages = i?._metricStorages ?? (writable ? (writable._backingStorages ?? [writable]) : undefined);
  if (!Array.isArray(storages)) return null;
  for (const s of storages as Array<Partial<StorageLike> | null>) {
    const d = s?._deltaMetricStorage;
    const t = s?._temporalMetricStorage;
    if (!d || !isHashMap(d._activeCollectionStorage) || !isHashMap(d._cumulativeMemoStorage)) return null;
    if (!t || !(t._reportHistory instanceof Map) || !(t._unreportedAccumulations instanceof Map)) return null;
  }
  return storages as StorageLike[];
}

/** True when {@link forgetSeries} can work on this instrument (the SDK's internals are the expected ones). */
export function canForgetSeries(instrument: unknown): boolean {
  return storagesOf(instrument) !== null;
}

function prune(map: unknown, match: (attributes: Attributes) => boolean): number {
  if (!isHashMap(map)) return 0;
  let n = 0;
  for (const [hash, attributes] of [...map._keyMap]) {
    if (!match(attributes)) continue;
    map._keyMap.delete(hash);
    map._valueMap.delete(hash);
    n++;
  }
  return n;
}

/**
 * Forgets every attribute set of an instrument (asynchronous or synchronous) that `match` accepts: from the next
 * collection on it is not exported (unless observed again, then as a new series). Call it once the
 * callback no longer observes those sets. Returns false when the SDK's internals are not the
 * expected ones (nothing changed).
 */
export function forgetSeries(instrument: unknown, match: (attributes: Attributes) => boolean): boolean {
  const storages = storagesOf(instrument);
  if (!storages) return false;
  for (const s of storages) {
    prune(s._deltaMetricStorage._activeCollectionStorage, match);
    prune(s._deltaMetricStorage._cumulativeMemoStorage, match);
    for (const report of s._temporalMetricStorage._reportHistory.values()) prune(report?.accumulations, match);
    for (const stash of s._temporalMetricStorage._unreportedAccumulations.values()) for (const m of stash ?? []) prune(m, match);
  }
  return true;
}
