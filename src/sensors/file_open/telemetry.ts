// SPDX-License-Identifier: Apache-2.0
/** file_open sensor telemetry: every metric, event and attribute it emits (rendered into README). */
import type { TelemetrySpec } from '../sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_ATTRIBUTE_KEYS } from '../../telemetry/container-attributes.js';

export const FILE_OPEN_EVENT = 'contguard.file.open';
export const FILE_OPENS_COUNTER = 'contguard.file.opens';
export const FILE_CANDIDATES_DROPPED_COUNTER = 'contguard.file.candidates_dropped';
export const FILE_FOLDED_COUNTER = 'contguard.file.folded';

export const fileOpenTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: FILE_OPENS_COUNTER,
      instrument: 'counter',
      unit: '{open}',
      description: 'Reported opens (folded repeats included) of host-shared or sensitive files by a container.',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'system.filesystem.type', 'contguard.file.sensitive'],
    },
    {
      name: FILE_CANDIDATES_DROPPED_COUNTER,
      instrument: 'counter',
      unit: '{open}',
      description: 'Opens the kernel sent as possibly sensitive (a name or directory a rule uses) that no rule matched in user space, or runtime plumbing files (hosts, resolv.conf, hostname) not reported: the cost of the kernel pre-filter.',
      attributes: ['reason'],
    },
    {
      name: FILE_FOLDED_COUNTER,
      instrument: 'counter',
      unit: '{open}',
      description: 'Opens folded in the kernel into an earlier record (outcome=folded; their counts reach the records), or sent unfolded because sensors.file_open.fold_table_entries keys were already folded (outcome=table_full).',
      attributes: ['outcome'],
    },
  ],
  events: [
    {
      name: FILE_OPEN_EVENT,
      severity: 'WARN when a sensitive rule matched, else INFO',
      description:
        'A container opened a file shared with the host (bind mount, volume, device: a file system it does not own) or a sensitive file (a rule of sensors.file_open.sensitive_rules), or failed to open a sensitive one. Repeats of one (container, process, file, access, result) within sensors.file_open.fold_interval_ms are one record with a count: the first at once, the folded ones when the interval ends.',
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        'process.pid': 'pid on the host',
        'process.executable.name': 'comm of the opening thread',
        'process.user.id': 'effective uid',
        'file.path': 'the path as the container sees it (resolved in the kernel), or as passed for a failed open',
        'file.inode': 'inode number (string)',
        'file.mode': 'file type and permissions (octal string)',
        'system.filesystem.type': 'file system type (ext4, xfs, overlay, proc, ...)',
        'contguard.file.access': 'read, write, create, truncate (from the open flags)',
        'contguard.file.open_flags': 'open flags as passed to the syscall',
        'contguard.file.host_path': 'where the file lives on the host, for a bind mount or volume (from the mount tables)',
        'contguard.file.mount.source': "the mount's source as the host's mount table names it",
        'contguard.file.mount.point': 'the mount point inside the container',
        'contguard.file.sensitive': 'true when a sensitive rule matched',
        'contguard.file.rule': 'the name of the rule that matched',
        'contguard.file.open.count': 'opens this record stands for (1, or the repeats folded in the interval)',
        'contguard.file.path_truncated': 'true when the path was deeper or longer than the kernel walks (its tail is kept)',
        'contguard.file.path_as_given': 'true for a failed open: the path as passed, not resolved',
        'error.type': 'for a failed open: EACCES, EPERM, ENOENT or EROFS',
      },
    },
  ],
};
