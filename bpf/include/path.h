/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A file's path as its own mount namespace sees it (what /proc/<pid>/exe shows inside the
 * container): dentries walked up to their mount's root, mounts crossed up to the namespace
 * root, written from the end of a scratch buffer towards its start (bpf_loop, 5.17+). Bounded by
 * CG_PATH_DEPTH steps and CG_PATH_SCRATCH bytes; a deeper path keeps its last components.
 */
#pragma once

#define CG_PATH_SCRATCH 4096 /* a power of two: offsets are masked with it */
#define CG_PATH_DEPTH 32
#define CG_NAME_MAX 255

struct cg_path_scratch {
	char buf[CG_PATH_SCRATCH + CG_NAME_MAX + 1]; /* a name written at any masked offset fits */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_path_scratch);
} cg_path_scratch_map SEC(".maps");

struct cg_path_walk {
	struct cg_path_scratch *s;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	int off;
	int complete; /* 1 once the namespace root was reached: nothing was cut */
};

/* Writes "/<name of dentry>" in front of what the walk has so far, then moves up to parent. */
static __always_inline int cg_path_prepend(struct cg_path_walk *w, struct dentry *dentry, struct dentry *parent)
{
	__u32 len = BPF_CORE_READ(dentry, d_name.len) & CG_NAME_MAX;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	int off = w->off;

	if (off < (int)len + 1)
		return 1; /* the buffer is full: the tail is kept */
	off -= len + 1;
	w->s->buf[off & (CG_PATH_SCRATCH - 1)] = '/';
	bpf_probe_read_kernel(&w->s->buf[(off + 1) & (CG_PATH_SCRATCH - 1)], len, name);
	w->off = off;
	w->dentry = parent;
	return 0;
}

/* One step up: a name, or a mount crossed. bpf_loop verifies it once for every step. */
static int cg_path_step(__u32 i, struct cg_path_walk *w)
{
	/* Locals first: BPF_CORE_READ(w->x, ...) would relocate our own struct too. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == mnt_root || dentry == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || up == mnt) {
			w->complete = 1;
			return 1; /* the namespace root (or a detached dentry) */
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = &up->mnt;
		return 0;
	}
	return cg_path_prepend(w, dentry, parent);
}

/*
 * Returns the offset in s->buf where the path starts (it ends at CG_PATH_SCRATCH), or -1;
 * *complete is 0 when the path was cut (deeper than CG_PATH_DEPTH or longer than the buffer).
 */
static __always_inline int cg_path_build(struct cg_path_scratch *s, struct dentry *dentry, struct vfsmount *vfsmnt,
					 int *complete)
{
	struct cg_path_walk w = {
		.s = s,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.off = CG_PATH_SCRATCH,
	};

	if (!dentry || !vfsmnt)
		return -1;
	bpf_loop(CG_PATH_DEPTH, cg_path_step, &w, 0);
	*complete = w.complete;
	if (w.off == CG_PATH_SCRATCH) { /* the root itself */
		w.off -= 1;
		s->buf[CG_PATH_SCRATCH - 1] = '/';
	}
	return w.off;
}

/* One step up inside one file system, never crossing a mount: for a file's path within its fs. */
static int cg_fs_path_step(__u32 i, struct cg_path_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == parent) {
		w->complete = 1;
		return 1; /* the file system's root */
	}
	return cg_path_prepend(w, dentry, parent);
}

/* The path of a dentry within its file system (as the host's mount table roots see it). */
static __always_inline int cg_fs_path_build(struct cg_path_scratch *s, struct dentry *dentry, int *complete)
{
	struct cg_path_walk w = { .s = s, .dentry = dentry, .off = CG_PATH_SCRATCH };

	if (!dentry)
		return -1;
	bpf_loop(CG_PATH_DEPTH, cg_fs_path_step, &w, 0);
	*complete = w.complete;
	if (w.off == CG_PATH_SCRATCH) {
		w.off -= 1;
		s->buf[CG_PATH_SCRATCH - 1] = '/';
	}
	return w.off;
}
