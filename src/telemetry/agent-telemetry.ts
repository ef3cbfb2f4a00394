// SPDX-License-Identifier: Apache-2.0
/**
 * Agent-level telemetry: metrics the agent itself creates in src/agent.ts rather than a sensor
 * (rendered into README by scripts/gen-docs.mjs; test/unit/docs.test.ts checks it matches agent.ts).
 */
import type { TelemetrySpec } from '../sensors/sensor.js';

export const EVENTS_LOST_COUNTER = 'contguard.events.lost';

export const agentTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: EVENTS_LOST_COUNTER,
      instrument: 'counter',
      unit: '{event}',
      description: 'Events the kernel could not deliver because the ring buffer was full.',
      attributes: ['sensor'],
    },
  ],
  events: [],
};
