#!/usr/bin/env bash
# Runs every test: unit tests, and the behavioural suite on SQLite and on a
# throwaway PostgreSQL cluster started here (or the one in
# CAMPAIGN_TEST_PG_URL). Fails, never skips, when PostgreSQL cannot start.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CAMPAIGN_TEST_PG_URL:-}" ]; then
  read -r PGDIR CAMPAIGN_TEST_PG_URL < <(bash scripts/pg-throwaway.sh) \
    || { echo "could not start a throwaway PostgreSQL cluster" >&2; exit 1; }
  [ -n "${CAMPAIGN_TEST_PG_URL:-}" ] || { echo "could not start a throwaway PostgreSQL cluster" >&2; exit 1; }
  trap 'bash scripts/pg-throwaway.sh stop "$PGDIR"' EXIT
  export CAMPAIGN_TEST_PG_URL
  echo "throwaway PostgreSQL at $CAMPAIGN_TEST_PG_URL"
fi
cargo test --workspace "$@"
