#!/usr/bin/env bash
# Regenerates the tlsautopsy test captures (captures/*.pcap, *.pcapng), expected.tsv
# and README.md, from real programs talking through three network namespaces:
#
#   cli (client)  <-veth->  fw (router: forwarding, nftables, python middleboxes)  <-veth->  srv (servers)
#
# Run as root:  sudo captures/make.sh            (all scenarios, ~4 minutes)
#               sudo ONLY="tls13_ok hrr" captures/make.sh   (some scenarios; expected.tsv
#                                                 and README.md are then not rewritten)
#
# Traffic only ever flows inside the namespaces created here, between documentation
# addresses (192.0.2.0/24, 198.51.100.0/24, 2001:db8:1::/64, 2001:db8:2::/64).
# Every background process is started here, recorded by PID and stopped by PID; the
# namespaces are deleted on exit (trap), so the script can be re-run at will.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=$HERE/tools
OUT=${OUT:-$HERE}
ONLY=${ONLY:-}

# ----------------------------------------------------------------------------- prerequisites
need_cmds=(ip:iproute2 ss:iproute2 nft:nftables tcpdump:tcpdump tshark:tshark dumpcap:wireshark-common
           editcap:wireshark-common mergecap:wireshark-common capinfos:wireshark-common
           openssl:openssl gnutls-serv:gnutls-bin curl:curl python3:python3 socat:socat
           ethtool:ethtool timeout:coreutils)
missing=()
for nc in "${need_cmds[@]}"; do
    command -v "${nc%%:*}" >/dev/null 2>&1 || missing+=("${nc#*:}")
done
if ((${#missing[@]})); then
    echo "missing programs; install them with:" >&2
    echo "  apt-get install -y $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')" >&2
    exit 1
fi
if [[ $(id -u) != 0 ]]; then
    echo "run as root (network namespaces, nftables, packet capture): sudo $0" >&2
    exit 1
fi
# Debian's python3 (stdlib only); a pyenv shim would add a process between us and the PID.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

# ----------------------------------------------------------------------------- names and addresses
CLI=cli FW=fw SRV=srv
CRLHOST=crl.contoso.test   # resolved in the cli namespace by /etc/netns/cli/hosts (revocation_blocked only)
C4=192.0.2.10          R4C=192.0.2.1        R4S=198.51.100.1     S4=198.51.100.20
C6=2001:db8:1::10      R6C=2001:db8:1::1    R6S=2001:db8:2::1    S6=2001:db8:2::20
# raw-IP tunnel (TUN devices, socat over UDP between cli and fw) and the 802.1Q trunk
CT=192.0.2.70          RT=192.0.2.65        ST=198.51.100.21     # server address routed via the tunnel
CV=192.0.2.130         RV=192.0.2.129       SV=198.51.100.22     # server address routed via the VLAN
AZ=global.handler.control.monitor.azure.com
API=api.contoso.test

WORK=$(mktemp -d /tmp/tlsautopsy-captures.XXXXXX)
LOGS=$WORK/logs
PKI=$WORK/pki
WWW=$WORK/www
mkdir -p "$LOGS" "$PKI" "$WWW"
PIDS=()
ROWS=()        # expected.tsv rows
DOC=()         # README rows: file|port|server|nth|stream|verdict columns...|programs|note
FILES=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() {   # running and not a zombie
    [[ -r /proc/$1/stat ]] || return 1
    local st; st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $st != Z && $st != X ]]
}

stop_pid() {   # stop_pid PID [signal]: signal, wait <=3 s, then SIGKILL; always reaps
    local pid=$1 sig=${2:-TERM} i
    [[ -n $pid ]] || return 0
    kill -s "$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null || true
    done
    for ns in $CLI $FW $SRV; do ip netns del "$ns" 2>/dev/null || true; done
    [[ -n ${NETNS_ETC:-} ]] && rm -rf "$NETNS_ETC"
    if ((rc)); then
        log "failed (rc=$rc); logs kept in $LOGS"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background programs read their stdin from a FIFO that never delivers data nor EOF
# (openssl s_server shuts the connection down when its stdin reaches EOF).
HOLD=$WORK/hold
mkfifo "$HOLD"
exec 7<>"$HOLD"

# bg NAME NS CMD...: start CMD in namespace NS in the background; sets BG_PID.
bg() {
    local name=$1 ns=$2; shift 2
    ip netns exec "$ns" "$@" <"$HOLD" >"$LOGS/$name.log" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# run_client SECONDS NAME CMD...: run a client in the cli namespace, bounded; rc is logged, not fatal.
run_client() {
    local secs=$1 name=$2; shift 2
    local rc=0
    timeout -k 2 "$secs" ip netns exec $CLI "$@" </dev/null >"$LOGS/$name.client.log" 2>&1 || rc=$?
    echo "rc=$rc" >>"$LOGS/$name.client.log"
    log "  client $1 exited rc=$rc"
}

wait_listen() {   # wait_listen NS PORT: until something listens on PORT (<= 5 s)
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]] && return 0
        sleep 0.1
    done
    die "nothing listens on port $2 in namespace $1 (see $LOGS)"
}

# ----------------------------------------------------------------------------- capture helpers
# cap_start FILE NS IFACE FILTER [extra tcpdump options...]
cap_start() {
    local file=$1 ns=$2 ifc=$3 filter=$4; shift 4
    CAP_FILE=$OUT/$file
    rm -f "$CAP_FILE"
    ip netns exec "$ns" tcpdump -Z root --immediate-mode -n -i "$ifc" -w "$CAP_FILE" "$@" "$filter" \
        </dev/null >"$LOGS/$file.tcpdump.log" 2>&1 &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    wait_capture "$LOGS/$file.tcpdump.log" "listening on"
}

# dumpcap variant (pcapng): dcap_start FILE NS FILTER IFACE [IFACE...]
dcap_start() {
    local file=$1 ns=$2 filter=$3; shift 3
    CAP_FILE=$OUT/$file
    rm -f "$CAP_FILE"
    local args=() i
    for i in "$@"; do args+=(-i "$i" -f "$filter"); done
    ip netns exec "$ns" dumpcap -q -n "${args[@]}" -w "$CAP_FILE" </dev/null >"$LOGS/$file.dumpcap.log" 2>&1 &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    wait_capture "$LOGS/$file.dumpcap.log" "Capturing on"
}

wait_capture() {
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q "$2" "$1" 2>/dev/null && { sleep 0.2; return 0; }
        sleep 0.1
    done
    die "capture did not start: $(cat "$1")"
}

cap_stop() {   # let trailing packets arrive, then SIGINT the capture (it flushes and exits)
    sleep "${1:-0.7}"
    stop_pid "$CAP_PID" INT
    [[ -s $CAP_FILE ]] || die "empty capture $CAP_FILE"
    chmod 0644 "$CAP_FILE"       # dumpcap creates its files 0600
    FILES+=("$(basename "$CAP_FILE")")
}

fw_rules_reset() {
    ip netns exec $FW nft flush chain inet tlsautopsy c_pre
    ip netns exec $FW nft flush chain inet tlsautopsy c_fwd
}
fw_rule() {   # fw_rule CHAIN RULE...
    local chain=$1; shift
    ip netns exec $FW nft add rule inet tlsautopsy "$chain" "$@"
}

# ----------------------------------------------------------------------------- verification helpers
# check FILE FILTER MIN [MAX]: the capture must have MIN..MAX frames matching the display
# FILTER. Checks are collected and evaluated together by flush_checks (one tshark pass per
# file, with io,stat counting the frames of every filter), which row() calls.
PENDING=()
check() { PENDING+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"${4:-999999}"); }

