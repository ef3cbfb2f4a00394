// SPDX-License-Identifier: Apache-2.0
/**
 * Metrics the OpenTelemetry JS SDK (0.223 / 2.12) reports about the agent's own OTLP log
 * pipeline (src/telemetry/otel.ts: the LoggerProvider, its BatchLogRecordProcessor and the
 * OTLP log exporter get the agent's MeterProvider). The SDK, not the agent, names them; the
 * agent-health dashboard and sizing read them. test/unit/sdk-telemetry.test.ts runs that
 * pipeline against a collector that is not there and checks these names and attributes.
 */
import type { MetricSpec } from '../sensors/sensor.js';

const COMPONENT = ['otel.component.type', 'otel.component.name'];

export const sdkLogMetrics: MetricSpec[] = [
  {
    name: 'otel.sdk.log.created',
    instrument: 'counter',
    unit: '{log_record}',
    description: 'Log records the agent emitted into the SDK (every record of the OTLP output).',
    attributes: [],
  },
  {
    name: 'otel.sdk.processor.log.processed',
    instrument: 'counter',
    unit: '{log_record}',
    description: 'Log records the batch processor handed to the exporter, or dropped with error.type=queue_full (the 16,384-record queue was full) or the export error.',
    attributes: [...COMPONENT, 'error.type'],
  },
  {
    name: 'otel.sdk.processor.log.queue.size',
    instrument: 'updowncounter',
    unit: '{log_record}',
    description: 'Log records waiting in the batch processor queue.',
    attributes: COMPONENT,
  },
  {
    name: 'otel.sdk.processor.log.queue.capacity',
    instrument: 'updowncounter',
    unit: '{log_record}',
    description: 'Capacity of the batch processor queue.',
    attributes: COMPONENT,
  },
  {
    name: 'otel.sdk.exporter.log.exported',
    instrument: 'counter',
    unit: '{log}',
    description: 'Log records whose OTLP export finished, with error.type when it failed (collector unreachable, rejected).',
    attributes: [...COMPONENT, 'server.address', 'server.port', 'error.type'],
  },
  {
    name: 'otel.sdk.exporter.log.inflight',
    instrument: 'updowncounter',
    unit: '{log}',
    description: 'Log records handed to the OTLP exporter whose export has not finished.',
    attributes: [...COMPONENT, 'server.address', 'server.port'],
  },
  {
    name: 'otel.sdk.exporter.operation.duration',
    instrument: 'histogram',
    unit: 's',
    description: 'Duration of one OTLP export call.',
    attributes: [...COMPONENT, 'server.address', 'server.port', 'error.type', 'rpc.response.status_code'],
  },
];
