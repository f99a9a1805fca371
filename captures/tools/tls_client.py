#!/usr/bin/env python3
"""Python ssl client: handshake, optionally send lines for a while, close."""
import argparse
import socket
import ssl
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--sni", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--tls", choices=["1.2", "1.3"], default=None)
    ap.add_argument("--duration", type=float, default=0.0, help="keep sending for N seconds")
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--line", default="GET / tlsautopsy\n")
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.tls:
        v = ssl.TLSVersion.TLSv1_2 if args.tls == "1.2" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
    raw = socket.create_connection((args.host, args.port), timeout=5)
    tls = ctx.wrap_socket(raw, server_hostname=args.sni)
    print("handshake ok:", tls.version(), tls.cipher()[0], flush=True)
    deadline = time.monotonic() + args.duration
    n = 0
    while True:
        tls.sendall(args.line.encode())
        n += 1
        try:
            tls.settimeout(args.interval if args.duration else 1.0)
            tls.recv(4096)
        except (socket.timeout, ssl.SSLError):
            pass
        if time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    print("sent", n, "lines", flush=True)
    try:
        tls.unwrap()
    except (ssl.SSLError, OSError):
        pass
    raw.close()


if __name__ == "__main__":
    main()
