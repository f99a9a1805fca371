#!/usr/bin/env python3
"""Threaded TLS server (openssl s_server serves one connection at a time): answers an HTTP GET
with a short 200 and closes; echoes anything else line by line until the client closes."""
import argparse
import socket
import socketserver
import ssl


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            tls = self.server.ctx.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            while True:
                data = tls.recv(4096)
                if not data:
                    break
                if data.startswith(b"GET "):
                    tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                    break
                tls.sendall(data)
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    srv = Server(("0.0.0.0", args.port), Handler)
    srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.ctx.load_cert_chain(args.cert, args.key)
    srv.serve_forever()


if __name__ == "__main__":
    main()
