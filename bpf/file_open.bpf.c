// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * file_open sensor: opens by containers of files they share with the host (bind mounts,
 * volumes, devices) and of sensitive files, from the syscall exit (open, openat, openat2,
 * creat): the new fd's struct file gives the file system, the inode, the mount and the path as
 * the container sees it. Filtered in the kernel, in this order: a task of no tracked container
 * (the shared registry) or still runtime init -> drop; pipes, sockets, anon inodes, namespaces
 * -> drop; a file system the container owns (its overlay root, proc, sysfs, tmpfs, devpts,
 * cgroup) -> drop unless a sensitive rule may match (a name, a directory above it, a block
 * device, /proc/sys, /sys/kernel, a cgroup write); O_PATH and O_DIRECTORY opens count only as
 * sensitive candidates; everything else is sent. Failed opens (EACCES, EPERM, ENOENT, EROFS)
 * are sent when their name is a sensitive candidate. Repeats of one (container, process, file,
 * access, result) within the fold interval are folded here into a count; the first is never
 * delayed, and user space reads the counts of folded keys every interval.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include "file_open.h"
#include "include/path.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "include/syscall_nr.h"

#if defined(__TARGET_ARCH_x86)
#define FO_O_DIRECTORY 0200000
#elif defined(__TARGET_ARCH_arm64)
#define FO_O_DIRECTORY 040000
#endif
#define FO_O_ACCMODE 3
#define FO_O_WRONLY 1
#define FO_O_RDWR 2
#define FO_O_CREAT 0100
#define FO_O_TRUNC 01000
#define FO_O_PATH 010000000

#define FO_EPERM 1
#define FO_ENOENT 2
#define FO_EACCES 13
#define FO_EROFS 30

/* Super block magics (include/uapi/linux/magic.h). */
#define MAGIC_OVERLAYFS 0x794c7630
#define MAGIC_PROC 0x9fa0
#define MAGIC_SYSFS 0x62656572
#define MAGIC_TMPFS 0x01021994
#define MAGIC_RAMFS 0x858458f6
#define MAGIC_DEVPTS 0x1cd1
#define MAGIC_MQUEUE 0x19800202
#define MAGIC_CGROUP 0x27e0eb
#define MAGIC_CGROUP2 0x63677270
#define MAGIC_PIPEFS 0x50495045
#define MAGIC_SOCKFS 0x534F434B
#define MAGIC_ANON_INODE 0x09041934
#define MAGIC_NSFS 0x6e736673
#define MAGIC_BPF 0xcafe4a11
#define MAGIC_PIDFS 0x50494446

#define S_IFMT_ 00170000
#define S_IFBLK_ 0060000

const volatile __u64 fo_fold_ns = 10000000000ULL; /* 0: no folding */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* resized by user space */
} cg_fo_events SEC(".maps");

CG_DEFINE_LOSS_COUNTER(cg_fo_lost);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_open_event);
} cg_fo_scratch SEC(".maps");

/* Names the sensitive rules use: FILE_OPEN_NAME_FILE and/or FILE_OPEN_NAME_DIR. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, struct file_open_name);
	__type(value, __u32);
} cg_fo_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* sized by user space */
	__type(key, struct file_open_key);
	__type(value, struct file_open_fold);
} cg_fo_folds SEC(".maps");

/* [0] repeats folded, [1] fold table full (sent unfolded), [2] opens sent */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} cg_fo_stats SEC(".maps");

#define STAT_FOLDED 0
#define STAT_FOLD_FULL 1
#define STAT_SENT 2

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cg_fo_stats, &idx);

	if (v)
		*v += 1;
}

/* ---- syscall number and arguments ------------------------------------------------------ */

static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#else
	return BPF_CORE_READ(regs, syscallno);
#endif
}

static __always_inline unsigned long syscall_arg(struct pt_regs *regs, int n)
{
#if defined(__TARGET_ARCH_x86)
	if (n == 0)
		return BPF_CORE_READ(regs, di);
	if (n == 1)
		return BPF_CORE_READ(regs, si);
	return BPF_CORE_READ(regs, dx);
#else
	if (n == 0)
		return BPF_CORE_READ(regs, regs[0]);
	if (n == 1)
		return BPF_CORE_READ(regs, regs[1]);
	return BPF_CORE_READ(regs, regs[2]);
#endif
}

