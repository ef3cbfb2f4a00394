// SPDX-License-Identifier: Apache-2.0
/**
 * Agent-level telemetry: metrics the agent itself creates in src/agent.ts rather than a sensor
 * (rendered into README by scripts/gen-docs.mjs; test/unit/docs.test.ts checks it matches agent.ts).
 */
import type { TelemetrySpec } from '../sensors/sensor.js';

export const EVENTS_LOST_COUNTER = 'contguard.events.lost';
export const EVENTS_RECEIVED_COUNTER = 'contguard.events.received';

export const agentTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: EVENTS_LOST_COUNTER,
      instrument: 'counter',
      unit: '{event}',
      description: 'Events the kernel could not deliver because the ring buffer was full.',
      attributes: ['sensor'],
    },
    {
      name: EVENTS_RECEIVED_COUNTER,
      instrument: 'counter',
      unit: '{event}',
      description: 'Records user space received from the kernel, per sensor (host events are dropped in the kernel and never counted here unless include_host is on).',
      attributes: ['sensor'],
    },
    {
      name: 'contguard.output.dropped',
      instrument: 'counter',
      unit: '{record}',
      description: 'Records an output dropped because its stream stayed congested past its buffer cap (8 MiB); OTLP drops are counted by the OTel SDK (otel.sdk.* metrics).',
      attributes: ['output'],
    },
    {
      name: 'contguard.sensor.up',
      instrument: 'gauge',
      unit: '1',
      description: 'Whether each enabled sensor runs (1) or this kernel could not load or attach it (0).',
      attributes: ['sensor', 'contguard.sensor.variant'],
    },
    {
      name: 'process.cpu.time',
      instrument: 'counter',
      unit: 's',
      description: 'CPU time the agent process used, by cpu.mode (user, system): process.cpuUsage().',
      attributes: ['cpu.mode'],
    },
    {
      name: 'process.memory.usage',
      instrument: 'updowncounter',
      unit: 'By',
      description: 'Resident set size of the agent process: process.memoryUsage.rss().',
      attributes: [],
    },
  ],
  events: [],
};
