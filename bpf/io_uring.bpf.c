// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * io_uring sensor: io_uring requests never pass the syscall tracepoints (an openat submitted
 * through a ring is one io_uring_enter, or nothing at all with SQPOLL), so this object watches
 * io_uring's own tracepoints:
 *  - io_uring:io_uring_submit_req (io_uring_submit_sqe before 6.0), once per request the kernel
 *    accepted, after its prep: counted per (container slot, opcode) into an mmap'd array that
 *    user space reads with plain loads; OPENAT/OPENAT2 also send the path the prep copied into
 *    the kernel (the string the open will use) to a ring buffer;
 *  - io_uring:io_uring_create, once per ring: counted per slot, the container's first sent.
 * Nothing hooks sys_enter/sys_exit: a syscall that is not io_uring costs nothing here.
 *
 * Host tasks are dropped with the registry's cgroup index (reg_task_container: the cgroup id),
 * not its task storage: io-wq workers and SQPOLL threads are created without the fork tracepoint
 * (no task storage), but always in their process's cgroup. The cost is paid per io_uring
 * request and ring only.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "io_uring.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 uring_host_row = 256;   /* = registry.max_containers: the host's row */
const volatile __u32 uring_open_events = 1;  /* 0: no ring record per OPENAT/OPENAT2 */

/* counts[row * IO_URING_ROW + i]; (max_containers + 1) rows, sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 257 * IO_URING_ROW);
	__type(key, __u32);
	__type(value, __u64);
} cg_uring_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IO_URING_STATS);
	__type(key, __u32);
	__type(value, __u64);
} cg_uring_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cg_uring_events SEC(".maps");

CG_DEFINE_LOSS_COUNTER(cg_uring_lost);

/* Keep the record layouts in BTF for scripts/gen-layouts.mjs. */
const struct io_uring_limits *cg_uring_limits_type __attribute__((unused));
const struct io_uring_setup_event *cg_uring_setup_type __attribute__((unused));
const struct io_uring_open_event *cg_uring_open_type __attribute__((unused));

/*
 * Kernel types read with CO-RE under local names (the ___cg suffix is dropped when matching),
 * so the object also builds against a vmlinux.h without io_uring.
 */
struct io_kiocb___cg {
	__u8 opcode;
} __attribute__((preserve_access_index));

struct open_how___cg {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
} __attribute__((preserve_access_index));

/* The command area of an OPENAT/OPENAT2 request: the start of its io_kiocb (io_kiocb_to_cmd). */
struct io_open___cg {
	int dfd;
	__u32 file_slot; /* 5.15+ */
	struct filename *filename;
	struct open_how___cg how;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_submit_req___cg {
	void *req;
	__u8 opcode;
} __attribute__((preserve_access_index));

/* Before 6.0: the same event under its old name; req is there from 5.10. */
struct trace_event_raw_io_uring_submit_sqe___cg {
	void *req;
	__u8 opcode;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_create___cg {
	int fd;
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 flags;
} __attribute__((preserve_access_index));

#define URING_OP_OPENAT 18  /* IORING_OP_OPENAT, uapi */
#define URING_OP_OPENAT2 28 /* IORING_OP_OPENAT2, uapi */
#define URING_PF_IO_WORKER 0x00000010 /* task->flags of io-wq workers and SQPOLL threads (5.12+) */

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cg_uring_stats, &idx);

	if (v)
		*v += 1;
}

/*
 * The counting row of the current task: its container's slot, the host row (include_host), or
 * -1 to drop it (host, the agent itself, or a container without a slot). *flags gets HOST.
 */
static __always_inline long task_row(__u32 *flags)
{
	/* reg_task_container(current), with one helper call for the cgroup id where it can. */
	struct registry_cgroup *c = cg_cgroup_mode == CG_CGROUP_MODE_V1
					    ? reg_task_container((struct task_struct *)bpf_get_current_task())
					    : reg_cgroup(bpf_get_current_cgroup_id());

	*flags = 0;
	if (c) {
		__u32 slot = c->slot;

		if (slot == REGISTRY_NO_SLOT || slot >= uring_host_row) {
			stat_inc(IO_URING_STAT_NO_SLOT);
			return -1;
		}
		return slot;
	}
	if (!cg_include_host || (cg_self_tgid && (bpf_get_current_pid_tgid() >> 32) == cg_self_tgid))
		return -1;
	*flags = IO_URING_FLAG_HOST;
	return uring_host_row;
}

static __always_inline __u64 *count_at(__u32 row, __u32 i)
{
	__u32 k = row * IO_URING_ROW + i;

	return bpf_map_lookup_elem(&cg_uring_counts, &k);
}

static __always_inline void fill_header(struct io_uring_event_header *h, struct task_struct *task, __u32 kind,
					__u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	if (BPF_CORE_READ(task, flags) & URING_PF_IO_WORKER)
		flags |= IO_URING_FLAG_IO_THREAD;
	h->timestamp_ns = bpf_ktime_get_ns();
	cg_process_image(task, &h->process_start_ns, &h->exec_id);
	h->kind = kind;
	h->flags = flags;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = BPF_CORE_READ(task, cred, euid.val);
	h->pad = 0;
	cg_fill_cgroup_ref(&h->cgroup, task);
	bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), &leader->comm);
	bpf_get_current_comm(h->thread_comm, sizeof(h->thread_comm));
}

