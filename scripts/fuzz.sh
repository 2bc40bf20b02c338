#!/usr/bin/env bash
# The cargo-fuzz targets (fuzz/): every RPC of the campaign and coupon
# services through the real engine, and the credential / coupon-code
# parsers. Runs each target for SECONDS (default 300; CI runs 60) from the
# corpus in fuzz/corpus (grown by earlier runs, not checked in), and fails
# on the first crash: a panic, an INTERNAL / UNKNOWN answer, a leak past
# the memory limits. A crash leaves its input in fuzz/artifacts/<target>/;
# `cargo fuzz run <target> <file>` replays it.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(campaign_rpcs coupon_rpcs credentials)
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.2 >/dev/null
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov options); the
# one toolchain this project has is stable, where RUSTC_BOOTSTRAP allows
# them.
export RUSTC_BOOTSTRAP=1
# 16 codegen units: cargo-fuzz's default of 1 makes the release build of the
# whole engine take twice as long, for runs only somewhat faster.
flags=(--sanitizer address --debug-assertions --codegen-units 16)
cd fuzz
cargo fuzz build "${flags[@]}"
mkdir -p artifacts
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="artifacts/$t.log"
  if cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    cov=$(grep -Eo 'DONE +cov: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $t: ${secs}s, $runs inputs, coverage $cov, no crash"
  else
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)|^\s+NEW_FUNC' "$log" | tail -60
    echo "fuzz target $t FAILED (the input is in fuzz/artifacts/$t/, the log in fuzz/$log)" >&2
    exit 1
  fi
done
