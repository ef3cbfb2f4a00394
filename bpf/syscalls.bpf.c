// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls sensor: counts every syscall of every container in the kernel, per
 * (container, phase, syscall number), into an mmap-able array that user space reads
 * without a single FFI call. Host processes cost one local-storage lookup.
 *
 * Runtime start-up is split from the workload: a task the runtime moves into a
 * container cgroup (cgroup_attach_task) is "runtime init" until it execs; its syscalls
 * are not counted before it installs the seccomp filter (they never face the filter)
 * and are counted as RUNTIME after (the profile must allow them or the container
 * cannot start). This keys on what the task does, not on its comm.
 *
 * Two variants, chosen before load. tp_btf (kernel >= 5.11): every task of a tracked
 * container carries task local storage with its slot and phase, set when the runtime
 * moves it in, inherited on fork, seeded by a task iterator at start; the hot path is
 * one storage lookup on the current task, a host task's only cost. raw_tracepoint (any
 * BTF kernel, cgroup v1 too): the cgroup id is looked up in an open-addressed array
 * (inlined by the verifier). Both share that array to track container cgroups.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SECCOMP_MODE_FILTER 2

const volatile __u32 sys_use_local_storage = 1; /* 1: tp_btf variant, 0: raw_tracepoint variant */
const volatile __u32 sys_hierarchy_id = 0;      /* cgroup_attach_task events of this hierarchy only */
const volatile __u32 sys_index_mask = 4095;     /* cg_sys_cgroups size - 1 (a power of two) */

/* counts[(slot * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + nr]; sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 256 * SYSCALLS_PHASES * SYSCALLS_MAX_NR);
	__type(key, __u32);
	__type(value, __u64);
} cg_sys_counts SEC(".maps");

/* Free slots, filled by user space; the kernel pops one per new container. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 256);
	__type(value, __u32);
} cg_sys_free_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096); /* sized by user space */
	__type(key, __u32);
	__type(value, struct syscalls_cgroup_state);
} cg_sys_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syscalls_task_state);
} cg_sys_tasks SEC(".maps");

/* raw_tracepoint variant: runtime-init tasks keyed by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct syscalls_task_state);
} cg_sys_tasks_by_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} cg_sys_notices SEC(".maps");

/* Keeps struct syscalls_notice in the object's BTF, where user space generates its decoder. */
const struct syscalls_notice *cg_sys_notice_type __attribute__((unused));

/* [0] notices lost, [1] syscalls of containers that got no slot, [2] numbers >= SYSCALLS_MAX_NR */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} cg_sys_stats SEC(".maps");

#define STAT_NOTICE_LOST 0
#define STAT_NO_SLOT 1
#define STAT_OVERFLOW 2

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cg_sys_stats, &idx);

	if (v)
		*v += 1;
}

/* ---- state lookups, one implementation per variant ---------------------------------- */

static __always_inline __u32 index_bucket(__u64 cgid, __u32 probe)
{
	return ((__u32)((cgid * SYSCALLS_INDEX_HASH) >> 32) + probe) & sys_index_mask;
}

/* The state of a tracked container cgroup, or NULL (host, or not a container). */
static __always_inline struct syscalls_cgroup_state *cgroup_state(__u64 cgid)
{
#pragma unroll
	for (__u32 i = 0; i < SYSCALLS_INDEX_PROBES; i++) {
		__u32 k = index_bucket(cgid, i);
		struct syscalls_cgroup_state *s = bpf_map_lookup_elem(&cg_sys_cgroups, &k);

		if (!s || s->cgroup_id == SYSCALLS_INDEX_EMPTY)
			return NULL;
		if (s->cgroup_id == cgid)
			return s;
	}
	return NULL;
}

/* The cgroup id identifying a task's container (direct BTF loads in the tp_btf variant). */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	if (sys_use_local_storage)
		return task->cgroups->dfl_cgrp->kn->id;
	return BPF_CORE_READ(cg_task_cgroup(task), kn, id);
}

static __always_inline struct syscalls_cgroup_state *task_cgroup_state(struct task_struct *task)
{
	return cgroup_state(task_cgroup_id(task));
}

static __always_inline struct syscalls_task_state *task_state(struct task_struct *task, __u32 tid)
{
	if (sys_use_local_storage)
		return bpf_task_storage_get(&cg_sys_tasks, task, 0, 0);
	return bpf_map_lookup_elem(&cg_sys_tasks_by_tid, &tid);
}

/* ---- the hot path ---------------------------------------------------------------------- */

