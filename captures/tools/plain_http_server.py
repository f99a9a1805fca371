#!/usr/bin/env python3
"""A plain-HTTP server that sits on the TLS port.

Like nginx and most HTTP servers, it answers bytes that are not an HTTP request
line (here: a TLS ClientHello, first byte 0x16) with "HTTP/1.1 400 Bad Request"
and closes.  (Python's own http.server does not send a status line in that case,
see --stdlib, which runs http.server instead.)
"""
import argparse
import http.server
import socket
import socketserver

import tlsutil

BODY = (b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
        b"<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stdlib", action="store_true", help="use python's http.server")
    args = ap.parse_args()

    if args.stdlib:
        class V6Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
            def server_bind(self):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()
        http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler,
                         ServerClass=V6Server, port=args.port, bind="::")
        return

    def handle(conn, peer):
        conn.settimeout(5)
        try:
            first = conn.recv(4096)
        except OSError:
            first = b""
        method = first.split(b" ", 1)[0]
        if method.isalpha() and method.isupper():
            status, body = "200 OK", b"plain http\r\n"
        else:
            status, body = "400 Bad Request", BODY
        tlsutil.log("plainhttp", peer, "first bytes", first[:6].hex(), "->", status)
        conn.sendall(("HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n" % (status, len(body))).encode() + body)
        tlsutil.close_fin(conn)

    tlsutil.serve(tlsutil.listen(args.port), handle, "plainhttp")


if __name__ == "__main__":
    main()
