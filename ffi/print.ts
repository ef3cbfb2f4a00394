// SPDX-License-Identifier: Apache-2.0
/** Routes libbpf's own log lines to the agent's logger. */
import koffi from 'koffi';
import { clib, libbpf, libbpf_print_fn } from './libbpf.js';

export type LibbpfLevel = 'warn' | 'info' | 'debug';
let registered: unknown = null;
let lastFailedProgram: string | null = null;

/** The program libbpf last reported as failing to load, if any; cleared on read. */
export function takeFailedProgram(): string | null {
  const p = lastFailedProgram;
  lastFailedProgram = null;
  return p;
}
const buffer = Buffer.alloc(2048);

export function routeLibbpfLog(sink: (level: LibbpfLevel, line: string) => void): void {
  if (registered) return; // kept for the process lifetime: libbpf may print at any call
  registered = koffi.register((level: number, fmt: unknown, args: unknown) => {
    try {
      const n = clib.vsnprintf(buffer, buffer.length, fmt, args) as number;
      const text = buffer.subarray(0, Math.max(0, Math.min(n, buffer.length - 1))).toString('utf8').trimEnd();
      const failed = /prog '([^']+)': failed to load/.exec(text);
      if (failed) lastFailedProgram = failed[1];
      if (text) sink(level === 0 ? 'warn' : level === 1 ? 'info' : 'debug', text);
    } catch {
      // a log line is never worth crashing for
    }
    return 0;
  }, koffi.pointer(libbpf_print_fn));
  libbpf.libbpf_set_print(registered);
}
