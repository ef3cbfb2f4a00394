/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* network sensor: layouts shared by network.bpf.c and src/sensors/network (generated decoder). */
#pragma once

#include "include/cgroup_ref.h"

#define NETWORK_COMM_LEN 16

#define NETWORK_KIND_CONNECT 1 /* an outbound connection is established (the connecting task's side) */
#define NETWORK_KIND_ACCEPT 2  /* an inbound connection is established (the listening socket's owner) */
#define NETWORK_KIND_FAILED 3  /* an outbound connect failed: error holds the reason (sk_err) */
#define NETWORK_KIND_CLOSE 4   /* a connection this sensor saw established is closed */
#define NETWORK_KIND_UDP 5     /* the first UDP datagram of a container to a peer and port in the interval */

#define NETWORK_DIR_TRANSMIT 1 /* this side initiated (outbound) */
#define NETWORK_DIR_RECEIVE 2  /* this side accepted (inbound) */

#define NETWORK_IO_TRANSMIT 0 /* cg_net_io: bytes a container's sockets sent */
#define NETWORK_IO_RECEIVE 1  /* and received */

/* What the kernel remembers of a socket between its state changes. */
struct network_owner {
	__u64 cgroup_id; /* the owner's container cgroup (the connecting task, or the listener's owner) */
	__u64 start_ns;  /* connect() or establishment */
	__u64 process_start_ns; /* the owner's process image, as traces name it (bpf/process.h): its leader's task->start_time */
	__u64 exec_id;          /* and its leader's task->self_exec_id (both 0 for UDP: no process) */
	__u32 slot;      /* registry slot, or REGISTRY_NO_SLOT (a host socket with include_host) */
	__u32 tgid;
	__u32 direction; /* NETWORK_DIR_* */
	__u16 local_port; /* kept at establishment: the socket has let go of it by close */
	__u16 pad;
	char comm[NETWORK_COMM_LEN];
};

/* UDP flows already reported in the current interval. */
struct network_udp_key {
	__u64 cgroup_id;
	__u8 peer_addr[16];
	__u16 peer_port;
	__u16 family;
	__u32 pad;
};

/* A listening socket, by network namespace and port. */
struct network_listener_key {
	__u32 netns;
	__u16 port;
	__u16 family;
};

struct network_event {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u64 duration_ns;  /* CLOSE: since establishment; FAILED: since connect() */
	__u64 bytes_sent;   /* CLOSE: bytes the peer acknowledged (tcp_sock.bytes_acked) */
	__u64 bytes_received;
	struct network_owner owner; /* the local side */
	__u32 kind;       /* NETWORK_KIND_* */
	__u32 netns;      /* network namespace inode of the socket */
	__u32 family;     /* AF_INET 2, AF_INET6 10 */
	__u32 protocol;   /* IPPROTO_TCP 6 */
	__s32 error;      /* FAILED: sk_err (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ...) */
	__u32 retransmits; /* CLOSE: tcp_sock.total_retrans */
	__u16 local_port;
	__u16 peer_port;
	__u32 pad;
	__u8 local_addr[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 peer_addr[16];
	struct cg_cgroup_ref cgroup; /* the owner's cgroup names (empty when sent from softirq) */
};
