// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Feature probes for `contguard doctor`: one trivial program per hook type. Each is
 * loaded and attached on its own, so a kernel without kprobes or fentry shows as such.
 */
#define CG_NO_REGISTRY /* probes must load where task storage is missing */
#include "include/common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tracepoint/sys_enter")
int probe_raw_tracepoint(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exec")
int probe_tp_btf(void *ctx) { return 0; }

SEC("kprobe/do_sys_openat2")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/do_sys_openat2")
int probe_fentry(void *ctx) { return 0; }

SEC("lsm/file_open")
int probe_lsm(void *ctx) { return 0; }

SEC("cgroup_skb/egress")
int probe_cgroup_skb(void *ctx) { return 1; }

/* Baselines for bench/: empty sys_enter programs, the floor any syscall counter pays. */
SEC("tp_btf/sys_enter")
int bench_empty_tp_btf(void *ctx) { return 0; }

SEC("raw_tracepoint/sys_enter")
int bench_empty_raw_tp(void *ctx) { return 0; }
