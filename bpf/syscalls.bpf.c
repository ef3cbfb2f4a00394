// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls sensor: counts every syscall of every container in the kernel, per
 * (container slot, phase, syscall number), into an mmap-able array that user space reads
 * without a single FFI call. Which task belongs to which container, and whether it is
 * still runtime init, comes from the shared container registry (registry.bpf.c).
 *
 * tp_btf variant: one task-storage lookup on the current task (a host task's only cost).
 * raw_tracepoint variant (cgroup v1, or no task storage): the cgroup id in the registry's index.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* counts[(slot * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + nr]; sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 256 * SYSCALLS_PHASES * SYSCALLS_MAX_NR);
	__type(key, __u32);
	__type(value, __u64);
} cg_sys_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALLS_STATS);
	__type(key, __u32);
	__type(value, __u64);
} cg_sys_stats SEC(".maps");

const struct syscalls_limits *cg_sys_limits_type __attribute__((unused));

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cg_sys_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline int count_in_slot(__u32 slot, __u32 phase, long nr)
{
	__u32 idx;
	__u64 *count;

	if (slot == REGISTRY_NO_SLOT) {
		stat_inc(SYSCALLS_STAT_NO_SLOT);
		return 0;
	}
	if (nr < 0 || nr >= SYSCALLS_MAX_NR) {
		stat_inc(SYSCALLS_STAT_OVERFLOW);
		return 0;
	}
	idx = (slot * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + (__u32)nr;
	count = bpf_map_lookup_elem(&cg_sys_counts, &idx);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

/* tp_btf/sys_enter (raw_syscalls, stable since 2.6.37; BTF-typed since 5.5): cheapest hook. */
SEC("tp_btf/sys_enter")
int BPF_PROG(cg_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task *ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	__u32 phase = REG_PHASE_WORKLOAD;

	if (!ts)
		return 0;
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	}
	return count_in_slot(ts->slot, phase, id);
}

SEC("raw_tracepoint/sys_enter")
int cg_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 cgid = cg_cgroup_mode == CG_CGROUP_MODE_V2 ? bpf_get_current_cgroup_id()
							 : BPF_CORE_READ(cg_task_cgroup(task), kn, id);
	struct registry_cgroup *c = reg_cgroup(cgid);
	__u32 phase = REG_PHASE_WORKLOAD;

	if (!c)
		return 0;
	if (c->init_tasks) {
		struct registry_task *ts = reg_task_by_tid((__u32)bpf_get_current_pid_tgid());

		if (ts)
			phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	}
	return count_in_slot(c->slot, phase, (long)ctx->args[1]);
}
