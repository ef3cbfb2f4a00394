// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscalls sensor: counts every syscall of every container in the kernel, per
 * (container slot, phase, syscall number), in a per-CPU array: element slot * PHASES + phase holds
 * the 512 counts of that slot and phase, one copy per CPU. A CPU adds into its own copy only, with
 * a plain add: tracepoint programs run with preemption disabled (and a program is never run twice
 * at once on one CPU), so no count is lost, no cache line is written by two CPUs, and the hot
 * path is short: one lookup keyed by slot and phase, one add (bench/README.md, "Two builds side
 * by side": 2.5 to 2.9 ns per container syscall less than an atomic add into a CPU's row of one
 * shared array, measured in-process; not visible in the whole agent's figure). User space sums the
 * CPUs' copies. Which task belongs to which container, and whether it is still runtime init,
 * comes from the shared container registry (registry.bpf.c).
 *
 * tp_btf_sys_exit variant (preferred): counted as each syscall returns (tp_btf/sys_exit), and the
 * program then tail-calls file_open's handler on an open syscall: one program on sys_exit serves
 * both sensors and nothing runs on sys_enter. Whether the task is a container's comes from a
 * per-CPU cache of the task that last returned from a syscall on this CPU (cg_sys_task_cache,
 * below), so a task's run of syscalls costs no helper call; on a miss, the current task and its
 * task storage (two helper calls). The fallbacks below keep the same cache. exit and exit_group
 * never return: they are counted when the task exits (sched_process_exit), from the syscall
 * number in its registers.
 * tp_btf variant: counted on tp_btf/sys_enter. raw_tracepoint variant (cgroup v1, or no task
 * storage): raw_tracepoint/sys_enter, the cgroup id in the registry's index.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "syscalls.h"
#include "include/syscall_nr.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* counts[slot * SYSCALLS_PHASES + phase].n[nr], per CPU; sized by user space (slots * phases). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256 * SYSCALLS_PHASES);
	__type(key, __u32);
	__type(value, struct syscalls_counts);
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

/* Out of the counting programs' line of code: a subprogram, called only when nothing is counted. */
static __noinline int count_missed(__u32 stat)
{
	stat_inc(stat);
	return 0;
}

/*
 * One lookup, then the add: a slot the registry could not give (REGISTRY_NO_SLOT) makes a key
 * beyond the array (slot * PHASES wraps to 0xfffffffe), so its lookup fails like any other miss.
 */
static __always_inline int count_in_slot(__u32 slot, __u32 phase, long nr)
{
	__u32 key = slot * SYSCALLS_PHASES + phase;
	struct syscalls_counts *counts = bpf_map_lookup_elem(&cg_sys_counts, &key);

	if (counts && (__u64)nr < SYSCALLS_MAX_NR) { /* a negative number too is out of range */
		counts->n[nr & (SYSCALLS_MAX_NR - 1)] += 1; /* this CPU's copy: no other writer (see the top) */
		return 0;
	}
	return count_missed(counts ? SYSCALLS_STAT_OVERFLOW : SYSCALLS_STAT_NO_SLOT);
}

/*
 * The task whose syscall last passed this hook on this CPU, named by the address of its saved
 * user registers (the hook's own `regs` argument: the top of the task's kernel stack, one per live
 * task), and what it is: a host task, or a workload task of a container slot. Valid while the
 * registry's generation is the one it was filled at: the registry bumps it after every change of
 * which task belongs where, a tracked task's exit (its stack may serve another task) and a
 * tracked fork (the child's stack may have been a host task's) among them. A hit costs no helper
 * call: on this kernel's mitigations (Safe RET) each call and return costs about 20 ns, and the
 * calls that find the task and its container were most of the program (bench/README.md, "The
 * per-CPU cache of the current task"). One per CPU: only the variant loaded uses it.
 */
struct sys_task_cache {
	__u64 regs; /* the task's struct pt_regs address */
	__u64 gen;  /* cg_reg_gen when filled */
	__u32 slot; /* SYS_TASK_CACHE_HOST for a host task */
	__u32 pad;
};
#define SYS_TASK_CACHE_HOST 0xfffffffe

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sys_task_cache);
} cg_sys_task_cache SEC(".maps");

/* This CPU's cache (an inlined lookup); NULL only if the maps are missing. */
static __always_inline struct sys_task_cache *task_cache(__u64 *gen)
{
	__u32 zero = 0;
	struct sys_task_cache *cache = bpf_map_lookup_elem(&cg_sys_task_cache, &zero);
	__u64 *g = reg_gen();

	if (!cache || !g)
		return NULL;
	*gen = *g; /* read before the task is looked up: a change after it makes what is filled stale */
	return cache;
}

static __always_inline bool cache_names(struct sys_task_cache *cache, __u64 regs, __u64 gen)
{
	return cache->regs == regs && cache->gen == gen;
}

