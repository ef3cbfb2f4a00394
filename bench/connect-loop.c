// SPDX-License-Identifier: Apache-2.0
/*
 * TCP connect loop for bench/sensors.mjs: N x (socket, connect(ADDR:PORT), close), timed with
 * clock_gettime(CLOCK_MONOTONIC) around the loop. Bounded in count (N) and in time (MAX_S: the
 * loop stops early and says so). IPv4 only; meant for a server on this host (a container).
 *
 * With WAIT=1 (the default) each connection is closed in order: shutdown(SHUT_WR), then read
 * until the server closes its end (at most 2 s), then close. A server that accepts more slowly
 * than connects arrive (busybox httpd forks per connection and listens with a backlog of 9)
 * would otherwise fill its accept queue; the kernel then drops SYNs and connect() waits for the
 * 1 s SYN retransmit, and the loop measures that timer. WAIT=0: connect and close at once.
 *
 * Usage: connect-loop N ADDR PORT [MAX_S [WAIT]]
 *   N      connections (default 2000)
 *   ADDR   IPv4 address of the server
 *   PORT   its TCP port
 *   MAX_S  stop after this many seconds (default 60)
 *   WAIT   1: wait for the server's close before the next connect (default); 0: do not
 *
 * Output: "ns_per_connect=<float: the whole loop / connects> connects=<done> failed=<n>
 *          stopped_early=<0|1> connect_call_ns=<mean time in connect() alone>
 *          max_iteration_ns=<slowest iteration> unclosed=<reads that timed out> wait=<WAIT>".
 * Built statically (gcc -O2 -static) so it runs in the libc-less busybox test image.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	const char *addr = argc > 2 ? argv[2] : NULL;
	long port = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
	double max_ns = (argc > 4 ? strtod(argv[4], NULL) : 60.0) * 1e9;
	int wait_close = argc > 5 ? atoi(argv[5]) : 1;
	struct timeval rcv_timeout = { .tv_sec = 2, .tv_usec = 0 };
	long unclosed = 0;
	char buf[256];
	struct sockaddr_in sa;
	long done = 0, failed = 0;
	int first_errno = 0, stopped = 0;
	double slowest = 0, connect_ns = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (n <= 0 || !addr || port <= 0 || port > 65535 || max_ns <= 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: connect-loop N ADDR PORT [MAX_S [WAIT]]\n");
		return 2;
	}
	double t0 = now_ns(), t1;

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		double c0 = now_ns(), c1, c2;
		int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));

		c1 = now_ns();
		connect_ns += c1 - c0;
		if (rc) {
			if (!failed)
				first_errno = errno;
			failed++;
		} else if (wait_close) {
			ssize_t r;

			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv_timeout, sizeof(rcv_timeout));
			shutdown(fd, SHUT_WR);
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				;
			if (r < 0)
				unclosed++; /* timed out (or reset): counted, not fatal */
		}
		if (fd >= 0)
			close(fd);
		c2 = now_ns();
		if (c2 - c0 > slowest)
			slowest = c2 - c0;
		done++;
		if (c2 - t0 > max_ns) {
			stopped = 1;
			break;
		}
	}
	t1 = now_ns();
	printf("ns_per_connect=%.1f connects=%ld failed=%ld stopped_early=%d connect_call_ns=%.1f max_iteration_ns=%.0f unclosed=%ld wait=%d\n",
	       (t1 - t0) / (double)done, done, failed, stopped, connect_ns / (double)done, slowest, unclosed, wait_close);
	if (failed)
		fprintf(stderr, "connect-loop: %s:%ld: %s\n", addr, port, strerror(first_errno));
	return failed ? 1 : 0;
}
