#!/usr/bin/env bash
# Start a local PostGIS (Debian's postgresql-15-postgis-3) and make a role and database for rivergis.
# Prints the RIVERGIS_DATABASE_URL to use. PostgreSQL refuses to run as root, so the cluster is
# started as the postgres user through pg_ctlcluster.
set -euo pipefail
# Only the URL goes to stdout (callers capture it); whatever pg_ctlcluster and friends print
# ("Removed stale pid file.", warnings) goes to stderr.
exec 3>&1 1>&2
PGVER=${PGVER:-15}
PGPORT=${PGPORT:-5432}
DB_USER=${RIVERGIS_PG_USER:-rivergis}
DB_PASS=${RIVERGIS_PG_PASSWORD:-rivergis}
DB_NAME=${RIVERGIS_PG_DB:-rivergis}

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! pg_lsclusters -h 2>/dev/null | grep -q "^$PGVER "; then
  pg_createcluster "$PGVER" main --port "$PGPORT" >/dev/null 3>&-
fi
if ! pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main"' | grep -q online; then
  pg_ctlcluster "$PGVER" main start 3>&-  # the server must not hold the URL pipe open
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 1
done
as_postgres psql -q -p "$PGPORT" -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN SUPERUSER PASSWORD '$DB_PASS';
  END IF;
END \$\$;
SQL
if ! as_postgres psql -p "$PGPORT" -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1; then
  as_postgres createdb -p "$PGPORT" -O "$DB_USER" "$DB_NAME"
fi
as_postgres psql -q -p "$PGPORT" -d "$DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
echo "postgresql+psycopg://$DB_USER:$DB_PASS@127.0.0.1:$PGPORT/$DB_NAME" >&3
