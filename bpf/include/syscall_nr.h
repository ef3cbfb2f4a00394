/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Syscall numbers the sys_exit programs test (the native ABI; -1: none on this architecture). */
#pragma once

#if defined(__TARGET_ARCH_x86)
#define NR_OPEN 2
#define NR_CREAT 85
#define NR_OPENAT 257
#define NR_OPENAT2 437
#define NR_RT_SIGRETURN 15
#define NR_CLONE 56
#define NR_FORK 57
#define NR_VFORK 58
#define NR_CLONE3 435
#define NR_EXECVE 59
#define NR_EXECVEAT 322
#define NR_EXIT 60
#define NR_EXIT_GROUP 231
/* The number of the syscall a pt_regs belongs to: a direct BTF load (every syscall exit pays it). */
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, orig_ax) /* a pointer the verifier does not type */
#elif defined(__TARGET_ARCH_arm64)
#define NR_OPEN -1 /* arm64 has only openat and openat2 */
#define NR_CREAT -1
#define NR_OPENAT 56
#define NR_OPENAT2 437
#define NR_RT_SIGRETURN 139
#define NR_CLONE 220
#define NR_FORK -1
#define NR_VFORK -1
#define NR_CLONE3 435
#define NR_EXECVE 221
#define NR_EXECVEAT 281
#define NR_EXIT 93
#define NR_EXIT_GROUP 94
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, syscallno)
#else
#error "unsupported architecture"
#endif

static __always_inline bool nr_is_open(long nr)
{
	return nr == NR_OPENAT || nr == NR_OPEN || nr == NR_OPENAT2 || nr == NR_CREAT;
}
