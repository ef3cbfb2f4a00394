// SPDX-License-Identifier: Apache-2.0
/** ISO 8601 times to nanoseconds and back (the JSON lines carry nanoseconds); imports nothing. */

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Nanoseconds since the epoch of `2026-11-28` (UTC midnight), `2026-11-28T09:00Z`,
 * `2026-11-28T09:00:00.123456789Z` or `2026-11-28T10:00:00+01:00`; null for anything else,
 * including a date-time without a zone (ambiguous) and impossible dates.
 */
export function parseIsoTime(text: string): bigint | null {
  const m = ISO_RE.exec(text);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) return null; // 2026-02-30
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return BigInt(ms - offsetMinutes * 60_000) * 1_000_000n + BigInt(frac.padEnd(9, '0'));
}

/** `2026-11-28T09:01:16.123456789Z`, as the JSON lines write times. */
export function formatNanos(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}.${(((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}
