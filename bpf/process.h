/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* process sensor: the event layout shared by process.bpf.c and src/sensors/process (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

#define PROCESS_COMM_LEN 16

#define PROCESS_EVENT_FORK 1 /* a new process (not a thread) in a container */
#define PROCESS_EVENT_EXEC 2 /* a process of a container exec'd: a new image */
#define PROCESS_EVENT_EXIT 3 /* the last thread of a process of a container exited */

#define PROCESS_FLAG_PARENT_IN_CONTAINER 1 /* fork: the forking process is a workload task of the same container */

/*
 * One process event. A process image (what one exec, or a fork, started) is identified by
 * (pid, start_time_ns, exec_id), from kernel data only: every event of the image, and the
 * exec sensor's record of it, name it the same way, whoever reads them and whenever.
 */
struct process_event {
	__u64 timestamp_ns;         /* CLOCK_MONOTONIC */
	__u64 start_time_ns;        /* the process's start: its leader's task->start_time (CLOCK_MONOTONIC) */
	__u64 exec_id;              /* its leader's task->self_exec_id: +1 per exec; a fork inherits the forker's */
	__u64 parent_start_time_ns; /* fork: the forking process's start (0 for exec and exit) */
	__u32 kind;                 /* PROCESS_EVENT_* */
	__u32 pid;                  /* tgid on the host */
	__u32 ppid;                 /* fork: the forking process; exec and exit: the real parent */
	__u32 slot;                 /* the container's registry slot */
	__u32 exit_code;            /* exit: as wait() reports it: status << 8, or the signal (| 0x80: core dumped) */
	__u32 flags;                /* PROCESS_FLAG_* */
	char comm[PROCESS_COMM_LEN]; /* the process's comm (its thread group leader's) */
	struct cg_cgroup_ref cgroup;
};