flush_checks() {
    local files=() p f
    for p in "${PENDING[@]}"; do
        f=${p%%$'\t'*}
        [[ " ${files[*]} " == *" $f "* ]] || files+=("$f")
    done
    for f in "${files[@]}"; do
        local filters=() mins=() maxs=() fl mn mx
        for p in "${PENDING[@]}"; do
            [[ ${p%%$'\t'*} == "$f" ]] || continue
            IFS=$'\t' read -r _ fl mn mx <<<"$p"
            [[ $fl != *,* ]] || die "check filter must not contain a comma: $fl"
            filters+=("$fl"); mins+=("$mn"); maxs+=("$mx")
        done
        local spec counts i
        spec="io,stat,0$(printf ',%s' "${filters[@]}")"
        # the data line of the table: "| 0.000 <> 1.234 | frames | bytes | frames | bytes ..."
        counts=$(tshark -q -r "$OUT/$f" -z "$spec" 2>/dev/null |
                 awk -F'|' -v n=${#filters[@]} '/<>/ { s = ""; for (k = 0; k < n; k++) s = s " " ($(3 + 2 * k) + 0); print s }' |
                 tail -1) ||
            die "$f: tshark io,stat failed"
        read -r -a counts <<<"$counts"
        ((${#counts[@]} == ${#filters[@]})) || die "$f: could not evaluate checks (${#counts[@]} counts for ${#filters[@]} filters)"
        for i in "${!filters[@]}"; do
            if ((counts[i] < mins[i] || counts[i] > maxs[i])); then
                die "$f: expected ${mins[i]}..${maxs[i]} frames matching [${filters[i]}], found ${counts[i]}"
            fi
        done
    done
    PENDING=()
}

# conn_of FILE PORT K: for the K-th TCP connection (in order of first packet) that uses PORT,
# prints "SERVER NTH STREAM": the server side as "ip:port" / "[v6]:port" read from the capture,
# its 1-based rank among the connections to that same server, and tshark's tcp.stream index.
conn_of() {
    local f=$OUT/$1 port=$2 k=$3
    tshark -r "$f" -Y "tcp.port==$port" -T fields -E separator=, \
        -e tcp.stream -e tcp.srcport -e tcp.dstport -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst 2>/dev/null |
    awk -F, -v port="$port" -v k="$k" '
        seen[$1]++ { next }
        {
            if ($3 == port) { a = ($5 != "") ? $5 : "[" $7 "]" } else { a = ($4 != "") ? $4 : "[" $6 "]" }
            srv = a ":" port; n[srv]++; i++
            if (i == k) { print srv, n[srv], $1; found = 1; exit }
        }
        END { if (!found) exit 1 }'
}

# sni_of FILE STREAM: the SNI of the ClientHello in that TCP stream, or "-"
sni_of() {
    local s
    s=$(tshark -r "$OUT/$1" -Y "tcp.stream==$2 && tls.handshake.type==1" -T fields \
            -e tls.handshake.extensions_server_name 2>/dev/null | grep -v '^$' | head -1) || true
    echo "${s:--}"
}

# format_of FILE: "pcap (µs)" / "pcap (ns)" / "pcapng", and the LINKTYPE(s) read from the file header(s)
format_of() {
    $PY - "$OUT/$1" <<'PYEOF'
import struct, sys
NAMES = {1: "ETHERNET", 101: "RAW", 113: "LINUX_SLL", 276: "LINUX_SLL2"}
d = open(sys.argv[1], "rb").read()
magic = d[:4]
if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
    fmt = "pcap (ns)" if magic == b"\x4d\x3c\xb2\xa1" else "pcap (µs)"
    lts = [struct.unpack("<I", d[20:24])[0]]
else:
    fmt, lts, p = "pcapng", [], 0
    while p + 12 <= len(d):
        btype, blen = struct.unpack("<II", d[p:p + 8])
        if btype == 1:
            lts.append(struct.unpack("<H", d[p + 8:p + 10])[0])
        p += blen
print(fmt + "|" + " + ".join("%d %s" % (l, NAMES.get(l, "?")) for l in lts))
PYEOF
}

declare -A ALERT_CODE=([close_notify]=0 [unexpected_message]=10 [bad_record_mac]=20 [handshake_failure]=40
    [bad_certificate]=42 [certificate_unknown]=46 [illegal_parameter]=47 [unknown_ca]=48 [decode_error]=50
    [decrypt_error]=51 [protocol_version]=70 [insufficient_security]=71 [internal_error]=80
    [unrecognized_name]=112 [certificate_required]=116 [no_application_protocol]=120)

# row FILE PORT K OUTCOME CAUSE ENDED_BY ALERT SNI HTTP PROGRAMS NOTE
# K = which connection using PORT in the file (1 = first); SNI "auto" = read it from the
# capture (and require it to be there); "-" = require that the connection has none.
row() {
    local file=$1 port=$2 k=$3 outcome=$4 cause=$5 ended=$6 alert=$7 sni=$8 http=$9 progs=${10} note=${11}
    local info server nth stream
    info=$(conn_of "$file" "$port" "$k") || die "$file: no connection #$k on port $port"
    read -r server nth stream <<<"$info"
    local wire_sni; wire_sni=$(sni_of "$file" "$stream")
    if [[ $sni == auto ]]; then
        [[ $wire_sni != - ]] || die "$file: no SNI found in stream $stream"
        sni=$wire_sni
    elif [[ $sni != "$wire_sni" ]]; then
        die "$file: SNI on the wire is '$wire_sni', expected '$sni'"
    fi
    # the alert and HTTP columns, checked against this connection once more
    local in="tcp.stream==$stream"
    case $alert in
        -) check "$file" "$in && tls.alert_message.desc" 0 0 ;;
        encrypted)
            check "$file" "$in && $APPDATA && tls.record.length==19" 1
            check "$file" "$in && tls.alert_message.desc" 0 0 ;;
        *)  [[ -n ${ALERT_CODE[$alert]:-} ]] || die "$file: unknown alert name $alert"
            check "$file" "$in && tls.alert_message.desc==${ALERT_CODE[$alert]}" 1 ;;
    esac
    if [[ $http != - ]]; then check "$file" "$in && http.response.code==$http" 1 1; fi
    flush_checks
    ROWS+=("$file"$'\t'"$server"$'\t'"$nth"$'\t'"$outcome"$'\t'"$cause"$'\t'"$ended"$'\t'"$alert"$'\t'"$sni"$'\t'"$http"$'\t'"$note")
    DOC+=("$file|$port|$server|$nth|$stream|$outcome|$cause|$ended|$alert|$sni|$http|$progs|$note")
    log "  row: $file $server #$nth -> $outcome / $cause / $ended / alert=$alert sni=$sni http=$http"
}

# The usual per-direction helpers for display filters
from4() { echo "ip.src==$1"; }
from6() { echo "ipv6.src==$1"; }

# ----------------------------------------------------------------------------- topology
setup_topology() {
    local ns
    for ns in $CLI $FW $SRV; do ip netns del "$ns" 2>/dev/null || true; done
    for ns in $CLI $FW $SRV; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
            net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
    done
    ip netns exec $FW sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

    # cli eth0 <-> fw cli0 ; fw srv0 <-> srv eth0   (fixed, locally administered MACs)
    ip link add eth0 netns $CLI address 02:00:00:00:01:10 type veth peer name cli0 netns $FW address 02:00:00:00:01:01
    ip link add srv0 netns $FW address 02:00:00:00:02:01 type veth peer name eth0 netns $SRV address 02:00:00:00:02:20
    ip -n $CLI addr add $C4/26 dev eth0
    ip -n $CLI addr add $C6/64 dev eth0 nodad
    ip -n $FW addr add $R4C/26 dev cli0
    ip -n $FW addr add $R6C/64 dev cli0 nodad
    ip -n $FW addr add $R4S/24 dev srv0
    ip -n $FW addr add $R6S/64 dev srv0 nodad
    ip -n $SRV addr add $S4/24 dev eth0
    ip -n $SRV addr add $ST/32 dev eth0
    ip -n $SRV addr add $SV/32 dev eth0
    ip -n $SRV addr add $S6/64 dev eth0 nodad
    ip -n $CLI link set eth0 up
    ip -n $FW link set cli0 up
    ip -n $FW link set srv0 up
    ip -n $SRV link set eth0 up
    ip -n $CLI route add default via $R4C
    ip -n $CLI -6 route add default via $R6C
    ip -n $SRV route add default via $R4S
    ip -n $SRV -6 route add default via $R6S
    # no offloads: real MTU-sized segments and correct checksums in the captures
    local pair
    for pair in $CLI:eth0 $FW:cli0 $FW:srv0 $SRV:eth0; do
        ip netns exec "${pair%%:*}" ethtool -K "${pair#*:}" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    done

    # raw-IP link: TUN device in cli and in fw, socat carries the IP packets over UDP on the veth
    bg tun-fw $FW socat -d TUN:$RT/26,tun-name=tun0,iff-no-pi,iff-up UDP-DATAGRAM:$C4:7000,bind=$R4C:7000
    bg tun-cli $CLI socat -d TUN:$CT/26,tun-name=tun0,iff-no-pi,iff-up UDP-DATAGRAM:$R4C:7000,bind=$C4:7000
    local i
    for ((i = 0; i < 50; i++)); do
        ip -n $CLI link show tun0 >/dev/null 2>&1 && ip -n $FW link show tun0 >/dev/null 2>&1 && break
        sleep 0.1
    done
    ip -n $CLI link set tun0 mtu 1400
    ip -n $FW link set tun0 mtu 1400
    ip -n $CLI route add $ST/32 dev tun0 src $CT

    # 802.1Q trunk: taps carry IP, vlan_trunk.py tags/untags onto the veth pair trunk0 <-> trunk1
    ip link add trunk0 netns $CLI address 02:00:00:00:03:10 mtu 1504 type veth peer name trunk1 netns $FW address 02:00:00:00:03:01 mtu 1504
    for pair in $CLI:trunk0 $FW:trunk1; do
        ip -n "${pair%%:*}" link set "${pair#*:}" promisc on up
        ip netns exec "${pair%%:*}" ethtool -K "${pair#*:}" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    done
    bg vlan-cli $CLI $PY "$TOOLS/vlan_trunk.py" --tap vl0 --trunk trunk0 --vid 100
    bg vlan-fw $FW $PY "$TOOLS/vlan_trunk.py" --tap vl0 --trunk trunk1 --vid 100
    for ((i = 0; i < 50; i++)); do
        ip -n $CLI link show vl0 >/dev/null 2>&1 && ip -n $FW link show vl0 >/dev/null 2>&1 && break
        sleep 0.1
    done
    ip -n $CLI link set vl0 address 02:00:00:00:04:10 up
    ip -n $FW link set vl0 address 02:00:00:00:04:01 up
    ip -n $CLI addr add $CV/26 dev vl0
    ip -n $FW addr add $RV/26 dev vl0
    ip -n $CLI route add $SV/32 via $RV dev vl0 src $CV

    # nftables skeleton in the router; scenarios add/flush rules
    ip netns exec $FW nft -f - <<'NFT'
table inet tlsautopsy {
    chain c_pre { type nat hook prerouting priority dstnat; policy accept; }
    chain c_fwd { type filter hook forward priority filter; policy accept; }
}
NFT
    # routes exist for the plain, tunnel, VLAN and IPv6 paths
    for dst in $S4 $ST $SV $S6; do
        ip -n $CLI route get "$dst" >/dev/null || die "no route from cli to $dst"
    done
    log "topology up"
}

# ----------------------------------------------------------------------------- certificates
make_pki() {
    local o="openssl"
    cd "$PKI"
    cat >ca.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[tlsca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
    mkca() {   # mkca NAME "CN"
        $o req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 3650 -sha256 \
            -subj "/O=tlsautopsy tests/CN=$2" -extensions tlsca -config ca.cnf
    }
    mkleaf() {   # mkleaf NAME DNSNAME CA [EXTRA-EXTENSION-LINE]
        $o req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" -config ca.cnf
        printf '[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:%s\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n%s\n' "$2" "${4:-}" >"$1.ext"
        $o x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 825 -sha256 \
            -extfile "$1.ext" -extensions leaf -out "$1.pem"
    }
    mkca root "tlsautopsy Test Root CA"
    mkca inspect "Contoso TLS Inspection CA"
    mkleaf az $AZ root
    mkleaf api $API root
    mkleaf other other.example root
    mkleaf az-inspected $AZ inspect
    # a leaf whose CRL is published over HTTP, as public CAs publish theirs
    mkleaf az-crl $AZ root "crlDistributionPoints = URI:http://$CRLHOST/pki/root.crl"
    cat az-inspected.pem inspect.pem >az-inspected-chain.pem
    $o verify -CAfile root.pem az.pem api.pem >/dev/null
    ! $o verify -CAfile root.pem az-inspected.pem >/dev/null 2>&1
    echo "tlsautopsy ok" >"$WWW/ok.txt"
    cd "$HERE"
    log "certificates made"
}


# ----------------------------------------------------------------------------- scenario plumbing
SCEN_PIDS=()
# start_server NAME NS PORT CMD...: background server (or middlebox) that must listen on PORT
start_server() {
    local name=$1 ns=$2 port=$3; shift 3
    bg "$name" "$ns" "$@"
    SCEN_PIDS+=("$BG_PID")
    wait_listen "$ns" "$port"
}
scenario_end() {
    local p
    for p in "${SCEN_PIDS[@]}"; do stop_pid "$p"; done
    SCEN_PIDS=()
    fw_rules_reset
    # abort what is left of this scenario's TCP sockets (a client that gave up keeps
    # retransmitting its ClientHello+FIN for minutes), so it cannot leak into the next capture
    local ns
    for ns in $CLI $FW $SRV; do ip netns exec "$ns" ss -HtnK state connected >/dev/null 2>&1 || true; done
}
wanted() { [[ -z $ONLY ]] || [[ " $ONLY " == *" $1 "* ]]; }

CA=(--cacert "$PKI/root.pem")
S_AZ=(-cert "$PKI/az.pem" -key "$PKI/az.key")
S_API=(-cert "$PKI/api.pem" -key "$PKI/api.key")
S_INSPECTED=(-cert "$PKI/az-inspected.pem" -key "$PKI/az-inspected.key" -cert_chain "$PKI/inspect.pem")
# openssl s_server listening on 443 (v4+v6); -WWW serves $WWW/ok.txt for curl's GET
s_server() { start_server "$1" $SRV 443 openssl s_server -accept 443 -naccept 1 "${@:2}"; }
PORTF="tcp port 443"     # capture filter for the usual case
# a TLS application_data record (TLS 1.3 calls the outer type of encrypted records "opaque_type")
APPDATA="(tls.record.content_type==23 || tls.record.opaque_type==23)"
CURL=(curl -sS -v --connect-timeout 5 --max-time 10)

# ----------------------------------------------------------------------------- scenarios
# Each sc_* makes one capture (sometimes several), verifies with tshark what the wire
# must show, then adds its row(s) to expected.tsv.

sc_tls13_ok() {
    local f=tls13_ok.pcap
    s_server s13 -WWW "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" --tlsv1.3 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==1" 1 1
    check $f "tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304 && ip.ttl==63" 1 1
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.ttl==63" 1 1
    check $f "$APPDATA && $(from4 $C4)" 2
    check $f "tls.alert_message.desc || tcp.flags.reset==1" 0 0
    row $f 443 1 handshake_complete none none - auto - \
        "curl (OpenSSL 3.0) --tlsv1.3 -> openssl s_server -WWW" "TLS 1.3, GET /ok.txt, orderly close"
}

sc_tls12_ok() {
    local f=tls12_ok.pcap
    s_server s12 -tls1_2 "${S_API[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f sh -c "printf 'hello from s_client\n' | openssl s_client -tls1_2 -connect $S4:443 -servername $API -CAfile $PKI/root.pem -verify_return_error -brief"
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && tls.handshake.version==0x0303" 1 1
    check $f "tls.handshake.type==11 && ip.ttl==63" 1 1
    check $f "tls.handshake.type==16" 1 1
    check $f "$APPDATA && $(from4 $C4)" 1
    row $f 443 1 handshake_complete none none - auto - \
        "openssl s_client -tls1_2 (one line of data) -> openssl s_server -tls1_2" "TLS 1.2 ECDHE-RSA, one application data record, close_notify"
}

sc_tls13_ok_ipv6() {
    local f=tls13_ok_ipv6.pcap
    s_server s13v6 -WWW "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" --tlsv1.3 "${CA[@]}" --resolve "$AZ:443:[$S6]" https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "ipv6 && tls.handshake.type==1" 1 1
    check $f "ipv6.hlim==63 && tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304" 1 1
    check $f "tls.alert_message.desc || tcp.flags.reset==1" 0 0
    row $f 443 1 handshake_complete none none - auto - \
        "curl --tlsv1.3 over IPv6 -> openssl s_server -WWW" "as tls13_ok, IPv6 (server hop limit 63)"
}

sc_tls12_ok_gnutls_python() {
    local f=tls12_ok_gnutls_python.pcap
    start_server gnutls $SRV 443 gnutls-serv -p 443 --echo --disable-client-cert --x509certfile "$PKI/api.pem" --x509keyfile "$PKI/api.key" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f $PY "$TOOLS/tls_client.py" $S4 443 --sni $API --cafile "$PKI/root.pem"
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && tls.handshake.version==0x0303" 1 1
    check $f "tls.handshake.type==1 && tls.handshake.extensions.supported_version==0x0304" 1 1
    check $f "$APPDATA && ip.ttl==63" 1
    row $f 443 1 handshake_complete none none - auto - \
        "python3 ssl client (offers TLS 1.3+1.2) -> gnutls-serv --priority ...+VERS-TLS1.2" "server picks TLS 1.2; echo of one line"
}

sc_hrr() {
    local f=hrr.pcap
    s_server shrr -WWW -groups P-256 "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" --curves X25519:P-256 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==1" 2 2
    # a HelloRetryRequest is a ServerHello whose random is the fixed SHA-256("HelloRetryRequest")
    check $f "tls.handshake.type==2 && tls.handshake.random==cf:21:ad:74:e5:9a:61:11:be:1d:8c:02:1e:65:b8:91:c2:a2:11:16:7a:bb:8c:5e:07:9e:09:e2:c8:a8:33:9c" 1 1
    check $f "tls.handshake.type==2" 2 2
    check $f "tls.alert_message.desc || tcp.flags.reset==1" 0 0
    row $f 443 1 handshake_complete none none - auto - \
        "curl --curves X25519:P-256 -> openssl s_server -groups P-256" "HelloRetryRequest (key share X25519 -> P-256), second ClientHello, then TLS 1.3 completes"
}

sc_cipher_mismatch() {
    local f=${1:-cipher_mismatch.pcap} ifc=${2:-eth0}; shift 2 || true
    s_server scm -tls1_2 -cipher AES256-SHA "${S_AZ[@]}"
    cap_start $f $CLI "$ifc" "$PORTF" "$@"
    run_client 15 $f openssl s_client -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256 \
        -connect $S4:443 -servername $AZ -CAfile "$PKI/root.pem" -verify_return_error -brief
    cap_stop; scenario_end
    check $f "tls.alert_message.desc==40 && tls.alert_message.level==2 && $(from4 $S4) && ip.ttl==63" 1 1
    check $f "tls.handshake.type==2" 0 0
    row $f 443 1 server_alert cipher_mismatch server handshake_failure auto - \
        "openssl s_client -tls1_2 -cipher ECDHE-*-GCM -> openssl s_server -tls1_2 -cipher AES256-SHA" "no common cipher suite: fatal handshake_failure right after the ClientHello"
}

sc_version_mismatch() {
    local f=version_mismatch.pcap
    s_server svm -tls1_3 "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f openssl s_client -tls1_2 -connect $S4:443 -servername $AZ -CAfile "$PKI/root.pem" -verify_return_error -brief
    cap_stop; scenario_end
    check $f "tls.alert_message.desc==70 && $(from4 $S4)" 1 1
    check $f "tls.handshake.type==2" 0 0
    row $f 443 1 server_alert version_mismatch server protocol_version auto - \
        "openssl s_client -tls1_2 -> openssl s_server -tls1_3" "client offers only TLS 1.2, server only TLS 1.3"
}

sc_sni_rejected() {
    local f=sni_rejected.pcap
    s_server ssni -servername other.example -servername_fatal -cert2 "$PKI/other.pem" -key2 "$PKI/other.key" "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.alert_message.desc==112 && tls.alert_message.level==2 && $(from4 $S4)" 1 1
    check $f "tls.handshake.type==2" 0 0
    row $f 443 1 server_alert sni_rejected server unrecognized_name auto - \
        "curl -> openssl s_server -servername other.example -servername_fatal" "server only serves other.example: fatal unrecognized_name"
}

sc_cert_rejected_tls12() {
    local f=cert_rejected_tls12.pcap
    s_server scr12 -tls1_2 -WWW "${S_INSPECTED[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" --tls-max 1.2 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==11 && $(from4 $S4)" 1 1
    check $f "x509sat.printableString == \"Contoso TLS Inspection CA\" || x509sat.uTF8String == \"Contoso TLS Inspection CA\"" 1
    check $f "tls.alert_message.desc==48 && $(from4 $C4)" 1 1
    row $f 443 1 client_alert certificate_rejected client unknown_ca auto - \
        "curl --tls-max 1.2 (trusts only the test root) -> s_server with a cert from 'Contoso TLS Inspection CA'" "plaintext fatal unknown_ca from the client after the Certificate"
}

sc_cert_rejected_tls13() {
    local f=${1:-cert_rejected_tls13.pcap}
    s_server scr13 -WWW "${S_INSPECTED[@]}"
    if [[ $f == *.pcapng ]]; then dcap_start $f $CLI "$PORTF" eth0; else cap_start $f $CLI eth0 "$PORTF"; fi
    run_client 15 $f gnutls-cli --x509cafile "$PKI/root.pem" --sni-hostname $AZ --verify-hostname $AZ -p 443 $S4
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304" 1 1
    # encrypted alert: one opaque record of 19 bytes (2 alert + 1 type + 16 AEAD tag) from the client
    check $f "$APPDATA && tls.record.length==19 && $(from4 $C4)" 1 1
    check $f "$APPDATA && tls.record.length!=19 && $(from4 $C4)" 0 0
    check $f "tls.alert_message.desc" 0 0
    row $f 443 1 client_alert certificate_rejected client encrypted auto - \
        "gnutls-cli (TLS 1.3) -> openssl s_server with a cert from 'Contoso TLS Inspection CA'" "client sends ChangeCipherSpec and an encrypted alert (19-byte record) instead of Finished, with its FIN"
}

# OpenSSL (curl) in TLS 1.3 rejects the certificate before it has switched its own write
# keys, so its alert goes out in PLAINTEXT: a readable unknown_ca even though this is TLS 1.3.
sc_cert_rejected_tls13_openssl() {
    local f=cert_rejected_tls13_openssl.pcap
    s_server scr13o -WWW "${S_INSPECTED[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304" 1 1
    check $f "tls.alert_message.desc==48 && tls.alert_message.level==2 && $(from4 $C4)" 1 1
    check $f "$APPDATA && $(from4 $C4)" 0 0
    row $f 443 1 client_alert certificate_rejected client unknown_ca auto - \
        "curl (OpenSSL 3.0, TLS 1.3) -> openssl s_server with a cert from 'Contoso TLS Inspection CA'" "TLS 1.3, yet the client's fatal unknown_ca is a plaintext alert record (OpenSSL has not switched to its handshake keys yet)"
}

sc_client_cert_required_tls12() {
    local f=client_cert_required_tls12.pcap
    s_server sccr12 -tls1_2 -Verify 1 -CAfile "$PKI/root.pem" "${S_API[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f openssl s_client -tls1_2 -connect $S4:443 -servername $API -CAfile "$PKI/root.pem" -verify_return_error -brief
    cap_stop; scenario_end
    check $f "tls.handshake.type==13 && $(from4 $S4)" 1 1
    check $f "tls.alert_message.desc==40 && $(from4 $S4)" 1 1
    row $f 443 1 server_alert client_certificate_required server handshake_failure auto - \
        "openssl s_client -tls1_2 (no client cert) -> openssl s_server -tls1_2 -Verify 1" "CertificateRequest, client sends an empty Certificate, server: fatal handshake_failure"
}

sc_client_cert_required_tls13() {
    local f=client_cert_required_tls13.pcap
    s_server sccr13 -Verify 1 -CAfile "$PKI/root.pem" "${S_API[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $API:443:$S4 https://$API/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304" 1 1
    check $f "$APPDATA && tls.record.length==19 && $(from4 $S4)" 1 1
    check $f "tls.alert_message.desc" 0 0
    row $f 443 1 server_alert unknown server encrypted auto - \
        "curl (TLS 1.3, no client cert) -> openssl s_server -Verify 1" "CertificateRequest is encrypted; server sends an encrypted alert (19-byte record) and closes"
}

sc_syn_unanswered() {
    local f=syn_unanswered.pcap
    fw_rule c_fwd ip daddr $S4 tcp dport 443 tcp flags \& \(syn \| ack\) == syn drop
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f curl -sS -v --connect-timeout 4 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tcp.flags.syn==1 && tcp.flags.ack==0" 2
    check $f "$(from4 $S4)" 0 0
    row $f 443 1 syn_unanswered unknown none - - - \
        "curl --connect-timeout 4; nft in fw drops SYNs to 198.51.100.20:443" "SYN and its retransmissions, nothing comes back"
}

sc_syn_rejected() {
    local f=syn_rejected.pcap
    cap_start $f $CLI eth0 "tcp port 444"
    run_client 15 $f curl -sS -v "${CA[@]}" --resolve $AZ:444:$S4 https://$AZ:444/
    cap_stop; scenario_end
    check $f "tcp.flags.reset==1 && tcp.flags.ack==1 && $(from4 $S4) && ip.ttl==63" 1 1
    row $f 444 1 syn_rejected port_closed server - - - \
        "curl to port 444 where nothing listens" "RST,ACK from the server's kernel (TTL 63)"
}

sc_syn_unreachable_v4() {
    local f=syn_unreachable_v4.pcap
    fw_rule c_fwd ip daddr $S4 tcp dport 8443 reject with icmp type admin-prohibited
    cap_start $f $CLI eth0 "tcp port 8443 or icmp"
    run_client 15 $f curl -sS -v "${CA[@]}" --resolve $AZ:8443:$S4 https://$AZ:8443/
    cap_stop; scenario_end
    check $f "icmp.type==3 && icmp.code==13 && ip.src==$R4C && ip.ttl==64" 1
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1" 0 0
    row $f 8443 1 syn_unreachable firewall_block middlebox - - - \
        "curl; nft in fw: reject with icmp type admin-prohibited" "ICMP 3/13 (communication administratively prohibited) from the router 192.0.2.1"
}

sc_syn_unreachable_v6() {
    local f=syn_unreachable_v6.pcap
    fw_rule c_fwd ip6 daddr $S6 tcp dport 8443 reject with icmpv6 type admin-prohibited
    cap_start $f $CLI eth0 "tcp port 8443 or (icmp6 and ip6[40] < 128)"
    run_client 15 $f curl -sS -v "${CA[@]}" --resolve "$AZ:8443:[$S6]" https://$AZ:8443/
    cap_stop; scenario_end
    check $f "icmpv6.type==1 && icmpv6.code==1 && ipv6.src==$R6C && ipv6.hlim==64" 1
    row $f 8443 1 syn_unreachable firewall_block middlebox - - - \
        "curl over IPv6; nft in fw: reject with icmpv6 type admin-prohibited" "ICMPv6 1/1 (administratively prohibited) from the router 2001:db8:1::1"
}

gnutls_server() {   # gnutls_server NAME CERTNAME [extra gnutls-serv options]
    start_server "$1" $SRV 443 gnutls-serv -p 443 --disable-client-cert \
        --x509certfile "$PKI/$2.pem" --x509keyfile "$PKI/$2.key" "${@:3}"
}

sc_no_client_hello() {
    local f=no_client_hello.pcap
    s_server snch -ignore_unexpected_eof "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f $PY "$TOOLS/tcp_probe.py" $S4 443
    cap_stop; scenario_end
    check $f "tcp.len>0" 0 0
    check $f "tcp.flags.fin==1 && $(from4 $C4)" 1 1
    check $f "tcp.flags.fin==1 && $(from4 $S4)" 1 1
    row $f 443 1 no_client_hello none client - - - \
        "python socket connect()+close() (like Test-NetConnection) -> openssl s_server -ignore_unexpected_eof" "handshake, client FIN, server FIN; no byte of payload"
}

# The same probe against servers that react to the early EOF with an alert: OpenSSL's
# default sends a fatal decode_error, GnuTLS a fatal unexpected_message; the client's
# already closed socket answers that with a RST.
no_client_hello_alert() {   # FILE DESC ALERTNAME PROGRAM SERVER-START...
    local f=$1 desc=$2 name=$3 prog=$4; shift 4
    "$@"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f $PY "$TOOLS/tcp_probe.py" $S4 443
    cap_stop; scenario_end
    check $f "tcp.dstport==443 && tcp.len>0" 0 0
    check $f "tcp.flags.fin==1 && $(from4 $C4)" 1 1
    check $f "tls.alert_message.desc==$desc && tls.alert_message.level==2 && $(from4 $S4)" 1 1
    check $f "tcp.flags.reset==1 && $(from4 $C4)" 1 1
    row $f 443 1 no_client_hello none client $name - - \
        "python socket connect()+close() -> $prog" "client FIN first; the server answers the EOF with a fatal $name alert, the client kernel RSTs"
}
sc_no_client_hello_openssl() {
    no_client_hello_alert no_client_hello_openssl.pcap 50 decode_error "openssl s_server" s_server snch "${S_AZ[@]}"
}
sc_no_client_hello_gnutls() {
    no_client_hello_alert no_client_hello_gnutls.pcap 10 unexpected_message "gnutls-serv" \
        start_server snchg $SRV 443 gnutls-serv -p 443 --disable-client-cert --x509certfile "$PKI/az.pem" --x509keyfile "$PKI/az.key"
}

sc_probe_then_connect() {
    local f=probe_then_connect.pcap
    s_server sptc -naccept 2 -ignore_unexpected_eof -WWW "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f $PY "$TOOLS/tcp_probe.py" $S4 443
    sleep 0.3
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tcp.flags.syn==1 && tcp.flags.ack==0" 2 2
    check $f "tls.handshake.type==2" 1 1
    check $f "tls.alert_message.desc" 0 0
    row $f 443 1 no_client_hello none client - - - \
        "tcp_probe.py then curl, same server (s_server -naccept 2)" "connection 1: TCP probe without data"
    row $f 443 2 handshake_complete none none - auto - \
        "tcp_probe.py then curl, same server (s_server -naccept 2)" "connection 2: TLS 1.3 completes"
}

# The Azure-Firewall-like SNI filter: nft redirects the client's TCP to a local proxy,
# so the SYN-ACK, the FIN/RST and every packet back come from the router (TTL 64).
azfw() {   # azfw FILE CLOSE(fin|rst) FAMILY(4|6|vlan) [IFACE]
    local f=$1 mode=$2 fam=$3 ifc=eth0 dst=$S4 url_ip=$S4
    start_server azfw $FW 15443 $PY "$TOOLS/azfw_proxy.py" --port 15443 --close "$mode" --deny $AZ
    case $fam in
        4) fw_rule c_pre ip daddr $S4 tcp dport 443 redirect to :15443 ;;
        6) fw_rule c_pre ip6 daddr $S6 tcp dport 443 redirect to :15443; url_ip="[$S6]" ;;
        vlan) fw_rule c_pre ip daddr $SV tcp dport 443 redirect to :15443; url_ip=$SV; ifc=trunk0 ;;
    esac
    case $f in
        *.sll2.pcap) cap_start $f $CLI any "$PORTF" ;;
        *.vlan.pcap) cap_start $f $CLI trunk0 "vlan and tcp port 443" ;;
        *) cap_start $f $CLI "$ifc" "$PORTF" ;;
    esac
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve "$AZ:443:$url_ip" https://$AZ/ok.txt
    cap_stop; scenario_end
    local ttl="(ip.ttl==64 || ipv6.hlim==64)"
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && $ttl" 1 1
    check $f "tls.handshake.type==1 && tls.handshake.extensions_server_name==\"$AZ\"" 1 1
    check $f "tcp.srcport==443 && tcp.len>0" 0 0
    if [[ $mode == fin ]]; then
        check $f "tcp.srcport==443 && tcp.flags.fin==1 && $ttl" 1 1
        check $f "tcp.srcport==443 && tcp.flags.reset==1" 0 0
    else
        check $f "tcp.srcport==443 && tcp.flags.reset==1 && $ttl" 1
        check $f "tcp.srcport==443 && tcp.flags.fin==1" 0 0
    fi
}

