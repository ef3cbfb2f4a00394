// SPDX-License-Identifier: Apache-2.0
/*
 * Exec loop for bench/exec.mjs: N x (fork, execve(PATH), waitpid), timed with
 * clock_gettime(CLOCK_MONOTONIC) around the loop (the vDSO, so no syscall of its own).
 * PATH is called by its path, so every iteration really execs (a busybox shell would run
 * an applet such as `true` in-process).
 *
 * Usage: exec-loop [N [PATH [WARMUP]]]
 *   N       execs (default 3000)
 *   PATH    program to exec, with argv { PATH } (default /bin/true)
 *   WARMUP  untimed execs first (default 0)
 *
 * Output, one line: "ns_per_exec=<float> execs=<N> failed=<children that did not exit 0>".
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long run(const char *path, long n)
{
	char *argv[] = { (char *)path, NULL };
	long failed = 0;

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			exit(1);
		}
		if (pid == 0) {
			execve(path, argv, environ);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("waitpid");
			exit(1);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 3000;
	const char *path = argc > 2 ? argv[2] : "/bin/true";
	long warmup = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
	struct timespec t0, t1;
	long failed;
	double ns;

	if (n <= 0 || warmup < 0) {
		fprintf(stderr, "usage: exec-loop [N [PATH [WARMUP]]]\n");
		return 2;
	}
	if (run(path, warmup)) {
		fprintf(stderr, "exec-loop: %s failed during the warm-up\n", path);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	failed = run(path, n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("ns_per_exec=%.1f execs=%ld failed=%ld\n", ns / (double)n, n, failed);
	return failed ? 1 : 0;
}
