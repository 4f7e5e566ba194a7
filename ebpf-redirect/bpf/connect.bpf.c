/* cgroup/connect4, cgroup/connect6 (app cgroup): the app's outbound TCP goes to the sidecar's outbound listener.
 * The original destination is kept in nsg_cookie_dst under the socket's cookie. Loopback, and connections to the
 * sidecar's own ports on the pod address, are left alone. The sidecar is in another cgroup, so its own upstream
 * connections never pass here (no uid or mark test). */
#include "common.h"

static __always_inline int skip_port(const struct nsg_config *cfg, __u16 port)
{
	return port >= cfg->guard_lo && port <= cfg->guard_hi;
}

SEC("cgroup/connect4")
int nsg_connect4(struct bpf_sock_addr *ctx)
{
	struct nsg_config *cfg = nsg_cfg();
	if (!cfg || !(cfg->flags & NSG_F_REDIRECT) || ctx->type != NSG_SOCK_STREAM)
		return 1;
	__u32 dst = ctx->user_ip4;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (nsg_is_loopback4(dst) || dst == 0 || (dst == cfg->pod_ip4 && skip_port(cfg, port)))
		return 1;
	struct nsg_addr orig = { .port = port, .family = NSG_AF_INET };
	nsg_v4mapped(orig.ip, dst);
	__u64 cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&nsg_cookie_dst, &cookie, &orig, BPF_ANY) != 0)
		return 0; /* cannot remember where it was going: refuse rather than lose the destination */
	ctx->user_ip4 = cfg->pod_ip4;
	ctx->user_port = bpf_htons(cfg->outbound_port);
	return 1;
}

SEC("cgroup/connect6")
int nsg_connect6(struct bpf_sock_addr *ctx)
{
	struct nsg_config *cfg = nsg_cfg();
	if (!cfg || !(cfg->flags & NSG_F_REDIRECT) || ctx->type != NSG_SOCK_STREAM)
		return 1;
	struct nsg_addr orig = { .family = NSG_AF_INET6 };
	orig.ip[0] = ctx->user_ip6[0];
	orig.ip[1] = ctx->user_ip6[1];
	orig.ip[2] = ctx->user_ip6[2];
	orig.ip[3] = ctx->user_ip6[3];
	orig.port = bpf_ntohs((__u16)ctx->user_port);
	__u64 cookie = bpf_get_socket_cookie(ctx);
	if (nsg_is_v4mapped(orig.ip)) {
		/* a dual-stack socket to an IPv4 peer: same rules as connect4, target ::ffff:pod */
		if (nsg_is_loopback4(orig.ip[3]) || orig.ip[3] == 0 ||
		    (orig.ip[3] == cfg->pod_ip4 && skip_port(cfg, orig.port)))
			return 1;
		orig.family = NSG_AF_INET;
		if (bpf_map_update_elem(&nsg_cookie_dst, &cookie, &orig, BPF_ANY) != 0)
			return 0;
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = cfg->pod_ip4;
		ctx->user_port = bpf_htons(cfg->outbound_port);
		return 1;
	}
	/* native IPv6: ::1 and :: stay; without a pod IPv6 address there is no IPv6 listener to send it to */
	if ((orig.ip[0] | orig.ip[1] | orig.ip[2]) == 0 && (orig.ip[3] == 0 || orig.ip[3] == bpf_htonl(1)))
		return 1;
	if ((cfg->pod_ip6[0] | cfg->pod_ip6[1] | cfg->pod_ip6[2] | cfg->pod_ip6[3]) == 0)
		return 1;
	if (orig.ip[0] == cfg->pod_ip6[0] && orig.ip[1] == cfg->pod_ip6[1] && orig.ip[2] == cfg->pod_ip6[2] &&
	    orig.ip[3] == cfg->pod_ip6[3] && skip_port(cfg, orig.port))
		return 1;
	if (bpf_map_update_elem(&nsg_cookie_dst, &cookie, &orig, BPF_ANY) != 0)
		return 0;
	ctx->user_ip6[0] = cfg->pod_ip6[0];
	ctx->user_ip6[1] = cfg->pod_ip6[1];
	ctx->user_ip6[2] = cfg->pod_ip6[2];
	ctx->user_ip6[3] = cfg->pod_ip6[3];
	ctx->user_port = bpf_htons(cfg->outbound_port);
	return 1;
}

/* cgroup/getpeername4/6 (app cgroup): a redirected socket reports its original peer, not the sidecar. */
SEC("cgroup/getpeername4")
int nsg_getpeername4(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct nsg_addr *o = bpf_map_lookup_elem(&nsg_cookie_dst, &cookie);
	if (!o || o->family != NSG_AF_INET)
		return 1;
	ctx->user_ip4 = o->ip[3];
	ctx->user_port = bpf_htons(o->port);
	return 1;
}

SEC("cgroup/getpeername6")
int nsg_getpeername6(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct nsg_addr *o = bpf_map_lookup_elem(&nsg_cookie_dst, &cookie);
	if (!o)
		return 1;
	ctx->user_ip6[0] = o->ip[0];
	ctx->user_ip6[1] = o->ip[1];
	ctx->user_ip6[2] = o->ip[2];
	ctx->user_ip6[3] = o->ip[3];
	ctx->user_port = bpf_htons(o->port);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
