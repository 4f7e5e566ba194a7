// The UDP apps the kernel benchmarks run in pods and externals: plain Python (standard library), written into
// bench-results/apps next to the HTTP apps, and the shapes of their results.

/**
 * `python3 udp.py MODE …`, one JSON line of results where a mode has any:
 *   sink PORT [N]                   binds udp PORT … PORT+N-1 and never reads (the kernel counts and drops what a
 *                                   full buffer cannot take; nothing is echoed, no ICMP port unreachable is sent)
 *   tick HOST PORT SECONDS          one datagram every SECONDS from one socket, for ever: one flow, kept alive
 *   blast HOST PORT SECONDS         datagrams (64 bytes) as fast as one socket sends them, for SECONDS:
 *                                   {"sent", "errors", "seconds", "perSecond"}
 *   flows HOST PORT N RATE SECONDS OFFSET
 *                                   (root: a raw socket) RATE new flows a second for SECONDS, each one datagram
 *                                   with its own 5-tuple: source port 1024…65535, then the next of the N
 *                                   destination ports from PORT; tuple OFFSET first (successive runs pass the
 *                                   previous sent total, so no tuple repeats while conntrack remembers it):
 *                                   {"sent", "errors", "seconds", "perSecond", "behindMax"}
 */
export const UDP_PY = `import json, socket, struct, sys, time
mode = sys.argv[1]
a = sys.argv[2:]
now = time.monotonic
if mode == 'sink':
    socks = []
    for p in range(int(a[0]), int(a[0]) + (int(a[1]) if len(a) > 1 else 1)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', p))
        socks.append(s)
    while True:
        time.sleep(3600)
elif mode == 'tick':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        try:
            s.sendto(b'tick', (a[0], int(a[1])))
        except OSError:
            pass
        time.sleep(float(a[2]))
elif mode == 'blast':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((a[0], int(a[1])))
    payload = b'x' * 64
    sent = errors = 0
    t0 = now()
    end = t0 + float(a[2])
    while True:
        for _ in range(256):
            try:
                s.send(payload)
                sent += 1
            except OSError:
                errors += 1
        if now() >= end:
            break
    secs = now() - t0
    print(json.dumps({'sent': sent, 'errors': errors, 'seconds': secs, 'perSecond': sent / secs}))
elif mode == 'flows':
    host, port, nports, rate, seconds, offset = a[0], int(a[1]), int(a[2]), float(a[3]), float(a[4]), int(a[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    span = 65536 - 1024
    total = int(rate * seconds)
    if offset + total > span * nports:
        sys.exit('flows: not enough distinct tuples for %d more after %d' % (total, offset))
    payload = b'flow'
    sent = errors = 0
    behind = 0
    t0 = now()
    while sent < total:
        due = min(total, int((now() - t0) * rate) + 1)
        behind = max(behind, due - sent)
        while sent < due:
            k = offset + sent
            pkt = struct.pack('!HHHH', 1024 + k % span, port + k // span, 8 + len(payload), 0) + payload
            try:
                s.sendto(pkt, (host, 0))
            except OSError:
                errors += 1
            sent += 1
        ahead = sent / rate - (now() - t0)
        if ahead > 0.001:
            time.sleep(ahead - 0.0005)  # in ~1 ms batches: a sleep per datagram would cap the rate
    secs = now() - t0
    print(json.dumps({'sent': sent, 'errors': errors, 'seconds': secs, 'perSecond': sent / secs, 'behindMax': behind}))
else:
    sys.exit('usage: udp.py sink|tick|blast|flows ...')
`;

export interface BlastResult {
  sent: number;
  errors: number;
  seconds: number;
  perSecond: number;
}

export interface FlowsResult extends BlastResult {
  /** the most datagrams the generator was behind its schedule at once (how bursty its pacing was) */
  behindMax: number;
}
