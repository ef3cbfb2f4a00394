/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* io_uring sensor: layouts shared by io_uring.bpf.c and src/sensors/io_uring (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

/*
 * Counts per container slot: one row of IO_URING_ROW u64, counts[slot * IO_URING_ROW + i].
 * One more row than registry slots, at index max_containers: host tasks (include_host only).
 */
#define IO_URING_OPCODES 64   /* opcodes counted one by one (6.18 has 63: IORING_OP_LAST) */
#define IO_URING_ROW_OTHER 64 /* submissions with an opcode >= IO_URING_OPCODES */
#define IO_URING_ROW_CREATES 65 /* io_uring instances created (io_uring_setup) */
#define IO_URING_ROW 66

#define IO_URING_STAT_NO_SLOT 0 /* submissions of containers that got no registry slot */
#define IO_URING_STATS 1

#define IO_URING_EVENT_SETUP 1 /* a container's first io_uring instance */
#define IO_URING_EVENT_OPEN 2  /* an IORING_OP_OPENAT/OPENAT2 request submitted */

#define IO_URING_FLAG_HOST 1           /* a host task (include_host) */
#define IO_URING_FLAG_PATH_TRUNCATED 2 /* path[] holds the first IO_URING_PATH_LEN - 1 bytes only */
#define IO_URING_FLAG_IO_THREAD 4      /* submitted by an io_uring kernel thread (SQPOLL: iou-sqp-<pid>) */

#define IO_URING_COMM_LEN 16
#define IO_URING_PATH_LEN 512

/* What every record starts with. */
struct io_uring_event_header {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u64 process_start_ns; /* the process image, as traces name it (bpf/process.h): its leader's task->start_time */
	__u64 exec_id;          /* and its leader's task->self_exec_id */
	__u32 kind;         /* IO_URING_EVENT_* */
	__u32 flags;        /* IO_URING_FLAG_* */
	__u32 pid;          /* tgid on the host */
	__u32 tid;          /* the submitting thread */
	__u32 uid;          /* effective uid */
	__u32 pad;
	struct cg_cgroup_ref cgroup;
	char comm[IO_URING_COMM_LEN];        /* the process (thread group leader) */
	char thread_comm[IO_URING_COMM_LEN]; /* the calling thread */
};

/* io_uring:io_uring_create, the first one of a container (per slot, until the slot is freed). */
struct io_uring_setup_event {
	struct io_uring_event_header h;
	__s32 fd;          /* the ring's file descriptor */
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 setup_flags; /* IORING_SETUP_* */
};

/*
 * An IORING_OP_OPENAT or IORING_OP_OPENAT2 request, at submission: after its prep copied the
 * path into the kernel (getname), before it runs. The path is that kernel copy, the one the open
 * will use, as passed: relative to dfd when not absolute, symlinks not followed.
 */
struct io_uring_open_event {
	struct io_uring_event_header h;
	__u64 open_flags; /* O_* (open_how.flags) */
	__u64 mode;
	__u64 resolve;    /* RESOLVE_* (OPENAT2 only) */
	__s32 dfd;        /* AT_FDCWD (-100) or a directory fd */
	__u32 opcode;     /* IORING_OP_OPENAT (18) or IORING_OP_OPENAT2 (28) */
	__u32 file_slot;  /* != 0: a direct (fixed-file table) descriptor, slot + 1 or IORING_FILE_INDEX_ALLOC */
	__u32 path_len;   /* bytes in path[] before its NUL */
	char path[IO_URING_PATH_LEN];
};

/* Keeps the constants above in BTF for the generated decoder's checks. */
struct io_uring_limits {
	__u32 opcodes;
	__u32 row;
	__u32 path_len;
};
