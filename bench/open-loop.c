// SPDX-License-Identifier: Apache-2.0
/*
 * File-open loop for bench/sensors.mjs: N x (open(PATH, O_RDONLY), close), timed with
 * clock_gettime(CLOCK_MONOTONIC) around the loop (the vDSO, so no syscall of its own).
 * Bounded in count (N) and in time (MAX_S: the loop stops early and says so).
 *
 * Usage: open-loop N PATH [MAX_S]
 *   N      opens (default 100000)
 *   PATH   the file to open (read-only)
 *   MAX_S  stop after this many seconds (default 60)
 *
 * Output: "ns_per_open=<float> opens=<done> failed=<n> stopped_early=<0|1>".
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
	const char *path = argc > 2 ? argv[2] : NULL;
	double max_ns = (argc > 3 ? strtod(argv[3], NULL) : 60.0) * 1e9;
	long done = 0, failed = 0;
	int first_errno = 0, stopped = 0;

	if (n <= 0 || !path || max_ns <= 0) {
		fprintf(stderr, "usage: open-loop N PATH [MAX_S]\n");
		return 2;
	}
	double t0 = now_ns(), t1;

	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);

		if (fd < 0) {
			if (!failed)
				first_errno = errno;
			failed++;
		} else {
			close(fd);
		}
		done++;
		if ((i & 1023) == 1023 && now_ns() - t0 > max_ns) {
			stopped = 1;
			break;
		}
	}
	t1 = now_ns();
	printf("ns_per_open=%.1f opens=%ld failed=%ld stopped_early=%d\n", (t1 - t0) / (double)done, done, failed, stopped);
	if (failed)
		fprintf(stderr, "open-loop: %s: %s\n", path, strerror(first_errno));
	return failed ? 1 : 0;
}
