// SPDX-License-Identifier: Apache-2.0
/** test/support/require.ts: a missing requirement skips locally and fails under CI. */
import { describe, expect, it, type TestContext } from 'vitest';
import { MissingRequirementError, requireOrSkip, underCi } from '../support/require.js';

/** A stand-in for vitest's context that records the skip (the real one throws to stop the test). */
function fakeCtx() {
  const skipped: string[] = [];
  const ctx = { skip: (note?: string) => void skipped.push(note ?? '') } as unknown as TestContext;
  return { ctx, skipped };
}

describe('underCi', () => {
  it.each([
    [{ CI: 'true' }, true],
    [{ CI: '1' }, true],
    [{ CI: 'woodpecker' }, true],
    [{ CI: 'false' }, false],
    [{ CI: 'FALSE' }, false],
    [{ CI: '0' }, false],
    [{ CI: '' }, false],
    [{}, false],
  ])('%j -> %s', (env, want) => {
    expect(underCi(env)).toBe(want);
  });
});

describe('requireOrSkip', () => {
  it('does nothing when nothing is missing', () => {
    for (const missing of [null, undefined, false, ''] as const) {
      const { ctx, skipped } = fakeCtx();
      expect(() => requireOrSkip(ctx, missing, { CI: 'true' })).not.toThrow();
      expect(skipped).toEqual([]);
    }
  });

  it('skips with the reason outside CI', () => {
    const { ctx, skipped } = fakeCtx();
    requireOrSkip(ctx, 'promtool not installed', {});
    expect(skipped).toEqual(['promtool not installed']);
  });

  it('fails with the reason under CI, and does not skip', () => {
    const { ctx, skipped } = fakeCtx();
    expect(() => requireOrSkip(ctx, 'promtool not installed', { CI: 'true' })).toThrow(MissingRequirementError);
    expect(() => requireOrSkip(ctx, 'promtool not installed', { CI: 'true' })).toThrow(
      'promtool not installed (CI is set: a missing requirement fails the test instead of skipping it)',
    );
    expect(skipped).toEqual([]);
  });

  it('reads process.env.CI by default', (ctx) => {
    const saved = process.env.CI;
    try {
      process.env.CI = 'true';
      expect(() => requireOrSkip(ctx, 'x')).toThrow(MissingRequirementError);
      requireOrSkip(ctx, null);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });
});
