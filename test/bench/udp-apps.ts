// The UDP apps the kernel benchmarks run in pods and externals: plain Python (standard library), written into
// bench-results/apps next to the HTTP apps, and the shapes of their results (flows.c, the flow generator, too).

/**
 * `python3 udp.py MODE …`, one JSON line of results where a mode has any:
 *   sink PORT [N]                   binds udp PORT … PORT+N-1 and never reads (the kernel counts and drops what a
 *                                   full buffer cannot take; nothing is echoed, no ICMP port unreachable is sent)
 *   tick HOST PORT SECONDS          one datagram every SECONDS from one socket, for ever: one flow, kept alive
 *   blast HOST PORT SECONDS         datagrams (64 bytes) as fast as one socket sends them, for SECONDS:
 *                                   {"sent", "errors", "seconds", "perSecond"}
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
else:
    sys.exit('usage: udp.py sink|tick|blast ...')
`;

export interface BlastResult {
  sent: number;
  errors: number;
  seconds: number;
  perSecond: number;
}

/** flows.c's line */
export interface FlowsResult extends BlastResult {
  /** the most datagrams the generator was behind its schedule at once (how bursty its pacing was) */
  behindMax: number;
}