static __always_inline __u32 access_of(__u32 flags)
{
	__u32 a = 0, acc = flags & FO_O_ACCMODE;

	if (acc == FO_O_WRONLY || acc == FO_O_RDWR)
		a |= FILE_OPEN_ACCESS_WRITE;
	if (acc != FO_O_WRONLY)
		a |= FILE_OPEN_ACCESS_READ;
	if (flags & FO_O_CREAT)
		a |= FILE_OPEN_ACCESS_CREATE;
	if (flags & FO_O_TRUNC)
		a |= FILE_OPEN_ACCESS_TRUNCATE;
	return a;
}

/* The path pointer and the flags as passed (f_flags drops O_CREAT and O_TRUNC after the open). */
static __always_inline const char *syscall_open_args(struct pt_regs *regs, long nr, __u32 *flags)
{
	if (nr == NR_OPEN || nr == NR_CREAT) {
		*flags = nr == NR_CREAT ? (FO_O_CREAT | FO_O_WRONLY | FO_O_TRUNC) : (__u32)syscall_arg(regs, 1);
		return (const char *)syscall_arg(regs, 0);
	}
	if (nr == NR_OPENAT2) {
		__u64 how_flags = 0;

		bpf_probe_read_user(&how_flags, sizeof(how_flags), (void *)syscall_arg(regs, 2));
		*flags = (__u32)how_flags;
	} else {
		*flags = (__u32)syscall_arg(regs, 2);
	}
	return (const char *)syscall_arg(regs, 1);
}

/* ---- sensitive-name pre-filter ------------------------------------------------------- */

static __always_inline __u32 name_kind(const unsigned char *name)
{
	struct file_open_name key = {};
	__u32 *kind;

	if (bpf_probe_read_kernel_str(key.name, sizeof(key.name), name) <= 1)
		return 0;
	kind = bpf_map_lookup_elem(&cg_fo_names, &key);
	return kind ? *kind : 0;
}

static __always_inline bool name_is(const unsigned char *name, const char *lit, int len)
{
	char buf[8] = {};

	bpf_probe_read_kernel_str(buf, sizeof(buf), name);
	for (int i = 0; i < len && i < 8; i++)
		if (buf[i] != lit[i])
			return false;
	return buf[len < 8 ? len : 7] == 0;
}

#define DIR_LEVELS 6

/*
 * Whether a rule may name this file: its name, a directory above it (within its mount), a
 * block device, /proc/sys, /sys/kernel, or a write under a cgroup file system.
 */
static __always_inline bool is_candidate(struct dentry *dentry, struct vfsmount *vfsmnt, __u32 magic, __u32 mode,
					 __u32 access)
{
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *d = dentry, *top = dentry;

	if ((mode & S_IFMT_) == S_IFBLK_)
		return true;
	if ((magic == MAGIC_CGROUP2 || magic == MAGIC_CGROUP) && (access & FILE_OPEN_ACCESS_WRITE))
		return true;
	if (name_kind(BPF_CORE_READ(dentry, d_name.name)) & FILE_OPEN_NAME_FILE)
		return true;
#pragma unroll
	for (int i = 0; i < DIR_LEVELS; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (d == root || parent == d)
			break;
		top = d;
		if (parent == root)
			break;
		if (name_kind(BPF_CORE_READ(parent, d_name.name)) & FILE_OPEN_NAME_DIR)
			return true;
		d = parent;
	}
	if (magic == MAGIC_PROC)
		return name_is(BPF_CORE_READ(top, d_name.name), "sys", 3);
	if (magic == MAGIC_SYSFS)
		return name_is(BPF_CORE_READ(top, d_name.name), "kernel", 6);
	return false;
}

/* One pass over a path as given (bpf_loop: verified once, not per character). */
struct scan_ctx {
	const char *path;
	int len;
	int last;  /* offset of the last '/', or -1 */
	int prev;  /* offset of the '/' before it, or -1 */
	__u64 hash; /* FNV-1a of the path: the fold key of a failed open */
};

static int scan_step(__u32 i, struct scan_ctx *c)
{
	char ch;

	if ((int)i >= c->len)
		return 1;
	ch = c->path[i & (FILE_OPEN_PATH_LEN - 1)];
	if (ch == '/') {
		c->prev = c->last;
		c->last = (int)i;
	}
	c->hash ^= (unsigned char)ch;
	c->hash *= 0x100000001b3ULL;
	return 0;
}