sc_azfw_close_after_ch() {
    azfw azfw_close_after_ch.pcap fin 4
    row azfw_close_after_ch.pcap 443 1 closed_after_client_hello firewall_block server - auto - \
        "curl -> nft redirect -> azfw_proxy.py --close fin (SNI denied)" "SYN-ACK and FIN both from the proxy (TTL 64): no TLS byte back"
}
sc_azfw_close_after_ch_v6() {
    azfw azfw_close_after_ch_v6.pcap fin 6
    row azfw_close_after_ch_v6.pcap 443 1 closed_after_client_hello firewall_block server - auto - \
        "curl over IPv6 -> nft redirect -> azfw_proxy.py --close fin" "as azfw_close_after_ch over IPv6 (hop limit 64 throughout)"
}
sc_azfw_close_after_ch_sll2() {
    azfw azfw_close_after_ch.sll2.pcap fin 4
    row azfw_close_after_ch.sll2.pcap 443 1 closed_after_client_hello firewall_block server - auto - \
        "as azfw_close_after_ch; tcpdump -i any (Linux cooked v2)" "LINKTYPE_LINUX_SLL2 (276)"
}
sc_azfw_reset_after_ch() {
    azfw azfw_reset_after_ch.pcap rst 4
    row azfw_reset_after_ch.pcap 443 1 reset_after_client_hello firewall_block server - auto - \
        "curl -> nft redirect -> azfw_proxy.py --close rst (SO_LINGER 0)" "SYN-ACK and RST both from the proxy (TTL 64)"
}
sc_azfw_reset_after_ch_vlan() {
    azfw azfw_reset_after_ch.vlan.pcap rst vlan
    check azfw_reset_after_ch.vlan.pcap "vlan.id==100 && tcp" 4
    check azfw_reset_after_ch.vlan.pcap "tcp && !vlan" 0 0
    row azfw_reset_after_ch.vlan.pcap 443 1 reset_after_client_hello firewall_block server - auto - \
        "as azfw_reset_after_ch, via the 802.1Q trunk (vlan_trunk.py), captured on the trunk" "every frame tagged VLAN 100"
}

