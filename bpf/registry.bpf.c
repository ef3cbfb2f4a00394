// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The container registry: which cgroups are containers (an open-addressed index keyed by
 * cgroup id, each with a slot) and which task belongs to which (task local storage in the
 * tp_btf variant). Every sensor object shares these maps by map reuse and filters host tasks
 * with one lookup; only this object tracks.
 *
 * A task the runtime moves into a container cgroup (cgroup_attach_task) is "runtime init"
 * until it execs; the syscalls sensor does not count it before its seccomp filter is in force
 * and counts it as the runtime phase after. Children inherit their parent's state; a child
 * born straight into a container cgroup (clone3 CLONE_INTO_CGROUP, as crun does) is tracked
 * like an attached task. Containers that ran before the agent are seeded by a task iterator,
 * run after every program is attached, through the same idempotent claim.
 *
 * Two variants, chosen before load: tp_btf (5.11+: task local storage, seeded by the iterator)
 * and raw_tracepoint (any BTF kernel, cgroup v1 too: runtime-init tasks by thread id). Both bump
 * a generation (cg_reg_gen) after every change of which task belongs where, so that per-CPU
 * caches of it (the syscalls sensor's) know when they are stale.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "registry.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 reg_hierarchy_id = 0;      /* cgroup_attach_task events of this hierarchy only */
const volatile __u32 reg_test_drop_notices = 0; /* tests only: lose every notice, as a full ring would */

/* Free slots, filled by user space; the kernel pops one per new container. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 256); /* sized by user space */
	__type(value, __u32);
} cg_reg_free_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} cg_reg_notices SEC(".maps");

/* Keeps the layouts in the object's BTF, where user space generates its decoder. */
const struct registry_notice *cg_reg_notice_type __attribute__((unused));
const struct registry_cgroup *cg_reg_cgroup_type __attribute__((unused));
const struct registry_task *cg_reg_task_type __attribute__((unused));

/* [0] notices lost (ring full), [1] container cgroups that got no slot or no bucket */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} cg_reg_stats SEC(".maps");

#define STAT_NOTICE_LOST 0
#define STAT_NO_SLOT 1

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cg_reg_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline void emit_notice(__u32 kind, __u32 slot, __u32 tgid, struct cgroup *cg)
{
	struct registry_notice *n;
	struct kernfs_node *kn, *parent;

	if (reg_test_drop_notices) {
		stat_inc(STAT_NOTICE_LOST);
		return;
	}
	n = bpf_ringbuf_reserve(&cg_reg_notices, sizeof(*n), 0);
	if (!n) {
		stat_inc(STAT_NOTICE_LOST);
		return;
	}
	n->timestamp_ns = bpf_ktime_get_ns();
	n->kind = kind;
	n->slot = slot;
	n->tgid = tgid;
	n->pad = 0;
	kn = BPF_CORE_READ(cg, kn);
	parent = cg_kn_parent(kn);
	n->cgroup.cgroup_id = BPF_CORE_READ(kn, id);
	bpf_probe_read_kernel_str(n->cgroup.name, sizeof(n->cgroup.name), BPF_CORE_READ(kn, name));
	n->cgroup.parent_name[0] = 0;
	if (parent)
		bpf_probe_read_kernel_str(n->cgroup.parent_name, sizeof(n->cgroup.parent_name),
					  BPF_CORE_READ(parent, name));
	bpf_ringbuf_submit(n, cg_ringbuf_flags(&cg_reg_notices));
}

/* After the change it announces: a cache that reads the new generation sees the change too. */
static __always_inline void bump_gen(void)
{
	__u64 *g = reg_gen();

	if (g)
		__sync_fetch_and_add(g, 1);
}

/* ---- which cgroups are containers ------------------------------------------------------- */

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

/*
 * The entry of a container cgroup, claimed with its slot on first sight (rare: once per
 * container). Idempotent: the runtime's attach, a fork into the cgroup and the seed
 * iterator may all come here for the same cgroup; the first claim wins the bucket.
 */
