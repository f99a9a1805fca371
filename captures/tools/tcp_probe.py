#!/usr/bin/env python3
"""TCP reachability probe (what Test-NetConnection / nc -z do):
connect, send nothing, close."""
import argparse
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--linger", type=float, default=0.2, help="seconds to stay connected")
    args = ap.parse_args()
    s = socket.create_connection((args.host, args.port), timeout=5)
    print("TcpTestSucceeded : True", s.getsockname(), "->", s.getpeername(), flush=True)
    time.sleep(args.linger)
    s.close()


if __name__ == "__main__":
    main()