/* Its last component names a file a rule uses, or the one above it a directory a rule uses. */
static __always_inline bool given_path_is_candidate(struct scan_ctx *c)
{
	struct file_open_name key = {};
	__u32 *kind;
	int start = c->last + 1, n;

	bpf_probe_read_kernel_str(key.name, sizeof(key.name), &c->path[start & (FILE_OPEN_PATH_LEN - 1)]);
	kind = bpf_map_lookup_elem(&cg_fo_names, &key);
	if (kind && (*kind & FILE_OPEN_NAME_FILE))
		return true;
	if (c->last <= 0)
		return false;
	__builtin_memset(&key, 0, sizeof(key));
	start = c->prev + 1;
	n = c->last - start;
	if (n <= 0 || n >= FILE_OPEN_NAME_LEN)
		return false;
	bpf_probe_read_kernel(key.name, n & (FILE_OPEN_NAME_LEN - 1), &c->path[start & (FILE_OPEN_PATH_LEN - 1)]);
	kind = bpf_map_lookup_elem(&cg_fo_names, &key);
	return kind && (*kind & FILE_OPEN_NAME_DIR);
}

/* ---- folding ----------------------------------------------------------------------------- */

/* 0: folded (counted in the entry), else the key's total opens, to send with this record. */
static __always_inline __u64 fold(struct file_open_key *key)
{
	struct file_open_fold *f, fresh = { .total = 1 };
	__u64 now;

	if (!fo_fold_ns)
		return 0xffffffffffffffffULL; /* no folding: each record counts one */
	now = bpf_ktime_get_ns();
	f = bpf_map_lookup_elem(&cg_fo_folds, key);
	if (f) {
		if (now - f->last_sent_ns < fo_fold_ns) {
			__sync_fetch_and_add(&f->total, 1);
			stat_inc(STAT_FOLDED);
			return 0;
		}
		f->last_sent_ns = now;
		return __sync_add_and_fetch(&f->total, 1);
	}
	fresh.last_sent_ns = now;
	if (bpf_map_update_elem(&cg_fo_folds, key, &fresh, BPF_NOEXIST)) {
		stat_inc(STAT_FOLD_FULL); /* full (or a racing insert): sent unfolded */
		return 0xffffffffffffffffULL;
	}
	return 1;
}

/* ---- the hook ---------------------------------------------------------------------------- */

static __always_inline int send(struct file_open_event *e)
{
	__u32 size = offsetof(struct file_open_event, path) + (e->path_len & (FILE_OPEN_PATH_LEN - 1)) + 1;

	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&cg_fo_events, e, size, cg_ringbuf_flags(&cg_fo_events)))
		cg_count_loss(&cg_fo_lost);
	else
		stat_inc(STAT_SENT);
	return 0;
}

static __always_inline void fill_common(struct file_open_event *e, struct task_struct *task)
{
	e->timestamp_ns = bpf_ktime_get_ns();
	e->uid = BPF_CORE_READ(task, cred, euid.val);
	e->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->pad = 0;
	cg_fill_cgroup_ref(&e->cgroup, task);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->key.cgroup_id = e->cgroup.cgroup_id;
	e->key.tgid = bpf_get_current_pid_tgid() >> 32;
	cg_process_image(task, &e->process_start_ns, &e->exec_id);
}

static __always_inline int on_failed_open(struct task_struct *task, struct pt_regs *regs, long nr, long ret)
{
	__u32 zero = 0, flags;
	struct file_open_event *e;
	const char *upath;
	long n;

	if (ret != -FO_EACCES && ret != -FO_EPERM && ret != -FO_ENOENT && ret != -FO_EROFS)
		return 0;
	e = bpf_map_lookup_elem(&cg_fo_scratch, &zero);
	if (!e)
		return 0;
	upath = syscall_open_args(regs, nr, &flags);
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), upath);
	if (n <= 1)
		return 0;
	e->path_len = (__u32)(n - 1) & (FILE_OPEN_PATH_LEN - 1);
	{
		struct scan_ctx c = { .path = e->path, .len = e->path_len, .last = -1, .prev = -1, .hash = 0xcbf29ce484222325ULL };

		bpf_loop(FILE_OPEN_PATH_LEN, scan_step, &c, 0);
		if (!given_path_is_candidate(&c))
			return 0;
		e->key.ino = c.hash;
	}
	e->key.dev = 0;
	e->key.access = access_of(flags);
	e->key.result = (__s32)ret;
	fill_common(e, task);
	e->total = fold(&e->key);
	if (!e->total)
		return 0;
	e->why = FILE_OPEN_WHY_CANDIDATE;
	e->flags = FILE_OPEN_FLAG_PATH_AS_GIVEN;
	e->open_flags = flags;
	e->mode = 0;
	e->mnt_id = 0;
	e->fs_magic = 0;
	e->fs_type[0] = 0;
	e->fs_path[0] = 0;
	return send(e);
}

