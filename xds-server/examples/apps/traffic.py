#!/usr/bin/env python3
"""Tiny lab apps: HTTP and TCP servers, and a client that keeps calling a set of targets.

  traffic.py http PORT               HTTP server answering every GET with 200 and its hostname
  traffic.py tcp PORT                TCP echo server (one line in, the same line out)
  traffic.py udp PORT                UDP echo server (every datagram is sent back)
  traffic.py call [--every S] [--count N] [--timeout S] TARGET...
                                     TARGET is http://HOST:PORT/PATH, tcp://HOST:PORT, udp://HOST:PORT (a datagram
                                     that must come back), icmp://HOST (one echo request, over an ICMP ping socket),
                                     dns://NAME (a lookup through the system resolver) or dns://NAME@SERVER (one A query
                                     sent straight to SERVER:53, whose answer must come back); each round calls every
                                     target once; failures are printed and do not stop the loop. An IPv6 HOST is
                                     written [ADDRESS] (icmp://[fd00::1] too). Servers take IPv4 and IPv6 alike.
Standard library only, so every pod can run it without installing anything.
"""
import http.server
import socket
import socketserver
import sys
import time
import urllib.request


class Http(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (socket.gethostname() + " " + self.path + "\n").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


def dual_stack():
    """Whether this host can listen on [::] (IPv6 on): servers then take IPv4 and IPv6 on one socket."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class DualStack:
    """A server bound to [::] with IPV6_V6ONLY off (IPv4 clients arrive as ::ffff:a.b.c.d), or 0.0.0.0 without IPv6."""
    address_family = socket.AF_INET6 if dual_stack() else socket.AF_INET

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def any_address():
    return "::" if DualStack.address_family == socket.AF_INET6 else "0.0.0.0"


class Threaded(DualStack, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadedUdp(DualStack, socketserver.ThreadingUDPServer):
    pass


def host_port(rest):
    """HOST:PORT or [IPV6]:PORT → (host, port)"""
    host, port = rest.rsplit(":", 1)
    return host.strip("[]"), int(port)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def call(target, timeout=3.0):
    if target.startswith("http://"):
        with urllib.request.urlopen(target, timeout=timeout) as r:
            r.read()
            return r.status
    if target.startswith("tcp://"):
        host, port = host_port(target[len("tcp://"):])
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"ping\n")
            data = s.makefile().readline()
            if data != "ping\n":
                raise IOError("bad echo: %r" % data)
            return "ok"
    if target.startswith("udp://"):
        host, port = host_port(target[len("udp://"):])
        with socket.socket(family(host), socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((host, port))
            s.send(b"ping\n")
            if s.recv(2048) != b"ping\n":
                raise IOError("bad udp echo")
            return "ok"
    if target.startswith("icmp://"):
        host = target[len("icmp://"):].strip("[]")
        v6 = ":" in host
        # an ICMP ping socket (net.ipv4.ping_group_range, for ICMPv6 too), as an unprivileged container app has: no
        # raw socket and no setcap'd ping, which no_new_privs refuses to execute; the kernel fills in the identifier
        # (and, for ICMPv6, the checksum)
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        with socket.socket(family(host), socket.SOCK_DGRAM, proto) as s:
            s.settimeout(timeout)
            s.connect((host, 0))
            body = bytes([128 if v6 else 8, 0, 0, 0, 0, 0, 0, 1]) + b"nanoseg"
            csum = sum(body[i] << 8 | body[i + 1] for i in range(0, len(body) - 1, 2)) + (body[-1] << 8 if len(body) % 2 else 0)
            while csum >> 16:
                csum = (csum & 0xFFFF) + (csum >> 16)
            csum = ~csum & 0xFFFF
            s.send(body[:2] + bytes([csum >> 8, csum & 0xFF]) + body[4:])
            reply = s.recv(2048)
            if not reply or reply[0] != (129 if v6 else 0):
                raise IOError("no echo reply from %s" % host)
        return "ok"
    if target.startswith("dns://"):
        name, _, server = target[len("dns://"):].partition("@")
        if not server:
            # the system resolver (the pod's /etc/resolv.conf), as any app's lookup
            return socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
        # one A query straight to SERVER:53, as an app that ignores its resolver would send it
        qid = int(time.time() * 1000) & 0xFFFF
        labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p)
        query = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((server, 53))
            s.send(query)
            reply = s.recv(4096)
            if reply[:2] != query[:2]:
                raise IOError("no answer from %s" % server)
        return "ok"
    raise ValueError("unknown target " + target)


class UdpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


def main(argv):
    if len(argv) >= 2 and argv[0] == "http":
        Threaded((any_address(), int(argv[1])), Http).serve_forever()
    elif len(argv) >= 2 and argv[0] == "tcp":
        Threaded((any_address(), int(argv[1])), Echo).serve_forever()
    elif len(argv) >= 2 and argv[0] == "udp":
        ThreadedUdp((any_address(), int(argv[1])), UdpEcho).serve_forever()
    elif argv and argv[0] == "call":
        every, count, timeout, targets, i = 1.0, 0, 3.0, [], 1
        while i < len(argv):
            if argv[i] == "--every":
                every = float(argv[i + 1]); i += 2
            elif argv[i] == "--count":
                count = int(argv[i + 1]); i += 2
            elif argv[i] == "--timeout":
                timeout = float(argv[i + 1]); i += 2
            else:
                targets.append(argv[i]); i += 1
        n, failed = 0, 0
        while count == 0 or n < count:
            for t in targets:
                try:
                    call(t, timeout)
                except Exception as e:  # keep calling: a lab app must survive its peers restarting
                    failed += 1
                    print("call %s failed: %s" % (t, e), file=sys.stderr, flush=True)
            n += 1
            if count == 0 or n < count:
                time.sleep(every)
        sys.exit(1 if failed else 0)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