static __always_inline void emit_notice(__u32 kind, __u32 slot, struct cgroup *cg)
{
	struct syscalls_notice *n = bpf_ringbuf_reserve(&cg_sys_notices, sizeof(*n), 0);

	if (!n) {
		stat_inc(STAT_NOTICE_LOST);
		return;
	}
	n->timestamp_ns = bpf_ktime_get_ns();
	n->kind = kind;
	n->slot = slot;
	{
		struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
		struct kernfs_node *parent = cg_kn_parent(kn);

		n->cgroup.cgroup_id = BPF_CORE_READ(kn, id);
		bpf_probe_read_kernel_str(n->cgroup.name, sizeof(n->cgroup.name), BPF_CORE_READ(kn, name));
		n->cgroup.parent_name[0] = 0;
		if (parent)
			bpf_probe_read_kernel_str(n->cgroup.parent_name, sizeof(n->cgroup.parent_name),
						  BPF_CORE_READ(parent, name));
	}
	bpf_ringbuf_submit(n, 0);
}

static __always_inline int count_in_slot(__u32 slot, __u32 phase, long nr)
{
	__u32 idx;
	__u64 *count;

	if (slot == SYSCALLS_NO_SLOT) {
		stat_inc(STAT_NO_SLOT);
		return 0;
	}
	if (nr < 0 || nr >= SYSCALLS_MAX_NR) {
		stat_inc(STAT_OVERFLOW);
		return 0;
	}
	idx = (slot * SYSCALLS_PHASES + phase) * SYSCALLS_MAX_NR + (__u32)nr;
	count = bpf_map_lookup_elem(&cg_sys_counts, &idx);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

#define PHASE_SKIP 0xff

/*
 * Phase of a runtime-init task's syscall, or PHASE_SKIP before its filter is in force. The
 * kernel's own word on the filter (task->seccomp.mode): no guess from seccomp()/prctl()
 * arguments (libseccomp probes with SET_MODE_FILTER and a NULL program), and threads
 * synchronised with TSYNC are covered too.
 */
static __always_inline __u32 init_task_phase(struct syscalls_task_state *ts, struct task_struct *task)
{
	if (ts->state == SYSCALLS_TASK_INIT_PRE_FILTER) {
		if (BPF_CORE_READ(task, seccomp.mode) != SECCOMP_MODE_FILTER)
			return PHASE_SKIP;
		ts->state = SYSCALLS_TASK_INIT_POST_FILTER;
	}
	return SYSCALLS_PHASE_RUNTIME;
}

/* raw_tracepoint variant: the cgroup's state, then the task's only while runtime init runs. */
static __always_inline int count_syscall(struct syscalls_cgroup_state *cs, struct task_struct *task, long nr)
{
	__u32 phase = SYSCALLS_PHASE_WORKLOAD;

	if (cs->init_tasks) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct syscalls_task_state *ts = task_state(task, tid);

		if (ts)
			phase = init_task_phase(ts, task);
	}
	if (phase == PHASE_SKIP)
		return 0;
	return count_in_slot(cs->slot, phase, nr);
}

