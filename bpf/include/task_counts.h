/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-container syscall counts (cg_sys_counts), and the fold that moves a task's own counts
 * (registry_task_entry.counts, the syscalls sensor's sys_exit variant) into them. A task's counts are folded into the
 * container of its entry when user space is about to read (the syscalls sensor's iterator), when
 * the task exits (the syscalls sensor), and before the registry gives the entry another container
 * or deletes it (a task moved between containers, or out of one). Each count is taken with an
 * exchange against 0, so two folds at the same moment never fold it twice, and the task's own
 * add (a locked add) is never lost to one. Included by registry.bpf.c and syscalls.bpf.c: the
 * registry creates the map, the syscalls object reuses it.
 */
#pragma once

#include "syscalls.h"

/*
 * counts[slot * SYSCALLS_PHASES + phase].n[nr] of the sys_exit variant: what its tasks fold, and
 * what runtime init counts directly. Shared by every CPU: each add is atomic.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256 * SYSCALLS_PHASES); /* sized by user space */
	__type(key, __u32);
	__type(value, struct syscalls_counts);
} cg_sys_counts SEC(".maps");

/* A slot's counts in one phase; NULL for REGISTRY_NO_SLOT (its key wraps beyond the array). */
static __always_inline struct syscalls_counts *sys_counts(__u32 slot, __u32 phase)
{
	__u32 key = slot * SYSCALLS_PHASES + phase;

	return bpf_map_lookup_elem(&cg_sys_counts, &key);
}

/* Moves a task's counts into its container's workload counts (a subprogram: several callers). */
static __noinline int sys_fold_task_counts(struct registry_task_entry *e)
{
	struct syscalls_counts *dst;

	if (!e)
		return 0;
	dst = sys_counts(e->task.slot, SYSCALLS_PHASE_WORKLOAD);
	if (!dst)
		return 0; /* no slot: the task counts nothing in its entry (syscalls.bpf.c) */
	for (__u32 nr = 0; nr < REGISTRY_TASK_COUNTS; nr++) {
		__u64 n;

		if (!e->counts[nr])
			continue;
		n = __sync_lock_test_and_set(&e->counts[nr], 0);
		__sync_fetch_and_add(&dst->n[nr], n);
	}
	return 0;
}
