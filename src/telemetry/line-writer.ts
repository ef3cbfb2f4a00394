// SPDX-License-Identifier: Apache-2.0
/**
 * Output lines written as bytes, in place, into one growable buffer. The text outputs write a
 * line's pieces here instead of concatenating strings: V8 keeps a concatenation as a tree of its
 * pieces, and copying such a tree out again (to join a batch, then to encode it for the stream)
 * cost more than formatting the line (bench/pipeline.mjs).
 */

/** The first buffer's size; later ones take the size the last batch needed. */
const MIN_BUFFER_BYTES = 64 * 1024;

export class LineWriter {
  /** The bytes: [0, length) are written. */
  buf: Buffer;
  length = 0;

  constructor(initialBytes = MIN_BUFFER_BYTES) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.length + n, 2 * this.buf.length));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(c: number): void {
    this.reserve(1);
    this.buf[this.length++] = c;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** A string the caller knows is ASCII: one byte per character. */
  ascii(s: string): void {
    this.reserve(s.length);
    this.length += this.buf.write(s, this.length, 'latin1');
  }

  /** Any string, as UTF-8 (a lone surrogate becomes U+FFFD, as Buffer.from writes it). */
  utf8(s: string): void {
    this.reserve(3 * s.length);
    this.length += this.buf.write(s, this.length, 'utf8');
  }

  /** A non-negative integer (at most Number.MAX_SAFE_INTEGER) in decimal. */
  uint(v: number): void {
    let digits = 1;
    for (let m = v; m >= 10; m = Math.floor(m / 10)) digits++;
    this.reserve(digits);
    const b = this.buf;
    let p = this.length + digits;
    this.length = p;
    do {
      const q = Math.floor(v / 10);
      b[--p] = 48 + (v - q * 10);
      v = q;
    } while (v > 0);
  }

  /** A non-negative integer below 10^digits, zero-padded to `digits` digits. */
  fixedDigits(v: number, digits: number): void {
    this.reserve(digits);
    const b = this.buf;
    for (let p = this.length + digits - 1; p >= this.length; p--) {
      const q = Math.floor(v / 10);
      b[p] = 48 + (v - q * 10);
      v = q;
    }
    this.length += digits;
  }

  /** The bytes [start, end) as a string. */
  text(start = 0, end = this.length): string {
    return this.buf.toString('utf8', start, end);
  }

  /** What `write` writes of `x`, as text: this writer is emptied first (a scratch writer). */
  textOf<T>(write: (w: LineWriter, x: T) => void, x: T): string {
    this.length = 0;
    write(this, x);
    return this.text();
  }

  /**
   * Hands over the bytes written (a view of this buffer, which the caller now owns: a stream
   * holds it until written) and starts a new buffer, sized for as much again.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.length);
    this.buf = Buffer.allocUnsafeSlow(Math.max(MIN_BUFFER_BYTES, this.length + (this.length >> 2)));
    this.length = 0;
    return out;
  }
}

/**
 * Bytes made once per event name and severity (a line's fixed part), by `make`. Names are the
 * sensors' constants; the cache holds at most 1024 names anyway (beyond, bytes are made per call).
 */
export function perEventBytes(make: (eventName: string, severity: string) => Buffer): (eventName: string, severity: string) => Buffer {
  const byName = new Map<string, Partial<Record<string, Buffer>>>();
  return (eventName, severity) => {
    let bySeverity = byName.get(eventName);
    let b = bySeverity?.[severity];
    if (b === undefined) {
      b = make(eventName, severity);
      if (!bySeverity && byName.size < 1024) byName.set(eventName, (bySeverity = {}));
      if (bySeverity) bySeverity[severity] = b;
    }
    return b;
  };
}
