// SPDX-License-Identifier: Apache-2.0
/** Helpers for one-line validation errors, shared by the config and the network policy loaders. */

/** JSON form of a value for error messages, cut to 60 characters so messages stay one short line. */
export function formatValue(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'bigint' ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The value at `path` in raw parsed data, so an error reports it as the user wrote it. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): { found: boolean; value?: unknown } {
  let cur: unknown = data;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return { found: false };
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return { found: cur !== undefined, value: cur };
}
