// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP client loop for bench/workloads.mjs: N x (socket, connect(ADDR:PORT), send
 * "GET PATH HTTP/1.0", read the response until the server closes, close), one connection per
 * request (busybox httpd serves one request per connection). Timed with
 * clock_gettime(CLOCK_MONOTONIC) around the loop. Bounded in count (N) and in time (MAX_S: the
 * loop stops early and says so); each read waits at most 2 s. IPv4 only.
 *
 * Usage: http-loop N ADDR PORT PATH [MAX_S]
 * Output: "ns_per_request=<float> requests=<done> failed=<n> not_200=<n> bytes=<received>
 *          stopped_early=<0|1>".
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
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	const char *addr = argc > 2 ? argv[2] : NULL;
	long port = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
	const char *upath = argc > 4 ? argv[4] : "/";
	double max_ns = (argc > 5 ? strtod(argv[5], NULL) : 60.0) * 1e9;
	struct timeval rcv_timeout = { .tv_sec = 2, .tv_usec = 0 };
	struct sockaddr_in sa;
	char req[512], buf[4096], head[16];
	long done = 0, failed = 0, not200 = 0, bytes = 0;
	int first_errno = 0, stopped = 0, reqlen;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (n <= 0 || !addr || port <= 0 || port > 65535 || max_ns <= 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    strlen(upath) > 256 || upath[0] != '/') {
		fprintf(stderr, "usage: http-loop N ADDR PORT PATH [MAX_S]\n");
		return 2;
	}
	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", upath, addr);
	double t0 = now_ns(), t1;

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int bad = fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0;
		long got = 0;

		if (!bad) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv_timeout, sizeof(rcv_timeout));
			bad = write(fd, req, (size_t)reqlen) != reqlen;
		}
		if (!bad) {
			ssize_t r;

			while ((r = read(fd, buf, sizeof(buf))) > 0) {
				if (got < (long)sizeof(head))
					memcpy(head + got, buf, (size_t)r < sizeof(head) - (size_t)got ? (size_t)r : sizeof(head) - (size_t)got);
				got += r;
			}
			bad = r < 0 || got < 12;
		}
		if (bad) {
			if (!failed)
				first_errno = errno;
			failed++;
		} else {
			bytes += got;
			/* "HTTP/1.x 200": the status code is at offset 9 */
			if (strncmp(head + 9, "200", 3) != 0)
				not200++;
		}
		if (fd >= 0)
			close(fd);
		done++;
		if (now_ns() - t0 > max_ns) {
			stopped = 1;
			break;
		}
	}
	t1 = now_ns();
	printf("ns_per_request=%.1f requests=%ld failed=%ld not_200=%ld bytes=%ld stopped_early=%d\n", (t1 - t0) / (double)done, done,
	       failed, not200, bytes, stopped);
	if (failed)
		fprintf(stderr, "http-loop: %s:%ld: %s\n", addr, port, strerror(first_errno));
	return failed || not200 ? 1 : 0;
}
