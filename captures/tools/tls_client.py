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
    ap.add_argument("--idle", type=float, default=0.0,
                    help="after the first line and its answer, stay silent N seconds, send the line again and report how the connection answers")
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.tls:
        v = ssl.TLSVersion.TLSv1_2 if args.tls == "1.2" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
    raw = socket.create_connection((args.host, args.port), timeout=5)
    tls = ctx.wrap_socket(raw, server_hostname=args.sni)
    print("handshake ok:", tls.version(), tls.cipher()[0], flush=True)
    if args.idle:
        idle_then_send(tls, raw, args)
        return
    deadline = time.monotonic() + args.duration
    n = 0
    while True:
        try:
            tls.sendall(args.line.encode())
        except OSError as e:  # reset by the peer or the path
            print("after", n, "lines:", type(e).__name__, e, flush=True)
            break
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


def idle_then_send(tls, raw, args):
    """One line and its answer, silence, the line again: a path that times idle flows out answers it."""
    tls.sendall(args.line.encode())
    tls.settimeout(2.0)
    print("answer:", tls.recv(4096), flush=True)
    time.sleep(args.idle)
    try:
        tls.sendall(args.line.encode())
        print("after the idle period:", tls.recv(4096), flush=True)
    except OSError as e:  # ConnectionResetError, or an SSL error wrapping it
        print("after the idle period:", type(e).__name__, e, flush=True)
    raw.close()


if __name__ == "__main__":
    main()
