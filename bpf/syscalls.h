/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* syscalls sensor: layouts shared by syscalls.bpf.c and src/sensors/syscalls (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

#define SYSCALLS_MAX_NR 512   /* counted numbers; larger ones (x32, compat) go to syscalls_cgroup_state.overflow */
#define SYSCALLS_PHASES 2     /* counts per slot: [phase][nr] */
#define SYSCALLS_PHASE_WORKLOAD 0
#define SYSCALLS_PHASE_RUNTIME 1 /* runtime init after its seccomp filter is in place, before exec */
#define SYSCALLS_NO_SLOT 0xffffffff

#define SYSCALLS_INDEX_PROBES 4             /* open addressing: buckets tried per lookup */
#define SYSCALLS_INDEX_EMPTY 0ULL            /* a bucket never used: ends a lookup */
#define SYSCALLS_INDEX_REMOVED 0xffffffffffffffffULL /* a bucket freed by cgroup_rmdir: lookups go on */
#define SYSCALLS_INDEX_HASH 0x9e3779b97f4a7c15ULL    /* bucket = ((id * HASH) >> 32) & mask */

/* Per container cgroup, in an open-addressed array indexed by cgroup id: where its counts live. */
struct syscalls_cgroup_state {
	__u64 cgroup_id;   /* kernfs id; SYSCALLS_INDEX_EMPTY or SYSCALLS_INDEX_REMOVED when free */
	__u32 slot;        /* index into cg_sys_counts, or SYSCALLS_NO_SLOT when all slots are taken */
	__u32 init_tasks;  /* runtime init tasks still in the cgroup: only then are tasks looked up */
};

#define SYSCALLS_TASK_WORKLOAD 0         /* counted as workload */
#define SYSCALLS_TASK_INIT_PRE_FILTER 1  /* runtime init before the seccomp filter: not counted */
#define SYSCALLS_TASK_INIT_POST_FILTER 2 /* runtime init under the filter: counted as runtime */

/* Per task: tp_btf keeps one for every task of a tracked container (its hot path reads only
 * this); raw_tracepoint only for runtime-init tasks. */
struct syscalls_task_state {
	__u32 state; /* SYSCALLS_TASK_* */
	__u32 slot;  /* the container's slot (tp_btf variant) */
};

#define SYSCALLS_NOTICE_TRACKED 1 /* a container cgroup got a slot */
#define SYSCALLS_NOTICE_REMOVED 2 /* its cgroup is gone: final counts are readable until the slot is freed */
#define SYSCALLS_NOTICE_FILTER 3  /* a runtime init task installed its seccomp filter */

struct syscalls_notice {
	__u64 timestamp_ns;
	__u32 kind;
	__u32 slot;
	struct cg_cgroup_ref cgroup;
};
