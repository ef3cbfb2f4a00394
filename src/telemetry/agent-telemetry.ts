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
    {
      name: 'contguard.agent.cache.entries',
      instrument: 'gauge',
      unit: '{entry}',
      description: 'Entries in each per-container cache of the agent (cache: attributor.*, series.pending_retirements, cgroup_paths.entries, resources.containers, <sensor>.*); once containers are gone they shrink back after registry.forget_after_ms and the retire periods.',
      attributes: ['cache'],
    },
    {
      name: 'contguard.agent.memory',
      instrument: 'gauge',
      unit: 'By',
      description: 'Memory of the agent process (memory.type: rss, heap_used, heap_total, external).',
      attributes: ['memory.type'],
    },
    {
      name: 'contguard.otlp.exports',
      instrument: 'counter',
      unit: '{export}',
      description: 'OTLP export calls by signal (logs, metrics, traces) and outcome (success, failure); a call fails only after the exporter gave up retrying. A failed logs or traces batch is dropped (otel.sdk.processor.*.processed with error.type); metrics go again with the next export.',
      attributes: ['signal', 'outcome'],
    },
  ],
  events: [
    {
      name: 'contguard.agent.events_lost',
      severity: 'WARN',
      description: 'Events a sensor lost because its ring buffer was full, since the last such record: at most one per sensor every 10 s, and one at shutdown.',
      attributes: {
        'contguard.sensor': 'the sensor whose ring lost them (registry for the registry notices)',
        'contguard.events.lost': 'events lost since the previous record of this sensor',
        'contguard.events.lost_total': 'events lost since the agent started (contguard.events.lost metric)',
      },
    },
  ],
};
