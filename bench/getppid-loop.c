// SPDX-License-Identifier: Apache-2.0
/*
 * Null-syscall loop for bench/run.mjs: N x syscall(SYS_getppid), timed with
 * clock_gettime(CLOCK_MONOTONIC) around the loop (the vDSO, so no syscall of its own).
 *
 * Usage: getppid-loop [N [REPS [WARMUP [CPU [CLOCK [SERVE]]]]]]
 *   N       calls per repetition (default 2000000)
 *   REPS    timed repetitions (default 1); one line per repetition
 *   WARMUP  untimed calls before the first repetition (default N / 10)
 *   CPU     pin this thread to that CPU first (default -1: no pinning)
 *   CLOCK   mono (default: wall time, the vDSO) or cpu (CLOCK_THREAD_CPUTIME_ID: the thread's
 *           own CPU time, user and kernel, so time other tasks hold the CPU is left out; two
 *           syscalls per repetition)
 *   SERVE   "serve": after the first batch, run one more batch per line read from stdin (EOF
 *           ends it), so one long-lived process measures many configurations
 *
 * Output, one line per repetition: "ns_per_call=<float> calls=<N> cpu=<cpu at end>"; "end" after
 * each batch.
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long arg(int argc, char **argv, int i, long def)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	errno = 0;
	v = strtol(argv[i], &end, 10);
	if (errno || *end || end == argv[i]) {
		fprintf(stderr, "getppid-loop: bad argument %d: %s\n", i, argv[i]);
		exit(2);
	}
	return v;
}

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = arg(argc, argv, 1, 2000000);
	long reps = arg(argc, argv, 2, 1);
	long warmup = arg(argc, argv, 3, n / 10);
	long cpu = arg(argc, argv, 4, -1);
	volatile long sink = 0;

	if (argc > 5 && strcmp(argv[5], "cpu") == 0)
		clock_id = CLOCK_THREAD_CPUTIME_ID;
	else if (argc > 5 && strcmp(argv[5], "mono") != 0) {
		fprintf(stderr, "getppid-loop: CLOCK must be mono or cpu, got %s\n", argv[5]);
		return 2;
	}

	if (n <= 0 || reps <= 0 || warmup < 0) {
		fprintf(stderr, "getppid-loop: N and REPS must be > 0, WARMUP >= 0\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET((int)cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "getppid-loop: sched_setaffinity(%ld): %s\n", cpu, strerror(errno));
			return 1;
		}
	}
	do {
		for (long i = 0; i < warmup; i++)
			sink += syscall(SYS_getppid);
		for (long r = 0; r < reps; r++) {
			double t0 = now_ns();

			for (long i = 0; i < n; i++)
				sink += syscall(SYS_getppid);
			double t1 = now_ns();

			printf("ns_per_call=%.3f calls=%ld cpu=%d\n", (t1 - t0) / (double)n, n, sched_getcpu());
		}
		printf("end\n");
		fflush(stdout);
	} while (argc > 6 && strcmp(argv[6], "serve") == 0 && fgets((char[16]){ 0 }, 16, stdin));
	return sink == -1; /* keeps the calls observable; getppid never sums to -1 here */
}