/* OPENAT/OPENAT2: the path the prep copied into the kernel (getname), the one the open uses. */
static __always_inline void send_open(struct task_struct *task, __u32 flags, __u8 opcode, void *req)
{
	struct io_open___cg *open = req; /* io_kiocb_to_cmd(): the command area starts the request */
	struct io_uring_open_event *e;
	const char *name;
	long n;

	e = bpf_ringbuf_reserve(&cg_uring_events, sizeof(*e), 0);
	if (!e) {
		cg_count_loss(&cg_uring_lost);
		return;
	}
	/* A kernel that keeps the name some other way fails this check, not the load: path stays "". */
	name = bpf_core_field_exists(open->filename) ? BPF_CORE_READ(open, filename, name) : NULL;
	n = name ? bpf_probe_read_kernel_str(e->path, sizeof(e->path), name) : 0;
	if (n <= 0) {
		e->path[0] = 0;
		n = 1;
	} else if (n == sizeof(e->path)) {
		char next = 0;

		bpf_probe_read_kernel(&next, 1, name + sizeof(e->path) - 1);
		if (next)
			flags |= IO_URING_FLAG_PATH_TRUNCATED;
	}
	fill_header(&e->h, task, IO_URING_EVENT_OPEN, flags);
	e->path_len = (__u32)(n - 1);
	e->open_flags = BPF_CORE_READ(open, how.flags);
	e->mode = BPF_CORE_READ(open, how.mode);
	e->resolve = BPF_CORE_READ(open, how.resolve);
	e->dfd = BPF_CORE_READ(open, dfd);
	e->opcode = opcode;
	e->file_slot = bpf_core_field_exists(open->file_slot) ? BPF_CORE_READ(open, file_slot) : 0;
	bpf_ringbuf_submit(e, cg_ringbuf_flags(&cg_uring_events));
}

/* After the filter: a host request costs the cgroup lookup only. */
static __always_inline void count_submit(long row, __u32 flags, __u8 opcode, void *req)
{
	__u64 *count = count_at(row, opcode < IO_URING_OPCODES ? opcode : IO_URING_ROW_OTHER);

	if (count)
		__sync_fetch_and_add(count, 1);
	if (uring_open_events && req && (opcode == URING_OP_OPENAT || opcode == URING_OP_OPENAT2))
		send_open((struct task_struct *)bpf_get_current_task(), flags, opcode, req);
}

static __always_inline int on_create(int fd, __u32 sq_entries, __u32 cq_entries, __u32 setup_flags)
{
	struct io_uring_setup_event *e;
	__u32 flags;
	long row = task_row(&flags);
	__u64 *count;
	bool first;

	if (row < 0)
		return 0;
	count = count_at(row, IO_URING_ROW_CREATES);
	if (!count)
		return 0;
	/* Two first rings at the same moment may both be sent: user space keeps one. */
	first = *count == 0;
	__sync_fetch_and_add(count, 1);
	if (!first)
		return 0;
	e = bpf_ringbuf_reserve(&cg_uring_events, sizeof(*e), 0);
	if (!e) {
		cg_count_loss(&cg_uring_lost);
		return 0;
	}
	fill_header(&e->h, (struct task_struct *)bpf_get_current_task(), IO_URING_EVENT_SETUP, flags);
	e->fd = fd;
	e->sq_entries = sq_entries;
	e->cq_entries = cq_entries;
	e->setup_flags = setup_flags;
	bpf_ringbuf_submit(e, cg_ringbuf_flags(&cg_uring_events));
	return 0;
}

/* tp_btf (6.0+, preferred): the request itself, no trace record formatted. */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(cg_uring_submit, struct io_kiocb___cg *req)
{
	__u32 flags;
	long row = task_row(&flags);

	if (row >= 0)
		count_submit(row, flags, req->opcode, req); /* a plain load: req is a trusted BTF pointer */
	return 0;
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(cg_uring_create, int fd, void *ring_ctx, __u32 sq_entries, __u32 cq_entries, __u32 flags)
{
	return on_create(fd, sq_entries, cq_entries, flags);
}

/* Classic tracepoints: the fallback, and the only way on kernels before 6.0 (submit_sqe). */
SEC("tracepoint/io_uring/io_uring_submit_req")
int cg_uring_submit_tp(struct trace_event_raw_io_uring_submit_req___cg *ctx)
{
	__u32 flags;
	long row = task_row(&flags);

	if (row >= 0)
		count_submit(row, flags, BPF_CORE_READ(ctx, opcode), BPF_CORE_READ(ctx, req));
	return 0;
}

SEC("tracepoint/io_uring/io_uring_submit_sqe")
int cg_uring_submit_sqe_tp(struct trace_event_raw_io_uring_submit_sqe___cg *ctx)
{
	__u32 flags;
	long row = task_row(&flags);

	if (row >= 0)
		count_submit(row, flags, BPF_CORE_READ(ctx, opcode),
			     bpf_core_field_exists(ctx->req) ? BPF_CORE_READ(ctx, req) : NULL);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_create")
int cg_uring_create_tp(struct trace_event_raw_io_uring_create___cg *ctx)
{
	return on_create(BPF_CORE_READ(ctx, fd), BPF_CORE_READ(ctx, sq_entries), BPF_CORE_READ(ctx, cq_entries),
			 BPF_CORE_READ(ctx, flags));
}
