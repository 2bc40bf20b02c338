#!/usr/bin/env bash
# The cargo-fuzz targets (fuzz/): every RPC of the campaign and coupon
# services through the real engine, and the credential / coupon-code
# parsers. Runs each target for SECONDS (default 300; CI runs 60) from the
# corpus in fuzz/corpus (grown by earlier runs, not checked in), and fails
# on the first crash: a panic, an INTERNAL / UNKNOWN answer, a leak past
# the memory limits. A crash leaves its input in fuzz/artifacts/<target>/;
# `cargo fuzz run <target> <file>` replays it.
#
# The targets run at the same time (one per core: two of three at once
# on this machine's two cores is no slower than one after another, and
# the third shares them); each still runs SECONDS.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   bash scripts/fuzz.sh build      (only build them: CI builds them
#                                    beside the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
build_only=false
# Its own target directory (fuzz/target), never a shared one: the build is
# instrumented and runs beside the test build in CI.
unset CARGO_TARGET_DIR
[ "$secs" = build ] && build_only=true
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
# FUZZ_SANITIZER=none (CI's one-minute run, .ci/run) builds without
# AddressSanitizer: the run looks for panics and INTERNAL answers, ASan's
# instrumentation of every memory access was a large share of the build
# that ends CI, and the one unsafe module (the SQLite writer's C calls)
# keeps its ASan runs in the default, longer runs.
flags=(--sanitizer "${FUZZ_SANITIZER:-address}" --debug-assertions --codegen-units 16)
# FUZZ_PROFILE=dev builds the dev profile, which fuzz/Cargo.toml sets to
# opt-level 1: CI's one-minute run (.ci/run) takes it, because the release
# build of the instrumented engine was CI's longest step, and opt-level 1
# runs about as many inputs a minute. Longer runs keep the release build
# (the default).
if [ "${FUZZ_PROFILE:-release}" = dev ]; then flags+=(--dev); fi
cd fuzz
cargo fuzz build "${flags[@]}"
$build_only && exit 0
mkdir -p artifacts
pids=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 >"artifacts/$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  log="artifacts/$t.log"
  if wait "${pids[$i]}"; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    cov=$(grep -Eo 'DONE +cov: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $t: ${secs}s, $runs inputs, coverage $cov, no crash"
  else
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse)|^\s+NEW_FUNC' "$log" | tail -60
    echo "fuzz target $t FAILED (the input is in fuzz/artifacts/$t/, the log in fuzz/$log)" >&2
    status=1
  fi
done
exit $status