injected_rst() {   # injected_rst FILE FAMILY(4|6|tun)
    local f=$1 fam=$2 ifc=eth0 url_ip=$S4
    s_server sinj -WWW "${S_AZ[@]}"
    case $fam in
        4) fw_rule c_fwd ip daddr $S4 tcp dport 443 @ih,0,8 0x16 reject with tcp reset ;;
        6) fw_rule c_fwd ip6 daddr $S6 tcp dport 443 @ih,0,8 0x16 reject with tcp reset; url_ip="[$S6]" ;;
        tun) fw_rule c_fwd ip daddr $ST tcp dport 443 @ih,0,8 0x16 reject with tcp reset; url_ip=$ST; ifc=tun0 ;;
    esac
    cap_start $f $CLI $ifc "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve "$AZ:443:$url_ip" https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && (ip.ttl==63 || ipv6.hlim==63)" 1 1
    check $f "tcp.srcport==443 && tcp.flags.reset==1 && (ip.ttl==64 || ipv6.hlim==64)" 1 1
    check $f "tls.handshake.type==1" 1 1
    check $f "tcp.srcport==443 && tcp.len>0" 0 0
}
sc_injected_rst() {
    injected_rst injected_rst.pcap 4
    row injected_rst.pcap 443 1 reset_after_client_hello firewall_block middlebox - auto - \
        "curl -> s_server; nft in fw: payload 0x16 -> reject with tcp reset" "SYN-ACK TTL 63 (server) but RST TTL 64 (forged by the router)"
}
sc_injected_rst_v6() {
    injected_rst injected_rst_v6.pcap 6
    row injected_rst_v6.pcap 443 1 reset_after_client_hello firewall_block middlebox - auto - \
        "as injected_rst over IPv6" "SYN-ACK hop limit 63, RST hop limit 64"
}
sc_injected_rst_rawip() {
    injected_rst injected_rst.rawip.pcap tun
    row injected_rst.rawip.pcap 443 1 reset_after_client_hello firewall_block middlebox - auto - \
        "as injected_rst, captured on a TUN device (socat tunnel to the router)" "LINKTYPE_RAW (101); MSS 1360"
}

