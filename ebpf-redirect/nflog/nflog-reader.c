// nflog-reader: prints the packets nftables logs to one NFLOG group (`log group N`), one line each, for the kernel
// enforcement point (xds-server/src/kernel/). Raw netlink, no library; run it inside the network namespace whose
// rules log (the lab: `ip netns exec nsg-lab nflog-reader 15`).
//
// Output, tab separated, one line per packet:
//   P <prefix> <l4proto number> <src> <dst> <sport> <dport> <icmp type> <icmp id>
// (ports 0 for protocols without them; icmp type/id -1 for non-icmp), and, when the kernel could not deliver some
// messages (the socket buffer overflowed), a line
//   L <count>
// with the number lost, counted exactly from the gaps in NFLOG's per-instance sequence numbers (NFULNL_CFG_F_SEQ)
// or, when the kernel only says ENOBUFS, `L ?`. stdout is flushed after every batch read from the socket.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (1 << 20)
#define RCVBUF (64 << 20)

static int sock_fd = -1;
static uint32_t nl_seq = 1;

static void put_attr(struct nlmsghdr *nlh, uint16_t type, const void *data, uint16_t len) {
  struct nlattr *a = (struct nlattr *)((char *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  memcpy((char *)a + NLA_HDRLEN, data, len);
  nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static int config(uint16_t group, uint8_t family, const void *attrs_fn_data, int kind) {
  char buf[256] = {0};
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = nl_seq++;
  struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(nlh);
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = htons(group);
  (void)attrs_fn_data;
  if (kind == 0) {
    struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
    put_attr(nlh, NFULA_CFG_CMD, &cmd, sizeof cmd);
  } else {
    struct nfulnl_msg_config_mode mode = {.copy_range = htonl(96), .copy_mode = NFULNL_COPY_PACKET};
    put_attr(nlh, NFULA_CFG_MODE, &mode, sizeof mode);
    uint16_t flags = htons(NFULNL_CFG_F_SEQ);
    put_attr(nlh, NFULA_CFG_FLAGS, &flags, sizeof flags);
    uint32_t qthresh = htonl(64);
    put_attr(nlh, NFULA_CFG_QTHRESH, &qthresh, sizeof qthresh);
    uint32_t timeout = htonl(1); /* 1/100 s: batches go out at least every 10 ms */
    put_attr(nlh, NFULA_CFG_TIMEOUT, &timeout, sizeof timeout);
    uint32_t nlbuf = htonl(128 * 1024);
    put_attr(nlh, NFULA_CFG_NLBUFSIZ, &nlbuf, sizeof nlbuf);
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock_fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
  char ack[1024];
  ssize_t n = recv(sock_fd, ack, sizeof ack, 0);
  if (n < 0) return -1;
  struct nlmsghdr *r = (struct nlmsghdr *)ack;
  if (r->nlmsg_type == NLMSG_ERROR) {
    struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(r);
    if (e->error != 0) {
      errno = -e->error;
      return -1;
    }
  }
  return 0;
}

static void packet(struct nlmsghdr *nlh, int64_t *expected) {
  struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(nlh);
  int len = nlh->nlmsg_len - NLMSG_LENGTH(sizeof *g);
  struct nlattr *a = (struct nlattr *)((char *)g + NLMSG_ALIGN(sizeof *g));
  const char *prefix = "";
  const unsigned char *payload = NULL;
  int plen = 0;
  int64_t seq = -1;
  while (len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
    void *d = (char *)a + NLA_HDRLEN;
    int dl = a->nla_len - NLA_HDRLEN;
    switch (a->nla_type & NLA_TYPE_MASK) {
      case NFULA_PREFIX:
        prefix = (const char *)d;
        break;
      case NFULA_PAYLOAD:
        payload = d;
        plen = dl;
        break;
      case NFULA_SEQ:
        if (dl >= 4) seq = ntohl(*(uint32_t *)d);
        break;
    }
    len -= NLA_ALIGN(a->nla_len);
    a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
  }
  if (seq >= 0) {
    if (*expected >= 0 && seq > *expected) printf("L\t%lld\n", (long long)(seq - *expected));
    *expected = seq + 1;
  }
  if (payload == NULL || plen < 1) return;
  int version = payload[0] >> 4;
  int proto, hlen;
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  if (version == 4 && plen >= 20) {
    hlen = (payload[0] & 0x0f) * 4;
    proto = payload[9];
    inet_ntop(AF_INET, payload + 12, src, sizeof src);
    inet_ntop(AF_INET, payload + 16, dst, sizeof dst);
  } else if (version == 6 && plen >= 40) {
    /* extension headers are not walked: such a packet is reported with the first one's number, which the
     * control plane counts as an unknown protocol (TCP, UDP and ICMPv6 of the lab's apps carry none) */
    hlen = 40;
    proto = payload[6];
    inet_ntop(AF_INET6, payload + 8, src, sizeof src);
    inet_ntop(AF_INET6, payload + 24, dst, sizeof dst);
  } else {
    return;
  }
  const unsigned char *l4 = payload + hlen;
  int l4len = plen - hlen;
  int sport = 0, dport = 0, itype = -1, iid = -1;
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) && l4len >= 4) {
    sport = (l4[0] << 8) | l4[1];
    dport = (l4[2] << 8) | l4[3];
  } else if ((proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) && l4len >= 8) {
    itype = l4[0];
    iid = (l4[4] << 8) | l4[5];
  }
  printf("P\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\n", prefix, proto, src, dst, sport, dport, itype, iid);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s GROUP\n", argv[0]);
    return 2;
  }
  uint16_t group = (uint16_t)atoi(argv[1]);
  signal(SIGPIPE, SIG_DFL);
  // dies with the control plane (kill -9 included): an orphan would keep the NFLOG group bound, and the control
  // plane's next reader could not bind it
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 0;
  sock_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (sock_fd < 0) {
    perror("nflog-reader: socket");
    return 1;
  }
  int rcv = RCVBUF;
  if (setsockopt(sock_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
    setsockopt(sock_fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(sock_fd, (struct sockaddr *)&local, sizeof local) < 0) {
    perror("nflog-reader: bind");
    return 1;
  }
  if (config(group, AF_UNSPEC, NULL, 0) < 0) {
    fprintf(stderr, "nflog-reader: cannot bind to NFLOG group %u: %s\n", group, strerror(errno));
    return 1;
  }
  if (config(group, AF_UNSPEC, NULL, 1) < 0) {
    fprintf(stderr, "nflog-reader: cannot configure NFLOG group %u: %s\n", group, strerror(errno));
    return 1;
  }
  fprintf(stderr, "nflog-reader: listening on group %u\n", group);
  static char buf[BUF_SIZE];
  static char out[1 << 20];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  int64_t expected = -1;
  for (;;) {
    ssize_t n = recv(sock_fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        printf("L\t?\n");
        fflush(stdout);
        continue;
      }
      perror("nflog-reader: recv");
      return 1;
    }
    for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (unsigned)n); nlh = NLMSG_NEXT(nlh, n)) {
      if (nlh->nlmsg_type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) packet(nlh, &expected);
    }
    if (fflush(stdout) != 0) return 0;
  }
}
