// SPDX-License-Identifier: Apache-2.0
import { afterEach, describe, expect, it } from 'vitest';
import { diag } from '@opentelemetry/api';
import { routeOtelDiagnostics } from '../../src/telemetry/otel.js';
import { createLogger } from '../../src/log.js';

describe('OTel SDK diagnostics in the agent log', () => {
  afterEach(() => diag.disable());

  it('logs an SDK error once per interval, as one readable line without the stack', () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), 60_000);
    const serialised = JSON.stringify({ message: '14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:4317', stack: 'Error: x\n    at y' });
    diag.error(serialised);
    diag.error(serialised);
    diag.warn('dropped 3 log records');
    diag.info('not shown');
    expect(lines).toEqual([
      'contguard error: otel: 14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:4317\n',
      'contguard warn: otel: dropped 3 log records\n',
    ]);
  });

  it('logs the same message again once the interval has passed', async () => {
    const lines: string[] = [];
    routeOtelDiagnostics(createLogger('info', (l) => lines.push(l)), 20);
    diag.warn('export failed');
    await new Promise((r) => setTimeout(r, 30));
    diag.warn('export failed');
    expect(lines).toHaveLength(2);
  });
});
