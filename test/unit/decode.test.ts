// SPDX-License-Identifier: Apache-2.0
/** Kernel bytes -> strings by surrogateescape (src/sensors/decode.ts): no byte is lost. */
import { describe, expect, it } from 'vitest';
import { cString, decodeBytes, splitNulStrings } from '../../src/sensors/decode.js';
import { surrogateEscapedBytes } from '../../src/telemetry/escape.js';

const enc = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const esc = (...bytes: number[]) => String.fromCharCode(...bytes.map((b) => 0xdc00 + b));
const hex = (b: number) => b.toString(16).padStart(2, '0');
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Deterministic PRNG (mulberry32), so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random bytes mixing ASCII, valid multi-byte characters, their fragments and any byte at all. */
function randomBytes(next: () => number, len: number): Uint8Array {
  const pieces = ['a', 'é', '€', '😀', '\u{10ffff}', '\ufffd', '\ufeff'].map((c) => enc.encode(c));
  const out: number[] = [];
  while (out.length < len) {
    const r = next();
    if (r < 0.3) out.push(Math.floor(next() * 256));
    else if (r < 0.5) out.push(0x80 + Math.floor(next() * 0x80));
    else if (r < 0.8) out.push(...pieces[Math.floor(next() * pieces.length)]!);
    else {
      const p = pieces[1 + Math.floor(next() * (pieces.length - 1))]!;
      out.push(...p.subarray(0, 1 + Math.floor(next() * (p.length - 1)))); // a cut character
    }
  }
  return Uint8Array.from(out.slice(0, len));
}

describe('decodeBytes (surrogateescape)', () => {
  it('round-trips random byte strings: decode then re-encode gives the original bytes', () => {
    const next = rng(0xc0ffee);
    const failures: string[] = [];
    for (let n = 0; n < 20000; n++) {
      const bytes = randomBytes(next, Math.floor(next() * 40));
      if (!sameBytes(surrogateEscapedBytes(decodeBytes(bytes)), bytes)) failures.push(Buffer.from(bytes).toString('hex'));
    }
    expect(failures).toEqual([]);
  });

  it('round-trips every single byte and every byte pair', () => {
    const failures: string[] = [];
    for (let a = 0; a < 256; a++) {
      if (!sameBytes(surrogateEscapedBytes(decodeBytes(Uint8Array.of(a))), Uint8Array.of(a))) failures.push(hex(a));
      for (let b = 0; b < 256; b++) {
        const bytes = Uint8Array.of(a, b);
        if (!sameBytes(surrogateEscapedBytes(decodeBytes(bytes)), bytes)) failures.push(hex(a) + hex(b));
      }
    }
    expect(failures).toEqual([]);
  });

  it('valid UTF-8 decodes exactly as a strict UTF-8 decoder does; only invalid input gets escapes', () => {
    const next = rng(42);
    let valid = 0;
    for (let n = 0; n < 5000; n++) {
      const bytes = randomBytes(next, 1 + Math.floor(next() * 30));
      const s = decodeBytes(bytes);
      let expected: string | null = null;
      try {
        expected = strict.decode(bytes);
      } catch {
        // invalid
      }
      if (expected !== null) {
        valid++;
        expect(s).toBe(expected);
      } else {
        expect(isWellFormed(s)).toBe(false);
      }
    }
    expect(valid).toBeGreaterThan(100);
  });

  it('escapes each byte of an invalid sequence as U+DC00 + byte', () => {
    const d = (...b: number[]) => decodeBytes(Uint8Array.from(b));
    expect(d(0x61, 0xff, 0x62)).toBe(`a${esc(0xff)}b`);
    expect(d(0x80)).toBe(esc(0x80)); // lone continuation byte
    expect(d(0xc0, 0x80)).toBe(esc(0xc0, 0x80)); // overlong NUL
    expect(d(0xe0, 0x80, 0xaf)).toBe(esc(0xe0, 0x80, 0xaf)); // overlong '/'
    expect(d(0xed, 0xa0, 0x80)).toBe(esc(0xed, 0xa0, 0x80)); // an encoded surrogate (CESU/WTF-8)
    expect(d(0xf4, 0x90, 0x80, 0x80)).toBe(esc(0xf4, 0x90, 0x80, 0x80)); // above U+10FFFF
    expect(d(0xe2, 0x82, 0x41)).toBe(`${esc(0xe2, 0x82)}A`); // cut 3-byte character
    expect(d(0xc3, 0x28)).toBe(`${esc(0xc3)}(`);
    expect(d(0xf0, 0x9f, 0x98)).toBe(esc(0xf0, 0x9f, 0x98)); // cut at the end
  });

  it('keeps a leading BOM and a real U+FFFD (no silent loss either way)', () => {
    expect(decodeBytes(enc.encode('\ufeffx'.repeat(10)))).toBe('\ufeffx'.repeat(10));
    expect(decodeBytes(enc.encode('\ufeff'))).toBe('\ufeff');
    expect(decodeBytes(enc.encode('\ufffd'))).toBe('\ufffd');
  });

  it('decodes valid text of every length through both paths (short ASCII loop, TextDecoder)', () => {
    for (let n = 0; n < 40; n++) {
      const ascii = 'x'.repeat(n);
      expect(decodeBytes(enc.encode(ascii))).toBe(ascii);
      const mixed = 'é'.repeat(n);
      expect(decodeBytes(enc.encode(mixed))).toBe(mixed);
      const bad = Uint8Array.from([...enc.encode(ascii), 0xff]);
      expect(decodeBytes(bad)).toBe(ascii + esc(0xff));
    }
  });

  it('long invalid input (beyond the internal chunk) round-trips', () => {
    const bytes = Uint8Array.from({ length: 20000 }, (_, i) => (i % 3 === 0 ? 0xff : 0x41 + (i % 26)));
    const s = decodeBytes(bytes);
    expect(s.length).toBe(20000);
    expect([...surrogateEscapedBytes(s)]).toEqual([...bytes]);
  });
});

describe('cString and splitNulStrings keep invalid bytes', () => {
  it('cString', () => {
    const buf = Uint8Array.from([0x61, 0xfe, 0x62, 0, 0xff]);
    expect(cString(new DataView(buf.buffer), 0, 5)).toBe(`a${esc(0xfe)}b`);
    expect(cString(new DataView(buf.buffer), 4, 5)).toBe(esc(0xff));
  });

  it('splitNulStrings', () => {
    const buf = Uint8Array.from([0x61, 0, 0xc3, 0, 0xc3, 0xa9, 0, 0]);
    expect(splitNulStrings(buf, 10)).toEqual({ values: ['a', esc(0xc3), 'é'], truncated: false });
  });
});
