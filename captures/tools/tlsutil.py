"""Small helpers shared by the tlsautopsy capture middleboxes (stdlib only)."""
import socket
import struct
import time

SOL_IP = getattr(socket, "SOL_IP", 0)
SO_ORIGINAL_DST = 80          # linux/netfilter_ipv4.h
IP6T_SO_ORIGINAL_DST = 80     # linux/netfilter_ipv6/ip6_tables.h


def log(tag, *msg):
    print(time.strftime("%H:%M:%S"), tag, *msg, flush=True)


def listen(port, host="::", backlog=16):
    """Dual-stack listening socket (IPv4-mapped addresses accepted)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, port))
    s.listen(backlog)
    return s


def plain_addr(addr):
    """'::ffff:192.0.2.10' -> '192.0.2.10'."""
    host = addr[0]
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, addr[1]


def original_dst(conn):
    """Destination before nft 'redirect' rewrote it (IPv4 or IPv6)."""
    host, _ = plain_addr(conn.getsockname())
    if ":" not in host:
        raw = conn.getsockopt(SOL_IP, SO_ORIGINAL_DST, 16)
        port, ip = struct.unpack("!2xH4s8x", raw)
        return socket.inet_ntop(socket.AF_INET, ip), port
    raw = conn.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
    port, ip = struct.unpack("!2xH4x16s4x", raw)
    return socket.inet_ntop(socket.AF_INET6, ip), port


def recv_record(conn, timeout=5.0, limit=65536):
    """Read one complete TLS record (or whatever arrives before timeout/EOF)."""
    conn.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < limit:
            need = 5 if len(buf) < 5 else 5 + struct.unpack("!H", buf[3:5])[0]
            if len(buf) >= need and len(buf) >= 5:
                break
            chunk = conn.recv(need - len(buf))
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    return buf


def parse_sni(data):
    """Return the server_name of a ClientHello record, or None."""
    try:
        if len(data) < 5 or data[0] != 0x16:
            return None
        p = 5
        if data[p] != 1:            # handshake type client_hello
            return None
        p += 4                      # type + length
        p += 2 + 32                 # legacy_version + random
        p += 1 + data[p]            # session id
        p += 2 + struct.unpack("!H", data[p:p + 2])[0]   # cipher suites
        p += 1 + data[p]            # compression methods
        end = p + 2 + struct.unpack("!H", data[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", data[p:p + 4])
            p += 4
            if etype == 0:          # server_name
                q = p + 2
                ntype, nlen = data[q], struct.unpack("!H", data[q + 1:q + 3])[0]
                if ntype == 0:
                    return data[q + 3:q + 3 + nlen].decode("ascii", "replace")
            p += elen
    except (IndexError, struct.error):
        return None
    return None


def close_rst(conn):
    """Abortive close: SO_LINGER {on, 0s} makes close() send a RST."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        conn.close()


def close_fin(conn):
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def send_and_close(conn, data):
    """Send a final answer and close, with the FIN in the same segment as the data
    (TCP_CORK holds the data until shutdown() has queued the FIN)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    conn.sendall(data)
    close_fin(conn)


def relay(a, b, timeout=30.0):
    """Copy bytes both ways until both sides have closed (bounded)."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    open_dirs = 2
    deadline = time.monotonic() + timeout
    while open_dirs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            src, dst = key.fileobj, key.data
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if data:
                dst.sendall(data)
            else:
                sel.unregister(src)
                open_dirs -= 1
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    a.close()
    b.close()


def serve(lsock, handler, tag):
    """Accept forever, one thread per connection (the script kills us by PID)."""
    import threading
    while True:
        conn, peer = lsock.accept()
        log(tag, "accepted", plain_addr(peer))
        threading.Thread(target=handler, args=(conn, plain_addr(peer)), daemon=True).start()
