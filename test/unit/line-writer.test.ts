// SPDX-License-Identifier: Apache-2.0
/** The byte writer the text outputs write lines into, and the batcher's line boundaries. */
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineWriter } from '../../src/telemetry/line-writer.js';
import { LineBatcher } from '../../src/telemetry/record.js';

type Piece = { kind: 'fixed'; n: number; digits: number } | { kind: 'ascii'; s: string } | { kind: 'utf8'; s: string } | { kind: 'uint'; n: number } | { kind: 'bytes'; b: Uint8Array } | { kind: 'byte'; c: number };

const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 300 }).map((s) => ({ kind: 'ascii' as const, s })),
  fc.string({ unit: 'binary', maxLength: 300 }).map((s) => ({ kind: 'utf8' as const, s })),
  fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constant(-0)).map((n) => ({ kind: 'uint' as const, n })),
  fc.uint8Array({ maxLength: 100 }).map((b) => ({ kind: 'bytes' as const, b })),
  fc.integer({ min: 0, max: 255 }).map((c) => ({ kind: 'byte' as const, c })),
  fc.integer({ min: 1, max: 15 }).chain((digits) => fc.integer({ min: 0, max: 10 ** digits - 1 }).map((n) => ({ kind: 'fixed' as const, n, digits }))),
);

describe('LineWriter', () => {
  it('writes what Buffer.from writes for each piece, across growth from a tiny buffer', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (pieces, initial) => {
        const w = new LineWriter(initial);
        const expected: Buffer[] = [];
        for (const p of pieces) {
          if (p.kind === 'ascii') (w.ascii(p.s), expected.push(Buffer.from(p.s, 'latin1')));
          else if (p.kind === 'utf8') (w.utf8(p.s), expected.push(Buffer.from(p.s, 'utf8')));
          else if (p.kind === 'uint') (w.uint(p.n), expected.push(Buffer.from(String(p.n))));
          else if (p.kind === 'fixed') (w.fixedDigits(p.n, p.digits), expected.push(Buffer.from(String(p.n).padStart(p.digits, '0'))));
          else if (p.kind === 'bytes') (w.bytes(p.b), expected.push(Buffer.from(p.b)));
          else (w.byte(p.c), expected.push(Buffer.from([p.c])));
        }
        const all = Buffer.concat(expected);
        expect(w.length).toBe(all.length);
        expect(Buffer.compare(w.buf.subarray(0, w.length), all)).toBe(0);
        // take(): the caller owns those bytes; the writer goes on empty, in another buffer.
        const taken = w.take();
        w.ascii('x'.repeat(10));
        expect(Buffer.compare(taken, all)).toBe(0);
        expect(w.text()).toBe('x'.repeat(10));
      }),
      { numRuns: 500 },
    );
  });
});

describe('LineBatcher lines', () => {
  const collect = () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    return { out, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  /** One whole line, as an output writes it. */
  const line = (b: LineBatcher, s: string): boolean => {
    const w = b.beginLine();
    if (!w) return false;
    w.utf8(s);
    return b.endLine();
  };

  it('a line begun but not ended (its formatter threw) leaves nothing in the batch', async () => {
    const { out, text } = collect();
    const b = new LineBatcher(out);
    line(b, 'one');
    const w = b.beginLine()!;
    w.ascii('half of a line that never ends');
    expect(b.pendingBytes).toBe(4);
    line(b, 'two');
    await b.flush();
    expect(text()).toBe('one\ntwo\n');
    expect(b.dropped).toBe(0);
  });

  it('a line that would pass the cap is dropped whole and counted; the batch keeps its lines', async () => {
    const { out, text } = collect();
    const b = new LineBatcher(out, { maxPendingBytes: 10 });
    expect(line(b, 'abcd')).toBe(true);
    const w = b.beginLine()!;
    w.ascii('0123456789');
    expect(b.endLine()).toBe(false);
    expect(line(b, '\u00e9\u00e9')).toBe(true); // 4 bytes + '\n': 10 in all
    expect(line(b, 'x')).toBe(false);
    await b.flush();
    expect(text()).toBe('abcd\n\u00e9\u00e9\n');
    expect(b.dropped).toBe(2);
  });
});
