// SPDX-License-Identifier: Apache-2.0
/**
 * The agent's own diagnostics: one line each on stderr, never mixed with the event stream.
 * Messages are escaped by the console rule (escapeControl, see src/telemetry/escape.ts).
 */
import { escapeControl } from './telemetry/escape.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface AgentLogger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  /** Logs a warning only the first time `key` is seen. */
  warnOnce(key: string, msg: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): AgentLogger {
  const seen = new Set<string>();
  const log = (l: LogLevel, msg: string) => {
    if (rank[l] <= rank[level]) write(`contguard ${l}: ${escapeControl(msg)}\n`);
  };
  return {
    error: (m) => log('error', m),
    warn: (m) => log('warn', m),
    info: (m) => log('info', m),
    debug: (m) => log('debug', m),
    warnOnce: (key, m) => {
      if (seen.has(key)) return;
      seen.add(key);
      log('warn', m);
    },
  };
}
