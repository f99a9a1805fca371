#!/usr/bin/env python3
"""Explicit HTTP CONNECT proxy (like an enterprise proxy on port 3128).

--mode deny   answers 403 Forbidden to every CONNECT
--mode auth   answers 407 Proxy Authentication Required (with Proxy-Authenticate)
--mode allow  answers 200 and relays bytes to the target (--map NAME=IP resolves
              names, since there is no DNS in the test namespaces)
"""
import argparse
import socket

import tlsutil


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="::")
    ap.add_argument("--port", type=int, default=3128)
    ap.add_argument("--mode", choices=["deny", "auth", "allow"], required=True)
    ap.add_argument("--map", action="append", default=[], help="name=ip")
    args = ap.parse_args()
    names = dict(m.split("=", 1) for m in args.map)

    def refuse(conn, status, headers, body):
        """Answer and close at once (FIN in the same segment as the answer)."""
        data = ("HTTP/1.1 %s\r\n" % status).encode()
        for h in headers:
            data += (h + "\r\n").encode()
        data += ("Content-Length: %d\r\n\r\n" % len(body)).encode() + body
        tlsutil.send_and_close(conn, data)

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
        request = head.split(b"\r\n")[0].decode("latin-1")
        tlsutil.log("proxy", peer, repr(request), "mode", args.mode)
        if args.mode == "deny":
            refuse(conn, "403 Forbidden", ["Content-Type: text/plain", "Connection: close"],
                   b"Access to api.contoso.test is blocked by the Contoso proxy policy.\n")
            return
        if args.mode == "auth":
            refuse(conn, "407 Proxy Authentication Required",
                   ['Proxy-Authenticate: Basic realm="Contoso Proxy"', "Content-Type: text/plain",
                    "Connection: close"],
                   b"Proxy authentication required.\n")
            return
        target = request.split(" ")[1]
        host, port = target.rsplit(":", 1)
        host = names.get(host.strip("[]"), host.strip("[]"))
        up = socket.create_connection((host, int(port)), timeout=5)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        conn.settimeout(None)
        up.settimeout(None)
        tlsutil.relay(conn, up)

    tlsutil.serve(tlsutil.listen(args.port, args.listen), handle, "proxy")


if __name__ == "__main__":
    main()
