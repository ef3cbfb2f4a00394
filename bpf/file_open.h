/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* file_open sensor: layouts shared by file_open.bpf.c and src/sensors/file_open (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

#define FILE_OPEN_PATH_LEN 512
#define FILE_OPEN_FSTYPE_LEN 16
#define FILE_OPEN_COMM_LEN 16
#define FILE_OPEN_NAME_LEN 32 /* sensitive names: a file or directory name, NUL-padded */

/* Access mode, from the open flags. */
#define FILE_OPEN_ACCESS_READ 1
#define FILE_OPEN_ACCESS_WRITE 2
#define FILE_OPEN_ACCESS_CREATE 4
#define FILE_OPEN_ACCESS_TRUNCATE 8

/* Why the kernel sent it (user space has the last word on sensitivity). */
#define FILE_OPEN_WHY_SHARED 1    /* a file system the container does not own: bind mount, volume, device */
#define FILE_OPEN_WHY_CANDIDATE 2 /* a name, directory or file type the sensitive rules name */


#define FILE_OPEN_FLAG_PATH_CUT 1     /* deeper or longer than the kernel walks: the tail is kept */
#define FILE_OPEN_FLAG_PATH_AS_GIVEN 2 /* a failed open: the path as passed (maybe relative), not resolved */

/* Repeats of one key within the fold interval become one record with a count. */
struct file_open_key {
	__u64 cgroup_id;
	__u64 ino;    /* inode; for a failed open, a hash of the path as given */
	__u32 dev;    /* s_dev of the file system (kernel encoding: major << 20 | minor) */
	__u32 tgid;
	__u32 access; /* FILE_OPEN_ACCESS_* */
	__s32 result; /* 0 for success, -errno */
};

/*
 * Opens of a key only ever add to total (atomically); each record carries the total at its
 * send, and user space reads totals of the keys it knows every interval: counts are the
 * differences, so nothing is lost or counted twice whoever reads first.
 */
struct file_open_fold {
	__u64 last_sent_ns;
	__u64 total; /* opens of this key since the entry was created */
};

struct file_open_event {
	__u64 timestamp_ns;   /* CLOCK_MONOTONIC */
	struct file_open_key key;
	__u64 total;          /* the key's total opens at this send (user space turns totals into counts) */
	__u64 process_start_ns; /* the opener's process image, as traces name it (bpf/process.h): its leader's task->start_time */
	__u64 exec_id;          /* and its leader's task->self_exec_id */
	__u32 why;            /* FILE_OPEN_WHY_* */
	__u32 flags;          /* FILE_OPEN_FLAG_* */
	__u32 open_flags;     /* as passed to the syscall */
	__u32 mode;           /* i_mode */
	__u32 mnt_id;         /* struct mount.mnt_id: /proc/<pid>/mountinfo field 1 */
	__u32 mntns;          /* mount namespace inode */
	__u32 uid;            /* effective uid */
	__u32 fs_magic;       /* super block magic */
	__u32 path_len;       /* bytes used in path[] (no NUL) */
	__u32 pad;
	struct cg_cgroup_ref cgroup;
	char comm[FILE_OPEN_COMM_LEN];
	char fs_type[FILE_OPEN_FSTYPE_LEN];
	char fs_path[FILE_OPEN_PATH_LEN]; /* a host-shared file's path within its file system (host mapping) */
	char path[FILE_OPEN_PATH_LEN]; /* as the container sees it; its tail when cut (sent up to path_len) */
};

/* What the sensitive rules name, for the kernel's cheap pre-filter (filled by user space). */
struct file_open_name {
	char name[FILE_OPEN_NAME_LEN];
};

#define FILE_OPEN_NAME_FILE 1 /* a file name (basename) a rule names */
#define FILE_OPEN_NAME_DIR 2  /* a directory a rule's prefix names: any file below it */
