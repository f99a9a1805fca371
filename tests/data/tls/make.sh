#!/usr/bin/env bash
# Regenerates the TLS fixture streams in this directory from real OpenSSL handshakes on 127.0.0.1.
#
# Each <name>.bin holds the TCP payload of one connection in capture order, as a sequence of
#   1 byte direction (0 = client to server, 1 = server to client), 4 bytes big-endian length, payload
# (one entry per TCP segment with payload, as `tshark -z follow,tcp,raw` prints them).
# Needs: openssl, gnutls-cli, tcpdump, tshark, python3; run as a user allowed to capture on `lo`.
# Certificates are regenerated on every run (fixed names, fresh keys and dates).
set -euo pipefail
cd "$(dirname "$0")"
OUT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# --- a small EC PKI: root -> intermediate -> leaf, and an unrelated root -------------------------
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec root.key; ec inter.key; ec leaf.key; ec other.key
openssl req -x509 -new -key root.key -subj "/O=tlsautopsy/CN=Autopsy Test Root" -days 3650 \
  -addext basicConstraints=critical,CA:TRUE -out root.pem
openssl req -x509 -new -key other.key -subj "/O=Elsewhere/CN=Other Root" -days 3650 \
  -addext basicConstraints=critical,CA:TRUE -out other.pem
openssl req -new -key inter.key -subj "/O=tlsautopsy/CN=Autopsy Test Intermediate" -out inter.csr
printf 'basicConstraints=critical,CA:TRUE\n' > inter.ext
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 3650 \
  -extfile inter.ext -out inter.pem 2>/dev/null
openssl req -new -key leaf.key -subj "/O=tlsautopsy/CN=tls.example.test" -out leaf.csr
printf 'subjectAltName=DNS:tls.example.test,IP:127.0.0.1\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 825 \
  -extfile leaf.ext -out leaf.pem 2>/dev/null

# --- capture connections ---------------------------------------------------------------------------
# run NAME PORT "server args" "client args" ["client args of a second connection"]
# Client args starting with "gnutls " run gnutls-cli instead of openssl s_client.
# Captures one connection (or two, keeping the second: session resumption) and converts it.
run() {
  local name=$1 port=$2 sargs=$3 cargs=$4 cargs2=${5:-} naccept=1 stream=0
  if [ -n "$cargs2" ]; then naccept=2; stream=1; fi
  tcpdump -i lo -U -s 0 -w "$name.pcap" "tcp port $port" 2>/dev/null &
  local tpid=$!
  sleep 1
  # shellcheck disable=SC2086
  openssl s_server -accept "127.0.0.1:$port" -naccept "$naccept" -rev -cert leaf.pem -key leaf.key \
    -cert_chain inter.pem $sargs >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  for c in "$cargs" "$cargs2"; do
    [ -n "$c" ] || continue
    if [ "${c#gnutls }" != "$c" ]; then
      # shellcheck disable=SC2086
      (printf 'hello\n'; sleep 1) | timeout 10 gnutls-cli -p "$port" 127.0.0.1 \
        --sni-hostname tls.example.test --verify-hostname tls.example.test ${c#gnutls } \
        >/dev/null 2>&1 || true
    else
      # shellcheck disable=SC2086
      (printf 'hello\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
        -servername tls.example.test $c >/dev/null 2>&1 || true
    fi
  done
  sleep 0.5
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  kill -INT "$tpid" 2>/dev/null || true
  wait "$tpid" 2>/dev/null || true
  tshark -r "$name.pcap" -q -z "follow,tcp,raw,$stream" > "$name.follow"
  python3 - "$name.follow" "$OUT/$name.bin" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
out = bytearray()
started = False
for line in open(src):
    line = line.rstrip("\n")
    if line.startswith("Node 1:"):
        started = True
        continue
    if not started or not line.strip() or line.startswith("="):
        continue
    d = 1 if line.startswith("\t") else 0
    data = bytes.fromhex(line.strip())
    out += struct.pack(">BI", d, len(data)) + data
open(dst, "wb").write(out)
PY
  echo "$name: $(stat -c %s "$OUT/$name.bin") bytes"
}

run tls13_ok 44301 "-tls1_3" "-tls1_3 -CAfile root.pem"
run tls12_chain 44302 "-tls1_2" "-tls1_2 -CAfile root.pem"
run tls12_handshake_failure 44303 "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" \
  "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"
run tls13_protocol_version 44304 "-tls1_3" "-tls1_2"
run tls13_hrr 44305 "-tls1_3 -groups P-384" "-tls1_3 -groups X25519:P-384 -CAfile root.pem"
run tls12_unknown_ca 44306 "-tls1_2" "-tls1_2 -verify_return_error -CAfile other.pem"
run tls12_resumed 44307 "-tls1_2" "-tls1_2 -CAfile root.pem -sess_out sess.pem" \
  "-tls1_2 -CAfile root.pem -sess_in sess.pem"
run gnutls_tls13 44308 "" "gnutls --x509cafile=root.pem"
run gnutls_tls12 44309 "" "gnutls --x509cafile=root.pem --priority=NORMAL:-VERS-TLS1.3"
