// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench/hooks.mjs --ab: one program stays attached to sys_exit and tail-calls whichever program
 * its array holds (or none), so two builds of cg_sys_exit are switched between batches by a map
 * update instead of a detach and an attach: the batches compared lie milliseconds apart.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ab_target SEC(".maps");

SEC("tp_btf/sys_exit")
int BPF_PROG(ab_dispatch, struct pt_regs *regs, long ret)
{
	bpf_tail_call(ctx, &ab_target, 0);
	return 0;
}

/* A target that does nothing: the reference the two builds are measured against. */
SEC("tp_btf/sys_exit")
int BPF_PROG(ab_empty, struct pt_regs *regs, long ret)
{
	return 0;
}
