// SPDX-License-Identifier: Apache-2.0
/**
 * Container registry telemetry: every metric src/registry/index.ts creates (rendered into README
 * by scripts/gen-docs.mjs; test/unit/docs.test.ts checks it matches the code).
 */
import type { TelemetrySpec } from '../sensors/sensor.js';

export const registryTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: 'contguard.registry.containers',
      instrument: 'gauge',
      unit: '{container}',
      description: 'Container cgroups the in-kernel registry tracks now.',
      attributes: [],
    },
    {
      name: 'contguard.registry.reconciled',
      instrument: 'counter',
      unit: '{container}',
      description: 'Registry entries fixed by reconciliation with the cgroup file system: action=adopted (a start whose notice was lost) or freed (a removal whose notice was lost).',
      attributes: ['action'],
    },
    {
      name: 'contguard.registry.untracked_containers',
      instrument: 'counter',
      unit: '{container}',
      description: 'Container cgroups that got no registry slot (more than registry.max_containers at once).',
      attributes: [],
    },
  ],
  events: [],
};
