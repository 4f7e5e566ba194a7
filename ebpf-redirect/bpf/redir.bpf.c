/* sk_msg (attached to nsg_socks): what a local socket sends goes straight into its peer's receive queue, skipping
 * the loopback TCP/IP stack. The peer's key is this socket's pair reversed. When the peer is not in the map (it was
 * established before the programs, or the fast path is off) the helper fails and the data takes the normal path:
 * the program always returns SK_PASS, so nothing is ever dropped here. */
#include "common.h"

SEC("sk_msg")
int nsg_redir(struct sk_msg_md *msg)
{
	struct nsg_pair peer = {};
	if (msg->family == NSG_AF_INET) {
		nsg_v4mapped(peer.lip, msg->remote_ip4);
		nsg_v4mapped(peer.rip, msg->local_ip4);
	} else if (msg->family == NSG_AF_INET6) {
		peer.lip[0] = msg->remote_ip6[0];
		peer.lip[1] = msg->remote_ip6[1];
		peer.lip[2] = msg->remote_ip6[2];
		peer.lip[3] = msg->remote_ip6[3];
		peer.rip[0] = msg->local_ip6[0];
		peer.rip[1] = msg->local_ip6[1];
		peer.rip[2] = msg->local_ip6[2];
		peer.rip[3] = msg->local_ip6[3];
	} else {
		return SK_PASS;
	}
	peer.lport = (__u16)bpf_ntohl(msg->remote_port);
	peer.rport = (__u16)msg->local_port;
	bpf_msg_redirect_hash(msg, &nsg_socks, &peer, BPF_F_INGRESS);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
