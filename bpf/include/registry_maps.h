/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The container registry's maps as every eBPF object declares them. Only registry.bpf.c
 * writes them; each sensor object gets the registry's own maps by map reuse
 * (bpf_map__reuse_fd before load), so every sensor filters host tasks with one lookup and
 * none copies the tracking code.
 */
#pragma once

#include "registry.h"

/* Set by user space before load (.rodata), the same in every object. */
const volatile __u32 reg_use_task_storage = 1; /* 1: tp_btf variant (task storage), 0: raw_tracepoint */
const volatile __u32 reg_index_mask = 4095;    /* cg_reg_cgroups size - 1 (a power of two) */

/* Container cgroups by id (open addressing); mmap'd by user space to initialise and reconcile. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4096); /* sized by user space */
	__type(key, __u32);
	__type(value, struct registry_cgroup);
} cg_reg_cgroups SEC(".maps");

/* tp_btf variant: every task of a tracked container. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct registry_task);
} cg_reg_tasks SEC(".maps");

/* raw_tracepoint variant: runtime-init tasks by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct registry_task);
} cg_reg_tasks_by_tid SEC(".maps");

/*
 * [0]: file_open's sys_exit handler. The syscalls sensor's sys_exit program tail-calls it on an
 * open syscall, so one program serves both sensors on sys_exit: a second program on the same
 * tracepoint costs every syscall far more than a tail call costs an open (bench/hooks.mjs).
 */
#define REG_SYS_EXIT_FILE_OPEN 0
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cg_sys_exit_tail SEC(".maps");

/*
 * The registry's generation: bumped after every change of which task belongs to which container
 * (a task tracked, moved, forked or seeded into a container, moved out of one, a tracked task's
 * exit). A per-CPU cache of a task's container (syscalls.bpf.c) is valid while it is unchanged.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cg_reg_gen SEC(".maps");

static __always_inline __u64 *reg_gen(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cg_reg_gen, &zero); /* an array: inlined, no helper call */
}

static __always_inline __u32 reg_bucket(__u64 cgid, __u32 probe)
{
	return ((__u32)((cgid * REGISTRY_INDEX_HASH) >> 32) + probe) & reg_index_mask;
}

/* The registry entry of a container cgroup, or NULL (host, or not a container). */
static __always_inline struct registry_cgroup *reg_cgroup(__u64 cgid)
{
#pragma unroll
	for (__u32 i = 0; i < REGISTRY_INDEX_PROBES; i++) {
		__u32 k = reg_bucket(cgid, i);
		struct registry_cgroup *c = bpf_map_lookup_elem(&cg_reg_cgroups, &k);

		if (!c || c->cgroup_id == REGISTRY_INDEX_EMPTY)
			return NULL;
		if (c->cgroup_id == cgid)
			return c;
	}
	return NULL;
}

/* The registry entry of the container a task runs in, or NULL for a host task. */
static __always_inline struct registry_cgroup *reg_task_container(struct task_struct *task)
{
	return reg_cgroup(BPF_CORE_READ(cg_task_cgroup(task), kn, id));
}

/*
 * Whether a task may have a registry entry, for the hottest lookups (every syscall): a task with
 * no BPF local storage at all (every host task, unless another tool keeps something on it) has
 * none, and one load says so without the helper call that bpf_task_storage_get costs
 * (measured with kernel.bpf_stats_enabled: a host task's sys_exit 55 -> 48 ns).
 */
static __always_inline bool reg_task_may_have_entry(struct task_struct *task)
{
	if (!bpf_core_field_exists(struct task_struct, bpf_storage))
		return true;
	return task->bpf_storage != NULL;
}

/* raw_tracepoint variant's per-task state (runtime init only). */
static __always_inline struct registry_task *reg_task_by_tid(__u32 tid)
{
	return bpf_map_lookup_elem(&cg_reg_tasks_by_tid, &tid);
}

#define REG_PHASE_WORKLOAD 0
#define REG_PHASE_RUNTIME 1
#define REG_PHASE_SKIP 0xff

/*
 * Phase of a runtime-init task's syscall, or REG_PHASE_SKIP before its seccomp filter is in
 * force. The kernel's own word on the filter (task->seccomp.mode): no guess from seccomp() or
 * prctl() arguments (libseccomp probes with SET_MODE_FILTER and a NULL program), and threads
 * synchronised with TSYNC are covered too.
 */
#define REG_SECCOMP_MODE_FILTER 2

static __always_inline __u32 reg_init_task_phase(struct registry_task *ts, struct task_struct *task)
{
	if (ts->state == REGISTRY_TASK_INIT_PRE_FILTER) {
		if (BPF_CORE_READ(task, seccomp.mode) != REG_SECCOMP_MODE_FILTER)
			return REG_PHASE_SKIP;
		ts->state = REGISTRY_TASK_INIT_POST_FILTER;
	}
	return REG_PHASE_RUNTIME;
}
