#!/usr/bin/env python3
"""Transparent HTTP filter answering like Azure Firewall when no rule matches.

nft redirects the client's TCP to port 80 of the server to this process.  It
reads the request head and answers, byte for byte in Azure Firewall's format:

    HTTP/1.1 470 status code 470
    Content-Type: text/plain; charset=utf-8
    HTTP  request from <src>:<port> to <host>:80. Url: <host><path>. Action: Deny.
    Reason: No rule matched. Proceeding with default action.
"""
import argparse
import email.utils

import tlsutil


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    def handle(conn, peer):
        conn.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ") if lines and lines[0] else ["GET", "/"]
        path = parts[1] if len(parts) > 1 else "/"
        host = next((l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("host:")), "")
        host = host.split(":")[0]
        dst_host, dst_port = tlsutil.original_dst(conn)
        body = ("HTTP  request from %s:%d to %s:%d. Url: %s%s. Action: Deny. "
                "Reason: No rule matched. Proceeding with default action."
                % (peer[0], peer[1], host or dst_host, dst_port, host or dst_host, path)).encode()
        resp = (b"HTTP/1.1 470 status code 470\r\n"
                b"Date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"\r\n" + body)
        tlsutil.log("http470", peer, lines[0] if lines else "", "->", dst_host, dst_port)
        conn.sendall(resp)
        tlsutil.close_fin(conn)

    tlsutil.serve(tlsutil.listen(args.port), handle, "http470")


if __name__ == "__main__":
    main()
