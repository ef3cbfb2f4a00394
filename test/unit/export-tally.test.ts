// SPDX-License-Identifier: Apache-2.0
/** ExportTally: OTLP export calls counted by signal and outcome, results passed through unchanged. */
import { describe, expect, it } from 'vitest';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { ExportTally } from '../../src/telemetry/export-tally.js';

class ScriptedExporter {
  constructor(private readonly results: ExportResult[]) {}
  export(_items: string[], done: (r: ExportResult) => void): void {
    const r = this.results.shift();
    if (r) setImmediate(() => done(r));
  }
}

describe('ExportTally', () => {
  it('counts each export call once it reports, by signal and outcome, and passes the result on', async () => {
    const tally = new ExportTally();
    const failure: ExportResult = { code: ExportResultCode.FAILED, error: new Error('14 UNAVAILABLE') };
    const logs = tally.wrap(new ScriptedExporter([{ code: ExportResultCode.SUCCESS }, failure, failure]), 'logs');
    const traces = tally.wrap(new ScriptedExporter([failure]), 'traces');
    const seen: ExportResult[] = [];
    const call = (e: ScriptedExporter) => new Promise<void>((r) => e.export(['x'], (res) => (seen.push(res), r())));
    for (let i = 0; i < 3; i++) await call(logs);
    await call(traces);
    expect(seen.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.FAILED, ExportResultCode.FAILED, ExportResultCode.FAILED]);
    expect(seen[1]).toBe(failure);
    expect(tally.entries().sort((a, b) => `${a.signal}${a.outcome}`.localeCompare(`${b.signal}${b.outcome}`))).toEqual([
      { signal: 'logs', outcome: 'failure', n: 2 },
      { signal: 'logs', outcome: 'success', n: 1 },
      { signal: 'traces', outcome: 'failure', n: 1 },
    ]);
  });
});
