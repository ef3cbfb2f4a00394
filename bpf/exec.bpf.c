// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec sensor: every successful exec, with its container, caller and full argv. */
#include "include/common.h"
#include "exec.h"
#include "include/path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* 0 on kernels without bpf_loop (< 5.17): the path walk is pruned, exe_path stays empty. */
const volatile __u32 exec_resolve_exe = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} cg_exec_events SEC(".maps");

CG_DEFINE_LOSS_COUNTER(cg_exec_lost);

/* comm of the calling thread, kept from execve entry until the exec completes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, char[EXEC_COMM_LEN]);
} cg_exec_callers SEC(".maps");

/* The event is too large for the BPF stack: build it in a per-CPU scratch slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} cg_exec_scratch SEC(".maps");

/* Host tasks are dropped here, in the kernel, unless include_host asks for them. */
static __always_inline bool wanted(struct task_struct *task)
{
	return cg_include_host || reg_task_container(task);
}

static __always_inline int remember_caller(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	char comm[EXEC_COMM_LEN];

	if (!wanted((struct task_struct *)bpf_get_current_task()))
		return 0;

	bpf_get_current_comm(comm, sizeof(comm));
	bpf_map_update_elem(&cg_exec_callers, &tid, comm, BPF_ANY);
	return 0;
}

/*
 * The caller's comm must be taken before exec renames the task. sched_prepare_exec
 * (stable tracepoint since 6.11) fires just before that, on execs only. Older kernels
 * fall back to the syscall entry tracepoints, which cost every syscall of every task
 * ~20 ns: any syscalls:sys_enter_* program adds a second probe to raw_syscalls/sys_enter
 * (bench/README.md), so they are used only when sched_prepare_exec is missing.
 */
SEC("tracepoint/sched/sched_prepare_exec")
int cg_exec_prepare(void *ctx)
{
	return remember_caller();
}

SEC("tracepoint/syscalls/sys_enter_execve")
int cg_exec_enter(void *ctx)
{
	return remember_caller();
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int cg_execat_enter(void *ctx)
{
	return remember_caller();
}

/* The new executable's own path (symlinks and /proc/self/exe resolved), its tail if too long. */
static __always_inline void fill_exe_path(struct exec_event *e, struct task_struct *task)
{
	struct cg_path_scratch *s = bpf_map_lookup_elem(&cg_path_scratch_map, &(__u32){ 0 });
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	int off, len, complete;

	e->exe_path[0] = 0;
	if (!s || !exe)
		return;
	off = cg_path_build(s, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), &complete);
	if (off < 0)
		return;
	len = CG_PATH_SCRATCH - off;
	if (len > EXEC_FILENAME_LEN - 1) {
		off = CG_PATH_SCRATCH - (EXEC_FILENAME_LEN - 1);
		len = EXEC_FILENAME_LEN - 1;
	}
	bpf_probe_read_kernel(e->exe_path, len & (EXEC_FILENAME_LEN - 1), &s->buf[off & (CG_PATH_SCRATCH - 1)]);
	e->exe_path[len & (EXEC_FILENAME_LEN - 1)] = 0;
}

/*
 * sched_process_exec (stable tracepoint since 3.4) fires once the new image is
 * committed, so every event is a successful exec. The new mm already holds argv.
 */
SEC("tracepoint/sched/sched_process_exec")
int cg_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 old_tid = ctx->old_pid;
	__u32 zero = 0;
	struct exec_event *e;
	struct registry_cgroup *c;
	char *caller;
	struct pid *tpid;
	struct upid upid = {};
	unsigned int level;
	unsigned long arg_start, arg_end, args_len;
	__u32 size;

	if (cg_self_tgid && tgid == cg_self_tgid)
		return 0;
	c = reg_task_container(task);
	if (!c && !cg_include_host)
		return 0;

	e = bpf_map_lookup_elem(&cg_exec_scratch, &zero);
	if (!e)
		return 0;

	e->timestamp_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = BPF_CORE_READ(task, cred, euid.val);
	e->ruid = BPF_CORE_READ(task, cred, uid.val);
	e->gid = BPF_CORE_READ(task, cred, egid.val);
	e->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->flags = 0;
	e->slot = c ? c->slot : REGISTRY_NO_SLOT;
	/* The process image's identity in traces (bpf/process.h): exec already bumped self_exec_id. */
	e->start_time_ns = BPF_CORE_READ(task, group_leader, start_time);
	e->exec_id = BPF_CORE_READ(task, group_leader, self_exec_id);

	tpid = BPF_CORE_READ(task, thread_pid);
	level = BPF_CORE_READ(tpid, level);
	bpf_core_read(&upid, sizeof(upid), &tpid->numbers[level]);
	e->vpid = upid.nr;

	cg_fill_cgroup_ref(&e->cgroup, task);

	caller = bpf_map_lookup_elem(&cg_exec_callers, &old_tid);
	if (caller) {
		__builtin_memcpy(e->caller_comm, caller, EXEC_COMM_LEN);
		bpf_map_delete_elem(&cg_exec_callers, &old_tid);
	} else {
		e->caller_comm[0] = 0;
		e->flags |= EXEC_FLAG_CALLER_UNKNOWN;
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	if (exec_resolve_exe)
		fill_exe_path(e, task);
	else
		e->exe_path[0] = 0;

	/* argv: NUL-separated strings between mm->arg_start and mm->arg_end. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	args_len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args_len >= EXEC_ARGS_LEN) {
		args_len = EXEC_ARGS_LEN;
		if (arg_end - arg_start > EXEC_ARGS_LEN)
			e->flags |= EXEC_FLAG_ARGS_TRUNCATED;
		if (bpf_probe_read_user(e->args, EXEC_ARGS_LEN, (void *)arg_start))
			args_len = 0;
	} else if (args_len > 0) {
		if (bpf_probe_read_user(e->args, args_len & (EXEC_ARGS_LEN - 1), (void *)arg_start))
			args_len = 0;
	}
	e->args_size = args_len;

	/* Send the fixed part and only the argv bytes in use. */
	size = offsetof(struct exec_event, args) + (args_len & (2 * EXEC_ARGS_LEN - 1));
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&cg_exec_events, e, size, cg_ringbuf_flags(&cg_exec_events)))
		cg_count_loss(&cg_exec_lost);
	return 0;
}
