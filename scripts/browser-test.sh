#!/usr/bin/env bash
# Browser tests: the marketing console and the H5 demo in headless Chromium
# against the real engine binary (target/debug/campaign-engine, built by the
# test run; built here if missing) on a temp SQLite file with the
# development token issuer on. Needs scripts/browser-setup.sh first.
# Ends with one line "browser tests: N passed, N failed"; exits non-zero on
# any failure. SCREENSHOT_DIR=<dir> keeps screenshots of the pages.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/campaign-engine"
fail() {
  echo "browser-test: $*" >&2
  echo "browser tests: 0 passed, 1 failed"
  exit 1
}
[ -x "$bin" ] || cargo build -q -p engine || fail "could not build the engine"
[ -x /usr/bin/chromium ] || fail "no /usr/bin/chromium: run scripts/browser-setup.sh"
[ -d web/tests/node_modules/playwright-core ] || fail "no playwright-core: run scripts/browser-setup.sh"

dir=$(mktemp -d)
# The engine runs in the temp dir (no campaign.toml of the caller's is
# read), on port 0; it prints where it listens.
(
  cd "$dir" && exec env CAMPAIGN_CONFIG= CAMPAIGN_LISTEN=127.0.0.1:0 \
    CAMPAIGN_DATABASE_URL="sqlite:$dir/engine.db" \
    CAMPAIGN_BOOTSTRAP_KEY_FILE="$dir/admin.key" \
    CAMPAIGN_DEV_TOKEN_ISSUER=true RUST_LOG="${RUST_LOG:-warn}" "$bin"
) >"$dir/engine.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

addr=""
for _ in $(seq 1 150); do
  addr=$(grep -Eo 'listening on [0-9.]+:[0-9]+' "$dir/engine.log" | head -1 | awk '{print $3}')
  [ -n "$addr" ] && [ -s "$dir/admin.key" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$addr" ] || [ ! -s "$dir/admin.key" ]; then
  cat "$dir/engine.log" >&2
  fail "the engine did not start"
fi

status=0
ENGINE_URL="http://$addr" ADMIN_KEY=$(cat "$dir/admin.key") \
  node web/tests/console-h5.mjs 2>&1 | tee "$dir/test.log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
if ! grep -q '^browser tests: ' "$dir/test.log"; then
  # The runner died before counting (Chromium would not start, ...).
  echo "browser tests: 0 passed, 1 failed"
  status=1
fi
if [ $status != 0 ]; then
  echo "--- engine log (last 40 lines) ---" >&2
  tail -40 "$dir/engine.log" >&2
fi
exit $status
