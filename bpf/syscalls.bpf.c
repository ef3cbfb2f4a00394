// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls sensor: counts every syscall of every container in the kernel, per
 * (container slot, phase, syscall number), into an mmap-able array that user space reads
 * without a single FFI call. Each CPU (ids below cg_sys_cpu_rows) counts in a row of its own, so
 * no cache line is written by two CPUs: threads of one container making the same syscall on
 * several CPUs no longer pass one counter's line between them on every call (bench/contention.sh).
 * The add stays atomic: exact even where a syscall tracepoint's program can be preempted (or the
 * task moved) halfway, and uncontended on a line only its CPU writes. CPUs above (more than
 * SYSCALLS_CPU_ROWS_MAX, or brought online later) share the last row. User space sums the rows.
 * Which task belongs to which container, and whether it is still runtime init, comes from the
 * shared container registry (registry.bpf.c).
 *
 * tp_btf_sys_exit variant (preferred): counted as each syscall returns (tp_btf/sys_exit), one
 * task-storage lookup on the current task (a host task's only cost), and the program then
 * tail-calls file_open's handler on an open syscall: one program on sys_exit serves both
 * sensors and nothing runs on sys_enter. exit and exit_group never return: they are counted
 * when the task exits (sched_process_exit), from the syscall number in its registers.
 * tp_btf variant: counted on tp_btf/sys_enter. raw_tracepoint variant (cgroup v1, or no task
 * storage): raw_tracepoint/sys_enter, the cgroup id in the registry's index.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "syscalls.h"
#include "include/syscall_nr.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * counts[((row * cg_sys_slots + slot) * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + nr]:
 * rows 0 .. cg_sys_cpu_rows - 1 are those CPUs', row cg_sys_cpu_rows is shared; sized by user
 * space ((cpu rows + 1) * slots * phases * numbers).
 */
const volatile __u32 cg_sys_cpu_rows = 0;
const volatile __u32 cg_sys_slots = 256; /* registry.max_containers */

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

/* The current CPU, read from the task (thread_info.cpu, 5.16+) or asked of the kernel. */
static __always_inline __u32 task_cpu_btf(struct task_struct *task)
{
	if (bpf_core_field_exists(struct thread_info, cpu))
		return task->thread_info.cpu;
	return bpf_get_smp_processor_id();
}

static __always_inline int count_in_slot(__u32 slot, __u32 phase, long nr, __u32 cpu)
{
	__u32 idx, row = cpu < cg_sys_cpu_rows ? cpu : cg_sys_cpu_rows;
	__u64 *count;

	if (slot == REGISTRY_NO_SLOT) {
		stat_inc(SYSCALLS_STAT_NO_SLOT);
		return 0;
	}
	if (nr < 0 || nr >= SYSCALLS_MAX_NR) {
		stat_inc(SYSCALLS_STAT_OVERFLOW);
		return 0;
	}
	idx = ((row * cg_sys_slots + slot) * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + (__u32)nr;
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
	return count_in_slot(ts->slot, phase, id, task_cpu_btf(task));
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
	return count_in_slot(c->slot, phase, (long)ctx->args[1], bpf_get_smp_processor_id());
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
	struct registry_task *ts = NULL;
	long nr = SYSCALL_NR(regs);
	__u32 phase = REG_PHASE_WORKLOAD;

	if (reg_task_may_have_entry(task))
		ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (ts) {
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
			count_in_slot(ts->slot, phase, nr, task_cpu_btf(task));
	}
	if (nr_is_open(nr))
		bpf_tail_call(ctx, &cg_sys_exit_tail, REG_SYS_EXIT_FILE_OPEN);
	return 0;
}

/* exit and exit_group never reach sys_exit: the task's registers still hold the number. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(cg_sys_task_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task *ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	struct pt_regs *regs;
	__u32 phase = REG_PHASE_WORKLOAD;
	long nr;

	if (!ts)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = SYSCALL_NR_CORE(regs);
	if (nr != NR_EXIT && nr != NR_EXIT_GROUP)
		return 0; /* killed by a signal, or a kernel thread */
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	}
	return count_in_slot(ts->slot, phase, nr, task_cpu_btf(task));
}