sc_idle_reset() {
    # The handshake completes; after an idle period the path has forgotten the flow and resets
    # it, as Azure Firewall (4 minutes idle), NAT gateways and load balancers do. Here the router's
    # conntrack forgets an established flow idle for 3 s (and, not loose, will not pick it up
    # again mid-stream); nftables answers the flow's next packet with a reset, from the router.
    local f=idle_reset.pcap tcp_est tcp_loose
    s_server sidle -rev "${S_AZ[@]}"
    tcp_est=$(ip netns exec $FW sysctl -n net.netfilter.nf_conntrack_tcp_timeout_established)
    tcp_loose=$(ip netns exec $FW sysctl -n net.netfilter.nf_conntrack_tcp_loose)
    ip netns exec $FW sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established=3 net.netfilter.nf_conntrack_tcp_loose=0
    fw_rule c_fwd ip daddr $S4 tcp dport 443 ct state invalid reject with tcp reset
    cap_start $f $CLI eth0 "$PORTF"
    run_client 20 $f $PY "$TOOLS/tls_client.py" $S4 443 --sni $AZ --cafile "$PKI/root.pem" --idle 6
    cap_stop; scenario_end
    ip netns exec $FW sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_established="$tcp_est" net.netfilter.nf_conntrack_tcp_loose="$tcp_loose"
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.ttl==63" 1 1
    check $f "tls.handshake.type==2" 1 1
    check $f "$APPDATA && $(from4 $S4) && ip.ttl==63" 2
    check $f "tcp.srcport==443 && tcp.flags.reset==1 && ip.ttl==64" 1 1
    check $f "tcp.flags.fin==1" 0 0
    check $f "frame.time_delta>=5" 1 1
    row $f 443 1 handshake_complete none none - auto - \
        "python3 ssl client: a line, 6 s of silence, the line again -> openssl s_server -rev; fw: conntrack forgets established flows idle for 3 s (not loose), invalid -> reject with tcp reset" \
        "handshake and one exchange, 6 s idle, the next line answered by a RST with TTL 64 (the router) instead of the server's 63"
}

