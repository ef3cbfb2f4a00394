// SPDX-License-Identifier: Apache-2.0
/** Which ring consumer `auto` picks (ffi/ringbuf.ts); both are exercised on a real ring in test/e2e/ring-consumer.test.ts. */
import { describe, expect, it } from 'vitest';
import { resolveRingConsumer } from '../../ffi/ringbuf.js';

describe('resolveRingConsumer', () => {
  it('reads the mapped ring on x86_64 only, where its load-ordering assumption holds', () => {
    expect(resolveRingConsumer('auto', 'x64')).toBe('mmap');
    expect(resolveRingConsumer('auto', 'arm64')).toBe('libbpf');
    expect(resolveRingConsumer('auto', 'riscv64')).toBe('libbpf');
  });
  it('keeps an explicit choice', () => {
    expect(resolveRingConsumer('libbpf', 'x64')).toBe('libbpf');
    expect(resolveRingConsumer('mmap', 'x64')).toBe('mmap');
  });
});