static __always_inline int on_open(struct task_struct *task, struct pt_regs *regs, long ret)
{
	long nr = syscall_nr(regs);
	struct file **fds, *file = NULL;
	struct cg_path_scratch *s;
	struct file_open_event *e;
	struct inode *inode;
	struct super_block *sb;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	__u32 zero = 0, magic, mode, flags, access, why = 0;
	int off, len, complete = 0;

	if (!nr_is_open(nr))
		return 0;
	if (ret < 0)
		return on_failed_open(task, regs, nr, ret);

	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_core_read(&file, sizeof(file), &fds[ret & 0xffffff]) || !file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	sb = BPF_CORE_READ(inode, i_sb);
	magic = (__u32)BPF_CORE_READ(sb, s_magic);
	if (magic == MAGIC_PIPEFS || magic == MAGIC_SOCKFS || magic == MAGIC_ANON_INODE || magic == MAGIC_NSFS ||
	    magic == MAGIC_BPF || magic == MAGIC_PIDFS)
		return 0; /* never a file anyone shares or names */
	syscall_open_args(regs, nr, &flags);
	access = access_of(flags);
	flags |= BPF_CORE_READ(file, f_flags) & (FO_O_PATH | FO_O_DIRECTORY);
	mode = BPF_CORE_READ(inode, i_mode);
	dentry = BPF_CORE_READ(file, f_path.dentry);
	vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	if (!(flags & (FO_O_PATH | FO_O_DIRECTORY)) && magic != MAGIC_OVERLAYFS && magic != MAGIC_PROC &&
	    magic != MAGIC_SYSFS && magic != MAGIC_TMPFS && magic != MAGIC_RAMFS && magic != MAGIC_DEVPTS &&
	    magic != MAGIC_MQUEUE && magic != MAGIC_CGROUP && magic != MAGIC_CGROUP2)
		why |= FILE_OPEN_WHY_SHARED;
	if (is_candidate(dentry, vfsmnt, magic, mode, access))
		why |= FILE_OPEN_WHY_CANDIDATE;
	if (!why)
		return 0;

	e = bpf_map_lookup_elem(&cg_fo_scratch, &zero);
	if (!e)
		return 0;
	e->key.ino = BPF_CORE_READ(inode, i_ino);
	e->key.dev = BPF_CORE_READ(sb, s_dev);
	e->key.access = access;
	e->key.result = 0;
	fill_common(e, task);
	e->total = fold(&e->key);
	if (!e->total)
		return 0;
	e->why = why;
	e->flags = 0;
	e->open_flags = flags;
	e->mode = mode;
	e->fs_magic = magic;
	e->mnt_id = BPF_CORE_READ(container_of(vfsmnt, struct mount, mnt), mnt_id);
	bpf_probe_read_kernel_str(e->fs_type, sizeof(e->fs_type), BPF_CORE_READ(sb, s_type, name));

	e->path_len = 0;
	e->path[0] = 0;
	s = bpf_map_lookup_elem(&cg_path_scratch_map, &zero);
	if (s) {
		off = cg_path_build(s, dentry, vfsmnt, &complete);
		if (off >= 0) {
			len = CG_PATH_SCRATCH - off;
			if (len > FILE_OPEN_PATH_LEN - 1) {
				off = CG_PATH_SCRATCH - (FILE_OPEN_PATH_LEN - 1);
				len = FILE_OPEN_PATH_LEN - 1;
				complete = 0;
			}
			bpf_probe_read_kernel(e->path, len & (FILE_OPEN_PATH_LEN - 1), &s->buf[off & (CG_PATH_SCRATCH - 1)]);
			e->path[len & (FILE_OPEN_PATH_LEN - 1)] = 0;
			e->path_len = len;
		}
	}
	if (!complete)
		e->flags |= FILE_OPEN_FLAG_PATH_CUT;
	e->fs_path[0] = 0;
	if (s && (why & FILE_OPEN_WHY_SHARED)) {
		/* The path within its file system: user space maps it through the host's mount table
		 * even after the container (and its /proc/<pid>/mountinfo) is gone. */
		off = cg_fs_path_build(s, dentry, &complete);
		if (off >= 0 && complete) {
			len = CG_PATH_SCRATCH - off;
			if (len <= FILE_OPEN_PATH_LEN - 1) {
				bpf_probe_read_kernel(e->fs_path, len & (FILE_OPEN_PATH_LEN - 1), &s->buf[off & (CG_PATH_SCRATCH - 1)]);
				e->fs_path[len & (FILE_OPEN_PATH_LEN - 1)] = 0;
			}
		}
	}
	return send(e);
}

