// SPDX-License-Identifier: Apache-2.0
/** exec sensor telemetry: every metric, event and attribute it emits (rendered into README). */
import type { TelemetrySpec } from '../sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_ATTRIBUTE_KEYS } from '../../telemetry/container-attributes.js';

export const EXEC_EVENT_NAME = 'contguard.process.exec';
export const EXEC_COUNTER = 'contguard.process.execs';

export const execTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: EXEC_COUNTER,
      instrument: 'counter',
      unit: '{exec}',
      description: 'Successful execs in a container.',
      attributes: [...METRIC_ATTRIBUTE_KEYS],
    },
  ],
  events: [
    {
      name: EXEC_EVENT_NAME,
      severity: 'INFO',
      description: 'A program started in a container (every successful execve/execveat).',
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        'process.pid': 'pid on the host',
        'process.vpid': 'pid inside the container pid namespace',
        'process.parent_pid': 'parent pid on the host',
        'process.user.id': 'effective uid',
        'process.real_user.id': 'real uid',
        'process.group.id': 'effective gid (contguard extension of process.*)',
        'process.executable.path': 'the executable file as the container sees it (what /proc/<pid>/exe shows: symlinks and /proc/self/exe resolved)',
        'contguard.process.exec_filename': 'the path as passed to exec (e.g. a symlink such as /bin/ls)',
        'process.executable.name': 'comm after exec (basename, 15 bytes max)',
        'process.command_args': 'argv, at most sensors.exec.max_args entries and 4 KiB, secrets redacted (redaction.rules)',
        'contguard.process.args_redacted': 'true when a secret in argv was replaced by *** (absent otherwise)',
        'contguard.process.caller.name': 'comm of the process that called exec',
        'contguard.process.args_truncated': 'true when argv was cut (count or bytes)',
        'contguard.process.mount_namespace': 'mount namespace inode',
      },
    },
  ],
};