sc_reset_after_handshake() {
    # The handshake completes and data flows; then a device in the path (an IPS that decided on
    # what it saw, a rule change, a firewall failing over) resets the connection in the server's
    # name: nftables in the router answers the client's first application-data record after its
    # tenth packet with a reset.
    local f=reset_after_handshake.pcap
    s_server srah -rev "${S_AZ[@]}"
    fw_rule c_fwd ip daddr $S4 tcp dport 443 ct original packets \> 10 @ih,0,8 0x17 reject with tcp reset
    cap_start $f $CLI eth0 "$PORTF"
    run_client 20 $f $PY "$TOOLS/tls_client.py" $S4 443 --sni $AZ --cafile "$PKI/root.pem" --duration 3 --interval 0.2
    cap_stop; scenario_end
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.ttl==63" 1 1
    check $f "tls.handshake.type==2" 1 1
    check $f "$APPDATA && $(from4 $S4) && ip.ttl==63" 3
    check $f "tcp.srcport==443 && tcp.flags.reset==1 && ip.ttl==64" 1 1
    check $f "tcp.srcport==443 && tcp.flags.reset==1 && ip.ttl==63" 0 0
    row $f 443 1 handshake_complete none none - auto - \
        "python3 ssl client sending a line every 0.2 s -> openssl s_server -rev; fw: nft ct original packets > 10, payload 0x17 -> reject with tcp reset" \
        "lines echoed, then a RST with TTL 64 (the router) instead of the server's 63 answers the next line"
}

sc_snat_exhaustion() {
    # A NAT in the path with too few source ports: the router SNATs the client's connections to
    # 443 onto two ports. Two connections that stay open hold them; two connections made meanwhile
    # find no free port and their SYNs are dropped; once the first two have closed (conntrack's
    # TIME_WAIT shortened to 1 s here, 120 s by default), two more complete. That is SNAT port
    # exhaustion as Azure Firewall (2,496 ports per public IP and instance) and NAT gateways show
    # it: intermittent SYN failures to one destination that otherwise accepts connections.
    local f=snat_exhaustion.pcap tw k h1 h2
    start_server tsrv $SRV 443 $PY "$TOOLS/tls_server.py" --port 443 --cert "$PKI/az.pem" --key "$PKI/az.key"
    tw=$(ip netns exec $FW sysctl -n net.netfilter.nf_conntrack_tcp_timeout_time_wait)
    ip netns exec $FW sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1
    ip netns exec $FW nft add chain inet tlsautopsy c_post '{ type nat hook postrouting priority srcnat; policy accept; }'
    ip netns exec $FW nft add rule inet tlsautopsy c_post ip daddr $S4 tcp dport 443 snat ip to $R4S:40000-40001
    cap_start $f $CLI eth0 "$PORTF"
    bg holder1 $CLI $PY "$TOOLS/tls_client.py" $S4 443 --sni $AZ --cafile "$PKI/root.pem" --duration 4 --interval 0.5 --line "hold\n"
    h1=$BG_PID
    sleep 0.3
    bg holder2 $CLI $PY "$TOOLS/tls_client.py" $S4 443 --sni $AZ --cafile "$PKI/root.pem" --duration 4 --interval 0.5 --line "hold\n"
    h2=$BG_PID
    sleep 0.5
    for k in 3 4; do
        run_client 6 $f "${CURL[@]}" --connect-timeout 1 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    done
    for ((k = 0; k < 100; k++)); do alive $h1 || alive $h2 || break; sleep 0.1; done
    stop_pid $h1; stop_pid $h2
    sleep 1.5
    for k in 5 6; do
        run_client 6 $f "${CURL[@]}" --connect-timeout 1 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    done
    cap_stop; scenario_end
    ip netns exec $FW nft delete chain inet tlsautopsy c_post
    ip netns exec $FW sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait="$tw"
    check $f "tcp.flags.syn==1 && tcp.flags.ack==0 && !tcp.analysis.retransmission" 6 6
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1" 4 4
    check $f "tls.handshake.type==2" 4 4
    for k in 1 2 3 4 5 6; do
        if ((k == 3 || k == 4)); then
            row $f 443 $k syn_unanswered unknown none - - - \
                "2 python3 ssl clients holding connections, then curl x4 -> tls_server.py; fw: snat to 2 source ports" "connection $k of 6: both NAT ports held, the SYN is dropped"
        else
            row $f 443 $k handshake_complete none none - auto - \
                "2 python3 ssl clients holding connections, then curl x4 -> tls_server.py; fw: snat to 2 source ports" "connection $k of 6: a NAT port was free"
        fi
    done
}

sc_revocation_blocked() {
    # The client checks revocation (openssl s_client -crl_check -crl_download, as Windows SChannel
    # does by default): it fetches the leaf's CRL from its distribution point over HTTP, the
    # firewall denies that with Azure Firewall's 470, and the client rejects the certificate.
    local f=revocation_blocked.pcap
    s_server srev -tls1_2 -cert "$PKI/az-crl.pem" -key "$PKI/az-crl.key"
    start_server crl470 $FW 15080 $PY "$TOOLS/http_deny_proxy.py" --port 15080
    fw_rule c_pre ip daddr $S4 tcp dport 80 redirect to :15080
    NETNS_ETC=/etc/netns/$CLI
    mkdir -p "$NETNS_ETC"
    echo "$S4 $CRLHOST" >"$NETNS_ETC/hosts"
    cap_start $f $CLI eth0 "tcp port 443 or tcp port 80"
    run_client 15 $f openssl s_client -connect $S4:443 -servername $AZ -CAfile "$PKI/root.pem" \
        -crl_check -crl_download -verify_return_error
    cap_stop; scenario_end
    rm -rf "$NETNS_ETC"; NETNS_ETC=
    check $f "http.request.uri==\"/pki/root.crl\"" 1 1
    check $f "http.response.code==470" 1 1
    check $f "tls.handshake.type==11" 1 1
    check $f "tls.alert_message.desc" 1 1
    row $f 443 1 client_alert certificate_rejected client unknown_ca auto - \
        "openssl s_client -crl_check -crl_download -> s_server -tls1_2 (leaf with a CRL distribution point); the CRL fetch -> nft redirect -> http_deny_proxy.py" \
        "the client fetches the CRL over HTTP during the handshake, gets 470, and rejects the certificate"
    row $f 80 1 http_blocked firewall_block server - - 470 \
        "same file: the CRL fetch" "GET /pki/root.crl answered by Azure Firewall's 470"
}

sc_silent_drop_after_ch() {
    local f=silent_drop_after_ch.pcap
    s_server ssd -WWW "${S_AZ[@]}"
    fw_rule c_fwd ip daddr $S4 tcp dport 443 @ih,0,8 0x16 drop
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f curl -sS -v --max-time 6 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.ttl==63" 1 1
    check $f "tls.handshake.type==1" 1 1
    check $f "tcp.dstport==443 && tcp.len>0 && tcp.analysis.retransmission" 2
    check $f "tcp.srcport==443 && tcp.len>0" 0 0
    check $f "tcp.srcport==443 && (tcp.flags.reset==1 || tcp.flags.fin==1)" 0 0
    row $f 443 1 silence_after_client_hello firewall_block none - auto - \
        "curl --max-time 6 -> s_server; nft in fw drops client packets whose payload starts with 0x16" "ClientHello retransmitted, never ACKed; curl gives up"
}

