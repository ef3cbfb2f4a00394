// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * process sensor: the process tree of every container, process level only (no threads):
 * a new process (fork), each exec (a new image), the exit of its last thread with the
 * code wait() reports. User space turns these into one trace per container run.
 *
 * Only workload tasks of tracked containers are reported, decided in the kernel by the
 * shared container registry. tp_btf variant: the task's registry storage (the registry's
 * own fork and exec programs are attached first, so they ran before these on the same
 * tracepoint: the child's storage exists, and an exec already ended runtime init).
 * raw_tracepoint variant: the registry's cgroup-id index; runtime-init tasks by thread id.
 *
 * All three events go to one ring, so their order there is causal: a fork is reserved
 * before the child can run (sched_process_fork fires before wake_up_new_task), an exec
 * and an exit after everything the process did before.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} cg_proc_events SEC(".maps");

CG_DEFINE_LOSS_COUNTER(cg_proc_lost);

/* Keeps the layout in the object's BTF, where user space generates its decoder. */
const struct process_event *cg_proc_event_type __attribute__((unused));

/* include/linux/sched/signal.h: a #define, not in BTF. Stable since 2.6. */
#define CG_SIGNAL_GROUP_EXIT 0x00000004

/*
 * sched_process_exit gained its group_dead argument (and event field) in 6.16; the field's
 * existence in this kernel's BTF says whether the argument is there. Older kernels: the
 * thread group is dead once signal->live reached 0 (two threads exiting at once may then
 * both report it; user space keeps the first).
 */
struct trace_event_raw_sched_process_exit___cg {
	bool group_dead;
} __attribute__((preserve_access_index));

static __always_inline bool exit_arg_group_dead(void)
{
	return bpf_core_field_exists(((struct trace_event_raw_sched_process_exit___cg *)0)->group_dead);
}

static __always_inline bool live_count_zero(struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

static __always_inline int emit(__u32 kind, struct task_struct *task, __u32 slot, struct task_struct *forker,
				bool forker_in_container)
{
	struct process_event *e;
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (cg_self_tgid && tgid == cg_self_tgid)
		return 0;
	if (slot == REGISTRY_NO_SLOT)
		return 0; /* a container beyond registry.max_containers: user space cannot follow it */
	e = bpf_ringbuf_reserve(&cg_proc_events, sizeof(*e), 0);
	if (!e) {
		cg_count_loss(&cg_proc_lost);
		return 0;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->start_time_ns = BPF_CORE_READ(leader, start_time);
	e->exec_id = BPF_CORE_READ(leader, self_exec_id);
	e->kind = kind;
	e->pid = tgid;
	e->slot = slot;
	e->exit_code = 0;
	e->flags = 0;
	if (forker) {
		e->ppid = BPF_CORE_READ(forker, tgid);
		e->parent_start_time_ns = BPF_CORE_READ(forker, group_leader, start_time);
		if (forker_in_container)
			e->flags |= PROCESS_FLAG_PARENT_IN_CONTAINER;
	} else {
		e->ppid = BPF_CORE_READ(task, real_parent, tgid);
		e->parent_start_time_ns = 0;
	}
	if (kind == PROCESS_EVENT_EXIT) {
		struct signal_struct *sig = BPF_CORE_READ(task, signal);

		/* What wait() reports: the group's code after exit_group() or a fatal signal. */
		if (BPF_CORE_READ(sig, flags) & CG_SIGNAL_GROUP_EXIT)
			e->exit_code = BPF_CORE_READ(sig, group_exit_code);
		else
			e->exit_code = BPF_CORE_READ(leader, exit_code);
	}
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), BPF_CORE_READ(leader, comm));
	cg_fill_cgroup_ref(&e->cgroup, task);
	bpf_ringbuf_submit(e, cg_ringbuf_flags(&cg_proc_events));
	return 0;
}

/* ---- tp_btf variant: the registry's task storage ----------------------------------------- */

static __always_inline struct registry_task *workload_task(struct task_struct *task)
{
	struct registry_task *ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);

	return ts && ts->state == REGISTRY_TASK_WORKLOAD ? ts : NULL;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(cg_proc_fork, struct task_struct *parent, struct task_struct *child)
{
	struct registry_task *ts, *ps;

	if (child->pid != child->tgid)
		return 0; /* a thread */
	ts = workload_task(child);
	if (!ts)
		return 0;
	ps = workload_task(parent);
	return emit(PROCESS_EVENT_FORK, child, ts->slot, parent, ps && ps->slot == ts->slot);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(cg_proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct registry_task *ts = workload_task(p);

	if (!ts)
		return 0;
	return emit(PROCESS_EVENT_EXEC, p, ts->slot, NULL, false);
}

SEC("tp_btf/sched_process_exit")
int cg_proc_exit(__u64 *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	struct registry_task *ts;
	bool group_dead;

	if (exit_arg_group_dead())
		group_dead = (bool)ctx[1];
	else
		group_dead = live_count_zero(p);
	if (!group_dead)
		return 0; /* another thread of the process lives on */
	ts = workload_task(p);
	if (!ts)
		return 0;
	return emit(PROCESS_EVENT_EXIT, p, ts->slot, NULL, false);
}

/* ---- raw_tracepoint variant: the registry's cgroup-id index ------------------------------ */

/* The registry entry of a workload task's container, or NULL (host task, or runtime init). */
static __always_inline struct registry_cgroup *workload_container(struct task_struct *task)
{
	struct registry_cgroup *c = reg_task_container(task);

	if (!c)
		return NULL;
	if (c->init_tasks && reg_task_by_tid(BPF_CORE_READ(task, pid)))
		return NULL; /* runtime init: the registry follows it by thread id until it execs */
	return c;
}

SEC("raw_tracepoint/sched_process_fork")
int cg_proc_fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct registry_cgroup *c;
	__u64 cgid;
	bool same;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	c = workload_container(child);
	if (!c)
		return 0;
	cgid = c->cgroup_id;
	same = BPF_CORE_READ(cg_task_cgroup(parent), kn, id) == cgid && !reg_task_by_tid(BPF_CORE_READ(parent, pid));
	return emit(PROCESS_EVENT_FORK, child, c->slot, parent, same);
}

SEC("raw_tracepoint/sched_process_exec")
int cg_proc_exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];
	struct registry_cgroup *c = workload_container(p);

	if (!c)
		return 0;
	return emit(PROCESS_EVENT_EXEC, p, c->slot, NULL, false);
}

/*
 * The registry's own raw exit program ran first and already forgot a runtime-init task's
 * thread id: such exits are reported, and user space drops an exit of an image it never saw
 * begin in a container whose start it saw (bpf/process.h, src/sensors/process).
 */
SEC("raw_tracepoint/sched_process_exit")
int cg_proc_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];
	struct registry_cgroup *c;
	bool group_dead;

	if (exit_arg_group_dead())
		group_dead = (bool)ctx->args[1];
	else
		group_dead = live_count_zero(p);
	if (!group_dead)
		return 0;
	c = reg_task_container(p);
	if (!c)
		return 0;
	return emit(PROCESS_EVENT_EXIT, p, c->slot, NULL, false);
}
