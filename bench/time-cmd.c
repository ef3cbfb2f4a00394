// SPDX-License-Identifier: Apache-2.0
/*
 * Times one command for bench/workloads.mjs: fork, execv(PATH, ARGV), waitpid, timed with
 * clock_gettime(CLOCK_MONOTONIC) (the vDSO), so a tool such as busybox dd is timed inside the
 * container without `docker exec`'s own cost. The command's stdout and stderr pass through.
 * Bounded in time: the child is killed (SIGKILL) after MAX_S seconds and the run says so.
 *
 * Usage: time-cmd MAX_S PATH [ARG...]
 * Output (stdout, last line): "ns=<wall ns> status=<exit status, or 128+signal> killed=<0|1>".
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double max_ns = argc > 1 ? strtod(argv[1], NULL) * 1e9 : 0;
	int status = 0, killed = 0;
	pid_t pid;

	if (argc < 3 || max_ns <= 0) {
		fprintf(stderr, "usage: time-cmd MAX_S PATH [ARG...]\n");
		return 2;
	}
	double t0 = now_ns();

	pid = fork();
	if (pid < 0) {
		perror("time-cmd: fork");
		return 2;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror("time-cmd: execv");
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0) {
			perror("time-cmd: waitpid");
			return 2;
		}
		if (!killed && now_ns() - t0 > max_ns) {
			kill(pid, SIGKILL);
			killed = 1;
		}
		usleep(1000);
	}
	double t1 = now_ns();
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	printf("ns=%.0f status=%d killed=%d\n", t1 - t0, code, killed);
	return code ? 1 : 0;
}
