/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* exec sensor: the event layout shared by exec.bpf.c and src/sensors/exec (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

#define EXEC_FILENAME_LEN 512
#define EXEC_ARGS_LEN 4096 /* bytes of NUL-separated argv; user space also caps the count */
#define EXEC_COMM_LEN 16

#define EXEC_FLAG_ARGS_TRUNCATED 1
#define EXEC_FLAG_CALLER_UNKNOWN 2

struct exec_event {
	__u64 timestamp_ns;       /* CLOCK_MONOTONIC */
	__u64 start_time_ns;      /* the process's start (task->start_time, CLOCK_MONOTONIC): its trace span id */
	__u64 exec_id;            /* task->self_exec_id after this exec: its trace span id (bpf/process.h) */
	__u32 pid;                /* tgid on the host */
	__u32 vpid;               /* pid in the container's pid namespace */
	__u32 ppid;               /* real parent's tgid on the host */
	__u32 uid;                /* effective uid */
	__u32 ruid;               /* real uid */
	__u32 gid;                /* effective gid */
	__u32 mntns;              /* mount namespace inode */
	__u32 flags;              /* EXEC_FLAG_* */
	__u32 args_size;          /* bytes used in args[] */
	__u32 slot;               /* the container's registry slot (REGISTRY_NO_SLOT for a host task) */
	struct cg_cgroup_ref cgroup;
	char caller_comm[EXEC_COMM_LEN]; /* comm of the process that called execve */
	char comm[EXEC_COMM_LEN];        /* comm after exec */
	char filename[EXEC_FILENAME_LEN];  /* as passed to exec (bprm->filename) */
	char exe_path[EXEC_FILENAME_LEN];  /* the executable file, resolved (/proc/<pid>/exe in the container) */
	char args[EXEC_ARGS_LEN];        /* sent only up to args_size */
};
