#!/usr/bin/env bash
# Backup and restore benchmark: the original demo's data set (100,000 videos, 1,000,000 comments by
# default) adopted into applet's schema, backed up and restored by applet, side by side in the same
# run with a plain `mariadb-dump --single-transaction | gzip` and `mariadb < dump`.
#   scripts/bench-backup.sh [videos] [comments]
# Prints one table: wall time, bytes stored, peak RSS, and applet's throughput as a ratio of the plain
# tools' (above 1: faster than them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
videos=${1:-100000}
comments=${2:-1000000}
eval "$("$root/scripts/services.sh" start)"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/applet" "$root/cmd/applet"
go build -o "$work/origdata" "$root/internal/tools/origdata"

# user:pass@tcp(host:port)/ → the client's flags
dsn=$APPLET_TEST_MYSQL_DSN
user=${dsn%%:*}; rest=${dsn#*:}; pass=${rest%%@*}; addr=${dsn#*tcp(}; addr=${addr%%)*}
host=${addr%:*}; port=${addr#*:}
db=bench_backup_$$
client=(mariadb --no-defaults -h "$host" -P "$port" -u "$user" "-p$pass")
"${client[@]}" -e "CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
trap '"${client[@]}" -e "DROP DATABASE IF EXISTS $db; DROP DATABASE IF EXISTS ${db}_plain" >/dev/null 2>&1; rm -rf "$work"' EXIT
export APPLET_MYSQL_DSN="$user:$pass@tcp($addr)/$db" APPLET_DATA_DIR="$work/data" APPLET_CONFIG=/dev/null

echo "loading $videos videos and $comments comments, then adopting them into applet's schema..." >&2
"$work/origdata" -dsn "$APPLET_MYSQL_DSN" -videos "$videos" -comments "$comments" >&2
"$work/applet" seed-mysql --yes >/dev/null

measure() { # name, command...: wall seconds and peak RSS (KiB) into $name.t
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.t" "$@" >"$work/$name.out" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
}
measure applet_backup "$work/applet" backup --to "$work/backups"
measure plain_dump sh -c "mariadb-dump --no-defaults -h $host -P $port -u $user -p$pass --single-transaction $db | gzip > $work/plain.sql.gz"
stored=$(du -sb "$work/backups" | cut -f1)
plain=$(stat -c %s "$work/plain.sql.gz")

"${client[@]}" -e "DROP DATABASE $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
measure applet_restore "$work/applet" restore --to "$work/backups" --force
rows=$("${client[@]}" -N -e "SELECT COUNT(*) FROM $db.comment")
gunzip -c "$work/plain.sql.gz" > "$work/plain.sql"
"${client[@]}" -e "CREATE DATABASE ${db}_plain CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
measure plain_load sh -c "mariadb --no-defaults -h $host -P $port -u $user -p$pass ${db}_plain < $work/plain.sql"

read -r ab_s ab_kb < "$work/applet_backup.t"; read -r pd_s pd_kb < "$work/plain_dump.t"
read -r ar_s ar_kb < "$work/applet_restore.t"; read -r pl_s pl_kb < "$work/plain_load.t"
printf '\n%-42s %9s %12s %12s %10s\n' "case ($videos videos, $comments comments)" "seconds" "bytes" "peak RSS" "ratio"
printf '%-42s %9s %12s %9s MiB %10s\n' "applet backup" "$ab_s" "$stored" "$((ab_kb / 1024))" "$(echo "scale=2; $pd_s / $ab_s" | bc)×"
printf '%-42s %9s %12s %9s MiB %10s\n' "mariadb-dump --single-transaction | gzip" "$pd_s" "$plain" "$((pd_kb / 1024))" "1.00×"
printf '%-42s %9s %12s %9s MiB %10s\n' "applet restore (verify, then load)" "$ar_s" "$rows rows" "$((ar_kb / 1024))" "$(echo "scale=2; $pl_s / $ar_s" | bc)×"
printf '%-42s %9s %12s %9s MiB %10s\n' "mariadb < dump" "$pl_s" "" "$((pl_kb / 1024))" "1.00×"
echo "(ratio: the plain tool's time over applet's, same run; peak RSS of applet's process, of the shell pipeline for the plain tools)"
