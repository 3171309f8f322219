#!/bin/sh
# Run a command against a throwaway PostgreSQL server: scripts/with-postgres.sh make test-pg
#
# Starts a private cluster (initdb + pg_ctl, as the postgres user when run as root) in a temp
# folder, listening on 127.0.0.1 on a free port, creates the role and database "mcrm_test",
# exports MCRM_TEST_DATABASE_URL, runs the command and always stops and removes the cluster.
# A system PostgreSQL that is installed or already running is left alone (own port, own data).
set -eu

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir=$(pg_config --bindir)
fi
[ -n "$bindir" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 2
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/mcrm-pg.XXXXXX")
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse to run as root
  chown postgres "$workdir"
  as_pg() { runuser -u postgres -- "$@"; }
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')

stop() {
  as_pg "$bindir/pg_ctl" -D "$workdir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "with-postgres: starting PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
as_pg "$bindir/initdb" -D "$workdir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 \
  || { cat "$workdir/initdb.log" >&2; exit 1; }
# durability is pointless for a throwaway test database; speed is not
as_pg "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$workdir -c fsync=off \
   -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
  || { cat "$workdir/server.log" >&2; exit 1; }

as_pg "$bindir/psql" -h "$workdir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE mcrm_test LOGIN PASSWORD '$password';
CREATE DATABASE mcrm_test OWNER mcrm_test ENCODING 'UTF8';
SQL

MCRM_TEST_DATABASE_URL="postgresql+psycopg://mcrm_test:$password@127.0.0.1:$port/mcrm_test"
export MCRM_TEST_DATABASE_URL
status=0
"$@" || status=$?
exit $status