sc_large_ch_silence() {
    local f=large_ch_silence.pcap alpn="" i
    for ((i = 1; i <= 40; i++)); do alpn+="${alpn:+,}tlsautopsy-very-long-application-protocol-name-number-$i"; done
    start_server silent $FW 15444 $PY "$TOOLS/silent_server.py" --port 15444 --recv-size 1448 --hold 20
    fw_rule c_pre ip daddr $S4 tcp dport 443 redirect to :15444
    cap_start $f $CLI eth0 "$PORTF"
    run_client 6 $f openssl s_client -connect $S4:443 -servername $AZ -alpn "$alpn" -CAfile "$PKI/root.pem"
    cap_stop; scenario_end
    check $f "tcp.dstport==443 && tcp.len>0 && !tcp.analysis.retransmission" 2
    check $f "tls.handshake.type==1 && tls.record.length > 1448" 1 1
    check $f "tcp.srcport==443 && tcp.len>0" 0 0
    check $f "tcp.srcport==443 && (tcp.flags.reset==1 || tcp.flags.fin==1)" 0 0
    row $f 443 1 silence_after_client_hello large_client_hello none - auto - \
        "openssl s_client -alpn <40 long names> (ClientHello > 1 MSS) -> nft redirect -> silent_server.py (one recv)" "ClientHello in 2 segments, ACKed, then silence until the client is killed after 6 s"
}

sc_http_470() {
    local f=http_470.pcap
    start_server http470 $FW 15080 $PY "$TOOLS/http_deny_proxy.py" --port 15080
    fw_rule c_pre ip daddr $S4 tcp dport 80 redirect to :15080
    cap_start $f $CLI eth0 "tcp port 80"
    run_client 15 $f "${CURL[@]}" --resolve www.microsoft.com:80:$S4 http://www.microsoft.com/pkiops/certs/x.crt
    cap_stop; scenario_end
    check $f "http.response.code==470 && http.response.phrase==\"status code 470\"" 1 1
    check $f "http.request.uri==\"/pkiops/certs/x.crt\"" 1 1
    grep -q "Action: Deny. Reason: No rule matched" "$LOGS/$f.client.log" || die "$f: 470 body not seen by curl"
    row $f 80 1 http_blocked firewall_block server - - 470 \
        "curl http://www.microsoft.com/pkiops/certs/x.crt -> nft redirect -> http_deny_proxy.py" "Azure Firewall style: HTTP/1.1 470 status code 470, 'Action: Deny. Reason: No rule matched.'"
}

sc_not_tls_http_server() {
    local f=not_tls_http_server.pcap
    start_server plainhttp $SRV 443 $PY "$TOOLS/plain_http_server.py" --port 443
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==1" 1 1
    check $f "tcp.srcport==443 && frame contains \"HTTP/1.1 400 Bad Request\"" 1 1
    row $f 443 1 server_not_tls not_tls server - auto 400 \
        "curl https:// -> plain_http_server.py (plain HTTP on 443, answers like nginx)" "server answers the ClientHello with 'HTTP/1.1 400 Bad Request' and closes"
}

sc_not_tls_python_http_server() {
    local f=not_tls_python_http_server.pcap
    start_server pyhttp $SRV 443 $PY "$TOOLS/plain_http_server.py" --port 443 --stdlib
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==1" 1 1
    check $f "tcp.srcport==443 && frame contains \"Error code: 400\"" 1
    check $f "tcp.srcport==443 && frame contains \"HTTP/1.\"" 0 0
    row $f 443 1 server_not_tls not_tls server - auto - \
        "curl https:// -> python3 http.server (ThreadingHTTPServer + SimpleHTTPRequestHandler, plain_http_server.py --stdlib) on 443" "http.server treats the ClientHello as HTTP/0.9: an HTML 'Error code: 400' page with NO status line, then FIN (the client answers with a RST)"
}

proxy() {   # proxy FILE MODE
    local f=$1 mode=$2
    start_server proxy $FW 3128 $PY "$TOOLS/connect_proxy.py" --port 3128 --mode "$mode" --map $API=$S4
    if [[ $mode == allow ]]; then s_server sprx -WWW "${S_API[@]}"; fi
    cap_start $f $CLI eth0 "tcp port 3128"
    run_client 15 $f "${CURL[@]}" -x http://$R4C:3128 "${CA[@]}" https://$API/ok.txt
    cap_stop; scenario_end
    check $f "http.request.method==\"CONNECT\" && http.request.uri==\"$API:443\"" 1 1
    check $f "tcp.srcport==3128 && ip.ttl==64" 1
}
sc_proxy_403() {
    proxy proxy_403.pcap deny
    check proxy_403.pcap "http.response.code==403" 1 1
    check proxy_403.pcap "tls" 0 0
    row proxy_403.pcap 3128 1 proxy_refused proxy_denied proxy - - 403 \
        "curl -x http://192.0.2.1:3128 https://api.contoso.test/ -> connect_proxy.py --mode deny" "CONNECT api.contoso.test:443 -> HTTP/1.1 403 Forbidden, proxy closes"
}
sc_proxy_407() {
    proxy proxy_407.pcap auth
    check proxy_407.pcap "http.response.code==407 && http.proxy_authenticate" 1 1
    row proxy_407.pcap 3128 1 proxy_refused proxy_auth_required proxy - - 407 \
        "curl -x ... -> connect_proxy.py --mode auth" "CONNECT -> HTTP/1.1 407 with Proxy-Authenticate: Basic"
}
sc_proxy_tunnel_ok() {
    proxy proxy_tunnel_ok.pcap allow
    check proxy_tunnel_ok.pcap "http.response.code==200" 1 1
    check proxy_tunnel_ok.pcap "tls.handshake.type==2 && tls.handshake.extensions.supported_version==0x0304" 1 1
    row proxy_tunnel_ok.pcap 3128 1 handshake_complete none none - auto - \
        "curl -x ... -> connect_proxy.py --mode allow -> openssl s_server -WWW" "CONNECT 200, then TLS 1.3 inside the tunnel completes"
}

sc_aborted_after_sh() {
    local f=aborted_after_sh.pcap
    s_server sabort -tls1_2 -WWW "${S_AZ[@]}"
    start_server relay $FW 15445 $PY "$TOOLS/first_flight_relay.py" --port 15445
    fw_rule c_pre ip daddr $S4 tcp dport 443 redirect to :15445
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f "${CURL[@]}" --tls-max 1.2 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "tls.handshake.type==2 && ip.ttl==64" 1 1
    check $f "tls.handshake.type==11 && ip.ttl==64" 1 1
    check $f "tls.handshake.type==14" 1 1
    check $f "tcp.srcport==443 && tcp.flags.reset==1" 1
    check $f "tls.alert_message.desc" 0 0
    row $f 443 1 aborted_after_server_hello unknown server - auto - \
        "curl --tls-max 1.2 -> nft redirect -> first_flight_relay.py -> openssl s_server -tls1_2" "relay passes ServerHello..ServerHelloDone from the real server, then RSTs both sides"
}

sc_version_mismatch_reset() {
    local f=version_mismatch_reset.pcap
    start_server reset $SRV 443 $PY "$TOOLS/reset_server.py" --port 443
    cap_start $f $CLI eth0 "$PORTF"
    run_client 15 $f openssl s_client -tls1 -cipher 'DEFAULT@SECLEVEL=0' -connect $S4:443 -servername $AZ
    cap_stop; scenario_end
    check $f "tls.handshake.type==1 && tls.handshake.version==0x0301" 1 1
    check $f "tls.handshake.extensions.supported_version" 0 0
    check $f "tcp.srcport==443 && tcp.flags.reset==1 && ip.ttl==63" 1 1
    row $f 443 1 reset_after_client_hello version_mismatch server - auto - \
        "openssl s_client -tls1 -cipher DEFAULT@SECLEVEL=0 -> reset_server.py (SChannel-like)" "TLS 1.0-only ClientHello answered by a RST (TTL 63, the real server), no alert"
}

sc_in_progress() {
    local f=in_progress.pcap
    start_server slow $SRV 443 $PY "$TOOLS/silent_server.py" --port 443 --hold 8
    cap_start $f $CLI eth0 "$PORTF" -c 5
    run_client 4 $f "${CURL[@]}" --max-time 3 "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop 0; scenario_end
    check $f "frame" 5 5
    check $f "tls.handshake.type==1" 1 1
    check $f "frame.number==5 && tcp.srcport==443 && tcp.len==0 && tcp.flags.ack==1" 1 1
    row $f 443 1 in_progress unknown none - auto - \
        "curl -> silent_server.py (slow server); tcpdump -c 5" "file ends right after the server ACKed the ClientHello"
}

