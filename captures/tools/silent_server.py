#!/usr/bin/env python3
"""Accepts TCP, does exactly ONE recv() and then never answers.

Used two ways:
  * large_ch_silence: a middlebox that only looks at the first segment of the
    ClientHello (recv of at most --recv-size bytes), cannot parse it and goes
    silent.  The kernel still ACKs everything; no byte is ever sent back.
  * in_progress: a server that is slow to answer (the capture stops first).
The connection is closed (FIN) after --hold seconds, long after the client gave up.
"""
import argparse
import time

import tlsutil


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--recv-size", type=int, default=1448)
    ap.add_argument("--hold", type=float, default=20.0)
    args = ap.parse_args()

    def handle(conn, peer):
        data = conn.recv(args.recv_size)
        sni = tlsutil.parse_sni(data)
        tlsutil.log("silent", peer, "one recv:", len(data), "bytes; parsed sni:", sni,
                    "(record claims", int.from_bytes(data[3:5], "big") + 5 if len(data) >= 5 else 0, "bytes)")
        time.sleep(args.hold)
        tlsutil.close_fin(conn)

    tlsutil.serve(tlsutil.listen(args.port), handle, "silent")


if __name__ == "__main__":
    main()
