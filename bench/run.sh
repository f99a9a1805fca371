#!/usr/bin/env bash
# Side-by-side benchmark: tlsautopsy against cat, tcpdump -r and tshark on the same generated capture,
# warm cache, one run after another. Prints throughput, ratios and peak RSS, and checks that the
# analyzer's verdict counts equal what the generator wrote.
#
#   bench/run.sh [SIZE_MB] [RUNS]        (default 500 MB, best of 3 runs)
#
# Needs: cargo, /usr/bin/time (Debian package `time`), tcpdump, tshark (optional: skipped if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-500}
RUNS=${2:-3}
DIR=${BENCH_DIR:-target/bench}
mkdir -p "$DIR"
# The generator's arguments are part of the file name, so different mixes never share a file.
SLUG=$(printf '%s' "${GENCAP_ARGS:-}" | tr -c 'A-Za-z0-9' '_' | sed 's/__*/_/g; s/^_//; s/_$//')
F="$DIR/gen-${SIZE}mb${SLUG:+-$SLUG}.pcap"
cargo build --release --quiet --bin tlsautopsy --bin tlsautopsy-gencap
BIN=${CARGO_TARGET_DIR:-target}/release
if [[ ! -f $F || ! -f $F.expected.json ]]; then
    $BIN/tlsautopsy-gencap --captures captures --size-mb "$SIZE" --out "$F" ${GENCAP_ARGS:-}
fi
BYTES=$(stat -L -c %s "$F")
cat "$F" >/dev/null   # warm the page cache

# best (lowest) wall time over $RUNS runs, the peak RSS of that run, and the lowest CPU time (user +
# system) over the runs: "seconds kb cpu-seconds". CPU time moves less than wall time when the
# machine is shared.
measure() {
    local best="" rss="" cpu=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%e %M %U %S' -o "$DIR/time.txt" bash -c "$1" >/dev/null 2>&1 || true
        read -r s k u y < <(tail -n 1 "$DIR/time.txt")
        if [[ -z $best ]] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$k; fi
        c=$(awk "BEGIN{print $u + $y}")
        if [[ -z $cpu ]] || awk "BEGIN{exit !($c < $cpu)}"; then cpu=$c; fi
    done
    echo "$best $rss $cpu"
}

printf 'file: %s (%s bytes, %s connections)\n' "$F" "$BYTES" "$(python3 -c "import json;print(json.load(open('$F.expected.json'))['connections'])")"
printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-44s %10s %10s %12s %10s\n' tool seconds MB/s "peak RSS MB" "CPU s"
declare -A SECS CPUS
row() {
    local name=$1 cmd=$2 s k c
    read -r s k c < <(measure "$cmd")
    SECS[$name]=$s
    CPUS[$name]=$c
    printf '%-44s %10s %10.0f %12.1f %10s\n' "$name" "$s" "$(awk "BEGIN{print $BYTES/1e6/($s>0?$s:1e-9)}")" "$(awk "BEGIN{print $k/1024}")" "$c"
}
ONE="TLSAUTOPSY_HELPERS=0 $BIN/tlsautopsy"
row "cat" "cat '$F'"
row "tcpdump -r -w /dev/null" "tcpdump -r '$F' -w /dev/null"
# As shipped: one analysing thread, with helpers when a CPU is left for them (another thread reads
# the file ahead, the calling thread prints).
row "tlsautopsy analyze --json" "$BIN/tlsautopsy analyze --json '$F'"
# Strictly one thread: the same, reading, analysing and printing on one thread.
row "  one thread only (TLSAUTOPSY_HELPERS=0)" "$ONE analyze --json '$F'"
row "tlsautopsy analyze --json --threads 2" "$BIN/tlsautopsy analyze --json --threads 2 '$F'"
# What these cores give two jobs that share nothing: two strictly one-thread runs at once. Twice the
# work in the time of one would be 2.0; a shared or throttled machine gives less, and --threads 2
# (two busy threads) cannot do better than this.
row "2 x one thread only at once (ceiling)" "$ONE analyze --json '$F' >/dev/null & $ONE analyze --json '$F' >/dev/null; wait"
row "tlsautopsy analyze (text)" "$BIN/tlsautopsy analyze --no-ladder '$F'"
if command -v tshark >/dev/null && [[ ${SKIP_TSHARK:-0} != 1 ]]; then
    RUNS=1 row "tshark -Y tls.handshake (1 run)" "tshark -r '$F' -Y tls.handshake -T fields -e tls.handshake.type"
fi
T=${SECS[tcpdump -r -w /dev/null]}; TC=${CPUS[tcpdump -r -w /dev/null]}
D=${SECS[tlsautopsy analyze --json]}; DC=${CPUS[tlsautopsy analyze --json]}
O=${SECS[  one thread only (TLSAUTOPSY_HELPERS=0)]}; OC=${CPUS[  one thread only (TLSAUTOPSY_HELPERS=0)]}
T2=${SECS[tlsautopsy analyze --json --threads 2]}; P=${SECS[2 x one thread only at once (ceiling)]}
awk "BEGIN{printf \"ratio tlsautopsy/tcpdump speed: %.2f as shipped (helpers), %.2f one thread only (CPU time: %.2f, %.2f)\n\", $T/$D, $T/$O, $TC/$DC, $TC/$OC}"
awk "BEGIN{printf \"speed-up of --threads 2 over one thread only: %.2f (two independent runs at once: %.2f); over the shipped run: %.2f\n\", $O/$T2, 2*$O/$P, $D/$T2}"
if [[ -n ${SECS[tshark -Y tls.handshake (1 run)]:-} ]]; then
    awk "BEGIN{printf \"ratio tlsautopsy/tshark speed: %.1f as shipped, %.1f one thread only\n\", ${SECS[tshark -Y tls.handshake (1 run)]}/$D, ${SECS[tshark -Y tls.handshake (1 run)]}/$O}"
fi

# Correctness at scale: the summary counts equal the generator's.
$BIN/tlsautopsy analyze --json "$F" | tail -n 1 >"$DIR/summary.json" || true
# --threads 2 and the helpers print exactly what strictly one thread prints.
if cmp -s <(TLSAUTOPSY_HELPERS=0 $BIN/tlsautopsy analyze --json "$F") <($BIN/tlsautopsy analyze --json --threads 2 "$F") &&
   cmp -s <(TLSAUTOPSY_HELPERS=0 $BIN/tlsautopsy analyze --json "$F") <($BIN/tlsautopsy analyze --json "$F"); then
    echo "--threads 2 and helpers output: identical to strictly one thread's"
else
    echo "--threads 2 or helpers output: DIFFERS from strictly one thread's"; exit 1
fi
python3 - "$F.expected.json" "$DIR/summary.json" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1])); got = json.load(open(sys.argv[2]))
ok = exp["outcomes"] == got["outcomes"] and exp["connections"] == got["connections"]
print("verdict counts:", "match" if ok else "DIFFER", f"({got['connections']} connections)")
print(f"connections alive at once (peak): {got['max_live_connections']}")
if not ok:
    for k in sorted(set(exp["outcomes"]) | set(got["outcomes"])):
        if exp["outcomes"].get(k) != got["outcomes"].get(k):
            print(f"  {k}: generator {exp['outcomes'].get(k)} analyzer {got['outcomes'].get(k)}")
    sys.exit(1)
PY
