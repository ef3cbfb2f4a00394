// SPDX-License-Identifier: Apache-2.0
/**
 * Resource metrics telemetry: every metric src/resources/index.ts creates (rendered into README by
 * scripts/gen-docs.mjs; test/unit/docs.test.ts checks it matches the code). Every data point also
 * carries the container's metric attributes (METRIC_ATTRIBUTE_KEYS: container.*, and k8s.* for pods).
 */
import type { TelemetrySpec } from '../sensors/sensor.js';
import { METRIC_ATTRIBUTE_KEYS } from '../telemetry/container-attributes.js';

const C = [...METRIC_ATTRIBUTE_KEYS];

export const resourcesTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: 'container.cpu.time',
      instrument: 'counter',
      unit: 's',
      description: 'CPU time the container used, by cpu.mode (user, system), the modes adding up to its run time: cgroup v2 (and hybrid) cpu.stat user_usec/system_usec, v1 cpuacct.stat (10 ms steps).',
      attributes: [...C, 'cpu.mode'],
    },
    {
      name: 'container.memory.usage',
      instrument: 'updowncounter',
      unit: 'By',
      description: 'Memory the container uses, page cache included: cgroup v2 memory.current, v1 memory.usage_in_bytes.',
      attributes: C,
    },
    {
      name: 'container.memory.working_set',
      instrument: 'updowncounter',
      unit: 'By',
      description: 'Memory usage minus inactive file pages (what docker stats and the kubelet show): v2 memory.stat inactive_file, v1 total_inactive_file.',
      attributes: C,
    },
    {
      name: 'container.memory.rss',
      instrument: 'updowncounter',
      unit: 'By',
      description: 'Anonymous memory of the container (no page cache, no tmpfs): v2 memory.stat anon, v1 total_rss.',
      attributes: C,
    },
    {
      name: 'container.disk.io',
      instrument: 'counter',
      unit: 'By',
      description: 'Bytes the container read from and wrote to block devices, summed over devices, by disk.io.direction (read, write): v2 io.stat rbytes/wbytes, v1 blkio.throttle.io_service_bytes_recursive.',
      attributes: [...C, 'disk.io.direction'],
    },
    {
      name: 'contguard.container.pids',
      instrument: 'gauge',
      unit: '{task}',
      description: 'Tasks (processes and threads) in the container: pids.current.',
      attributes: C,
    },
    {
      name: 'contguard.container.cpu.periods',
      instrument: 'counter',
      unit: '{period}',
      description: 'CFS bandwidth periods elapsed while the container ran under a CPU quota (cpu.stat nr_periods; 0 without a quota).',
      attributes: C,
    },
    {
      name: 'contguard.container.cpu.throttled_periods',
      instrument: 'counter',
      unit: '{period}',
      description: 'CFS bandwidth periods in which the container was throttled because it used up its CPU quota (cpu.stat nr_throttled).',
      attributes: C,
    },
    {
      name: 'contguard.container.cpu.throttled_time',
      instrument: 'counter',
      unit: 's',
      description: 'Time the container was throttled by its CPU quota: v2 cpu.stat throttled_usec, v1 throttled_time.',
      attributes: C,
    },
    {
      name: 'contguard.container.memory.events',
      instrument: 'counter',
      unit: '{event}',
      description: 'Memory limit events, by event: oom (the limit was hit and reclaim failed; cgroup v2 only) and oom_kill (a process was killed by the OOM killer): v2 memory.events, v1 memory.oom_control.',
      attributes: [...C, 'event'],
    },
    {
      name: 'contguard.container.pressure',
      instrument: 'gauge',
      unit: '%',
      description: 'Pressure stall information: share of the last 10 s in which some (or, for full, all) tasks of the container waited for the resource (cpu, memory, io): cpu/memory/io.pressure avg10 (cgroup v2 and hybrid hosts).',
      attributes: [...C, 'resource', 'contguard.pressure.kind'],
    },
    {
      name: 'contguard.container.pressure.stall_time',
      instrument: 'counter',
      unit: 's',
      description: 'Total time some (or all, for full) tasks of the container waited for the resource (cpu, memory, io): cpu/memory/io.pressure total.',
      attributes: [...C, 'resource', 'contguard.pressure.kind'],
    },
  ],
  events: [],
};
