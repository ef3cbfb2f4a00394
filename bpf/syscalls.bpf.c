// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls sensor: counts every syscall of every container in the kernel, per (container slot,
 * phase, syscall number). Which task belongs to which container, and whether it is still runtime
 * init, comes from the shared container registry (registry.bpf.c).
 *
 * tp_btf_sys_exit variant (preferred): counted as each syscall returns (tp_btf/sys_exit), one
 * task-storage lookup on the current task (a host task's only cost), and the program then
 * tail-calls file_open's handler on an open syscall: one program on sys_exit serves both
 * sensors and nothing runs on sys_enter. A workload syscall is counted in the task's own registry
 * entry, the memory that lookup has just reached: one locked add, no second lookup (bench/README.md,
 * "Counts in the task's entry"). The entry's counts are folded into the container's (cg_sys_counts,
 * include/task_counts.h) by an iterator user space runs before it reads, when the task exits, and
 * when the registry moves the task. Runtime init adds to the container's counts directly. exit and
 * exit_group never return: they are counted when the task exits (sched_process_exit), from the
 * syscall number in its registers.
 *
 * Fallbacks count into a per-CPU array of their own (cg_sys_counts_cpu), each CPU into its own
 * copy with a plain add (tracepoint programs run with preemption disabled, never twice at once on
 * one CPU), summed by user space. tp_btf variant: counted on tp_btf/sys_enter. raw_tracepoint
 * variant (cgroup v1, or no task storage): raw_tracepoint/sys_enter, the cgroup id in the
 * registry's index.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "syscalls.h"
#include "include/syscall_nr.h"
#include "include/task_counts.h" /* cg_sys_counts (the registry's) and the fold */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The fallback variants' counts: counts_cpu[slot * SYSCALLS_PHASES + phase].n[nr], per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256 * SYSCALLS_PHASES); /* sized by user space; 1 in the sys_exit variant */
	__type(key, __u32);
	__type(value, struct syscalls_counts);
} cg_sys_counts_cpu SEC(".maps");

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

/* Out of the counting programs' line of code: a subprogram, called only when nothing is counted. */
static __noinline int count_missed(__u32 stat)
{
	stat_inc(stat);
	return 0;
}

/*
 * Fallbacks: one lookup in this CPU's copy, then a plain add. A slot the registry could not give
 * (REGISTRY_NO_SLOT) makes a key beyond the array, so its lookup fails like any other miss.
 */
static __always_inline int count_on_cpu(__u32 slot, __u32 phase, long nr)
{
	__u32 key = slot * SYSCALLS_PHASES + phase;
	struct syscalls_counts *counts = bpf_map_lookup_elem(&cg_sys_counts_cpu, &key);

	if (counts && (__u64)nr < SYSCALLS_MAX_NR) { /* a negative number too is out of range */
		counts->n[nr & (SYSCALLS_MAX_NR - 1)] += 1; /* this CPU's copy: no other writer */
		return 0;
	}
	return count_missed(counts ? SYSCALLS_STAT_OVERFLOW : SYSCALLS_STAT_NO_SLOT);
}

/* sys_exit variant, into the container's shared counts (runtime init, exit, rare numbers). */
static __always_inline int count_in_slot(__u32 slot, __u32 phase, long nr)
{
	struct syscalls_counts *counts = sys_counts(slot, phase);

	if (counts && (__u64)nr < SYSCALLS_MAX_NR) {
		__sync_fetch_and_add(&counts->n[nr & (SYSCALLS_MAX_NR - 1)], 1);
		return 0;
	}
	return count_missed(counts ? SYSCALLS_STAT_OVERFLOW : SYSCALLS_STAT_NO_SLOT);
}

/*
 * sys_exit variant: a workload syscall goes into the task's own entry; runtime init, numbers
 * beyond the entry's counts and a container without a slot go to the container's counts at once.
 * The add is locked: a fold on another CPU exchanges the same count.
 */
static __always_inline int count_task(struct registry_task_entry *e, __u32 phase, long nr)
{
	if (phase == REG_PHASE_WORKLOAD && (__u64)nr < REGISTRY_TASK_COUNTS && e->task.slot != REGISTRY_NO_SLOT) {
		__sync_fetch_and_add(&e->counts[nr], 1);
		return 0;
	}
	return count_in_slot(e->task.slot, phase, nr);
}

/* tp_btf/sys_enter (raw_syscalls, stable since 2.6.37; BTF-typed since 5.5): cheapest hook. */
SEC("tp_btf/sys_enter")
int BPF_PROG(cg_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task *ts;
	__u32 phase = REG_PHASE_WORKLOAD;

	if (!reg_task_may_have_entry(task))
		return 0;
	ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (!ts)
		return 0;
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	}
	return count_on_cpu(ts->slot, phase, id);
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
	return count_on_cpu(c->slot, phase, (long)ctx->args[1]);
}