/* tp_btf/sys_enter (raw_syscalls, stable since 2.6.37; BTF-typed since 5.5): cheapest hook. */
SEC("tp_btf/sys_enter")
int BPF_PROG(cg_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscalls_task_state *ts = bpf_task_storage_get(&cg_sys_tasks, task, 0, 0);
	__u32 phase = SYSCALLS_PHASE_WORKLOAD;

	if (!ts)
		return 0;
	if (ts->state != SYSCALLS_TASK_WORKLOAD) {
		phase = init_task_phase(ts, task);
		if (phase == PHASE_SKIP)
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
	struct syscalls_cgroup_state *cs = cgroup_state(cgid);

	if (!cs)
		return 0;
	return count_syscall(cs, task, (long)ctx->args[1]);
}

/* ---- container and runtime-init tracking (rare events) --------------------------------- */

static __always_inline bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * Whether a cgroup name carries a container id: 64 hex characters ending the name, or
 * ending it before ".scope" (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 * libpod-<id>.scope, <prefix>:cri-containerd:<id>, a bare <id>), and not a runtime monitor
 * (crio-conmon-<id>, libpod-conmon-<id>). One linear pass, no bpf_loop (kernels < 5.17 too).
 * User space's parser (src/containers/cgroup-path.ts) has the last word on attribution.
 */
#define NAME_SCAN 256

static __always_inline bool names_container(const char *name)
{
	char buf[NAME_SCAN]; /* NAME_MAX + 1: a k8s name:cri-containerd:<id> is ~150 */
	long n = bpf_probe_read_kernel_str(buf, sizeof(buf), name);
	long end; /* one past the id's last character */

	if (n <= 64)
		return false;
	end = n - 1; /* without the NUL */
	if (end >= 70 && buf[(end - 6) & (NAME_SCAN - 1)] == '.' &&
	    buf[(end - 5) & (NAME_SCAN - 1)] == 's' && buf[(end - 4) & (NAME_SCAN - 1)] == 'c' &&
	    buf[(end - 3) & (NAME_SCAN - 1)] == 'o' && buf[(end - 2) & (NAME_SCAN - 1)] == 'p' &&
	    buf[(end - 1) & (NAME_SCAN - 1)] == 'e')
		end -= 6;
	if (end < 64 || end > NAME_SCAN)
		return false;
	for (int i = 0; i < 64; i++) {
		if (!is_hex(buf[(end - 64 + i) & (NAME_SCAN - 1)]))
			return false;
	}
	if (end > 64) {
		char sep = buf[(end - 65) & (NAME_SCAN - 1)];

		if (sep != '-' && sep != ':')
			return false; /* a longer hex run: not an id of its own */
	}
	/* "conmon-" right before the id */
	if (end >= 71 && buf[(end - 71) & (NAME_SCAN - 1)] == 'c' &&
	    buf[(end - 70) & (NAME_SCAN - 1)] == 'o' && buf[(end - 69) & (NAME_SCAN - 1)] == 'n' &&
	    buf[(end - 68) & (NAME_SCAN - 1)] == 'm' && buf[(end - 67) & (NAME_SCAN - 1)] == 'o' &&
	    buf[(end - 66) & (NAME_SCAN - 1)] == 'n')
		return false;
	return true;
}

static __always_inline bool is_container_cgroup(struct cgroup *cg)
{
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	struct kernfs_node *parent;

	if (names_container(BPF_CORE_READ(kn, name)))
		return true;
	parent = cg_kn_parent(kn); /* podman: libpod-<id>.scope/container */
	return parent && names_container(BPF_CORE_READ(parent, name));
}

/* Claims a bucket for a new container cgroup (rare: once per container). */
static __always_inline struct syscalls_cgroup_state *track_cgroup(struct cgroup *cg)
{
	__u64 cgid = BPF_CORE_READ(cg, kn, id);
	struct syscalls_cgroup_state *cs = cgroup_state(cgid);
	__u32 slot;

	if (cs)
		return cs;
	if (!is_container_cgroup(cg))
		return NULL;
#pragma unroll
	for (__u32 i = 0; i < SYSCALLS_INDEX_PROBES; i++) {
		__u32 k = index_bucket(cgid, i);
		struct syscalls_cgroup_state *s = bpf_map_lookup_elem(&cg_sys_cgroups, &k);
		__u64 seen;

		if (!s)
			return NULL;
		seen = s->cgroup_id;
		if (seen != SYSCALLS_INDEX_EMPTY && seen != SYSCALLS_INDEX_REMOVED)
			continue;
		/* slot stays SYSCALLS_NO_SLOT until filled: a racing reader counts nothing wrong. */
		if (__sync_val_compare_and_swap(&s->cgroup_id, seen, cgid) != seen)
			continue;
		if (bpf_map_pop_elem(&cg_sys_free_slots, &slot))
			slot = SYSCALLS_NO_SLOT;
		s->init_tasks = 0;
		s->slot = slot;
		emit_notice(SYSCALLS_NOTICE_TRACKED, slot, cg);
		return s;
	}
	stat_inc(STAT_NO_SLOT); /* every bucket tried is taken */
	return NULL;
}

/* Marks a task the runtime put into a container as runtime init (not counted before its filter). */
static __always_inline void mark_init_task(struct syscalls_cgroup_state *cs, struct task_struct *task)
{
	struct syscalls_task_state init = { .state = SYSCALLS_TASK_INIT_PRE_FILTER, .slot = cs->slot };
	__u32 tid = BPF_CORE_READ(task, pid);

	if (sys_use_local_storage) {
		struct syscalls_task_state *ts = bpf_task_storage_get(&cg_sys_tasks, task, &init,
								      BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (ts)
			*ts = init; /* also a task moved from another container */
		return;
	}
	if (bpf_map_update_elem(&cg_sys_tasks_by_tid, &tid, &init, BPF_NOEXIST))
		return;
	__sync_fetch_and_add(&cs->init_tasks, 1);
}

/* A task the runtime moves into a container cgroup is runtime init until it execs. */
static __always_inline int on_attach(struct cgroup *dst, struct task_struct *task)
{
	struct syscalls_cgroup_state *cs;

	if (BPF_CORE_READ(dst, root, hierarchy_id) != sys_hierarchy_id)
		return 0;
	cs = track_cgroup(dst);
	if (cs)
		mark_init_task(cs, task);
	else if (sys_use_local_storage)
		bpf_task_storage_delete(&cg_sys_tasks, task); /* moved out of a container */
	return 0;
}

/*
 * The child inherits its parent's state (runc's nsexec stages, threads, every process a
 * container starts). A child born straight into another cgroup (clone3 CLONE_INTO_CGROUP,
 * as crun does) never attaches: it is tracked like an attached task.
 */
static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	struct syscalls_cgroup_state *cs;
	struct syscalls_task_state copy;
	__u32 ptid = BPF_CORE_READ(parent, pid);
	__u32 ctid = BPF_CORE_READ(child, pid);
	struct syscalls_task_state *ps = task_state(parent, ptid);

	if (BPF_CORE_READ(child, cgroups, dfl_cgrp) != BPF_CORE_READ(parent, cgroups, dfl_cgrp) &&
	    sys_hierarchy_id == 0) {
		cs = track_cgroup(BPF_CORE_READ(child, cgroups, dfl_cgrp));
		if (cs)
			mark_init_task(cs, child);
		return 0;
	}
	if (!ps)
		return 0;
	copy = *ps;
	if (sys_use_local_storage) {
		bpf_task_storage_get(&cg_sys_tasks, child, &copy, BPF_LOCAL_STORAGE_GET_F_CREATE);
		return 0;
	}
	cs = task_cgroup_state(child);
	if (!cs || bpf_map_update_elem(&cg_sys_tasks_by_tid, &ctid, &copy, BPF_NOEXIST))
		return 0;
	__sync_fetch_and_add(&cs->init_tasks, 1);
	return 0;
}

static __always_inline int on_raw_task_end(struct task_struct *task, __u32 tid);

/* exec ends runtime init (the entrypoint, or `docker exec`'s command). */
static __always_inline int on_exec(struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	struct syscalls_task_state *ts = task_state(task, tid);

	if (!ts || ts->state == SYSCALLS_TASK_WORKLOAD)
		return 0;
	if (sys_use_local_storage) {
		ts->state = SYSCALLS_TASK_WORKLOAD;
		return 0;
	}
	return on_raw_task_end(task, tid);
}

/* raw_tracepoint variant: the tid entry goes with runtime init (exec) or the task (exit). */
static __always_inline int on_raw_task_end(struct task_struct *task, __u32 tid)
{
	struct syscalls_cgroup_state *cs;

	if (bpf_map_delete_elem(&cg_sys_tasks_by_tid, &tid))
		return 0;
	cs = task_cgroup_state(task);
	if (cs && cs->init_tasks > 0)
		__sync_fetch_and_add(&cs->init_tasks, (__u32)-1);
	return 0;
}

/* raw_tracepoint variant only: task local storage goes with its task, the tid map does not. */
static __always_inline int on_exit(struct task_struct *task)
{
	return on_raw_task_end(task, BPF_CORE_READ(task, pid));
}

/* The cgroup is gone: user space reads the final counts, then frees the slot. */
static __always_inline int on_rmdir(struct cgroup *cg)
{
	struct syscalls_cgroup_state *cs = cgroup_state(BPF_CORE_READ(cg, kn, id));

	if (!cs)
		return 0;
	if (cs->slot != SYSCALLS_NO_SLOT)
		emit_notice(SYSCALLS_NOTICE_REMOVED, cs->slot, cg);
	cs->slot = SYSCALLS_NO_SLOT;
	cs->init_tasks = 0;
	cs->cgroup_id = SYSCALLS_INDEX_REMOVED;
	return 0;
}

/* cgroup_attach_task: stable tracepoint since 3.15; also fires for `docker exec`. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cg_sys_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	return on_attach(dst, task);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(cg_sys_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(cg_sys_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p);
}

/* Seeds task storage for tasks of containers that ran before the agent (run once at start). */
SEC("iter/task")
int cg_sys_seed(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct syscalls_cgroup_state *cs;
	struct syscalls_task_state init = { .state = SYSCALLS_TASK_WORKLOAD };

	if (!task)
		return 0;
	cs = cgroup_state(task->cgroups->dfl_cgrp->kn->id);
	if (!cs)
		return 0;
	init.slot = cs->slot;
	bpf_task_storage_get(&cg_sys_tasks, task, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cg_sys_rmdir, struct cgroup *cg, const char *path)
{
	return on_rmdir(cg);
}

/* raw_tracepoint variant of the same hooks. */
SEC("raw_tracepoint/cgroup_attach_task")
int cg_sys_attach_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_attach((struct cgroup *)ctx->args[0], (struct task_struct *)ctx->args[2]);
}

SEC("raw_tracepoint/sched_process_fork")
int cg_sys_fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fork((struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
}

SEC("raw_tracepoint/sched_process_exec")
int cg_sys_exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/sched_process_exit")
int cg_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/cgroup_rmdir")
int cg_sys_rmdir_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_rmdir((struct cgroup *)ctx->args[0]);
}
