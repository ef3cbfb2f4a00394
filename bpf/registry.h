/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The container registry: layouts shared by registry.bpf.c, every sensor that filters with it
 * (include/registry_maps.h) and src/registry (generated decoder).
 */
#pragma once

#include "include/cgroup_ref.h"

#define REGISTRY_NO_SLOT 0xffffffff

/* Open-addressed index of container cgroups, keyed by cgroup id. */
#define REGISTRY_INDEX_PROBES 4                         /* buckets tried per lookup */
#define REGISTRY_INDEX_EMPTY 0ULL                        /* a bucket never used: ends a lookup */
#define REGISTRY_INDEX_REMOVED 0xffffffffffffffffULL     /* a freed bucket: lookups go on */
#define REGISTRY_INDEX_HASH 0x9e3779b97f4a7c15ULL        /* bucket = ((id * HASH) >> 32) & mask */

#define REGISTRY_CGROUP_GONE 1 /* flags: cgroup_rmdir seen; user space frees the bucket after its final read */

/*
 * One container cgroup. User space sets every bucket's slot to REGISTRY_NO_SLOT before any
 * program is attached, so a bucket claimed a moment ago never reads as a valid slot.
 */
struct registry_cgroup {
	__u64 cgroup_id;  /* kernfs id; REGISTRY_INDEX_EMPTY or REGISTRY_INDEX_REMOVED when free */
	__u32 slot;       /* the container's slot (index into per-container arrays), or REGISTRY_NO_SLOT */
	__u32 init_tasks; /* raw_tracepoint variant: runtime init tasks still in the cgroup */
	__u32 flags;      /* REGISTRY_CGROUP_* */
	__u32 pad;
};

#define REGISTRY_TASK_WORKLOAD 0         /* after exec: the container's workload */
#define REGISTRY_TASK_INIT_PRE_FILTER 1  /* runtime init before its seccomp filter: not counted */
#define REGISTRY_TASK_INIT_POST_FILTER 2 /* runtime init under the filter: the runtime phase */

/* Per task: tp_btf keeps one for every task of a tracked container; raw_tracepoint only for
 * runtime-init tasks (keyed by thread id). */
struct registry_task {
	__u32 state;      /* REGISTRY_TASK_* */
	__u32 slot;       /* the container's slot */
	__u32 exec_state; /* tp_btf: the state an exec ended (set at exec): the syscalls sensor counts
			   * that execve's own exit in runtime init's phase, then clears it */
	__u32 pad;
};

#define REGISTRY_NOTICE_TRACKED 1 /* a container cgroup got a slot as the runtime moved a task in */
#define REGISTRY_NOTICE_SEEDED 2  /* a container already running when the agent started got a slot */
#define REGISTRY_NOTICE_REMOVED 3 /* its cgroup is gone: final reads, then user space frees the slot */
#define REGISTRY_NOTICE_THREADS 4 /* a multithreaded process moved into a container: re-run the seed */

struct registry_notice {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u32 kind;         /* REGISTRY_NOTICE_* */
	__u32 slot;
	__u32 tgid;         /* the task that caused it (0 for REMOVED) */
	__u32 pad;
	struct cg_cgroup_ref cgroup;
};