sc_midstream() {
    local f=midstream.pcap cpid
    s_server smid -rev "${S_AZ[@]}"
    bg midstream-client $CLI $PY "$TOOLS/tls_client.py" $S4 443 --sni $AZ --cafile "$PKI/root.pem" --duration 5 --interval 0.2
    cpid=$BG_PID
    sleep 1.5
    cap_start $f $CLI eth0 "$PORTF"
    sleep 2
    cap_stop 0
    local i; for ((i = 0; i < 80; i++)); do alive $cpid || break; sleep 0.1; done
    stop_pid $cpid
    scenario_end
    check $f "tcp.flags.syn==1" 0 0
    check $f "tls.handshake" 0 0
    check $f "tcp.flags.fin==1 || tcp.flags.reset==1" 0 0
    check $f "tcp.dstport==443 && tcp.len>0" 5
    check $f "tcp.srcport==443 && tcp.len>0" 5
    row $f 443 1 midstream unknown none - - - \
        "python3 ssl client sending a line every 0.2 s to openssl s_server -rev; capture started 1.5 s after connect" "only application data records, no SYN, no handshake, no close"
}

# ------------------------------------------------------------- link-layer and file-format variants
sc_tls13_ok_nano() {
    local f=tls13_ok.nano.pcap
    s_server snano -WWW "${S_AZ[@]}"
    cap_start $f $CLI eth0 "$PORTF" --time-stamp-precision=nano
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    cap_stop; scenario_end
    [[ $(od -An -tx1 -N4 "$OUT/$f" | tr -d ' ') == 4d3cb2a1 ]] || die "$f: not a nanosecond pcap"
    check $f "tls.handshake.type==2" 1 1
    row $f 443 1 handshake_complete none none - auto - \
        "as tls13_ok; tcpdump --time-stamp-precision=nano" "nanosecond pcap (magic a1b23c4d)"
}

sc_cipher_mismatch_sll() {
    sc_cipher_mismatch cipher_mismatch.sll.pcap any -y LINUX_SLL
}

sc_cert_rejected_tls13_pcapng() {
    sc_cert_rejected_tls13 cert_rejected_tls13.pcapng
}

sc_tls13_ok_two_links() {
    local f=tls13_ok.two_links.pcapng
    s_server stwo -naccept 2 -WWW "${S_AZ[@]}"
    dcap_start $f $CLI "$PORTF" eth0 tun0
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$S4 https://$AZ/ok.txt
    run_client 15 $f "${CURL[@]}" "${CA[@]}" --resolve $AZ:443:$ST https://$AZ/ok.txt
    cap_stop; scenario_end
    check $f "frame.interface_id==0 && eth && tls.handshake.type==2" 1 1
    check $f "frame.interface_id==1 && !eth && tls.handshake.type==2" 1 1
    row $f 443 1 handshake_complete none none - auto - \
        "dumpcap -i eth0 -i tun0; curl to 198.51.100.20 (Ethernet) then to 198.51.100.21 (raw IP tunnel)" "pcapng, interface 0 Ethernet"
    row $f 443 2 handshake_complete none none - auto - \
        "same file" "pcapng, interface 1 raw IP"
}

sc_azfw_close_after_ch_dup() {
    # The same packets captured at two points (tcpdump -i any on a host with a bridge or VPN, pktmon's
    # per-component copies): every frame of azfw_close_after_ch.pcap appears twice, interleaved by time.
    local f=azfw_close_after_ch.dup.pcapng
    [[ -f $OUT/azfw_close_after_ch.pcap ]] || sc_azfw_close_after_ch
    mergecap -F pcapng -w "$OUT/$f" "$OUT/azfw_close_after_ch.pcap" "$OUT/azfw_close_after_ch.pcap"
    FILES+=("$f")
    [[ $(capinfos -Mc "$OUT/$f" | sed -n 's/^Number of packets: *//p') == $((2 * $(capinfos -Mc "$OUT/azfw_close_after_ch.pcap" | sed -n 's/^Number of packets: *//p'))) ]] \
        || die "$f: expected every packet twice"
    row $f 443 1 closed_after_client_hello firewall_block server - auto - \
        "mergecap of azfw_close_after_ch.pcap with itself" "every packet captured twice (two capture points)"
}

# ----------------------------------------------------------------------------- outputs
write_expected() {
    {
        printf 'file\tserver\tnth\toutcome\tcause\tended_by\talert\tsni\thttp_status\tnote\n'
        printf '%s\n' "${ROWS[@]}"
    } >"$OUT/expected.tsv"
    log "wrote expected.tsv (${#ROWS[@]} rows)"
}

md_escape() { sed -e 's/|/\\|/g'; }

write_readme() {
    local table="$WORK/table.md" files="$WORK/files.md" d f port server nth stream outcome cause ended alert sni http progs note
    local -A conns=()
    for d in "${DOC[@]}"; do f=${d%%|*}; conns[$f]=$(( ${conns[$f]:-0} + 1 )); done
    {
        echo '| file | connection | made by (real programs) | what the wire shows | outcome | cause | ended_by | alert | http |'
        echo '|---|---|---|---|---|---|---|---|---|'
        for d in "${DOC[@]}"; do
            IFS='|' read -r f port server nth stream outcome cause ended alert sni http progs note <<<"$d"
            local filt=""
            ((${conns[$f]} > 1)) && filt="tcp.stream==$stream"
            local wire; wire=$($PY "$TOOLS/wire_summary.py" "$OUT/$f" "$port" $filt | md_escape)
            printf '| `%s` | %s #%s | %s | %s. %s | %s | %s | %s | %s | %s |\n' \
                "$f" "$server" "$nth" "$(md_escape <<<"$progs")" "$(md_escape <<<"$note")" "$wire" \
                "$outcome" "$cause" "$ended" "$alert" "$http"
        done
    } >"$table"
    {
        echo '| file | format | LINKTYPE (per interface) | frames | bytes |'
        echo '|---|---|---|---|---|'
        local fmt
        for f in "${FILES[@]}"; do
            fmt=$(format_of "$f")
            printf '| `%s` | %s | %s | %s | %s |\n' "$f" "${fmt%%|*}" "${fmt#*|}" \
                "$(capinfos -Mc "$OUT/$f" | sed -n 's/^Number of packets: *//p')" "$(stat -c %s "$OUT/$f")"
        done
        printf '\nTotal: %s files, %s bytes.\n' "${#FILES[@]}" "$(cd "$OUT" && cat "${FILES[@]}" | wc -c)"
    } >"$files"
    sed -e "/@@SCENARIO_TABLE@@/{r $table" -e 'd}' -e "/@@FILE_TABLE@@/{r $files" -e 'd}' \
        "$TOOLS/README.in.md" >"$OUT/README.md"
    log "wrote README.md"
}

# ----------------------------------------------------------------------------- main
SCENARIOS=(
    tls13_ok tls12_ok tls13_ok_ipv6 tls12_ok_gnutls_python hrr
    cipher_mismatch version_mismatch sni_rejected
    cert_rejected_tls12 cert_rejected_tls13 cert_rejected_tls13_openssl client_cert_required_tls12 client_cert_required_tls13
    syn_unanswered syn_rejected syn_unreachable_v4 syn_unreachable_v6
    no_client_hello no_client_hello_openssl no_client_hello_gnutls probe_then_connect
    azfw_close_after_ch azfw_close_after_ch_v6 azfw_reset_after_ch
    injected_rst injected_rst_v6 silent_drop_after_ch large_ch_silence idle_reset reset_after_handshake snat_exhaustion revocation_blocked
    http_470 not_tls_http_server not_tls_python_http_server
    proxy_403 proxy_407 proxy_tunnel_ok
    aborted_after_sh version_mismatch_reset in_progress midstream
    azfw_close_after_ch_sll2 cipher_mismatch_sll tls13_ok_nano cert_rejected_tls13_pcapng
    tls13_ok_two_links injected_rst_rawip azfw_reset_after_ch_vlan azfw_close_after_ch_dup
)

main() {
    local t0=$SECONDS s
    if [[ -n $ONLY ]]; then
        for s in $ONLY; do declare -F "sc_$s" >/dev/null || die "unknown scenario $s"; done
    fi
    if [[ -z $ONLY ]]; then   # a full run owns every capture file in $OUT
        rm -f "$OUT"/*.pcap "$OUT"/*.pcapng "$OUT/expected.tsv"
    fi
    setup_topology
    make_pki >"$LOGS/pki.log" 2>&1 || die "certificates: see $LOGS/pki.log"
    cd "$WWW"      # s_server -WWW serves ./ok.txt
    for s in "${SCENARIOS[@]}"; do
        wanted "$s" || continue
        log "scenario $s"
        "sc_$s"
    done
    cd "$HERE"
    if [[ -z $ONLY ]]; then
        write_expected
        write_readme
    else
        printf '%s\n' "${ROWS[@]}"
    fi
    log "done in $((SECONDS - t0)) s: ${#FILES[@]} capture files"
}
main "$@"
