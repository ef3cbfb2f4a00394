/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The container reference every event carries: the only declaration of its layout. */
#pragma once

#define CG_CGROUP_MODE_V2 2
#define CG_CGROUP_MODE_V1 1
#define CG_CGROUP_NAME_LEN 128

struct cg_cgroup_ref {
	__u64 cgroup_id;                       /* kernfs id: the cgroup directory's inode */
	char name[CG_CGROUP_NAME_LEN];         /* last path component, e.g. docker-<id>.scope */
	char parent_name[CG_CGROUP_NAME_LEN];  /* the one above, for layouts like libpod-<id>/container */
};
