#!/usr/bin/env bash
# Start the real services the tests use, on loopback only, and print how to reach them:
#   scripts/test_services.sh postgres   -> postgres://postgres@127.0.0.1:PORT/postgres
# Idempotent: a service already listening is reused. Its files live in a throwaway folder
# (TRIAGE_TEST_SERVICES_DIR, default /tmp/hotline-triage-services), never in the repository.
# Needs Debian's packages: apt-get install postgresql  (.ci/run installs them).
set -euo pipefail
service="${1:?usage: scripts/test_services.sh postgres}"
root="${TRIAGE_TEST_SERVICES_DIR:-/tmp/hotline-triage-services}"
mkdir -p "$root"

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$service" in
  postgres)
    port="${TRIAGE_TEST_PG_PORT:-54329}"
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$bin" ]; then
      echo "PostgreSQL is not installed: apt-get install postgresql" >&2
      exit 1
    fi
    data="$root/postgres"
    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$data"
        [ "$(id -u)" = 0 ] && chown postgres "$root" "$data"
        # Trust on loopback: a throwaway cluster for tests, reachable from this machine only.
        as_owner "$bin/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 >"$root/initdb.log" 2>&1 \
          || { cat "$root/initdb.log" >&2; exit 1; }
      fi
      # fsync off: the tests' data is thrown away, and speed matters more than durability here.
      as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $data -F -c max_connections=200" start >/dev/null \
        || { tail -20 "$data/server.log" >&2; exit 1; }
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  *)
    echo "unknown service: $service" >&2
    exit 2
    ;;
esac