/*
 * Phase of a runtime-init task's syscall seen at its exit. The syscall that installed the
 * seccomp filter (or that a TSYNC sibling's filter found running) entered before it: skipped,
 * as the sys_enter variant skips it; every later one is the runtime phase.
 */
static __always_inline __u32 exit_phase(struct registry_task *ts, struct task_struct *task)
{
	if (ts->state == REGISTRY_TASK_INIT_PRE_FILTER) {
		if (BPF_CORE_READ(task, seccomp.mode) == REG_SECCOMP_MODE_FILTER)
			ts->state = REGISTRY_TASK_INIT_POST_FILTER;
		return REG_PHASE_SKIP;
	}
	return REG_PHASE_RUNTIME;
}

/* The exec that ended runtime init returns as workload: it counts in the phase it entered in. */
static __always_inline __u32 exec_exit_phase(struct registry_task *ts, struct task_struct *task)
{
	__u32 was = ts->exec_state;

	ts->exec_state = REGISTRY_TASK_WORKLOAD;
	if (was == REGISTRY_TASK_INIT_PRE_FILTER)
		return BPF_CORE_READ(task, seccomp.mode) == REG_SECCOMP_MODE_FILTER ? REG_PHASE_RUNTIME : REG_PHASE_SKIP;
	return REG_PHASE_RUNTIME;
}

/*
 * A failed syscall of a task under a seccomp filter that does not always allow its number (the
 * filter's own action cache, 5.11+): it may have been refused without running, and the sys_enter
 * variant never sees a refused syscall (the filter runs before the tracepoint). Not counted: a
 * profile must not allow what its predecessor refused (clone3 -> ENOSYS, say). A syscall the
 * filter allows only for some arguments and that then failed goes uncounted too.
 */
static __always_inline bool maybe_refused(struct task_struct *task, long nr)
{
	struct seccomp_filter *f;
	unsigned long word = 0;

	if (BPF_CORE_READ(task, seccomp.mode) != REG_SECCOMP_MODE_FILTER)
		return false;
	if (!bpf_core_field_exists(((struct seccomp_filter *)0)->cache))
		return false; /* no cache to ask: counted */
	if (nr < 0 || nr >= SYSCALLS_MAX_NR)
		return true;
	f = BPF_CORE_READ(task, seccomp.filter);
	if (!f || bpf_core_read(&word, sizeof(word), &f->cache.allow_native[((__u32)nr >> 6) & 7]))
		return true;
	return !(word & (1UL << (nr & 63)));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(cg_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task_entry *e = NULL;
	struct registry_task *ts;
	long nr = SYSCALL_NR(regs);
	__u32 phase = REG_PHASE_WORKLOAD;

	if (reg_task_may_have_entry(task))
		e = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (e) {
		ts = &e->task;
		if (ts->state != REGISTRY_TASK_WORKLOAD)
			phase = exit_phase(ts, task);
		else if (ts->exec_state != REGISTRY_TASK_WORKLOAD)
			phase = exec_exit_phase(ts, task);
		if (nr < 0)
			nr = NR_RT_SIGRETURN; /* sigreturn restores the registers and forgets the number */
		else if (ret == 0 && (nr == NR_CLONE || nr == NR_CLONE3 || nr == NR_FORK || nr == NR_VFORK))
			phase = REG_PHASE_SKIP; /* the child's return: the parent's call is the one counted */
		else if (ret < 0 && maybe_refused(task, nr))
			phase = REG_PHASE_SKIP;
		if (phase != REG_PHASE_SKIP)
			count_task(e, phase, nr);
	}
	if (nr_is_open(nr))
		bpf_tail_call(ctx, &cg_sys_exit_tail, REG_SYS_EXIT_FILE_OPEN);
	return 0;
}

/*
 * sys_exit variant: a task's last counts, folded into its container's before its entry goes with
 * it, and its exit or exit_group, which never reach sys_exit (the task's registers still hold the
 * number): counted in the container's counts directly.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(cg_sys_task_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task_entry *e = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	struct registry_task *ts;
	struct pt_regs *regs;
	__u32 phase = REG_PHASE_WORKLOAD;
	long nr;

	if (!e)
		return 0;
	sys_fold_task_counts(e);
	ts = &e->task;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = SYSCALL_NR_CORE(regs);
	if (nr != NR_EXIT && nr != NR_EXIT_GROUP)
		return 0; /* killed by a signal, or a kernel thread */
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	}
	return count_in_slot(ts->slot, phase, nr);
}

/*
 * Run by user space before it reads the counts: folds every live task's counts into its
 * container's, so a read finds every syscall counted until the fold (later ones at the next).
 */
SEC("iter/task")
int cg_sys_fold(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task)
		sys_fold_task_counts(bpf_task_storage_get(&cg_reg_tasks, task, 0, 0));
	return 0;
}
