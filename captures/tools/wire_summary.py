#!/usr/bin/env python3
"""Usage: wire_summary.py FILE SERVER_PORT [DISPLAY_FILTER]

One-line, human readable summary of the TCP/TLS frames of a capture (via tshark).

    -> client to server, <- server to client; [ttl N] on packets coming from the
    server side; pure ACKs are counted but not listed.
"""
import subprocess
import sys

HS = {"1": "ClientHello", "2": "ServerHello", "4": "NewSessionTicket", "8": "EncryptedExtensions",
      "11": "Certificate", "12": "ServerKeyExchange", "13": "CertificateRequest",
      "14": "ServerHelloDone", "16": "ClientKeyExchange", "20": "Finished"}
ALERTS = {"0": "close_notify", "10": "unexpected_message", "20": "bad_record_mac", "21": "decryption_failed", "22": "record_overflow", "40": "handshake_failure", "41": "no_certificate",
          "43": "unsupported_certificate", "44": "certificate_revoked", "45": "certificate_expired",
          "47": "illegal_parameter", "49": "access_denied", "50": "decode_error", "51": "decrypt_error",
          "90": "user_canceled", "100": "no_renegotiation", "109": "missing_extension",
          "110": "unsupported_extension",
          "42": "bad_certificate", "46": "certificate_unknown", "48": "unknown_ca", "70": "protocol_version",
          "71": "insufficient_security", "80": "internal_error", "86": "inappropriate_fallback",
          "112": "unrecognized_name", "116": "certificate_required", "120": "no_application_protocol"}
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
FIELDS = ["frame.number", "ip.src", "ipv6.src", "ip.ttl", "ipv6.hlim", "tcp.srcport", "tcp.dstport",
          "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
          "tls.record.content_type", "tls.record.opaque_type", "tls.record.length", "tls.handshake.type", "tls.handshake.random", "tls.alert_message.desc",
          "http.request.method", "http.response.code", "icmp.type", "icmp.code", "icmpv6.type",
          "icmpv6.code", "tcp.analysis.retransmission", "tls.handshake.extensions_server_name",
          "tls.handshake.version", "tcp.reassembled_in",
          "vlan.id", "frame.protocols"]


def main(path, server_port, dfilter=None):
    cmd = ["tshark", "-r", path, "-o", "tcp.analyze_sequence_numbers:TRUE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    if dfilter:
        cmd += ["-Y", dfilter]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    tokens, acks = [], 0
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        src = (v["ip.src"] or v["ipv6.src"]).split(",")[0]
        ttl = v["ip.ttl"].split(",")[0] or v["ipv6.hlim"].split(",")[0]
        if v["icmp.type"] or v["icmpv6.type"]:
            kind = "ICMP %s/%s" % (v["icmp.type"].split(",")[0], v["icmp.code"].split(",")[0]) if v["icmp.type"] \
                else "ICMPv6 %s/%s" % (v["icmpv6.type"].split(",")[0], v["icmpv6.code"].split(",")[0])
            tokens.append("<- %s from %s [ttl %s]" % (kind, src, ttl))
            continue
        if not v["tcp.srcport"]:
            continue
        to_server = v["tcp.dstport"] == server_port
        arrow = "->" if to_server else "<-"
        flags = []
        if v["tcp.flags.syn"] == "1":
            flags.append("SYN" + (",ACK" if v["tcp.flags.ack"] == "1" else ""))
        if v["tcp.flags.reset"] == "1":
            flags.append("RST")
        if v["tcp.flags.fin"] == "1":
            flags.append("FIN")
        payload = []
        if v["http.request.method"]:
            payload.append("HTTP " + v["http.request.method"])
        if v["http.response.code"]:
            payload.append("HTTP " + v["http.response.code"])
        # plaintext records (content_type) always precede encrypted ones (opaque_type) in a frame
        types = [t for t in (v["tls.record.content_type"].split(",") + v["tls.record.opaque_type"].split(",")) if t]
        if types and not payload:
            hrr = HRR_RANDOM in v["tls.handshake.random"]
            hs = iter(v["tls.handshake.type"].split(",")) if v["tls.handshake.type"] else iter(())
            al = iter(v["tls.alert_message.desc"].split(",")) if v["tls.alert_message.desc"] else iter(())
            lens = v["tls.record.length"].split(",")
            for i, ct in enumerate(types):
                if ct == "22":
                    t = next(hs, None)
                    name = HS.get(t, "Handshake?") if t else "EncryptedHandshake"
                    if t == "2" and hrr:
                        name = "HelloRetryRequest"
                    payload.append(name)
                elif ct == "20":
                    payload.append("ChangeCipherSpec")
                elif ct == "21":
                    d = next(al, None)
                    payload.append("Alert(%s)" % ALERTS.get(d, d) if d else "EncryptedAlert")
                elif ct == "23":
                    payload.append("AppData(%s)" % (lens[i] if i < len(lens) else "?"))
        n = int(v["tcp.len"] or 0)
        if n and not payload:
            payload.append("segment(%d)" % n if v["tcp.reassembled_in"] else "data(%d)" % n)
        if not flags and not payload:
            acks += 1
            continue
        tok = arrow + " " + " ".join(flags + ([",".join(payload)] if payload else []))
        if v["tcp.analysis.retransmission"]:
            tok += " (retx)"
        if not to_server:
            tok += " [ttl %s]" % ttl
        tokens.append(tok)
    print(" · ".join(tokens) + ("  (+%d pure ACKs)" % acks if acks else ""))


if __name__ == "__main__":
    main(*sys.argv[1:4])
