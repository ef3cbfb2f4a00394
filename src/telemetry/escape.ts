// SPDX-License-Identifier: Apache-2.0
/**
 * Strings from the kernel (comm, argv, paths) are attacker-controlled: before they reach a
 * terminal, control characters (C0, DEL, C1, and the bidi overrides) become visible escapes.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(s: string): string {
  // Backslashes are doubled first, so a literal "\\x1b" in the input never reads as an escape.
  return s.replace(/\\/g, '\\\\').replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Quotes an argv element for display when it holds spaces, quotes or escapes. */
export function quoteArg(s: string): string {
  const escaped = escapeControl(s);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped) ? escaped : `'${escaped.replace(/'/g, "'\\''")}'`;
}
