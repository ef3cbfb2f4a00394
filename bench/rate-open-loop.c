// SPDX-License-Identifier: Apache-2.0
/*
 * Paced file-open loop for bench/throughput.mjs: RATE opens per second of PATH (open O_RDONLY,
 * close) for SECONDS, paced per 100 ms slice: each slice makes RATE/10 opens, then sleeps to the
 * slice's end. A slice that cannot finish in time is counted as late (the loop then runs as fast
 * as it can, so the rate achieved is opens / seconds). Bounded in count (RATE x SECONDS) and in
 * time (SECONDS + 10 s at most).
 *
 * Usage: rate-open-loop RATE SECONDS PATH
 * Output: "opens=<done> target=<RATE x SECONDS> failed=<n> seconds=<float> late_slices=<n>".
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
	long rate = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	long seconds = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	const char *file = argc > 3 ? argv[3] : NULL;
	long per_slice, slices, done = 0, failed = 0, late = 0;
	const double slice_ns = 100e6;

	if (rate <= 0 || rate > 100000000 || seconds <= 0 || seconds > 3600 || !file) {
		fprintf(stderr, "usage: rate-open-loop RATE SECONDS PATH\n");
		return 2;
	}
	per_slice = rate / 10 > 0 ? rate / 10 : 1;
	slices = seconds * 10;
	double t0 = now_ns();
	double hard_end = t0 + (double)(seconds + 10) * 1e9;

	for (long s = 0; s < slices; s++) {
		double slice_end = t0 + (double)(s + 1) * slice_ns;

		for (long i = 0; i < per_slice; i++) {
			int fd = open(file, O_RDONLY);

			if (fd < 0)
				failed++;
			else
				close(fd);
			done++;
		}
		double t = now_ns();

		if (t > slice_end) {
			late++;
		} else {
			struct timespec d = { .tv_sec = 0, .tv_nsec = (long)(slice_end - t) };

			nanosleep(&d, NULL);
		}
		if (t > hard_end)
			break;
	}
	printf("opens=%ld target=%ld failed=%ld seconds=%.3f late_slices=%ld\n", done, per_slice * slices, failed, (now_ns() - t0) / 1e9,
	       late);
	return failed ? 1 : 0;
}
