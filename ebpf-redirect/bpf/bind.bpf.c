/* cgroup/bind4, cgroup/bind6 (app cgroup, in both capture modes): the app may not bind the sidecar's ports
 * (nsg_config guard_lo..guard_hi, 15000-15006), whatever its uid or capabilities: bind() fails with EPERM. */
#include "common.h"

static __always_inline int guard(struct bpf_sock_addr *ctx)
{
	struct nsg_config *cfg = nsg_cfg();
	if (!cfg || !(cfg->flags & NSG_F_BIND_GUARD))
		return 1;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	return port >= cfg->guard_lo && port <= cfg->guard_hi ? 0 : 1;
}

SEC("cgroup/bind4")
int nsg_bind4(struct bpf_sock_addr *ctx)
{
	return guard(ctx);
}

SEC("cgroup/bind6")
int nsg_bind6(struct bpf_sock_addr *ctx)
{
	return guard(ctx);
}

char LICENSE[] SEC("license") = "GPL";
