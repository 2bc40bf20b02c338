#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the test suite and prints its
# URL; `pg-throwaway.sh stop DIR` stops and removes it.
#   start: bash scripts/pg-throwaway.sh            -> prints "DIR URL"
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user. Trust auth, 127.0.0.1 only, a free port.
set -euo pipefail
BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
  D=$2
  as_owner "$BIN/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$D"
  exit 0
fi

[ -x "$BIN/initdb" ] || { echo "PostgreSQL binaries not found (looked in ${BIN:-/usr/lib/postgresql/*/bin})" >&2; exit 1; }
D=$(mktemp -d /tmp/campaign-pg.XXXXXX)
chmod 755 "$D"
mkdir "$D/data"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$D/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_owner "$BIN/initdb" -D "$D/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$D/initdb.log" 2>&1 \
  || { cat "$D/initdb.log" >&2; exit 1; }
cat >> "$D/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$D/data'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
# As ../shared/bench/pg/setup.sh: no forced checkpoint inside a benchmark
# window (the load generator checkpoints before each one).
max_wal_size = 8GB
checkpoint_timeout = 15min
# Crash recovery (the fault suite restarts this cluster with -m immediate)
# first syncs the data directory: file by file that took 12 s with the
# ~240 databases the suites leave, past pg_ctl's wait under load; syncfs
# is one call for the filesystem.
recovery_init_sync_method = syncfs
CONF
as_owner "$BIN/pg_ctl" -D "$D/data" -l "$D/data/server.log" -w -t 60 start >/dev/null \
  || { cat "$D/data/server.log" >&2; exit 1; }
echo "$D postgres://postgres@127.0.0.1:$PORT/postgres"
