// SPDX-License-Identifier: Apache-2.0
/**
 * The outputs' fast paths write exactly what the plain formulas write: the JSON line built from
 * a container's cached attributes fragment equals JSON.stringify of the record object, and the
 * per-second time caches equal Date.toISOString.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributesJson, nanosToIso, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import { isoMillis } from '../../src/telemetry/console-sink.js';
import { recordAttributes } from '../../src/telemetry/container-attributes.js';
import type { EventRecord } from '../../src/telemetry/record.js';

const value = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.array(fc.string(), { maxLength: 3 }));
const attrs = fc.dictionary(fc.oneof(fc.constantFrom('container.id', 'container.name', 'process.pid', 'k', '__proto__x'), fc.string()), value, { maxKeys: 8 });

/** The record object the JSON line stood for before the fast path. */
function reference(r: EventRecord): string {
  const ms = r.timeUnixNano / 1_000_000n;
  const time = `${new Date(Number(ms)).toISOString().slice(0, 19)}.${(r.timeUnixNano % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  return JSON.stringify({ time, event: r.eventName, severity: r.severity, body: r.body, attributes: r.attributes, trace_id: r.traceId, span_id: r.spanId });
}

describe('JSON lines fast path', () => {
  it('writes the same text as JSON.stringify, for any container and own attributes, shared keys included', () => {
    fc.assert(
      fc.property(attrs, attrs, fc.string(), fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }), (container, own, body, traceId) => {
        const a = recordAttributes(container, own);
        expect(attributesJson(a)).toBe(JSON.stringify(a));
        // The second record of the same container uses the cached fragment.
        const b = recordAttributes(container, { ...own });
        expect(attributesJson(b)).toBe(JSON.stringify(b));
        const r: EventRecord = { eventName: 'contguard.x', timeUnixNano: 1_795_856_476_123_456_789n, severity: 'INFO', body, attributes: a, traceId, spanId: traceId?.slice(0, 16) };
        expect(JSON.parse(toJsonLine(r))).toEqual(JSON.parse(reference(r)));
        if (!/[\u0080-\u009f\p{Cf}\u2028\u2029]/u.test(reference(r))) expect(toJsonLine(r)).toBe(reference(r));
      }),
      { numRuns: 500 },
    );
  });

  it('notices a key added after the attributes were built, and writes it', () => {
    const container = { 'container.id': 'c1', 'container.name': 'web' };
    const a: Record<string, unknown> = recordAttributes(container, { 'process.pid': 1 });
    attributesJson(a); // caches the container's fragment
    a['file.path'] = '/etc/shadow';
    expect(JSON.parse(attributesJson(a))).toEqual({ 'container.id': 'c1', 'container.name': 'web', 'process.pid': 1, 'file.path': '/etc/shadow' });
  });

  it('an own key that shadows a container key wins once, as in the attributes object', () => {
    const a = recordAttributes({ 'container.id': 'c1', x: 1 }, { x: 2 });
    expect(attributesJson(a)).toBe('{"container.id":"c1","x":2}');
  });

  it('times: the cached date part equals toISOString across second, day and year boundaries', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 4_102_444_800_000_000_000n }), (ns) => {
        const ms = Number(ns / 1_000_000n);
        expect(isoMillis(ns)).toBe(new Date(ms).toISOString());
        expect(nanosToIso(ns)).toBe(`${new Date(ms).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`);
      }),
      { numRuns: 2000 },
    );
    // Consecutive times across a second boundary: the cache moves on.
    const t = 1_795_856_476_999_999_999n;
    expect(nanosToIso(t)).toBe('2026-11-28T09:01:16.999999999Z');
    expect(nanosToIso(t + 1n)).toBe('2026-11-28T09:01:17.000000000Z');
    expect(isoMillis(t)).toBe('2026-11-28T09:01:16.999Z');
    expect(isoMillis(t + 1n)).toBe('2026-11-28T09:01:17.000Z');
  });
});
