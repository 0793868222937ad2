#!/usr/bin/env bash
# Performance as users meet it, side by side in one run, as ratios to the project's own floor:
#   scripts/bench.sh            (BENCH_VIDEOS, BENCH_COMMENTS, BENCH_DURATION, BENCH_CONNECTIONS to change the defaults)
# The HTTP cases run wrk (a separate process, keep-alive) against `applet serve` on the original demo's
# data set (100,000 videos, 1,000,000 comments by the shared generator, adopted into applet's schema,
# statistics as that bulk load leaves them), logged in where the route needs it; an answer whose body
# is not a success counts as failed. The game cases run its benchmarks outside -race: idle connections
# that said hello (RSS from /proc, no forced collection), and choice → opponent's movement against a
# bare WebSocket echo (3 s rounds, GAMELOAD_GAME_TIME; the two take turns five times, GAMELOAD_PAIRS, and the medians
# count: one turn's p99 swings by several times on a shared machine), on one node and on two over Redis.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
videos=${BENCH_VIDEOS:-100000}
comments=${BENCH_COMMENTS:-1000000}
duration=${BENCH_DURATION:-8s}
conns=${BENCH_CONNECTIONS:-64}
eval "$("$root/scripts/services.sh" start)"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

work=$(mktemp -d)
pids=()
dsn=$APPLET_TEST_MYSQL_DSN
user=${dsn%%:*}; rest=${dsn#*:}; pass=${rest%%@*}; addr=${dsn#*tcp(}; addr=${addr%%)*}
host=${addr%:*}; port=${addr#*:}
db=bench_$$
client=(mariadb --no-defaults -h "$host" -P "$port" -u "$user" "-p$pass")
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${client[@]}" -e "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o "$work/applet" ./cmd/applet && go build -o "$work/origdata" ./internal/tools/origdata)

echo "bench: loading $videos videos and $comments comments, adopting them into applet's schema..." >&2
"${client[@]}" -e "CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
mysql_dsn="$user:$pass@tcp($addr)/$db"
"$work/origdata" -dsn "$mysql_dsn" -videos "$videos" -comments "$comments" >&2
APPLET_CONFIG=/dev/null APPLET_MYSQL_DSN="$mysql_dsn" "$work/applet" seed-mysql --yes >/dev/null
busy=$("${client[@]}" -N -e "SELECT vid FROM $db.comment GROUP BY vid ORDER BY COUNT(*) DESC LIMIT 1")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve() { # name, port, extra env...: applet serve all --dev on one address
  local name=$1 p=$2; shift 2
  env APPLET_CONFIG=/dev/null APPLET_LOG_LEVEL=warn APPLET_DATA_DIR="$work/$name" APPLET_MYSQL_DSN="$mysql_dsn" \
    APPLET_SERVE_WRITE_RATE=0 "$@" "$work/applet" serve all --dev --listen "127.0.0.1:$p" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$p/applet/video/readyz" >/dev/null && curl -fs "http://127.0.0.1:$p/applet/session/readyz" >/dev/null && return; sleep 0.2; done
  cat "$work/$name.log" >&2; exit 1
}
emb=$(free_port); mgo=$(free_port)
serve embedded "$emb"
serve mongo "$mgo" APPLET_MONGO_URI="$APPLET_TEST_MONGO_URI" APPLET_MONGO_DATABASE="$db"

login() { # port → a session key, with drawings saved for its user
  local skey
  skey=$(curl -fs -H "X-WX-Code: bench-$1:1" "http://127.0.0.1:$1/applet/session/login" | jq -r .data.skey)
  for i in 1 2 3 4 5; do
    curl -fs -H "X-WX-Skey: $skey" -H 'Content-Type: application/json' -d "{\"id\":\"d$i\",\"actions\":\"[{\\\"x\\\":$i,\\\"y\\\":$i}]\"}" \
      "http://127.0.0.1:$1/applet/session/paints/save" >/dev/null
  done
  echo "$skey"
}
skey_emb=$(login "$emb"); skey_mgo=$(login "$mgo")

# An answer counts when its body says success: {"code":0...} from the apps, {"status":"ok"} from health.
cat > "$work/check.lua" <<'LUA'
local threads, want = {}, '"code":0'
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; if args[1] then want = args[1] end; if args[2] then wrk.headers["X-WX-Skey"] = args[2] end end
function response(status, headers, body) if status ~= 200 or not string.find(body, want, 1, true) then bad = bad + 1 end end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("RESULT %.1f %.2f %d %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    b + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.requests))
end
LUA
declare -A rps p99 fail
run() { # name, url, [want], [skey]; WRK_THREADS (default 2)
  local out t=${WRK_THREADS:-2}
  wrk -t"$t" -c"$conns" -d1s "$2" -H "X-WX-Skey: ${4:-}" >/dev/null # warm: caches filled, connections made
  out=$(wrk -t"$t" -c"$conns" -d"$duration" -s "$work/check.lua" "$2" -- "${3:-\"code\":0}" "${4:-}" | grep '^RESULT')
  read -r _ rps[$1] p99[$1] fail[$1] _ <<<"$out"
  echo "bench: $1 ${rps[$1]} req/s, p99 ${p99[$1]} ms, ${fail[$1]} failed" >&2
}
v="http://127.0.0.1:$emb/applet/video"
run healthz "$v/healthz" '"status":"ok"'
run list1 "$v/list?pageNo=1"
run list10000 "$v/list?pageNo=10000"
run comments "$v/commentList?vid=$busy"
# The same two with wrk on one thread: with two, the generator's threads take both cores in turn
# with the server's, and its own waits for a core land in every latency it records.
WRK_THREADS=1 run healthz_t1 "$v/healthz" '"status":"ok"'
WRK_THREADS=1 run list10000_t1 "$v/list?pageNo=10000"
run user_emb "http://127.0.0.1:$emb/applet/session/user" '"code":0' "$skey_emb"
run paints_emb "http://127.0.0.1:$emb/applet/session/paints/list" '"code":0' "$skey_emb"
run user_mgo "http://127.0.0.1:$mgo/applet/session/user" '"code":0' "$skey_mgo"
run paints_mgo "http://127.0.0.1:$mgo/applet/session/paints/list" '"code":0' "$skey_mgo"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done

echo "bench: the game (10,000 idle connections; 5,000 rooms on one node and on two)..." >&2
game=$(cd "$root" && GAMELOAD_GAME_TIME=${GAMELOAD_GAME_TIME:-3s} GAMELOAD_PAIRS=${GAMELOAD_PAIRS:-5} go test ./serve/game -run '^$' -bench 'IdleConnectionRSS|GameLoad$|GameLoadTwoNodes' -benchtime 1x -count 1 2>&1) || { echo "$game" >&2; exit 1; }
metric() { echo "$game" | grep "^Benchmark$1-" | grep -o "[0-9.]* $2" | head -1 | cut -d' ' -f1; }

ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\n%-52s %10s %10s %8s %10s %8s\n' "case (wrk -t2 -c$conns -d$duration, 2 cores shared)" "req/s" "p99 ms" "failed" "ratio" "target"
row() { printf '%-52s %10s %10s %8s %10s %8s\n' "$@"; }
row "video /healthz (the floor)" "${rps[healthz]}" "${p99[healthz]}" "${fail[healthz]}" "1.00" ""
row "list?pageNo=1 vs /healthz" "${rps[list1]}" "${p99[list1]}" "${fail[list1]}" "$(ratio "${rps[list1]}" "${rps[healthz]}")" "≥ 0.8"
row "list?pageNo=10000 vs /healthz" "${rps[list10000]}" "${p99[list10000]}" "${fail[list10000]}" "$(ratio "${rps[list10000]}" "${rps[healthz]}")" "≥ 0.8"
row "list?pageNo=10000 p99 (ms), and vs /healthz's" "" "${p99[list10000]}" "" "$(ratio "${p99[list10000]}" "${p99[healthz]}")" "≤ 10"
row "video /healthz, wrk on one thread" "${rps[healthz_t1]}" "${p99[healthz_t1]}" "${fail[healthz_t1]}" "1.00" ""
row "list?pageNo=10000 vs /healthz, wrk on one thread" "${rps[list10000_t1]}" "${p99[list10000_t1]}" "${fail[list10000_t1]}" "$(ratio "${rps[list10000_t1]}" "${rps[healthz_t1]}")" "p99≤10"
row "commentList (busiest video) vs /healthz" "${rps[comments]}" "${p99[comments]}" "${fail[comments]}" "$(ratio "${rps[comments]}" "${rps[healthz]}")" "≥ 0.5"
row "session/user, logged in (embedded)" "${rps[user_emb]}" "${p99[user_emb]}" "${fail[user_emb]}" "1.00" ""
row "paints/list vs session/user (embedded SQLite)" "${rps[paints_emb]}" "${p99[paints_emb]}" "${fail[paints_emb]}" "$(ratio "${rps[paints_emb]}" "${rps[user_emb]}")" "≥ 0.6"
row "session/user, logged in (MongoDB drawings)" "${rps[user_mgo]}" "${p99[user_mgo]}" "${fail[user_mgo]}" "1.00" ""
row "paints/list vs session/user (MongoDB)" "${rps[paints_mgo]}" "${p99[paints_mgo]}" "${fail[paints_mgo]}" "$(ratio "${rps[paints_mgo]}" "${rps[user_mgo]}")" "≥ 0.6"
printf '\n%-52s %10s %10s\n' "game" "value" "target"
printf '%-52s %10s %10s\n' "RSS per idle connection (10,000, hello sent)" "$(metric IdleConnectionRSS rss_bytes/conn) B" "≤ 4096 B"
printf '%-52s %10s %10s\n' "goroutines per idle connection" "$(metric IdleConnectionRSS goroutines/conn)" "0"
printf '%-52s %10s %10s   %s\n' "choice→movement p99 / echo p99, one node" "$(metric GameLoad move/echo_p99)" "≤ 3" \
  "($(metric GameLoad move_p99_ms) ms / $(metric GameLoad echo_p99_ms) ms, medians of ${GAMELOAD_PAIRS:-5} turns)"
printf '%-52s %10s %10s   %s\n' "choice→movement p99 / echo p99, two nodes (Redis)" "$(metric GameLoadTwoNodes move/echo_p99)" "≤ 3" \
  "($(metric GameLoadTwoNodes move_p99_ms) ms / $(metric GameLoadTwoNodes echo_p99_ms) ms)"
printf '%-52s %10s %10s   %s\n' "what the nodes allocate per round, one node / two" "$(metric GameLoad server_B/round) B" "" \
  "($(metric GameLoadTwoNodes server_B/round) B on two; collections/s $(metric GameLoad server_gc/s) / $(metric GameLoadTwoNodes server_gc/s))"
