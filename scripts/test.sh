#!/usr/bin/env bash
# Runs every test: unit tests, and the behavioural suite on SQLite and on a
# throwaway PostgreSQL cluster started here (or the one in
# CAMPAIGN_TEST_PG_URL), the fault suite's CI profile, the load generator's
# smoke run and the browser tests. Fails, never skips, when PostgreSQL cannot start.
# Ends with one line "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CAMPAIGN_TEST_PG_URL:-}" ]; then
  read -r PGDIR CAMPAIGN_TEST_PG_URL < <(bash scripts/pg-throwaway.sh) || true
  [ -n "${CAMPAIGN_TEST_PG_URL:-}" ] || { echo "could not start a throwaway PostgreSQL cluster" >&2; exit 1; }
  trap 'bash scripts/pg-throwaway.sh stop "$PGDIR"' EXIT
  # The fault suite restarts this cluster (pg_ctl restart -m immediate).
  export CAMPAIGN_TEST_PG_URL CAMPAIGN_TEST_PG_DATA="$PGDIR/data"
  echo "throwaway PostgreSQL at $CAMPAIGN_TEST_PG_URL"
fi
# The fault suite's CI profile (5 minutes a database); FAULT_PROFILE=quick
# or long overrides it.
export FAULT_PROFILE="${FAULT_PROFILE:-ci}"
CAMPAIGN_FAULT_REPORT_DIR=$(mktemp -d)
export CAMPAIGN_FAULT_REPORT_DIR
log=$(mktemp)
status=0
# Each phase's end, for reading where CI's time goes.
phase() { echo "== test phase: $1 at $(date -u +%T)"; }
if [ $# = 0 ]; then
  # The whole suite: the fault suite (a fixed 5 minutes a database,
  # mostly waiting on engines it kills and restarts) runs beside every
  # other test instead of after them. It kills PostgreSQL backends and
  # restarts its cluster, so it gets a throwaway cluster of its own. One
  # build first, shared by both runs.
  cargo test --workspace --no-run 2>&1 | tee "$log" || status=$?
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  if [ $status = 0 ]; then
    read -r FAULT_PGDIR FAULT_PG_URL < <(bash scripts/pg-throwaway.sh) || true
    [ -n "${FAULT_PG_URL:-}" ] || { echo "could not start the fault suite's PostgreSQL cluster" >&2; exit 1; }
    trap 'bash scripts/pg-throwaway.sh stop "$FAULT_PGDIR"; [ -z "${PGDIR:-}" ] || bash scripts/pg-throwaway.sh stop "$PGDIR"' EXIT
    fault_log=$(mktemp)
    fault_rc=$(mktemp)
    # The test binary itself, not `cargo test`: cargo would hold the build
    # directory's lock for the suite's whole run and keep the other tests
    # (and the load generator's build) waiting. Run as cargo runs it: from
    # its package's directory.
    fault_bin=$(cargo test --workspace --test faults --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "faults" and m.get("executable"):
        print(m["executable"])')
    [ -x "$fault_bin" ] || { echo "fault suite binary not found" >&2; exit 1; }
    ( cd services/engine && CAMPAIGN_TEST_PG_URL="$FAULT_PG_URL" CAMPAIGN_TEST_PG_DATA="$FAULT_PGDIR/data" \
        "$fault_bin" >"$fault_log" 2>&1; echo $? >"$fault_rc" ) &
    fault_pid=$!
    cargo test --workspace -- --skip engine_survives_faults 2>&1 | tee -a "$log" || status=$?
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
    phase "cargo test done"
  fi
else
  cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
# The load generator's harness for a few seconds per workload on both
# databases, invariants checked (a smoke test of the harness, not a timed
# check). Debug builds of every target, as .ci/run builds them (so nothing
# is left to compile there). The two databases' runs go at once: alone
# they take 15 and 20 s, but beside the fault suite and the fuzz build
# one after the other took 3.6 minutes of CI.
if [ $# = 0 ] && [ $status = 0 ]; then
  bin="${CARGO_TARGET_DIR:-target}/debug"
  smoke_sqlite=$(mktemp)
  smoke_pg=$(mktemp)
  smoke_ok=false
  if cargo build -q --workspace --all-targets; then
    "$bin/loadgen" --smoke --engine "$bin/campaign-engine" >"$smoke_sqlite" 2>&1 &
    sqlite_pid=$!
    pg_rc=0
    "$bin/loadgen" --smoke --engine "$bin/campaign-engine" --db "$CAMPAIGN_TEST_PG_URL" \
      >"$smoke_pg" 2>&1 || pg_rc=$?
    sqlite_rc=0
    wait "$sqlite_pid" || sqlite_rc=$?
    [ $sqlite_rc = 0 ] && [ $pg_rc = 0 ] && smoke_ok=true
  fi
  if $smoke_ok; then
    echo "loadgen smoke (SQLite and PostgreSQL): invariants hold"
  else
    cat "$smoke_sqlite" "$smoke_pg"
    echo "loadgen smoke FAILED" >&2
    status=1
  fi
  rm -f "$smoke_sqlite" "$smoke_pg"
  phase "loadgen smoke done"
fi
# The browser tests (console and H5 demo in headless Chromium against the
# debug engine binary built above); setup installs Chromium and
# playwright-core when missing. Their counts join the totals.
browser_passed=0
browser_failed=0
if [ $# = 0 ] && [ $status = 0 ]; then
  browser=$(mktemp)
  if ! { bash scripts/browser-setup.sh && bash scripts/browser-test.sh; } >"$browser" 2>&1; then
    status=1
  fi
  cat "$browser"
  line=$(grep -E '^browser tests: [0-9]+ passed, [0-9]+ failed' "$browser" | tail -1 || true)
  if [ -n "$line" ]; then
    browser_passed=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
    browser_failed=$(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
  else
    browser_failed=1
    status=1
  fi
  rm -f "$browser"
  phase "browser tests done"
fi
# The fault suite, run beside everything above: its result and report.
if [ -n "${fault_pid:-}" ]; then
  wait "$fault_pid" || true
  cat "$fault_log" | tee -a "$log"
  [ "$(cat "$fault_rc")" = 0 ] || status=1
  rm -f "$fault_log" "$fault_rc"
  phase "fault suite done"
fi
# What the fault suite injected and checked (its output is captured).
if [ -s "$CAMPAIGN_FAULT_REPORT_DIR/faults.txt" ]; then
  echo "fault suite report:"
  cat "$CAMPAIGN_FAULT_REPORT_DIR/faults.txt"
fi
rm -rf "$CAMPAIGN_FAULT_REPORT_DIR"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .*; ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
rm -f "$log"
passed=$((passed + browser_passed))
failed=$((failed + browser_failed))
echo "tests: $passed passed, $failed failed"
exit $status