/* A hit on sys_enter: a workload task's syscall is counted, a host task's is not. */
static __always_inline int count_cached(struct sys_task_cache *cache, long nr)
{
	return cache->slot == SYS_TASK_CACHE_HOST ? 0 : count_in_slot(cache->slot, REG_PHASE_WORKLOAD, nr);
}

static __always_inline void cache_fill(struct sys_task_cache *cache, __u64 regs, __u64 gen, __u32 slot)
{
	cache->regs = regs;
	cache->gen = gen;
	cache->slot = slot;
}

/* tp_btf/sys_enter (raw_syscalls, stable since 2.6.37; BTF-typed since 5.5): cheapest hook. */
SEC("tp_btf/sys_enter")
int BPF_PROG(cg_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task;
	struct registry_task *ts = NULL;
	__u32 phase = REG_PHASE_WORKLOAD;
	__u64 gen;
	struct sys_task_cache *cache = task_cache(&gen);

	if (!cache)
		return 0;
	if (cache_names(cache, (__u64)regs, gen))
		return count_cached(cache, id);
	task = bpf_get_current_task_btf();
	if (reg_task_may_have_entry(task))
		ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (!ts) {
		cache_fill(cache, (__u64)regs, gen, SYS_TASK_CACHE_HOST);
		return 0;
	}
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	} else {
		cache_fill(cache, (__u64)regs, gen, ts->slot);
	}
	return count_in_slot(ts->slot, phase, id);
}

SEC("raw_tracepoint/sys_enter")
int cg_sys_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task;
	struct registry_cgroup *c;
	struct registry_task *ts = NULL;
	__u32 phase = REG_PHASE_WORKLOAD;
	__u64 regs = ctx->args[0], cgid, gen;
	struct sys_task_cache *cache = task_cache(&gen);

	if (!cache)
		return 0;
	if (cache_names(cache, regs, gen))
		return count_cached(cache, (long)ctx->args[1]);
	task = (struct task_struct *)bpf_get_current_task();
	cgid = cg_cgroup_mode == CG_CGROUP_MODE_V2 ? bpf_get_current_cgroup_id() : BPF_CORE_READ(cg_task_cgroup(task), kn, id);
	c = reg_cgroup(cgid);
	if (!c) {
		cache_fill(cache, regs, gen, SYS_TASK_CACHE_HOST);
		return 0;
	}
	if (c->init_tasks)
		ts = reg_task_by_tid((__u32)bpf_get_current_pid_tgid());
	if (ts) { /* runtime init */
		phase = reg_init_task_phase(ts, task);
		if (phase == REG_PHASE_SKIP)
			return 0;
	} else {
		cache_fill(cache, regs, gen, c->slot);
	}
	return count_in_slot(c->slot, phase, (long)ctx->args[1]);
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

static __always_inline bool is_fork_nr(long nr)
{
	return nr == NR_CLONE || nr == NR_CLONE3 || nr == NR_FORK || nr == NR_VFORK;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(cg_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct registry_task *ts = NULL;
	long nr = SYSCALL_NR(regs);
	__u32 phase = REG_PHASE_WORKLOAD;
	__u64 gen;
	struct sys_task_cache *cache = task_cache(&gen);

	if (!cache)
		return 0;
	if (cache_names(cache, (__u64)regs, gen)) {
		if (cache->slot == SYS_TASK_CACHE_HOST)
			goto out;
		/* a failure may be a seccomp refusal, sigreturn forgets its number: the full path */
		if (ret >= 0 && nr >= 0) {
			if (!(ret == 0 && is_fork_nr(nr)))
				count_in_slot(cache->slot, REG_PHASE_WORKLOAD, nr);
			goto out;
		}
	}
	task = bpf_get_current_task_btf();
	if (reg_task_may_have_entry(task))
		ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (!ts) {
		cache_fill(cache, (__u64)regs, gen, SYS_TASK_CACHE_HOST);
		goto out;
	}
	if (ts->state != REGISTRY_TASK_WORKLOAD) {
		phase = exit_phase(ts, task);
	} else if (ts->exec_state != REGISTRY_TASK_WORKLOAD) {
		phase = exec_exit_phase(ts, task);
	} else { /* the workload: its next syscalls on this CPU take the cache */
		cache_fill(cache, (__u64)regs, gen, ts->slot);
	}
	if (nr < 0)
		nr = NR_RT_SIGRETURN; /* sigreturn restores the registers and forgets the number */
	else if (ret == 0 && is_fork_nr(nr))
		phase = REG_PHASE_SKIP; /* the child's return: the parent's call is the one counted */
	else if (ret < 0 && maybe_refused(task, nr))
		phase = REG_PHASE_SKIP;
	if (phase != REG_PHASE_SKIP)
		count_in_slot(ts->slot, phase, nr);
out:
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
	return count_in_slot(ts->slot, phase, nr);
}