/* tp_btf/sys_exit: a task of a tracked container past runtime init (task storage). */
SEC("tp_btf/sys_exit")
int BPF_PROG(cg_fo_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_task *ts;

	if (!nr_is_open(SYSCALL_NR(regs)))
		return 0;
	ts = bpf_task_storage_get(&cg_reg_tasks, task, 0, 0);
	if (ts ? ts->state != REGISTRY_TASK_WORKLOAD : !cg_include_host)
		return 0;
	if (cg_self_tgid && (bpf_get_current_pid_tgid() >> 32) == cg_self_tgid)
		return 0;
	return on_open(task, regs, ret);
}

/*
 * Per-syscall tracepoints (syscalls:sys_exit_open*): only these syscalls run a program. The raw
 * sys_exit hook runs one on every syscall of every task (the cost of a second program on each
 * syscall, measured in bench/); these cost a non-open syscall a bitmap test in the kernel's
 * syscall tracing. The user registers come from bpf_task_pt_regs (5.15+).
 */
struct fo_syscall_exit {
	__u64 common;
	int nr;
	long ret;
};

static __always_inline int on_syscall_tp(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct registry_cgroup *c = reg_task_container(task);
	struct registry_task *ts;

	if (!c && !cg_include_host)
		return 0;
	if (c) {
		/* runtime init (runc setting the container up) is not the container's behaviour */
		ts = reg_use_task_storage ? bpf_task_storage_get(&cg_reg_tasks, task, 0, 0)
					  : (c->init_tasks ? reg_task_by_tid((__u32)bpf_get_current_pid_tgid()) : NULL);
		if (ts && ts->state != REGISTRY_TASK_WORKLOAD)
			return 0;
	}
	if (cg_self_tgid && (bpf_get_current_pid_tgid() >> 32) == cg_self_tgid)
		return 0;
	return on_open(task, (struct pt_regs *)bpf_task_pt_regs(task), ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int cg_fo_tp_openat(struct fo_syscall_exit *ctx)
{
	return on_syscall_tp(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int cg_fo_tp_openat2(struct fo_syscall_exit *ctx)
{
	return on_syscall_tp(ctx->ret);
}

#if defined(__TARGET_ARCH_x86)
SEC("tracepoint/syscalls/sys_exit_open")
int cg_fo_tp_open(struct fo_syscall_exit *ctx)
{
	return on_syscall_tp(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int cg_fo_tp_creat(struct fo_syscall_exit *ctx)
{
	return on_syscall_tp(ctx->ret);
}
#endif

/* raw_tracepoint variant: the registry's cgroup index (runtime-init tasks by thread id). */
SEC("raw_tracepoint/sys_exit")
int cg_fo_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct task_struct *task;
	struct registry_cgroup *c;

	if (!nr_is_open(syscall_nr(regs)))
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	c = reg_task_container(task);
	if (!c && !cg_include_host)
		return 0;
	if (c && c->init_tasks && reg_task_by_tid((__u32)bpf_get_current_pid_tgid()))
		return 0; /* runtime init */
	if (cg_self_tgid && (bpf_get_current_pid_tgid() >> 32) == cg_self_tgid)
		return 0;
	return on_open(task, regs, (long)ctx->args[1]);
}

/* Keeps the layouts in the object's BTF for the generated decoder. */
const struct file_open_name *cg_fo_name_type __attribute__((unused));
