// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * network sensor: TCP connections of containers, IPv4 and IPv6, from the stable tracepoint
 * sock:inet_sock_set_state. A socket is taken in when a task of a tracked container (the shared
 * registry) connects (CLOSE -> SYN_SENT, in the task) or when a connection reaches a listener a
 * container's task opened (LISTEN, in the task; SYN_RECV -> ESTABLISHED runs in softirq, so the
 * listener's owner is attributed, never whatever task the softirq interrupted). Events:
 * established (outbound or inbound), failed (SYN_SENT -> CLOSE, with sk_err), and close (with
 * duration, bytes and retransmits from tcp_sock). Host sockets never reach user space unless
 * include_host asks for them.
 */
#include "include/common.h"
#include <bpf/bpf_tracing.h> /* BPF_PROG */
#include <bpf/bpf_endian.h>
#include "network.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET_ 2
#define AF_INET6_ 10
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD

const volatile __u64 net_udp_interval_ns = 60000000000ULL; /* one UDP record per flow per interval */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct network_udp_key);
	__type(value, __u64);
} cg_net_udp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21); /* resized by user space */
} cg_net_events SEC(".maps");

CG_DEFINE_LOSS_COUNTER(cg_net_lost);

/* Sockets this sensor follows, by address (deleted when they close). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* sized by user space */
	__type(key, __u64);
	__type(value, struct network_owner);
} cg_net_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct network_listener_key);
	__type(value, struct network_owner);
} cg_net_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct network_event);
} cg_net_scratch SEC(".maps");

/* The owner of a socket the current task creates: its container (or the host, if asked). */
static __always_inline bool current_owner(struct network_owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct registry_cgroup *c = reg_task_container(task);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (cg_self_tgid && tgid == cg_self_tgid)
		return false;
	if (!c && !cg_include_host)
		return false;
	o->cgroup_id = BPF_CORE_READ(cg_task_cgroup(task), kn, id);
	o->slot = c ? c->slot : REGISTRY_NO_SLOT;
	o->tgid = tgid;
	o->start_ns = bpf_ktime_get_ns();
	cg_process_image(task, &o->process_start_ns, &o->exec_id);
	o->local_port = 0;
	o->pad = 0;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	return true;
}

static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline struct network_event *event_for(const struct sock *sk, struct network_owner *o, __u32 kind)
{
	__u32 zero = 0;
	struct network_event *e = bpf_map_lookup_elem(&cg_net_scratch, &zero);
	__u16 family;

	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	e->timestamp_ns = bpf_ktime_get_ns();
	e->owner = *o;
	e->kind = kind;
	e->netns = sock_netns(sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->family = family;
	e->protocol = IPPROTO_TCP_;
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!e->local_port)
		e->local_port = o->local_port;
	e->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6_) {
		BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->peer_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->peer_addr, sk, __sk_common.skc_daddr);
	}
	return e;
}

static __always_inline void send(struct network_event *e)
{
	if (bpf_ringbuf_output(&cg_net_events, e, sizeof(*e), cg_ringbuf_flags(&cg_net_events)))
		cg_count_loss(&cg_net_lost);
}

static __always_inline int on_state(const struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;
	struct network_owner owner = {}, *o;
	struct network_listener_key lk = {};
	struct network_event *e;
	__u16 family;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP_)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET_ && family != AF_INET6_)
		return 0;

	switch (newstate) {
	case TCP_SYN_SENT: /* connect(), in the connecting task */
		if (!current_owner(&owner))
			return 0;
		owner.direction = NETWORK_DIR_TRANSMIT;
		bpf_map_update_elem(&cg_net_socks, &key, &owner, BPF_ANY);
		return 0;
	case TCP_LISTEN: /* listen(), in the listening task */
		if (!current_owner(&owner))
			return 0;
		owner.direction = NETWORK_DIR_RECEIVE;
		lk.netns = sock_netns(sk);
		lk.port = BPF_CORE_READ(sk, __sk_common.skc_num);
		lk.family = family;
		bpf_map_update_elem(&cg_net_listeners, &lk, &owner, BPF_ANY);
		return 0;
	case TCP_ESTABLISHED:
		if (oldstate == TCP_SYN_SENT) {
			o = bpf_map_lookup_elem(&cg_net_socks, &key);
			if (!o)
				return 0;
			o->start_ns = bpf_ktime_get_ns();
			o->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
			e = event_for(sk, o, NETWORK_KIND_CONNECT);
			if (e) {
				e->cgroup.cgroup_id = o->cgroup_id;
				send(e);
			}
			return 0;
		}
		if (oldstate == TCP_SYN_RECV) { /* softirq: the listener's owner, not the current task */
			lk.netns = sock_netns(sk);
			lk.port = BPF_CORE_READ(sk, __sk_common.skc_num);
			lk.family = family;
			o = bpf_map_lookup_elem(&cg_net_listeners, &lk);
			if (!o)
				return 0;
			owner = *o;
			owner.start_ns = bpf_ktime_get_ns();
			owner.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
			bpf_map_update_elem(&cg_net_socks, &key, &owner, BPF_ANY);
			e = event_for(sk, &owner, NETWORK_KIND_ACCEPT);
			if (e) {
				e->cgroup.cgroup_id = owner.cgroup_id;
				send(e);
			}
		}
		return 0;
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN) {
			lk.netns = sock_netns(sk);
			lk.port = BPF_CORE_READ(sk, __sk_common.skc_num);
			lk.family = family;
			bpf_map_delete_elem(&cg_net_listeners, &lk);
			return 0;
		}
		o = bpf_map_lookup_elem(&cg_net_socks, &key);
		if (!o)
			return 0;
		if (oldstate == TCP_SYN_SENT) {
			e = event_for(sk, o, NETWORK_KIND_FAILED);
			if (e) {
				e->error = BPF_CORE_READ(sk, sk_err);
				e->duration_ns = e->timestamp_ns - o->start_ns;
				e->cgroup.cgroup_id = o->cgroup_id;
				send(e);
			}
		} else {
			struct tcp_sock *tp = (struct tcp_sock *)sk;

			e = event_for(sk, o, NETWORK_KIND_CLOSE);
			if (e) {
				e->duration_ns = e->timestamp_ns - o->start_ns;
				e->bytes_sent = BPF_CORE_READ(tp, bytes_acked);
				e->bytes_received = BPF_CORE_READ(tp, bytes_received);
				e->retransmits = BPF_CORE_READ(tp, total_retrans);
				e->cgroup.cgroup_id = o->cgroup_id;
				send(e);
			}
		}
		bpf_map_delete_elem(&cg_net_socks, &key);
		return 0;
	}
	return 0;
}

