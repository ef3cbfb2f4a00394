/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Helpers every ContGuard sensor shares: container attribution and loss counting. */
#pragma once

#include "vmlinux.h" /* bpf/build/vmlinux.h */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "cgroup_ref.h"

/* Set by user space before load (.rodata): the verifier prunes the branch not taken. */
const volatile __u32 cg_cgroup_mode = CG_CGROUP_MODE_V2; /* which hierarchy identifies a container */
const volatile __u32 cg_self_tgid = 0;                   /* the agent itself: never reported */
const volatile __u32 cg_include_host = 0;                /* 1: sensors also report host tasks */

/* kernfs_node::parent became __parent in 6.15; CO-RE picks whichever this kernel has. */
struct kernfs_node___pre_6_15 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct kernfs_node___6_15 {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *cg_kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___6_15 *)0)->__parent))
		return BPF_CORE_READ((struct kernfs_node___6_15 *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre_6_15 *)kn, parent);
}

/*
 * The cgroup that identifies the task's container. cgroup v2 (and the unified
 * hierarchy of a hybrid host) use the default hierarchy; a pure v1 host uses the
 * memory controller's hierarchy, where every runtime places its containers.
 */
static __always_inline struct cgroup *cg_task_cgroup(struct task_struct *task)
{
	if (cg_cgroup_mode == CG_CGROUP_MODE_V1) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct css_set *cset = BPF_CORE_READ(task, cgroups);
		struct cgroup_subsys_state *css = NULL;

		if (idx < 0 || idx >= CGROUP_SUBSYS_COUNT)
			return NULL;
		bpf_core_read(&css, sizeof(css), &cset->subsys[idx]);
		return BPF_CORE_READ(css, cgroup);
	}
	return BPF_CORE_READ(task, cgroups, dfl_cgrp);
}

#ifndef CG_NO_REGISTRY
#include "registry_maps.h" /* the container registry every sensor filters with */
#endif

/* Fills the id and the last two path components of the task's cgroup. */
static __always_inline void cg_fill_cgroup_ref(struct cg_cgroup_ref *ref, struct task_struct *task)
{
	struct cgroup *cg = cg_task_cgroup(task);
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	struct kernfs_node *parent = cg_kn_parent(kn);

	ref->cgroup_id = BPF_CORE_READ(kn, id);
	bpf_probe_read_kernel_str(ref->name, sizeof(ref->name), BPF_CORE_READ(kn, name));
	if (parent)
		bpf_probe_read_kernel_str(ref->parent_name, sizeof(ref->parent_name),
					  BPF_CORE_READ(parent, name));
	else
		ref->parent_name[0] = 0;
}

/*
 * The task's process image as traces name it (bpf/process.h): its thread group leader's start
 * (task->start_time) and exec counter (task->self_exec_id), so a record names the span of the
 * program that caused it.
 */
static __always_inline void cg_process_image(struct task_struct *task, __u64 *start_ns, __u64 *exec_id)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	*start_ns = BPF_CORE_READ(leader, start_time);
	*exec_id = BPF_CORE_READ(leader, self_exec_id);
}

/*
 * Wake-ups are batched: a record does not wake user space, which drains every ring on a short
 * timer (src/agent.ts), unless the ring is an eighth full, when it wakes it at once. One wake-up
 * per record costs user space more than the record itself (bench/exec.mjs).
 */
static __always_inline __u64 cg_ringbuf_flags(void *ring)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);

	return avail > size / 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Per-sensor counters of what the kernel could not deliver (ring buffer full). */
#define CG_DEFINE_LOSS_COUNTER(name)                                                               \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                           \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name SEC(".maps")

static __always_inline void cg_count_loss(void *map)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(map, &zero);

	if (lost)
		*lost += 1;
}
