// SPDX-License-Identifier: Apache-2.0
/**
 * What a test needs from the host (a tool, a daemon, a build). On a developer's machine a missing
 * requirement skips the test with its reason; under CI (process.env.CI set) it fails the test
 * instead: there, a missing tool or daemon is an install bug, never a reason to test less.
 */
import type { TestContext } from 'vitest';

/** True when running under CI: CI set to anything but "", "0" or "false". */
export function underCi(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/** Thrown under CI in place of a skip. */
export class MissingRequirementError extends Error {
  constructor(reason: string) {
    super(`${reason} (CI is set: a missing requirement fails the test instead of skipping it)`);
    this.name = 'MissingRequirementError';
  }
}

/**
 * Does nothing when `missing` is null, undefined or false. Otherwise skips the test with
 * `missing` as the reason, or, under CI, fails it with that reason.
 */
export function requireOrSkip(ctx: TestContext, missing: string | null | undefined | false, env: Readonly<Record<string, string | undefined>> = process.env): void {
  if (!missing) return;
  if (underCi(env)) throw new MissingRequirementError(missing);
  ctx.skip(missing);
}
