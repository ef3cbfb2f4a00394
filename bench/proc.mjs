// SPDX-License-Identifier: Apache-2.0
/**
 * A process's CPU from /proc, for the benchmarks: no side effect on import (bench/run.mjs and
 * bench/exec.mjs have their own clean-up and do not load bench/lib.mjs).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The threads' sum_exec_runtime (ns); throws once the process is gone. */
export function procRuntimeNs(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* thread gone */
    }
  }
  return total;
}

/**
 * Waits until a process uses under 2 % of a CPU over 0.5 s (at most maxMs): an agent right after
 * its ready file, or after a burst of events, still works on the same CPUs as the loop measured
 * next. Resolves with the ms it waited.
 */
export async function waitQuiet(pid, maxMs = 15_000) {
  const t0 = Date.now();
  try {
    let last = procRuntimeNs(pid);
    while (Date.now() - t0 < maxMs) {
      await new Promise((r) => setTimeout(r, 500));
      const now = procRuntimeNs(pid);
      if (now - last < 10_000_000) break;
      last = now;
    }
  } catch {
    /* the process is gone: nothing to wait for */
  }
  return Date.now() - t0;
}
