#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests: scripts/postgres.sh start|stop|url|status [DIR]
#
#   start   initdb (once) + start a server on 127.0.0.1 (trust auth, fsync off) and create the
#           database arbiter_test; prints the URL. Idempotent: a running cluster is reused.
#   stop    stop the server (fast shutdown) if it runs. Idempotent.
#   url     print the URL of the running cluster (exit 1 if it is not running).
#   status  exit 0 when the cluster runs, 1 otherwise.
#
# DIR (or $ARBITER_PGDIR) defaults to .pgdata/ in the repository (gitignored), or a folder under
# /tmp when run as root (see below). Layout:
#   DIR/data (the cluster), DIR/port, DIR/server.log, DIR/lock.
# The port is $ARBITER_PG_PORT or the first free port from 55432 up. Server binaries come from
# /usr/lib/postgresql/*/bin (newest); when absent and we are root they are installed with apt-get.
# initdb/postgres refuse to run as root, so as root they run as the `postgres` OS user.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CMD="${1:-}"
# As root the cluster runs as `postgres`, which may not be able to enter the repository's parents
# (a clone under /root, say): keep its files under /tmp then, one folder per repository path.
if [[ "$(id -u)" == 0 ]]; then
  DEFAULT_DIR="/tmp/arbiter-pgdata-$(printf '%s' "$REPO" | md5sum | cut -c1-10)"
else
  DEFAULT_DIR="$REPO/.pgdata"
fi
DIR="${2:-${ARBITER_PGDIR:-$DEFAULT_DIR}}"
DATA="$DIR/data"
DB="arbiter_test"
PGUSER_NAME="postgres"

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$d" ]] && command -v pg_ctl >/dev/null 2>&1; then
    d="$(dirname "$(command -v pg_ctl)")"
  fi
  echo "$d"
}

install_server() {
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL server binaries not found and not root: install postgresql"
  echo "postgres.sh: installing postgresql with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
}

# Run a command as the cluster owner (root cannot run initdb/postgres).
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u "$PGUSER_NAME" -- "$@"
  else
    "$@"
  fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  if [[ -n "${ARBITER_PG_PORT:-}" ]]; then echo "$ARBITER_PG_PORT"; return; fi
  local p
  for p in $(seq 55432 55531); do
    if ! port_busy "$p"; then echo "$p"; return; fi
  done
  die "no free port in 55432-55531"
}

owner_name() { if [[ "$(id -u)" == 0 ]]; then echo "$PGUSER_NAME"; else id -un; fi; }

url() { echo "postgresql://$(owner_name)@127.0.0.1:$(cat "$DIR/port")/$DB"; }

running() {
  local bindir="$1"
  [[ -f "$DATA/PG_VERSION" ]] || return 1
  as_owner "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

ensure_db() {
  local bindir="$1" port
  port="$(cat "$DIR/port")"
  local exists
  exists="$(as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$(owner_name)" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'")"
  if [[ "$exists" != "1" ]]; then
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$(owner_name)" "$DB"
  fi
}

start() {
  local bindir
  bindir="$(find_bindir)"
  if [[ -z "$bindir" ]]; then install_server; bindir="$(find_bindir)"; fi
  [[ -n "$bindir" ]] || die "no PostgreSQL server binaries after install"
  mkdir -p "$DIR"
  if [[ "$(id -u)" == 0 ]]; then
    id "$PGUSER_NAME" >/dev/null 2>&1 || die "OS user $PGUSER_NAME missing"
    chown "$PGUSER_NAME:" "$DIR"
  fi
  exec 9>"$DIR/lock"
  flock -w 120 9 || die "timed out waiting for $DIR/lock"
  if running "$bindir"; then ensure_db "$bindir"; url; return; fi
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    rm -rf "$DATA"
    as_owner "$bindir/initdb" -D "$DATA" -U "$(owner_name)" --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  as_owner touch "$DIR/server.log"
  local port attempt
  for attempt in 1 2 3 4 5; do
    # another cluster may grab the port we saw free: then pick again
    pick_port >"$DIR/port"
    port="$(cat "$DIR/port")"
    [[ "$(id -u)" == 0 ]] && chown "$PGUSER_NAME:" "$DIR/port" "$DIR/lock"
    if as_owner "$bindir/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null 9>&-; then
      ensure_db "$bindir"
      url
      return
    fi
    grep -q "Address already in use" "$DIR/server.log" || break
    sleep "0.$((RANDOM % 9 + 1))"
  done
  tail -n 30 "$DIR/server.log" >&2
  die "server failed to start"
}

stop() {
  local bindir
  bindir="$(find_bindir)"
  [[ -n "$bindir" && -d "$DIR" ]] || return 0
  if running "$bindir"; then
    as_owner "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  url)
    bindir="$(find_bindir)"
    [[ -n "$bindir" ]] && running "$bindir" || die "cluster in $DIR is not running"
    url ;;
  status)
    bindir="$(find_bindir)"
    if [[ -n "$bindir" ]] && running "$bindir"; then exit 0; else exit 1; fi ;;
  *) echo "usage: $0 start|stop|url|status [DIR]" >&2; exit 2 ;;
esac
