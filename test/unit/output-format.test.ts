// SPDX-License-Identifier: Apache-2.0
/**
 * The outputs' fast paths write exactly what the plain formulas write: the JSON line built from
 * a container's cached attributes fragment equals JSON.stringify of the record object, and the
 * per-second time caches equal Date.toISOString.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSONL_FILE, JsonLinesSink, attributesJson, attributesObjectJson, nanosToIso, toJsonLine } from '../../src/telemetry/jsonl-sink.js';
import { isoMillis } from '../../src/telemetry/console-sink.js';
import { containerRecord } from '../../src/telemetry/container-attributes.js';
import { formatConsoleLine } from '../../src/telemetry/console-sink.js';
import { escapeControl } from '../../src/telemetry/escape.js';
import type { Attributes, EventRecord } from '../../src/telemetry/record.js';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const value = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.array(fc.string(), { maxLength: 3 }));
const attrs = fc.dictionary(fc.oneof(fc.constantFrom('container.id', 'container.name', 'process.pid', 'k', '__proto__x', '__proto__'), fc.string()), value, { maxKeys: 8 });

/** The record object the JSON line stood for before the fast path. */
function reference(r: EventRecord): string {
  const ms = r.timeUnixNano / 1_000_000n;
  const time = `${new Date(Number(ms)).toISOString().slice(0, 19)}.${(r.timeUnixNano % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  return JSON.stringify({ time, event: r.eventName, severity: r.severity, body: r.body, attributes: r.attributes, trace_id: r.traceId, span_id: r.spanId });
}

describe('JSON lines fast path', () => {
  const fields = (body = 'b', traceId?: string) => ({ eventName: 'contguard.x', timeUnixNano: 1_795_856_476_123_456_789n, severity: 'INFO' as const, body, traceId, spanId: traceId?.slice(0, 16) });

  it('writes the same text as JSON.stringify of the merged attributes, for any container and own attributes, shared keys included', () => {
    fc.assert(
      fc.property(attrs, attrs, fc.string(), fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined }), (container, own, body, traceId) => {
        // Two records of one container: the second uses the cached fragment.
        for (const r of [containerRecord(container, own, fields(body, traceId)), containerRecord(container, { ...own }, fields(body, traceId))]) {
          const line = toJsonLine(r);
          expect(attributesJson(r)).toBe(JSON.stringify(Object.assign({}, container, own)));
          expect(JSON.parse(line)).toEqual(JSON.parse(reference(r)));
          if (!/[\u0080-\u009f\p{Cf}\u2028\u2029]/u.test(reference(r))) expect(line).toBe(reference(r));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('attributesObjectJson writes what JSON.stringify writes (unsafe characters escaped), for any attribute values', () => {
    // Strings of any code units (lone surrogates, controls, quotes), numbers that JSON cannot
    // hold (NaN, Infinity, -0), nested maps, nulls, undefined (left out), mixed arrays.
    const anyString = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', '\udcff', '\u007f', '\u0085'), fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u))) });
    const anyValue = fc.oneof(
      anyString,
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.array(anyString, { maxLength: 4 }),
      fc.array(fc.oneof(anyString, fc.integer(), fc.constant(undefined)), { maxLength: 3 }),
      fc.dictionary(anyString, fc.integer(), { maxKeys: 3 }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(anyString, fc.constantFrom('1', '02', 'process.pid')), anyValue, { maxKeys: 10 }), (o) => {
        // The same text, except that each character the JSON lines escape (C1 controls, format
        // characters, U+2028/U+2029) is written as \uNNNN: the same JSON value.
        const safe = JSON.stringify(o).replace(/[\u0080-\u009f\p{Cf}\u2028\u2029]/gu, (c) => c.split('').map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
        expect(attributesObjectJson(o as Attributes)).toBe(safe);
        expect(JSON.parse(attributesObjectJson(o as Attributes))).toEqual(JSON.parse(JSON.stringify(o)));
      }),
      { numRuns: 1000 },
    );
  });

  it('the JSON lines sink counts each line`s UTF-8 bytes as Buffer.byteLength does', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cg-bytes-'));
    try {
      const sink = new JsonLinesSink(dir, 1024 * 1024, 2, () => undefined);
      const bodies = ['plain', 'caf\u00e9', '\u{1f600}', '\udcff', 'tab\tquote"', '\u202e'];
      for (const body of bodies) sink.write(containerRecord({ 'container.id': 'c\u00e9' }, { 'process.pid': 1 }, fields(body)));
      await sink.shutdown();
      const text = readFileSync(path.join(dir, JSONL_FILE), 'utf8');
      expect(text.split('\n').filter(Boolean).map((l) => JSON.parse(l).body)).toEqual(bodies);
      // What the sink counted toward rotation equals the file's size.
      expect((sink as unknown as { batch: { rotation: { current: number } } }).batch.rotation.current).toBe(statSync(path.join(dir, JSONL_FILE)).size);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the console line equals the whole line escaped by the console rule, for any body, names and severity', () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('\\', '\x1b', '\n', '\u2028', '\ud800', '\udcff', '\u0085', '\u202e', '\u00e9', '\u{1f600}'), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c))), maxLength: 120 });
    fc.assert(
      fc.property(text, text, text, fc.constantFrom('INFO', 'WARN', 'ERROR'), fc.boolean(), (body, name, image, severity, withContainer) => {
        const id = 'c0ffee0123456789abcdef';
        const container = withContainer ? { 'container.id': id, 'container.name': name, 'container.image.name': image } : null;
        const r = containerRecord(container, { 'process.pid': 1 }, { ...fields(body), severity: severity as 'INFO' });
        const where = withContainer ? `[${name || id.slice(0, 12)}${name ? ` ${id.slice(0, 12)}` : ''}${image ? ` ${image}` : ''}]` : '[host]';
        const ms = Number(r.timeUnixNano / 1_000_000n);
        const expected = escapeControl(`${new Date(ms).toISOString()} ${severity.padEnd(4)} x ${where} ${body}`);
        // Twice: the second line uses the cached container and label parts.
        expect(formatConsoleLine(r)).toBe(expected);
        expect(formatConsoleLine(r)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('merges a record`s attributes only when asked, once, and freezes them', () => {
    const container = { 'container.id': 'c1', 'container.name': 'web' };
    const r = containerRecord(container, { 'process.pid': 1 }, fields());
    toJsonLine(r);
    formatConsoleLine(r);
    expect(Object.getOwnPropertyDescriptor(r, 'merged')?.value).toBeUndefined();
    expect(r.attributes).toEqual({ 'container.id': 'c1', 'container.name': 'web', 'process.pid': 1 });
    expect(r.attributes).toBe(r.attributes);
    expect(() => ((r.attributes as Record<string, unknown>)['file.path'] = '/x')).toThrow(TypeError);
  });

  it('an own key that shadows a container key is written once, with the own value', () => {
    const r = containerRecord({ 'container.id': 'c1', x: 1 }, { x: 2 }, fields());
    expect(attributesJson(r)).toBe('{"container.id":"c1","x":2}');
  });

  it('a key named __proto__ (in either part) is written as the merged attributes hold it', () => {
    const withProto = (o: Record<string, unknown>) => Object.defineProperty(o, '__proto__', { value: 0, enumerable: true, writable: true, configurable: true }) as Attributes;
    for (const r of [containerRecord(withProto({ 'container.id': 'c1' }), { x: 1 }, fields()), containerRecord({ 'container.id': 'c1' }, withProto({ x: 1 }), fields())]) {
      expect(attributesJson(r)).toBe(JSON.stringify(r.attributes));
    }
  });

  it('a host record (no container) is written as its own attributes', () => {
    const r = containerRecord(null, { 'process.pid': 7 }, fields());
    expect(attributesJson(r)).toBe('{"process.pid":7}');
    expect(formatConsoleLine(r)).toContain('[host]');
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
