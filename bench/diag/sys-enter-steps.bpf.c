// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Throwaway diagnosis programs for bench/run.mjs (not part of the agent): the hot path
 * of bpf/syscalls.bpf.c (cg_sys_enter -> registry task storage -> count_in_slot) rebuilt one
 * step at a time, so the cost each step adds on a sys_enter can be measured on its own.
 * run.mjs loads exactly one program per configuration and, for the "hit" variants, puts
 * the benchmark container's cgroup into diag_cgroups / diag_cgroups_by_id from user space
 * (slot 0), as the agent does when it seeds a running container.
 *
 * Built by run.mjs: clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I bpf/build -I bpf/include
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_NR 512
#define PHASES 2
#define NO_SLOT 0xffffffff

struct cgroup_state { /* = struct syscalls_cgroup_state */
	__u32 slot;
	__u32 init_tasks;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgroup_state);
} diag_cgroups SEC(".maps");

/* Never filled: a lookup here is what every host process pays. */
struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgroup_state);
} diag_cgroups_empty SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct cgroup_state);
} diag_cgroups_by_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256 * PHASES * MAX_NR);
	__type(key, __u32);
	__type(value, __u64);
} diag_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256 * PHASES * MAX_NR);
	__type(key, __u32);
	__type(value, __u64);
} diag_counts_percpu SEC(".maps");

/* An opaque use of a value, so clang keeps the load without the cost of a store. */
#define KEEP(x) asm volatile("" : : "r"(x))

/* ---- tp_btf: the agent's fast variant, step by step ------------------------------------ */

/* 1. bpf_get_current_task_btf() + task->cgroups->dfl_cgrp (two dependent loads). */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_task_cgroup, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup *cg = task->cgroups->dfl_cgrp;

	KEEP(cg);
	return 0;
}

/* 2. + bpf_cgrp_storage_get that misses (a host process: the cgroup has no storage). */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_storage_miss, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_state *cs = bpf_cgrp_storage_get(&diag_cgroups_empty, task->cgroups->dfl_cgrp, 0, 0);

	KEEP(cs);
	return 0;
}

/* 3. + bpf_cgrp_storage_get that hits (the container's cgroup), reading slot/init_tasks. */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_storage_hit, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_state *cs = bpf_cgrp_storage_get(&diag_cgroups, task->cgroups->dfl_cgrp, 0, 0);

	if (!cs)
		return 0;
	KEEP(cs->slot);
	KEEP(cs->init_tasks);
	return 0;
}

static __always_inline __u32 count_index(struct cgroup_state *cs, long nr)
{
	return (cs->slot * PHASES + 0) * MAX_NR + ((__u32)nr & (MAX_NR - 1));
}

/* 4. + array lookup and a plain (non-atomic) increment. */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_hit_array_plain, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_state *cs = bpf_cgrp_storage_get(&diag_cgroups, task->cgroups->dfl_cgrp, 0, 0);
	__u32 idx;
	__u64 *count;

	if (!cs || cs->init_tasks || cs->slot == NO_SLOT || id < 0 || id >= MAX_NR)
		return 0;
	idx = count_index(cs, id);
	count = bpf_map_lookup_elem(&diag_counts, &idx);
	if (count)
		*count += 1;
	return 0;
}

/* 5. + array lookup and an atomic increment: the agent's hot path minus nothing but the call. */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_hit_array_atomic, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_state *cs = bpf_cgrp_storage_get(&diag_cgroups, task->cgroups->dfl_cgrp, 0, 0);
	__u32 idx;
	__u64 *count;

	if (!cs || cs->init_tasks || cs->slot == NO_SLOT || id < 0 || id >= MAX_NR)
		return 0;
	idx = count_index(cs, id);
	count = bpf_map_lookup_elem(&diag_counts, &idx);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

/* 6. the per-CPU alternative: per-CPU array, plain increment (user space sums the CPUs). */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_hit_percpu, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_state *cs = bpf_cgrp_storage_get(&diag_cgroups, task->cgroups->dfl_cgrp, 0, 0);
	__u32 idx;
	__u64 *count;

	if (!cs || cs->init_tasks || cs->slot == NO_SLOT || id < 0 || id >= MAX_NR)
		return 0;
	idx = count_index(cs, id);
	count = bpf_map_lookup_elem(&diag_counts_percpu, &idx);
	if (count)
		*count += 1;
	return 0;
}

/* ---- raw_tracepoint: the agent's portable variant --------------------------------------- */

/* 1. bpf_get_current_cgroup_id() only. */
SEC("raw_tracepoint/sys_enter")
int diag_raw_cgroup_id(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cgid = bpf_get_current_cgroup_id();

	KEEP(cgid);
	return 0;
}

/* 2. + hash lookup that hits (the container's cgroup id). */
SEC("raw_tracepoint/sys_enter")
int diag_raw_hash_hit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct cgroup_state *cs = bpf_map_lookup_elem(&diag_cgroups_by_id, &cgid);

	if (!cs)
		return 0;
	KEEP(cs->slot);
	KEEP(cs->init_tasks);
	return 0;
}

/* 3. + array lookup and an atomic increment. */
SEC("raw_tracepoint/sys_enter")
int diag_raw_hash_array_atomic(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct cgroup_state *cs = bpf_map_lookup_elem(&diag_cgroups_by_id, &cgid);
	long id = (long)ctx->args[1];
	__u32 idx;
	__u64 *count;

	if (!cs || cs->init_tasks || cs->slot == NO_SLOT || id < 0 || id >= MAX_NR)
		return 0;
	idx = count_index(cs, id);
	count = bpf_map_lookup_elem(&diag_counts, &idx);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

/* ---- what else sits on sys_enter ---------------------------------------------------------- */

/*
 * The exec sensor's hook (bpf/exec.bpf.c): a perf-event tracepoint on syscalls/sys_enter_execve.
 * Syscall events are not tracepoints of their own: enabling one registers perf_syscall_enter()
 * as a probe on raw_syscalls:sys_enter, which then runs for every syscall and filters by number.
 */
SEC("tracepoint/syscalls/sys_enter_execve")
int diag_tp_execve(void *ctx) { return 0; }

/* Two empty sys_enter programs (two probes on the tracepoint): what a second probe costs by itself. */
SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_empty_first, struct pt_regs *regs, long id) { return 0; }

SEC("tp_btf/sys_enter")
int BPF_PROG(diag_btf_empty_second, struct pt_regs *regs, long id) { return 0; }

/* ---- sys_exit: the hook the agent counts on by default (tp_btf_sys_exit) ------------------ */

/* An empty sys_exit program: what the hook itself costs, against the empty sys_enter one. */
SEC("tp_btf/sys_exit")
int BPF_PROG(diag_btf_exit_empty, struct pt_regs *regs, long ret) { return 0; }

/* The host path without a helper call: a task with no BPF local storage at all is no container's. */
SEC("tp_btf/sys_exit")
int BPF_PROG(diag_btf_exit_storage_ptr, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();

	KEEP(task->bpf_storage);
	return 0;
}
