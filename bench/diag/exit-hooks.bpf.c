// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Empty programs for bench/hooks.mjs (not part of the agent): what a hook costs a null syscall
 * before any work, on sys_exit and through the per-syscall tracepoints (syscalls:sys_exit_*,
 * which hang one kernel probe, perf_syscall_exit, on the raw sys_exit tracepoint).
 *
 * Built by hooks.mjs: clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I bpf/build -I bpf/include
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int empty_enter(void *ctx) { return 0; }

SEC("tp_btf/sys_exit")
int empty_exit(void *ctx) { return 0; }

SEC("tp_btf/sys_exit")
int empty_exit_second(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_exit_openat")
int empty_tp_exit_openat(void *ctx) { return 0; }
