/* cgroup/getsockopt (sidecar cgroup): SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST on a socket the sidecar accepted
 * answer the app's original destination, so Envoy's original_dst listener filter works unchanged. The accepted
 * socket's (remote, local) pair is the app socket's (local, remote) pair that sockops recorded in nsg_orig. */
#include "common.h"

struct nsg_sockaddr_in {
	__u16 family;
	__u16 port;
	__u32 addr;
	__u8 zero[8];
};

struct nsg_sockaddr_in6 {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u32 addr[4];
	__u32 scope_id;
};

SEC("cgroup/getsockopt")
int nsg_getsockopt(struct bpf_sockopt *ctx)
{
	if (ctx->optname != NSG_SO_ORIGINAL_DST || (ctx->level != NSG_SOL_IP && ctx->level != NSG_SOL_IPV6))
		return 1;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 1;
	struct nsg_pair k = {};
	if (sk->family == NSG_AF_INET) {
		nsg_v4mapped(k.lip, sk->dst_ip4);
		nsg_v4mapped(k.rip, sk->src_ip4);
	} else if (sk->family == NSG_AF_INET6) {
		k.lip[0] = sk->dst_ip6[0];
		k.lip[1] = sk->dst_ip6[1];
		k.lip[2] = sk->dst_ip6[2];
		k.lip[3] = sk->dst_ip6[3];
		k.rip[0] = sk->src_ip6[0];
		k.rip[1] = sk->src_ip6[1];
		k.rip[2] = sk->src_ip6[2];
		k.rip[3] = sk->src_ip6[3];
	} else {
		return 1;
	}
	k.lport = bpf_ntohs(sk->dst_port);
	k.rport = sk->src_port;
	struct nsg_addr *o = bpf_map_lookup_elem(&nsg_orig, &k);
	if (!o)
		return 1;
	if (ctx->level == NSG_SOL_IP) {
		struct nsg_sockaddr_in *sa = ctx->optval;
		if (o->family != NSG_AF_INET || (void *)(sa + 1) > ctx->optval_end)
			return 1;
		sa->family = NSG_AF_INET;
		sa->port = bpf_htons(o->port);
		sa->addr = o->ip[3];
		__builtin_memset(sa->zero, 0, sizeof(sa->zero));
		ctx->optlen = sizeof(*sa);
	} else {
		struct nsg_sockaddr_in6 *sa6 = ctx->optval;
		if ((void *)(sa6 + 1) > ctx->optval_end)
			return 1;
		sa6->family = NSG_AF_INET6;
		sa6->port = bpf_htons(o->port);
		sa6->flowinfo = 0;
		sa6->addr[0] = o->ip[0];
		sa6->addr[1] = o->ip[1];
		sa6->addr[2] = o->ip[2];
		sa6->addr[3] = o->ip[3];
		sa6->scope_id = 0;
		ctx->optlen = sizeof(*sa6);
	}
	ctx->retval = 0;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
