#!/usr/bin/env python3
"""Transparent relay that blocks 'on the certificate' (TLS 1.2).

nft redirects the client's TCP to the server port to this process.  It connects
to the original destination, forwards the ClientHello, relays the server's first
flight (ServerHello, Certificate, ServerKeyExchange, ServerHelloDone) back to the
client, then resets both TCP connections (SO_LINGER 0), as a device that
inspects the certificate and decides to block would.
"""
import argparse
import socket
import struct

import tlsutil


def read_first_flight(up, timeout=5.0):
    """Read records from the server until a ServerHelloDone (type 14) is seen."""
    up.settimeout(timeout)
    buf = b""
    while True:
        # parse complete records in buf looking for ServerHelloDone
        p, done = 0, False
        while p + 5 <= len(buf):
            rlen = struct.unpack("!H", buf[p + 3:p + 5])[0]
            if p + 5 + rlen > len(buf):
                break
            if buf[p] == 0x16:
                q = p + 5
                while q + 4 <= p + 5 + rlen:
                    mtype = buf[q]
                    mlen = int.from_bytes(buf[q + 1:q + 4], "big")
                    if mtype == 14:
                        done = True
                    q += 4 + mlen
            p += 5 + rlen
        if done:
            return buf, True
        try:
            chunk = up.recv(65536)
        except socket.timeout:
            return buf, False
        if not chunk:
            return buf, False
        buf += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    def handle(conn, peer):
        hello = tlsutil.recv_record(conn)
        dst = tlsutil.original_dst(conn)
        up = socket.create_connection(dst, timeout=5)
        up.sendall(hello)
        flight, complete = read_first_flight(up)
        tlsutil.log("relay", peer, "->", dst, "hello", len(hello), "sni", tlsutil.parse_sni(hello),
                    "server flight", len(flight), "bytes, ServerHelloDone seen:", complete)
        conn.sendall(flight)
        tlsutil.close_rst(up)
        tlsutil.close_rst(conn)

    tlsutil.serve(tlsutil.listen(args.port), handle, "relay")


if __name__ == "__main__":
    main()