static __always_inline struct registry_cgroup *track_cgroup(struct cgroup *cg, __u32 kind, __u32 tgid)
{
	__u64 cgid = BPF_CORE_READ(cg, kn, id);
	struct registry_cgroup *c = reg_cgroup(cgid);
	__u32 slot;

	if (c)
		return c;
	if (!is_container_cgroup(cg))
		return NULL;
#pragma unroll
	for (__u32 i = 0; i < REGISTRY_INDEX_PROBES; i++) {
		__u32 k = reg_bucket(cgid, i);
		struct registry_cgroup *b = bpf_map_lookup_elem(&cg_reg_cgroups, &k);
		__u64 seen;

		if (!b)
			return NULL;
		seen = b->cgroup_id;
		if (seen == cgid)
			return b; /* claimed by another CPU a moment ago */
		if (seen != REGISTRY_INDEX_EMPTY && seen != REGISTRY_INDEX_REMOVED)
			continue;
		/* slot reads REGISTRY_NO_SLOT until set below (user space initialised it so). */
		if (__sync_val_compare_and_swap(&b->cgroup_id, seen, cgid) != seen)
			continue;
		if (bpf_map_pop_elem(&cg_reg_free_slots, &slot)) {
			slot = REGISTRY_NO_SLOT;
			stat_inc(STAT_NO_SLOT);
		}
		b->init_tasks = 0;
		b->flags = 0;
		b->slot = slot;
		bump_gen(); /* raw_tracepoint: its tasks may be cached as the host's */
		emit_notice(kind, slot, tgid, cg);
		return b;
	}
	stat_inc(STAT_NO_SLOT); /* every bucket tried is taken */
	return NULL;
}

