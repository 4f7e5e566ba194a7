/* Shared by every nanoseg eBPF program: the per-pod configuration, the map layouts and small helpers.
 * Every map is pinned by name under the pod's folder of our bpffs (the loader passes pin_root_path), so the
 * programs of one pod share them and the programs of two pods never do. */
#pragma once
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NSG_AF_INET 2
#define NSG_AF_INET6 10
#define NSG_SOL_IP 0
#define NSG_SOL_IPV6 41
#define NSG_SO_ORIGINAL_DST 80 /* also IP6T_SO_ORIGINAL_DST */
#define NSG_SOCK_STREAM 1
#define NSG_IPPROTO_TCP 6

/* nsg_config[0].flags */
#define NSG_F_REDIRECT 1u /* connect4/6 send the app's TCP to the outbound listener */
#define NSG_F_SOCKMAP 2u  /* sockops puts local app<->sidecar sockets into nsg_socks (sk_msg fast path) */
#define NSG_F_BIND_GUARD 4u

/* One entry, written whole by the loader (a single map update: programs see the old or the new value). */
struct nsg_config {
	__u32 flags;
	__u32 pod_ip4;     /* network order: where the outbound listener is reached (the pod's own address) */
	__u32 pod_ip6[4];  /* network order; all zero = no IPv6 address: native IPv6 is not redirected */
	__u16 outbound_port; /* host order, 15001 */
	__u16 guard_lo;    /* host order: the app may not bind ports guard_lo..guard_hi (15000..15006) */
	__u16 guard_hi;
	__u16 pad;
};

/* An address as IPv6 (IPv4 as ::ffff:a.b.c.d) and a port in host order: one key shape for both families. */
struct nsg_addr {
	__u32 ip[4];
	__u16 port;
	__u16 family; /* of the original destination: NSG_AF_INET or NSG_AF_INET6 */
};

/* A TCP connection as seen from the socket that owns it: local then remote. */
struct nsg_pair {
	__u32 lip[4];
	__u32 rip[4];
	__u16 lport; /* host order */
	__u16 rport;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nsg_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsg_config SEC(".maps");

/* socket cookie of an app socket that connect4/6 redirected -> its original destination.
 * Written by connect, read by sockops (to fill nsg_orig) and by getpeername; deleted when the socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nsg_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsg_cookie_dst SEC(".maps");

/* The app socket's (local, remote) pair once established -> original destination. The sidecar's accepted socket
 * sees the same pair reversed, so getsockopt(SO_ORIGINAL_DST) finds it there. Deleted when the app socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct nsg_pair);
	__type(value, struct nsg_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsg_orig SEC(".maps");

/* Local sockets of the pod (both ends in the pod) keyed by their own (local, remote) pair: sk_msg redirects what
 * one socket sends straight into its peer's receive queue. The kernel deletes an entry when its socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct nsg_pair);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nsg_socks SEC(".maps");

static __always_inline struct nsg_config *nsg_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&nsg_config, &zero);
}

static __always_inline void nsg_v4mapped(__u32 ip[4], __u32 v4)
{
	ip[0] = 0;
	ip[1] = 0;
	ip[2] = bpf_htonl(0x0000ffff);
	ip[3] = v4;
}

static __always_inline int nsg_is_v4mapped(const __u32 ip[4])
{
	return ip[0] == 0 && ip[1] == 0 && ip[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int nsg_is_loopback4(__u32 v4)
{
	return (bpf_ntohl(v4) >> 24) == 127;
}
