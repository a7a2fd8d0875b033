#!/usr/bin/env bash
# Start rivergis's own PostGIS cluster (Debian's postgresql-NN-postgis-3) and print its URL.
#
# The cluster is the script's own: its own data folder, its own port, listening on 127.0.0.1
# only, with `trust` for local connections in its own pg_hba.conf. No password is set anywhere
# and no other cluster is started, stopped or changed. Run again, it reuses (and if needed
# restarts) the same cluster. PostgreSQL refuses to run as root, so as root the server runs as
# the `postgres` user (CI); as another user it runs as that user.
#
#   RIVERGIS_PG_PORT  port of the cluster (default 55432)
#   RIVERGIS_PG_DIR   its data folder (default /var/tmp/rivergis-postgis-PORT as root,
#                     ~/.cache/rivergis/postgis-PORT otherwise)
#   PGVER             PostgreSQL major version (default: the newest installed with PostGIS)
#
# stdout carries only the URL (callers capture it); everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2

PORT=${RIVERGIS_PG_PORT:-55432}
DB=rivergis
if [ -z "${PGVER:-}" ]; then
  for control in /usr/share/postgresql/*/extension/postgis.control; do
    [ -e "$control" ] && PGVER=$(basename "$(dirname "$(dirname "$control")")")
  done
fi
BIN=/usr/lib/postgresql/${PGVER:-15}/bin
if [ ! -x "$BIN/initdb" ]; then
  echo "未找到 PostgreSQL ${PGVER:-15}（$BIN/initdb）：请安装 postgresql-15-postgis-3" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  DIR=${RIVERGIS_PG_DIR:-/var/tmp/rivergis-postgis-$PORT}
  as_server() { runuser -u postgres -- "$@"; }
else
  DIR=${RIVERGIS_PG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rivergis/postgis-$PORT}
  as_server() { "$@"; }
fi

if [ ! -s "$DIR/PG_VERSION" ]; then
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
  chmod 700 "$DIR"
  # The bootstrap superuser is named rivergis and has no password: only this cluster's
  # 127.0.0.1 and its own socket folder reach it, both with `trust`.
  as_server "$BIN/initdb" -D "$DIR" -U "$DB" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=trust >/dev/null
  cat >>"$DIR/postgresql.conf" <<CONF
# rivergis's own cluster (scripts/postgis.sh)
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
# A throwaway test cluster: durability is not wanted, speed is (hundreds of databases made and dropped).
fsync = off
full_page_writes = off
synchronous_commit = off
CONF
fi

if ! as_server "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  if (exec 9<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "端口 $PORT 已被其他程序占用：请用 RIVERGIS_PG_PORT 指定另一个端口" >&2
    exit 1
  fi
  # 3>&-: the server must not hold the caller's URL pipe open.
  as_server "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start >/dev/null 3>&-
fi

psql_() { PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$DB" -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
  psql_ -d postgres -c "CREATE DATABASE $DB" >/dev/null
fi
psql_ -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
echo "postgresql+psycopg://$DB@127.0.0.1:$PORT/$DB" >&3
