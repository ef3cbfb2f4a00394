// SPDX-License-Identifier: Apache-2.0
/** syscalls sensor telemetry: every metric, event and attribute it emits (rendered into README). */
import type { TelemetrySpec } from '../sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_ATTRIBUTE_KEYS } from '../../telemetry/container-attributes.js';

export const SYSCALLS_COUNTER = 'contguard.syscalls';
export const SYSCALLS_SNAPSHOT_EVENT = 'contguard.syscalls.snapshot';
export const SYSCALLS_UNTRACKED_COUNTER = 'contguard.syscalls.untracked';

export const syscallsTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: SYSCALLS_COUNTER,
      instrument: 'counter',
      unit: '{syscall}',
      description: 'Syscalls made in a container, counted in the kernel (workload and runtime start-up after its seccomp filter).',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'syscall.name'],
    },
    {
      name: SYSCALLS_UNTRACKED_COUNTER,
      instrument: 'counter',
      unit: '{syscall}',
      description: 'Syscalls not attributed to a syscall name: reason=no_slot (more containers than registry.max_containers) or number_out_of_range.',
      attributes: ['reason'],
    },
  ],
  events: [
    {
      name: SYSCALLS_SNAPSHOT_EVENT,
      severity: 'INFO',
      description: 'Cumulative syscall counts of one container run, every sensors.syscalls.snapshot_interval_ms when they changed and once when the container ends; `contguard seccomp` reads these back.',
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        'contguard.syscalls.arch': 'x86_64 or aarch64',
        'contguard.syscalls.counts': 'map syscall name -> count, the workload (entrypoint and everything after)',
        'contguard.syscalls.runtime_counts': 'map syscall name -> count, the runtime between installing the seccomp filter and exec',
        'contguard.syscalls.recording_start': 'when counting began for this container (ISO 8601)',
        'contguard.syscalls.last_new': 'when the last syscall not seen before appeared (ISO 8601, snapshot granularity)',
        'contguard.syscalls.final': 'true on the last snapshot of a container run',
        'contguard.syscalls.joined_running': 'true when the container ran before the agent started: its start-up syscalls were not seen',
      },
    },
  ],
};
