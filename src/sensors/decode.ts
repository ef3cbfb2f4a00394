// SPDX-License-Identifier: Apache-2.0
/** Readers for kernel byte strings: hostile input, bounded by the field and the record. */

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A NUL-terminated string in a fixed `char[max]`; invalid UTF-8 becomes U+FFFD. */
export function cString(v: DataView, offset: number, max: number): string {
  const end = Math.min(offset + max, v.byteLength);
  if (offset >= end) return '';
  const bytes = new Uint8Array(v.buffer, v.byteOffset + offset, end - offset);
  const nul = bytes.indexOf(0);
  return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** The bytes of a large `char[max]`, as far as the record reaches (variable-size records). */
export function cBytes(v: DataView, offset: number, max: number): Uint8Array {
  const end = Math.min(offset + max, v.byteLength);
  if (offset >= end) return new Uint8Array(0);
  return new Uint8Array(v.buffer, v.byteOffset + offset, end - offset);
}

/** Splits NUL-separated strings (argv), keeping at most `maxCount`. */
export function splitNulStrings(bytes: Uint8Array, maxCount: number): { values: string[]; truncated: boolean } {
  const values: string[] = [];
  let start = 0;
  let len = bytes.length;
  while (len > 0 && bytes[len - 1] === 0) len--; // trailing NULs end the list, not empty args
  if (len === 0) return { values, truncated: false };
  for (let i = 0; i <= len; i++) {
    if (i === len || bytes[i] === 0) {
      if (values.length === maxCount) return { values, truncated: true };
      values.push(utf8.decode(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  return { values, truncated: false };
}
