#!/usr/bin/env bash
# Real services for the tests, on free loopback ports, in one state directory:
#   scripts/services.sh start   install what is missing, start (or reuse) MariaDB, Redis and the
#                               MongoDB-wire server; print the APPLET_TEST_* exports on stdout
#   scripts/services.sh env     print the exports of the running services
#   scripts/services.sh stop    stop them
#   scripts/services.sh status  say what runs where
# Developers: eval "$(scripts/services.sh start)" then go test ./... as often as you like.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${APPLET_TEST_STATE:-${TMPDIR:-/tmp}/applet-test-services-$(id -u)}
mkdir -p "$state"

redis_password=applet-test-password

say() { printf '%s\n' "services: $*" >&2; }
die() { say "$*"; exit 1; }

alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() { # below the kernel's ephemeral range: a client socket there could take the port first
  local p i low=32768
  [ -r /proc/sys/net/ipv4/ip_local_port_range ] && read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  for i in $(seq 1 200); do
    p=$(( 10000 + RANDOM % (low - 10000) ))
    port_open "$p" || { echo "$p"; return; }
  done
  die "no free loopback port found"
}

wait_until() { # seconds, description, command...
  local secs=$1 what=$2; shift 2
  local i
  for i in $(seq 1 $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what did not come up within ${secs}s"
}

find_bin() { # name, fallback paths...
  local n=$1; shift
  command -v "$n" 2>/dev/null && return
  local p
  for p in "$@"; do [ -x "$p" ] && { echo "$p"; return; }; done
  return 1
}

ensure_packages() {
  local missing=()
  find_bin mariadbd /usr/sbin/mariadbd >/dev/null || missing+=(mariadb-server)
  find_bin redis-server /usr/bin/redis-server >/dev/null || missing+=(redis-server)
  find_bin nginx /usr/sbin/nginx >/dev/null || missing+=(nginx)
  # The cluster test's instances: network namespaces (ip), relays to the stores (socat), probes (curl).
  find_bin ip /usr/sbin/ip /sbin/ip >/dev/null || missing+=(iproute2)
  find_bin socat /usr/bin/socat >/dev/null || missing+=(socat)
  find_bin curl /usr/bin/curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    die "missing ${missing[*]}: install them (sudo apt-get install -y ${missing[*]}) or run as root"
  fi
  say "installing ${missing[*]}"
  # Keep the packages' own system-wide services from starting: the tests run private instances.
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  [ -n "$made_policy" ] && rm -f "$policy"
  return 0
}

build_ferretdb() {
  local bin=$state/bin/ferretdb sum
  sum=$(cat "$root"/tools/ferretdb/go.mod "$root"/tools/ferretdb/go.sum "$root"/tools/ferretdb/*.go | cksum)
  if [ -x "$bin" ] && [ "$(cat "$bin.sum" 2>/dev/null)" = "$sum" ]; then return; fi
  say "building the MongoDB-wire server (FerretDB) once"
  mkdir -p "$state/bin"
  (cd "$root/tools/ferretdb" && go build -o "$bin" .) >&2
  echo "$sum" > "$bin.sum"
}

start_mariadb() {
  local d=$state/mariadb bin
  bin=$(find_bin mariadbd /usr/sbin/mariadbd)
  mkdir -p "$d"
  if alive "$d" && port_open "$(cat "$d/port")"; then say "reusing MariaDB on port $(cat "$d/port")"; return; fi
  stop_one "$d"
  if [ ! -d "$d/data/mysql" ]; then
    rm -rf "$d/data"
    mariadb-install-db --no-defaults --datadir="$d/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 \
      || { cat "$d/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  local port; port=$(free_port)
  setsid "$bin" --no-defaults --datadir="$d/data" --user="$(id -un)" --port="$port" \
    --bind-address=127.0.0.1 --socket="$d/sock" --pid-file="$d/mariadbd.pid" --log-error="$d/err.log" \
    --skip-log-bin --innodb-buffer-pool-size=512M --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci </dev/null >/dev/null 2>&1 &
  echo $! > "$d/pid"; echo "$port" > "$d/port"
  wait_until 60 MariaDB mariadb --no-defaults --socket="$d/sock" -uroot -e 'SELECT 1' \
    || { tail -20 "$d/err.log" >&2; exit 1; }
  mariadb --no-defaults --socket="$d/sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'applet'@'127.0.0.1' IDENTIFIED BY 'applet';
    CREATE USER IF NOT EXISTS 'applet'@'localhost' IDENTIFIED BY 'applet';
    GRANT ALL ON *.* TO 'applet'@'127.0.0.1' WITH GRANT OPTION;
    GRANT ALL ON *.* TO 'applet'@'localhost' WITH GRANT OPTION;"
  say "MariaDB on 127.0.0.1:$port"
}

start_redis() { # dir-name, then extra redis-server arguments
  local name=$1; shift
  local d=$state/$name bin
  bin=$(find_bin redis-server /usr/bin/redis-server)
  mkdir -p "$d"
  if alive "$d" && port_open "$(cat "$d/port")"; then say "reusing Redis ($name) on port $(cat "$d/port")"; return; fi
  stop_one "$d"
  local port; port=$(free_port)
  setsid "$bin" --port "$port" --bind 127.0.0.1 --dir "$d" --save "" --appendonly no \
    --logfile "$d/redis.log" --daemonize no "$@" </dev/null >/dev/null 2>&1 &
  echo $! > "$d/pid"; echo "$port" > "$d/port"
  wait_until 20 Redis port_open "$port"
  say "Redis ($name) on 127.0.0.1:$port"
}

start_mongo() {
  local d=$state/mongo
  mkdir -p "$d"
  if alive "$d" && port_open "$(cat "$d/port")"; then say "reusing the MongoDB-wire server on port $(cat "$d/port")"; return; fi
  stop_one "$d"
  local port; port=$(free_port)
  setsid "$state/bin/ferretdb" --listen-addr "127.0.0.1:$port" --sqlite-dir "$d/data" \
    </dev/null >"$d/ferretdb.log" 2>&1 &
  echo $! > "$d/pid"; echo "$port" > "$d/port"
  wait_until 30 "the MongoDB-wire server" port_open "$port" || { tail -20 "$d/ferretdb.log" >&2; exit 1; }
  say "MongoDB-wire server (FerretDB) on 127.0.0.1:$port"
}

stop_one() {
  local d=$1 pid i
  [ -f "$d/pid" ] || return 0
  pid=$(cat "$d/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$d/pid" "$d/port"
}

print_env() {
  local ok=1
  for s in mariadb redis redis-auth mongo; do alive "$state/$s" || ok=""; done
  [ -n "$ok" ] || die "services are not running: scripts/services.sh start"
  echo "export APPLET_TEST_MYSQL_DSN='applet:applet@tcp(127.0.0.1:$(cat "$state/mariadb/port"))/'"
  echo "export APPLET_TEST_REDIS_ADDR='127.0.0.1:$(cat "$state/redis/port")'"
  echo "export APPLET_TEST_REDIS_AUTH_ADDR='127.0.0.1:$(cat "$state/redis-auth/port")'"
  echo "export APPLET_TEST_REDIS_PASSWORD='$redis_password'"
  echo "export APPLET_TEST_MONGO_URI='mongodb://127.0.0.1:$(cat "$state/mongo/port")/'"
  echo "export APPLET_TEST_NGINX='$(find_bin nginx /usr/sbin/nginx)'"
}

case "${1:-}" in
  start)
    ensure_packages
    build_ferretdb
    start_mariadb
    start_redis redis
    start_redis redis-auth --requirepass "$redis_password"
    start_mongo
    print_env ;;
  env) print_env ;;
  stop)
    for s in mongo redis-auth redis mariadb; do stop_one "$state/$s"; done
    say "stopped" ;;
  status)
    for s in mariadb redis redis-auth mongo; do
      if alive "$state/$s"; then say "$s: running on port $(cat "$state/$s/port")"; else say "$s: stopped"; fi
    done ;;
  *) echo "usage: scripts/services.sh start|env|stop|status" >&2; exit 2 ;;
esac
