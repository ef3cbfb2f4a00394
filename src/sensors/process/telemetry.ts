// SPDX-License-Identifier: Apache-2.0
/**
 * process sensor telemetry: its metrics (rendered into README). Its output proper is spans,
 * one trace per container run (README "Process trees as traces" lists their attributes).
 *
 * What is seen: every new process (fork/clone without CLONE_THREAD) of a container's workload,
 * every exec, and the exit of each process's last thread with the status wait() reports.
 * Threads are not followed. Runtime init (runc between entering the cgroup and exec'ing the
 * entrypoint) is left out: in the kernel by the registry's task state (tp_btf variant), in
 * user space for its exits (raw_tracepoint variant: an exit of an image never seen beginning,
 * in a container whose start was seen, is counted as dropped{reason="begin_unseen"}).
 */
import type { TelemetrySpec } from '../sensor.js';

export const PROCESS_SPANS_COUNTER = 'contguard.process.spans';
export const PROCESS_SPANS_DROPPED_COUNTER = 'contguard.process.spans.dropped';
export const PROCESS_OPEN_SPANS_GAUGE = 'contguard.process.open_spans';
export const PROCESS_SPAN_EVENTS_DROPPED_COUNTER = 'contguard.process.span_events.dropped';

/** Attributes of a process image span (README "Process trees as traces"). */
export const PROCESS_SPAN_ATTRIBUTES: Record<string, string> = {
  'process.pid': 'pid on the host',
  'process.parent_pid': 'the process that forked it (the real parent for an image first seen at exec or exit)',
  'process.executable.name': 'comm of the process (its thread group leader)',
  'process.executable.path': 'the executable file as the container sees it (from the exec sensor; a forked process: its parent\'s)',
  'process.command_args': 'argv (from the exec sensor, at most sensors.exec.max_args entries and 4 KiB)',
  'contguard.process.args_truncated': 'true when argv was cut',
  'process.exit.code': 'exit status, for a process that exited (not killed)',
  'contguard.process.exit.signal': 'the signal that killed it (SIGKILL, ...)',
  'contguard.process.exit.core_dumped': 'true when it dumped core',
  'contguard.process.start': 'exec (the span starts at the exec), fork (no exec followed: at the fork) or unseen (began before the agent followed it)',
  'contguard.process.end': 'exit, exec (replaced by the next program), max_span (a continuation follows) or container_removed',
  'contguard.process.exit_unseen': 'true when the container ended before its exit was seen',
  'contguard.process.segment': 'the continuation\'s index (1, 2, ...) of an image longer than sensors.process.max_span_ms',
};

export const processTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: PROCESS_SPANS_COUNTER,
      instrument: 'counter',
      unit: '{span}',
      description:
        'Spans of container process trees: handed to the OTLP trace exporter (outcome=exported), or discarded at the end of a run that was not sampled (sensors.process.sample_ratio) and had no WARN record (outcome=unsampled).',
      attributes: ['outcome'],
    },
    {
      name: PROCESS_SPANS_DROPPED_COUNTER,
      instrument: 'counter',
      unit: '{span}',
      description:
        'Process spans not made: reason=container_limit or agent_limit (sensors.process.max_open_spans_per_container, max_open_spans), held_limit (the oldest held span of an unsampled run gave way), begin_unseen (an exit of a process whose start was not seen in a container whose start was), untracked_container (events of a cgroup the registry never announced).',
      attributes: ['reason'],
    },
    {
      name: PROCESS_OPEN_SPANS_GAUGE,
      instrument: 'gauge',
      unit: '{span}',
      description: 'Process spans open now, plus finished spans of unsampled runs held for a WARN record.',
      attributes: [],
    },
    {
      name: PROCESS_SPAN_EVENTS_DROPPED_COUNTER,
      instrument: 'counter',
      unit: '{event}',
      description:
        'Records of a process (file opens, connections, policy violations) not made events of its span: reason=span_limit (sensors.process.max_events_per_span; the span\'s dropped_events_count says how many), agent_limit (sensors.process.max_span_events held in all), no_span (its span was already handed over, or its process is not followed).',
      attributes: ['reason'],
    },
  ],
  events: [],
};
