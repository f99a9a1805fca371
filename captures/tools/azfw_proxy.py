#!/usr/bin/env python3
"""Transparent SNI-filtering proxy, behaving like Azure Firewall application rules.

nft in the router redirects TCP to the server's port 443 to this process, so the
TCP session (SYN-ACK included) is terminated here, spoofing the server address.
It reads the ClientHello, extracts the SNI and, when the SNI is denied, closes the
connection without sending any TLS byte: with a FIN (--close fin) or a RST
(--close rst).  Allowed SNIs are relayed to the original destination (or to
--upstream, for a proxy reached directly, as `tlsautopsy probe`'s tests do).
"""
import argparse
import socket
import time

import tlsutil


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--close", choices=["fin", "rst"], default="fin")
    ap.add_argument("--deny", action="append", default=[], help="SNI to deny ('*' = all)")
    ap.add_argument("--first-segment", type=int, default=0, metavar="BYTES",
                    help="read only the first BYTES of the connection (one recv), like a "
                    "middlebox that inspects the first segment only: a ClientHello longer than "
                    "that cannot be parsed, and the connection goes silent")
    ap.add_argument("--upstream", help="HOST:PORT to relay allowed SNIs to (default: the "
                    "original destination of the redirected connection)")
    args = ap.parse_args()

    def handle(conn, peer):
        if args.first_segment:
            hello = conn.recv(args.first_segment)
            whole = len(hello) >= 5 and len(hello) >= 5 + int.from_bytes(hello[3:5], "big")
            if not whole:
                tlsutil.log("azfw", peer, "first segment", len(hello), "bytes: no whole "
                            "ClientHello, cannot read the SNI; silence")
                time.sleep(30)
                tlsutil.close_fin(conn)
                return
        else:
            hello = tlsutil.recv_record(conn)
        sni = tlsutil.parse_sni(hello)
        denied = "*" in args.deny or sni in args.deny or sni is None
        tlsutil.log("azfw", peer, "client hello", len(hello), "bytes, sni", sni,
                    "DENY" if denied else "allow")
        if denied:
            if args.close == "rst":
                tlsutil.close_rst(conn)
            else:
                tlsutil.close_fin(conn)
            return
        if args.upstream:
            host, _, port = args.upstream.rpartition(":")
            dst = (host.strip("[]"), int(port))
        else:
            dst = tlsutil.original_dst(conn)
        up = socket.create_connection(dst, timeout=5)
        up.sendall(hello)
        tlsutil.relay(conn, up)

    tlsutil.serve(tlsutil.listen(args.port), handle, "azfw")


if __name__ == "__main__":
    main()