/* sock:inet_sock_set_state, stable since 4.16. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cg_net_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state(sk, oldstate, newstate);
}

SEC("raw_tracepoint/inet_sock_set_state")
int cg_net_state_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_state((const struct sock *)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2]);
}

/* ---- container.network.io: bytes per container slot, counted in the kernel -------------- */

/* io[slot * 2 + NETWORK_IO_*]; sized by user space, read through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 256 * 2);
	__type(key, __u32);
	__type(value, __u64);
} cg_net_io SEC(".maps");

static __always_inline int count_bytes(struct __sk_buff *skb, __u32 dir)
{
	struct registry_cgroup *c = reg_cgroup(bpf_skb_cgroup_id(skb));
	__u32 idx;
	__u64 *n;

	if (!c || c->slot == REGISTRY_NO_SLOT)
		return 1;
	idx = c->slot * 2 + dir;
	n = bpf_map_lookup_elem(&cg_net_io, &idx);
	if (n)
		__sync_fetch_and_add(n, skb->len);
	return 1; /* never drops a packet */
}

/* The first UDP datagram of a container to a (peer, port) in the interval: one record. */
static __always_inline void udp_first(struct __sk_buff *skb)
{
	struct network_udp_key k = {};
	struct network_event *e;
	__u8 local[16] = {};
	__u16 ports[2];
	__u32 zero = 0, l4;
	__u64 now, *last;
	__u8 proto, vihl;
	struct registry_cgroup *c;

	if (skb->protocol == bpf_htons(ETH_P_IP_)) {
		if (bpf_skb_load_bytes(skb, 0, &vihl, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1) || proto != IPPROTO_UDP_)
			return;
		l4 = (vihl & 0xf) * 4;
		if (bpf_skb_load_bytes(skb, 12, local, 4) || bpf_skb_load_bytes(skb, 16, k.peer_addr, 4))
			return;
		k.family = AF_INET_;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
		if (bpf_skb_load_bytes(skb, 6, &proto, 1) || proto != IPPROTO_UDP_) /* no extension headers */
			return;
		l4 = 40;
		if (bpf_skb_load_bytes(skb, 8, local, 16) || bpf_skb_load_bytes(skb, 24, k.peer_addr, 16))
			return;
		k.family = AF_INET6_;
	} else {
		return;
	}
	if (bpf_skb_load_bytes(skb, l4 & 0x3f, ports, sizeof(ports)))
		return;
	k.peer_port = bpf_ntohs(ports[1]);
	k.cgroup_id = bpf_skb_cgroup_id(skb);
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&cg_net_udp, &k);
	if (last && now - *last < net_udp_interval_ns)
		return;
	bpf_map_update_elem(&cg_net_udp, &k, &now, BPF_ANY);
	c = reg_cgroup(k.cgroup_id);
	if (!c)
		return;
	e = bpf_map_lookup_elem(&cg_net_scratch, &zero);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->timestamp_ns = now;
	e->kind = NETWORK_KIND_UDP;
	e->family = k.family;
	e->protocol = IPPROTO_UDP_;
	e->local_port = bpf_ntohs(ports[0]);
	e->peer_port = k.peer_port;
	__builtin_memcpy(e->local_addr, local, 16);
	__builtin_memcpy(e->peer_addr, k.peer_addr, 16);
	e->owner.cgroup_id = k.cgroup_id;
	e->owner.slot = c->slot;
	e->owner.direction = NETWORK_DIR_TRANSMIT;
	e->cgroup.cgroup_id = k.cgroup_id;
	send(e);
}

/* Attached to each container's cgroup as the registry tracks it. */
SEC("cgroup_skb/egress")
int cg_net_skb_egress(struct __sk_buff *skb)
{
	udp_first(skb);
	return count_bytes(skb, NETWORK_IO_TRANSMIT);
}

SEC("cgroup_skb/ingress")
int cg_net_skb_ingress(struct __sk_buff *skb)
{
	return count_bytes(skb, NETWORK_IO_RECEIVE);
}