/* Marks a task the runtime put into a container as runtime init. */
static __always_inline void mark_init_task(struct registry_cgroup *c, struct task_struct *task)
{
	struct registry_task init = { .state = REGISTRY_TASK_INIT_PRE_FILTER, .slot = c->slot };
	__u32 tid = BPF_CORE_READ(task, pid);

	if (reg_use_task_storage) {
		struct registry_task *ts = bpf_task_storage_get(&cg_reg_tasks, task, &init,
								BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (ts)
			*ts = init; /* also a task moved from another container */
		bump_gen();
		return;
	}
	if (bpf_map_update_elem(&cg_reg_tasks_by_tid, &tid, &init, BPF_NOEXIST))
		return;
	__sync_fetch_and_add(&c->init_tasks, 1);
	bump_gen(); /* before, a cache may have named it a workload task */
}

/* ---- tracking hooks (rare events) ------------------------------------------------------- */

/*
 * A task the runtime moves into a container cgroup is runtime init until it execs. The
 * tracepoint fires once, for the leader, when a whole thread group moves (cgroup.procs):
 * threads that already exist are given their state by re-running the seed iterator.
 */
static __always_inline int on_attach(struct cgroup *dst, struct task_struct *task, bool threadgroup)
{
	struct registry_cgroup *c;
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (BPF_CORE_READ(dst, root, hierarchy_id) != reg_hierarchy_id)
		return 0;
	c = track_cgroup(dst, REGISTRY_NOTICE_TRACKED, tgid);
	if (!c) {
		if (!reg_use_task_storage || bpf_task_storage_delete(&cg_reg_tasks, task) == 0)
			bump_gen(); /* moved out of a container (raw_tracepoint: maybe; it cannot tell) */
		return 0;
	}
	mark_init_task(c, task);
	if (reg_use_task_storage && threadgroup && BPF_CORE_READ(task, signal, nr_threads) > 1)
		emit_notice(REGISTRY_NOTICE_THREADS, c->slot, tgid, dst);
	return 0;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	struct registry_cgroup *c;
	struct registry_task copy, *ps;
	__u32 ptid = BPF_CORE_READ(parent, pid);
	__u32 ctid = BPF_CORE_READ(child, pid);
	struct cgroup *child_cg = cg_task_cgroup(child);

	if (child_cg != cg_task_cgroup(parent)) {
		/* born into another cgroup (CLONE_INTO_CGROUP) */
		c = track_cgroup(child_cg, REGISTRY_NOTICE_TRACKED, BPF_CORE_READ(child, tgid));
		if (c)
			mark_init_task(c, child);
		return 0;
	}
	/* raw_tracepoint: the child's container, if any (looked up once, used below too) */
	c = reg_use_task_storage ? NULL : reg_cgroup(BPF_CORE_READ(child_cg, kn, id));
	if (c)
		bump_gen(); /* a container's child: its stack may be one a cache names as another task's */
	ps = reg_use_task_storage ? bpf_task_storage_get(&cg_reg_tasks, parent, 0, 0) : reg_task_by_tid(ptid);
	if (!ps)
		return 0;
	copy = *ps;
	copy.exec_state = REGISTRY_TASK_WORKLOAD;
	if (reg_use_task_storage) {
		bpf_task_storage_get(&cg_reg_tasks, child, &copy, BPF_LOCAL_STORAGE_GET_F_CREATE);
		bump_gen(); /* the child's kernel stack may be a host task's that a cache still names */
		return 0;
	}
	if (!c || bpf_map_update_elem(&cg_reg_tasks_by_tid, &ctid, &copy, BPF_NOEXIST))
		return 0;
	__sync_fetch_and_add(&c->init_tasks, 1);
	return 0;
}

/* raw_tracepoint variant: the tid entry goes with runtime init (exec) or the task (exit). */
static __always_inline int on_raw_task_end(struct task_struct *task, __u32 tid)
{
	struct registry_cgroup *c;

	if (bpf_map_delete_elem(&cg_reg_tasks_by_tid, &tid))
		return 0;
	c = reg_task_container(task);
	if (c && c->init_tasks > 0)
		__sync_fetch_and_add(&c->init_tasks, (__u32)-1);
	return 0;
}

/* exec ends runtime init (the entrypoint, or `docker exec`'s command). */
static __always_inline int on_exec(struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	struct registry_task *ts;

	if (!reg_use_task_storage)
		return on_raw_task_end(task, tid);
	ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (ts) {
		ts->exec_state = ts->state;
		ts->state = REGISTRY_TASK_WORKLOAD;
	}
	return 0;
}

/* The cgroup is gone: user space reads the final values, then frees bucket and slot. */
static __always_inline int on_rmdir(struct cgroup *cg)
{
	struct registry_cgroup *c = reg_cgroup(BPF_CORE_READ(cg, kn, id));

	if (!c || (c->flags & REGISTRY_CGROUP_GONE))
		return 0;
	c->flags |= REGISTRY_CGROUP_GONE; /* reconciliation finds it even if the notice is lost */
	c->init_tasks = 0;
	emit_notice(REGISTRY_NOTICE_REMOVED, c->slot, 0, cg);
	return 0;
}

/* cgroup_attach_task: stable tracepoint since 3.15; also fires for `docker exec`. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cg_reg_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	return on_attach(dst, task, threadgroup);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(cg_reg_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(cg_reg_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p);
}

/* A tracked task's end: its kernel stack, by whose address a cache names the task, may serve another. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(cg_reg_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (reg_task_may_have_entry(task) && bpf_task_storage_get(&cg_reg_tasks, task, 0, 0))
		bump_gen();
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cg_reg_rmdir, struct cgroup *cg, const char *path)
{
	return on_rmdir(cg);
}

/*
 * Seeds what ran before the agent, and threads that moved with their leader: every task of
 * a container cgroup gets its cgroup tracked and, in the tp_btf variant, its task storage
 * (a thread takes its leader's state; a task of a container that ran before the agent is
 * workload). Idempotent: existing state is kept. Run by user space after every program is
 * attached, so a task forked meanwhile inherits its state or is visited itself.
 */
SEC("iter/task")
int cg_reg_seed(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct registry_cgroup *c;
	struct registry_task *leader;
	struct registry_task init = { .state = REGISTRY_TASK_WORKLOAD };

	if (!task)
		return 0;
	if (cg_self_tgid && task->tgid == cg_self_tgid)
		return 0;
	c = track_cgroup(cg_task_cgroup(task), REGISTRY_NOTICE_SEEDED, task->tgid);
	if (!c || !reg_use_task_storage)
		return 0;
	if (bpf_task_storage_get(&cg_reg_tasks, task, 0, 0))
		return 0;
	init.slot = c->slot;
	if (task->group_leader != task) {
		leader = bpf_task_storage_get(&cg_reg_tasks, task->group_leader, 0, 0);
		if (leader)
			init = *leader;
	}
	bpf_task_storage_get(&cg_reg_tasks, task, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
	bump_gen();
	return 0;
}

/* raw_tracepoint variant of the same hooks. */
SEC("raw_tracepoint/cgroup_attach_task")
int cg_reg_attach_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_attach((struct cgroup *)ctx->args[0], (struct task_struct *)ctx->args[2], (bool)ctx->args[3]);
}

SEC("raw_tracepoint/sched_process_fork")
int cg_reg_fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fork((struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
}

SEC("raw_tracepoint/sched_process_exec")
int cg_reg_exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/sched_process_exit")
int cg_reg_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];

	if (reg_task_container(task))
		bump_gen(); /* a container task's end: its stack may serve another task */
	return on_raw_task_end(task, BPF_CORE_READ(task, pid));
}

SEC("raw_tracepoint/cgroup_rmdir")
int cg_reg_rmdir_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_rmdir((struct cgroup *)ctx->args[0]);
}
