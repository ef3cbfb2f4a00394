// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from 'vitest';
import { diag } from '@opentelemetry/api';
import { collectorUnreachableReason, routeOtelDiagnostics } from '../../src/telemetry/otel.js';
import { createLogger } from '../../src/log.js';

/** What the SDK's diag logger receives, captured from a real agent with no collector listening. */
const GRPC_STACK = '\n    at callErrorFromStatus (node_modules/@grpc/grpc-js/build/src/call.js:32:19)';
const serialised = (message: string) => JSON.stringify({ stack: `Error: ${message}${GRPC_STACK}`, message, code: '14', name: 'Error' });
const LOGS_REFUSED = serialised('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:4317. Resolution note: ');
const METRICS_NO_CONNECTION = serialised(
  'PeriodicExportingMetricReader: metrics export failed (error Error: 14 UNAVAILABLE: No connection established. Last error: null. Resolution note: )',
);
const METRICS_REFUSED = serialised(
  'PeriodicExportingMetricReader: metrics export failed (error Error: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:4317. Resolution note: )',
);
const NO_SUCH_HOST = serialised('14 UNAVAILABLE: Name resolution failed for target dns:collector.invalid:4317');

/** A clock the test moves by hand. */
function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('collectorUnreachableReason', () => {
  it.each([
    [LOGS_REFUSED, 'connect ECONNREFUSED 127.0.0.1:4317'],
    [METRICS_REFUSED, 'connect ECONNREFUSED 127.0.0.1:4317'],
    [METRICS_NO_CONNECTION, 'no connection established'],
    [NO_SUCH_HOST, 'cannot resolve collector.invalid:4317'],
    ['14 UNAVAILABLE: read ECONNRESET', 'read ECONNRESET'],
    ['4 DEADLINE_EXCEEDED: Deadline exceeded after 10.002s', 'no answer before the export deadline'],
  ])('%s', (raw, reason) => {
    const message = raw.startsWith('{') ? (JSON.parse(raw) as { message: string }).message : raw;
    expect(collectorUnreachableReason(message)).toBe(reason);
  });

  it('is null for anything else', () => {
    expect(collectorUnreachableReason('dropped 3 log records')).toBeNull();
    expect(collectorUnreachableReason('16 UNAUTHENTICATED: bad token')).toBeNull();
    expect(collectorUnreachableReason('error 14 files')).toBeNull();
  });
});

describe('OTel SDK diagnostics in the agent log', () => {
  afterEach(() => diag.disable());

  it('says once, plainly, that the collector is unreachable, whichever exporter fails first', () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), 'http://127.0.0.1:4317');
    diag.error(LOGS_REFUSED);
    diag.error(METRICS_NO_CONNECTION);
    diag.error(METRICS_REFUSED);
    diag.error(LOGS_REFUSED);
    expect(lines).toEqual([
      'contguard warn: otlp export to http://127.0.0.1:4317 failed: collector unreachable (connect ECONNREFUSED 127.0.0.1:4317); retrying\n',
    ]);
    expect(lines.join('')).not.toMatch(/Resolution note|UNAVAILABLE|at callErrorFromStatus/);
  });

  it('says it again once per interval while the collector stays down', () => {
    const lines: string[] = [];
    const c = clock();
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), 'http://otel:4317', { now: c.now });
    for (let s = 0; s < 180; s += 10) {
      diag.error(s % 20 ? METRICS_REFUSED : LOGS_REFUSED);
      c.advance(10_000);
    }
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toBe('contguard warn: otlp export to http://otel:4317 failed: collector unreachable (connect ECONNREFUSED 127.0.0.1:4317); retrying\n');
  });

  it('names no endpoint when none is given, and keeps the DNS reason', () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)));
    diag.error(NO_SUCH_HOST);
    expect(lines).toEqual(['contguard warn: otlp export failed: collector unreachable (cannot resolve collector.invalid:4317); retrying\n']);
  });

  it('logs any other SDK error once per interval, as one readable line without the stack', () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), 'http://127.0.0.1:4317');
    const other = JSON.stringify({ message: '16 UNAUTHENTICATED: bad token', stack: 'Error: x\n    at y' });
    diag.error(other);
    diag.error(other);
    diag.warn('dropped 3 log records');
    diag.info('not shown');
    expect(lines).toEqual(['contguard error: otel: 16 UNAUTHENTICATED: bad token\n', 'contguard warn: otel: dropped 3 log records\n']);
  });

  it('logs the same message again once the interval has passed (real clock)', async () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), null, { intervalMs: 20 });
    diag.warn('export failed');
    await new Promise((r) => setTimeout(r, 30));
    diag.warn('export failed');
    expect(lines).toHaveLength(2);
  });

  it('forgets messages older than the interval', () => {
    const lines: string[] = [];
    const c = clock();
    const r = routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), null, { intervalMs: 60_000, now: c.now });
    for (let i = 0; i < 100; i++) diag.warn(`dropped ${i} log records`);
    expect(r.tracked()).toBe(100);
    c.advance(30_000);
    diag.warn('dropped 1000 log records');
    expect(r.tracked()).toBe(101);
    c.advance(30_000);
    // The first 100 are a minute old now: dropped when the next message comes.
    diag.warn('something else');
    expect(r.tracked()).toBe(2);
    expect(lines).toHaveLength(102);
  });

  it('remembers at most maxTracked messages, forgetting the oldest first', () => {
    const lines: string[] = [];
    const c = clock();
    const r = routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), null, { now: c.now });
    for (let i = 0; i < 1000; i++) {
      diag.warn(`distinct message ${i}`);
      c.advance(1);
    }
    expect(r.tracked()).toBe(256);
    expect(lines).toHaveLength(1000);
    // Message 999 is remembered (throttled); message 0 was forgotten, so it is logged again.
    diag.warn('distinct message 999');
    expect(lines).toHaveLength(1000);
    diag.warn('distinct message 0');
    expect(lines).toHaveLength(1001);
    expect(r.tracked()).toBe(256);
  });

  it('honours a smaller cap', () => {
    const r = routeOtelDiagnostics(createLogger('error', () => undefined), null, { maxTracked: 3, now: () => 0 });
    for (let i = 0; i < 10; i++) diag.warn(`m${i}`);
    expect(r.tracked()).toBe(3);
  });
});
