// SPDX-License-Identifier: Apache-2.0
/**
 * io_uring sensor telemetry: every metric, event and attribute it emits (rendered into README).
 *
 * What is seen, precisely:
 * - every io_uring request the kernel accepts (io_uring:io_uring_submit_req, fired after the
 *   request's prep, before it runs), counted in the kernel per container and opcode, whoever
 *   submits it: the process in io_uring_enter, an SQPOLL kernel thread (no syscall at all),
 *   linked and IOSQE_ASYNC requests alike;
 * - every io_uring instance created (io_uring:io_uring_create), counted per container; the
 *   first one of a container run is also a log record (pid, comm, ring size, setup flags);
 * - for IORING_OP_OPENAT and IORING_OP_OPENAT2 only, the path AS PASSED: the kernel's own copy,
 *   made by the request's prep (getname) before the open runs. It is the string the open uses, so
 *   a later change of the user buffer cannot fool it, and IOSQE_CQE_SKIP_SUCCESS cannot hide it.
 *
 * What is NOT seen:
 * - the file an io_uring open resolved to. The reported path is not resolved: a relative path is
 *   relative to dfd (or the cwd) at the time the open runs, symlinks and `..` are not followed,
 *   and neither success nor the returned fd is reported (the event is written at submission).
 *   The completion tracepoint (io_uring_complete, res = the new fd) was rejected as the source of
 *   a resolved path, for two holes checked on 6.18: a request with IOSQE_CQE_SKIP_SUCCESS posts
 *   no completion (no event at all), and inline completions are flushed after the whole
 *   submission batch ran, so OPENAT(/etc/passwd), CLOSE(its fd), OPENAT(/etc/hostname) in one
 *   io_uring_enter show the first completion with an fd that is already the second file;
 * - the paths, addresses, buffers or results of any other opcode (READ, WRITE, CONNECT,
 *   UNLINKAT, RENAMEAT, STATX, ...): they are counted by opcode, nothing more;
 * - requests the kernel rejects before issuing them (an unknown opcode, a prep error such as a
 *   bad path pointer): io_uring_submit_req does not fire for them;
 * - host processes, unless include_host is on (then counted and reported without container.*).
 *
 * Cost: no hook on ordinary syscalls. Each io_uring request pays one cgroup-id lookup in the
 * registry's index (a host request stops there), a container's one more array increment; an
 * OPENAT/OPENAT2 of a container also one ring record.
 */
import type { TelemetrySpec } from '../sensor.js';
import { CONTAINER_ATTRIBUTES, METRIC_ATTRIBUTE_KEYS } from '../../telemetry/container-attributes.js';

export const IO_URING_SUBMISSIONS_COUNTER = 'contguard.io_uring.submissions';
export const IO_URING_INSTANCES_COUNTER = 'contguard.io_uring.instances';
export const IO_URING_UNTRACKED_COUNTER = 'contguard.io_uring.untracked';
export const IO_URING_SETUP_EVENT = 'contguard.io_uring.setup';
export const IO_URING_OPEN_EVENT = 'contguard.io_uring.open';

const PROCESS_ATTRIBUTES: Record<string, string> = {
  'process.pid': 'pid on the host',
  'process.executable.name': 'comm of the process (its thread group leader)',
  'process.user.id': 'effective uid',
  'thread.id': 'the thread that called (tid on the host)',
  'thread.name': 'comm of that thread (iou-sqp-<pid> for a request an SQPOLL thread submitted)',
  'contguard.io_uring.io_thread': 'true when an io_uring kernel thread (SQPOLL) submitted it, not the process in a syscall',
};

export const ioUringTelemetry: TelemetrySpec = {
  metrics: [
    {
      name: IO_URING_SUBMISSIONS_COUNTER,
      instrument: 'counter',
      unit: '{request}',
      description:
        'io_uring requests submitted in a container, counted in the kernel per opcode (io_uring:io_uring_submit_req: every request the kernel accepted, SQPOLL submissions included). These never pass the syscall tracepoints.',
      attributes: [...METRIC_ATTRIBUTE_KEYS, 'io_uring.opcode'],
    },
    {
      name: IO_URING_INSTANCES_COUNTER,
      instrument: 'counter',
      unit: '{instance}',
      description: 'io_uring instances (rings) created in a container (io_uring_setup).',
      attributes: [...METRIC_ATTRIBUTE_KEYS],
    },
    {
      name: IO_URING_UNTRACKED_COUNTER,
      instrument: 'counter',
      unit: '{request}',
      description: 'io_uring requests and instances not counted: reason=no_slot (a container beyond registry.max_containers).',
      attributes: ['reason'],
    },
  ],
  events: [
    {
      name: IO_URING_SETUP_EVENT,
      severity: 'INFO',
      description:
        'A container created its first io_uring instance (once per container run): from then on it can do I/O that syscall-based monitors do not see.',
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        ...PROCESS_ATTRIBUTES,
        'contguard.io_uring.sq_entries': 'submission queue size',
        'contguard.io_uring.cq_entries': 'completion queue size',
        'contguard.io_uring.setup_flags': 'IORING_SETUP_* flags by name without the prefix (SQPOLL, IOPOLL, ...); unknown bits as hex',
      },
    },
    {
      name: IO_URING_OPEN_EVENT,
      severity: 'INFO',
      description:
        'A container submitted an IORING_OP_OPENAT or IORING_OP_OPENAT2 request (sensors.io_uring.open_events). Reported at submission, before the open runs: the path is the one requested, not resolved, and the result is not reported.',
      attributes: {
        ...CONTAINER_ATTRIBUTES,
        ...PROCESS_ATTRIBUTES,
        'file.path': "the path as passed: the kernel's copy the open uses, relative to contguard.io_uring.dfd when not absolute; symlinks not followed",
        'contguard.io_uring.opcode': 'OPENAT or OPENAT2',
        'contguard.io_uring.dfd': 'the directory fd a relative path starts from (-100: AT_FDCWD, the cwd)',
        'contguard.io_uring.open_flags': 'open flags (O_*) as passed',
        'contguard.io_uring.access': 'read, write or read_write (from the open flags), plus create and truncate when asked',
        'contguard.io_uring.resolve': 'RESOLVE_* flags of an OPENAT2 (absent when 0)',
        'contguard.io_uring.direct_descriptor': 'true when the file goes into the ring\'s fixed-file table, not the fd table',
        'contguard.io_uring.path_truncated': 'true when the path was longer than 511 bytes (its first 511 are kept)',
      },
    },
  ],
};
