#!/usr/bin/env python3
"""Reads the ClientHello and answers with a TCP RST, no TLS alert.

This is what Windows SChannel (IIS, RDP, ...) does when the client offers no
protocol version the server accepts: it drops the connection abortively.
"""
import argparse
import struct

import tlsutil


def client_versions(hello):
    """Highest legacy_version of the record/ClientHello, for the log only."""
    if len(hello) < 11:
        return None
    return "record %04x hello %04x" % (struct.unpack("!H", hello[1:3])[0],
                                       struct.unpack("!H", hello[9:11])[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    def handle(conn, peer):
        hello = tlsutil.recv_record(conn)
        tlsutil.log("reset", peer, "client hello", len(hello), "bytes,",
                    client_versions(hello), "-> RST")
        tlsutil.close_rst(conn)

    tlsutil.serve(tlsutil.listen(args.port), handle, "reset")


if __name__ == "__main__":
    main()
