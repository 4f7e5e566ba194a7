/* sockops (pod cgroup: app and sidecar): records the original destination of a redirected app socket under its
 * address pair (for getsockopt), puts local sockets into nsg_socks (the sk_msg fast path) when enabled, and
 * forgets a redirected socket when it closes. */
#include "common.h"

static __always_inline void pair_of(struct bpf_sock_ops *s, struct nsg_pair *p)
{
	if (s->family == NSG_AF_INET) {
		nsg_v4mapped(p->lip, s->local_ip4);
		nsg_v4mapped(p->rip, s->remote_ip4);
	} else {
		p->lip[0] = s->local_ip6[0];
		p->lip[1] = s->local_ip6[1];
		p->lip[2] = s->local_ip6[2];
		p->lip[3] = s->local_ip6[3];
		p->rip[0] = s->remote_ip6[0];
		p->rip[1] = s->remote_ip6[1];
		p->rip[2] = s->remote_ip6[2];
		p->rip[3] = s->remote_ip6[3];
	}
	p->lport = (__u16)s->local_port;
	p->rport = (__u16)bpf_ntohl(s->remote_port);
}

static __always_inline int same_host(const struct nsg_pair *p)
{
	return p->lip[0] == p->rip[0] && p->lip[1] == p->rip[1] && p->lip[2] == p->rip[2] && p->lip[3] == p->rip[3];
}

SEC("sockops")
int nsg_sockops(struct bpf_sock_ops *skops)
{
	if (skops->family != NSG_AF_INET && skops->family != NSG_AF_INET6)
		return 0;
	struct nsg_config *cfg = nsg_cfg();
	if (!cfg)
		return 0;
	__u32 op = skops->op;
	struct nsg_pair p = {};
	__u64 cookie;
	struct nsg_addr *o;
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		cookie = bpf_get_socket_cookie(skops);
		if (bpf_map_lookup_elem(&nsg_cookie_dst, &cookie))
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		pair_of(skops, &p);
		cookie = bpf_get_socket_cookie(skops);
		o = bpf_map_lookup_elem(&nsg_cookie_dst, &cookie);
		if (o) {
			struct nsg_addr copy = *o;
			bpf_map_update_elem(&nsg_orig, &p, &copy, BPF_ANY);
		}
		if ((cfg->flags & NSG_F_SOCKMAP) && same_host(&p))
			bpf_sock_hash_update(skops, &nsg_socks, &p, BPF_NOEXIST);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		pair_of(skops, &p);
		if ((cfg->flags & NSG_F_SOCKMAP) && same_host(&p))
			bpf_sock_hash_update(skops, &nsg_socks, &p, BPF_NOEXIST);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE) {
			pair_of(skops, &p);
			cookie = bpf_get_socket_cookie(skops);
			bpf_map_delete_elem(&nsg_orig, &p);
			bpf_map_delete_elem(&nsg_cookie_dst, &cookie);
		}
		break;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
