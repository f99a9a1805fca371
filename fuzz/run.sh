#!/usr/bin/env bash
# Build the seed corpora and run the fuzz targets; see fuzz/README.md.
#   fuzz/run.sh seeds                 # write fuzz/seeds/{decode,tcp_reassembly,tls_stream}
#   fuzz/run.sh TARGET [SECONDS]      # run one target (default 600 s), seeded from captures/ and the peers corpus
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (or RUSTC_BOOTSTRAP=1 on stable).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
peers="$root/../shared/corpus/peers"
fuzz_target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
toolchain=${FUZZ_TOOLCHAIN:-+nightly}

if [ "${1:-}" = seeds ]; then
  dirs=("$root/captures")
  [ -d "$peers" ] && dirs+=("$peers")
  (cd "$root" && cargo run --quiet --example fuzz_seeds -- "$root/fuzz/seeds" "${dirs[@]}")
  exit 0
fi

target=${1:?usage: run.sh seeds | run.sh TARGET [SECONDS]}
secs=${2:-600}
mkdir -p "corpus/$target"
extra=()
case "$target" in
  capture_reader|analyze)
    extra+=("$root/captures")
    [ -d "$peers" ] && extra+=("$peers")
    max_len=131072 ;;
  *)
    [ -d "seeds/$target" ] || "$root/fuzz/run.sh" seeds
    extra+=("seeds/$target")
    max_len=65536 ;;
esac
# -a: debug assertions (and overflow checks, as the release profile has); -s none: the code is safe
# Rust, so AddressSanitizer adds nothing but time.
exec cargo $toolchain fuzz run -a -s none --target-dir "$fuzz_target_dir" "$target" "corpus/$target" "${extra[@]}" -- \
  -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=512 \
  -print_final_stats=1
