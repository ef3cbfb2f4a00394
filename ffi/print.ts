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
/** Large enough for a verifier log, whose end (the error) matters most. */
const buffer = Buffer.alloc(256 * 1024);
/** Lines kept of a longer libbpf message: its first and its last ones. */
const KEEP_HEAD_LINES = 4;
const KEEP_TAIL_LINES = 40;

/** A long message (a verifier log) cut to its head and tail, saying how many lines were left out. */
export function shortenLog(text: string): string {
  const lines = text.split('\n');
  if (lines.length <= KEEP_HEAD_LINES + KEEP_TAIL_LINES + 1) return text;
  const left = lines.length - KEEP_HEAD_LINES - KEEP_TAIL_LINES;
  return [...lines.slice(0, KEEP_HEAD_LINES), `... (${left} lines left out) ...`, ...lines.slice(-KEEP_TAIL_LINES)].join('\n');
}

export function routeLibbpfLog(sink: (level: LibbpfLevel, line: string) => void): void {
  if (registered) return; // kept for the process lifetime: libbpf may print at any call
  registered = koffi.register((level: number, fmt: unknown, args: unknown) => {
    try {
      const n = clib.vsnprintf(buffer, buffer.length, fmt, args) as number;
      const text = shortenLog(buffer.subarray(0, Math.max(0, Math.min(n, buffer.length - 1))).toString('utf8').trimEnd());
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
