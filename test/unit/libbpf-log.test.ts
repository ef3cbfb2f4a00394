// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { shortenLog } from '../../ffi/print.js';

describe('libbpf messages routed to the agent log', () => {
  it('keeps a short message whole', () => {
    const text = ['prog x: -- BEGIN PROG LOAD LOG --', 'line', '-- END PROG LOAD LOG --'].join('\n');
    expect(shortenLog(text)).toBe(text);
  });

  it('keeps the head and the end of a long verifier log, where the error is, and says what it left out', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `${i}: insn`);
    lines.push('same insn cannot be used with different pointers', '-- END PROG LOAD LOG --');
    const out = shortenLog(lines.join('\n')).split('\n');
    expect(out.slice(0, 4)).toEqual(['0: insn', '1: insn', '2: insn', '3: insn']);
    expect(out[4]).toBe('... (458 lines left out) ...');
    expect(out.slice(-2)).toEqual(['same insn cannot be used with different pointers', '-- END PROG LOAD LOG --']);
    expect(out).toHaveLength(4 + 1 + 40);
  });
});
