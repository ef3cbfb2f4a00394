/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* syscalls sensor: layouts shared by syscalls.bpf.c and src/sensors/syscalls (generated decoder). */
#pragma once

#define SYSCALLS_MAX_NR 512   /* counted numbers; larger ones (x32, compat) are counted as out of range */
#define SYSCALLS_PHASES 2     /* counts per container slot: [phase][nr] */
#define SYSCALLS_PHASE_WORKLOAD 0
#define SYSCALLS_PHASE_RUNTIME 1 /* runtime init after its seccomp filter is in place, before exec */

#define SYSCALLS_STAT_NO_SLOT 0  /* syscalls of containers that got no registry slot */
#define SYSCALLS_STAT_OVERFLOW 1 /* syscall numbers >= SYSCALLS_MAX_NR */
#define SYSCALLS_STATS 2

/* Keeps the constants above in BTF for the generated decoder's checks. */
struct syscalls_limits {
	__u32 max_nr;
	__u32 phases;
};

/* One container slot's counts in one phase, on one CPU: an element of the per-CPU counts array. */
struct syscalls_counts {
	__u64 n[SYSCALLS_MAX_NR];
};
