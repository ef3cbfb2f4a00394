// SPDX-License-Identifier: Apache-2.0
/**
 * Counts OTLP export calls by signal and outcome (contguard.otlp.exports). An exporter's call
 * ends in failure only after its own retries (OTLP retries UNAVAILABLE answers with backoff);
 * a failed logs or traces batch is then dropped (counted by the SDK in otel.sdk.processor.*),
 * while metrics are cumulative: the next export carries them again.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';

export type OtlpSignal = 'logs' | 'metrics' | 'traces';
export type ExportOutcome = 'success' | 'failure';

interface Exporting<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
}

export class ExportTally {
  private readonly counts = new Map<string, { signal: OtlpSignal; outcome: ExportOutcome; n: number }>();

  add(signal: OtlpSignal, outcome: ExportOutcome): void {
    const key = `${signal}/${outcome}`;
    const c = this.counts.get(key);
    if (c) c.n++;
    else this.counts.set(key, { signal, outcome, n: 1 });
  }

  /** Each count so far, by signal and outcome. */
  entries(): Array<{ signal: OtlpSignal; outcome: ExportOutcome; n: number }> {
    return [...this.counts.values()];
  }

  /** Makes `exporter` count each of its export calls here once it reports a result; returns it. */
  wrap<T, E extends Exporting<T>>(exporter: E, signal: OtlpSignal): E {
    const original = exporter.export.bind(exporter);
    exporter.export = (items: T, resultCallback: (result: ExportResult) => void) =>
      original(items, (result) => {
        this.add(signal, result.code === ExportResultCode.SUCCESS ? 'success' : 'failure');
        resultCallback(result);
      });
    return exporter;
  }
}
