#!/usr/bin/env bash
# Soak test: the three services on a private PostgreSQL cluster configured
# with infra/postgres/postgresql.conf, the ingest peak measured first, then
# load at half of that peak for 30 minutes. Loopback only; everything it
# starts is stopped and deleted on exit (also on Ctrl-C).
#
#   scripts/soak.sh                       # peak for 60 s, then 30 min at half of it
#   SOAK_RATE=15000 scripts/soak.sh       # skip the peak run, soak at this rate
#   SOAK_DURATION=5m scripts/soak.sh      # shorter
#   FLEETPULSE_RAW_RETENTION=5m FLEETPULSE_HOURLY_RETENTION=10m SOAK_RATE=10000 scripts/soak.sh
#                                         # retention at work: sizes.tsv shows each table
#                                         # family's size every SOAK_SIZES_EVERY (60s)
#   SOAK_MODE=retention scripts/soak.sh   # everything kept for minutes: raw 5m, hourly 10m,
#                                         # duplicate keys 5m, the log archived (to a directory
#                                         # in SOAK_DIR, deleted on exit) after 5m every minute;
#                                         # 30 min at 5,000/s; fails unless the database grows
#                                         # < SOAK_MAX_GROWTH (10) % from SOAK_FLAT_AFTER (15m)
#                                         # to the end (sizes.tsv's "(database)" rows)
#   SOAK_MODE=storage scripts/soak.sh     # instead: bytes at rest and WAL per station
#                                         # measurement and per vehicle sample (loadgen storage),
#                                         # on this private cluster, where WAL is fleetpulse's alone
#
# Environment: SOAK_DURATION (30m), PEAK_DURATION (60s), SOAK_RATE (half of
# the measured peak), SOAK_STATIONS (100), SOAK_CONCURRENCY (64),
# SOAK_PGPORT (55432), SOAK_DIR (a new temporary directory; results and
# service logs are copied to SOAK_OUT, default ./soak-results/<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

duration=${SOAK_DURATION:-30m}
peak_duration=${PEAK_DURATION:-60s}
stations=${SOAK_STATIONS:-100}
concurrency=${SOAK_CONCURRENCY:-64}
pgport=${SOAK_PGPORT:-55432}
out=${SOAK_OUT:-soak-results/$(date -u +%Y%m%dT%H%M%SZ)}
dir=$(mktemp -d "${SOAK_DIR:-${TMPDIR:-/tmp}}/fleetpulse-soak.XXXXXX")
chmod 755 "$dir"
chown postgres "$dir" 2>/dev/null || true
mkdir -p "$out"
conf=$(pwd)/infra/postgres/postgresql.conf

if [ "${SOAK_MODE:-}" = retention ]; then
  # Each setting can still be overridden from the environment. The archive
  # horizon may not be shorter than the de-duplication horizon.
  export FLEETPULSE_RAW_RETENTION=${FLEETPULSE_RAW_RETENTION:-5m}
  export FLEETPULSE_HOURLY_RETENTION=${FLEETPULSE_HOURLY_RETENTION:-10m}
  export FLEETPULSE_DEDUP_HORIZON=${FLEETPULSE_DEDUP_HORIZON:-5m}
  export FLEETPULSE_ARCHIVE_URL=${FLEETPULSE_ARCHIVE_URL:-$dir/archive}
  export FLEETPULSE_ARCHIVE_HORIZON=${FLEETPULSE_ARCHIVE_HORIZON:-5m}
  export FLEETPULSE_ARCHIVE_INTERVAL=${FLEETPULSE_ARCHIVE_INTERVAL:-1m}
  SOAK_RATE=${SOAK_RATE:-5000}
  flat_after=${SOAK_FLAT_AFTER:-15m}
  case $flat_after in
    *h) after_s=$(( ${flat_after%h} * 3600 )) ;;
    *m) after_s=$(( ${flat_after%m} * 60 )) ;;
    *s) after_s=${flat_after%s} ;;
    *) echo "soak: SOAK_FLAT_AFTER=$flat_after: want whole seconds, minutes or hours (90s, 15m, 1h)" >&2; rm -rf "$dir"; exit 2 ;;
  esac
  mkdir -p "$FLEETPULSE_ARCHIVE_URL"
fi

pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
[ -x "$pgbin/initdb" ] || { echo "soak: PostgreSQL's initdb is not installed (scripts/ensure-postgres.sh installs it)" >&2; exit 1; }
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  cp "$dir"/*.log "$out"/ 2>/dev/null
  if [ -f "$dir/pg/postmaster.pid" ]; then "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: building the binaries" >&2
go build -o "$dir/bin/" ./cmd/command-api ./cmd/projector ./cmd/read-api ./cmd/fleetpulse ./cmd/loadgen

echo "soak: private PostgreSQL cluster in $dir/pg on port $pgport with $conf" >&2
mkdir -p "$dir/pg" "$dir/sock"
chown postgres "$dir/pg" "$dir/sock" 2>/dev/null || true
"${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg" -A trust -U postgres -E UTF8 >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -w -t 60 -l "$dir/postgresql.log" \
  -o "-c config_file=$conf -c hba_file=$dir/pg/pg_hba.conf -c ident_file=$dir/pg/pg_ident.conf -c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$dir/sock" start >/dev/null
psql -h 127.0.0.1 -p "$pgport" -U postgres -qc "CREATE DATABASE fleetpulse" postgres
psql -h 127.0.0.1 -p "$pgport" -U postgres -qc "CREATE EXTENSION pg_stat_statements" fleetpulse

export FLEETPULSE_PG_URL="postgres://postgres@127.0.0.1:$pgport/fleetpulse?sslmode=disable"
export FLEETPULSE_ADMIN_TOKEN=soak-admin-$RANDOM$RANDOM
export FLEETPULSE_COMMAND_ADDR=127.0.0.1:28080 FLEETPULSE_READ_ADDR=127.0.0.1:28081 FLEETPULSE_PROJECTOR_ADDR=127.0.0.1:28082
# The load generator's stations post far above a real device's rate.
export FLEETPULSE_DEVICE_RATE=100000 FLEETPULSE_DEVICE_BURST=100000
"$dir/bin/fleetpulse" migrate
for svc in command-api projector read-api; do
  "$dir/bin/$svc" >"$dir/$svc.log" 2>&1 &
  pids+=($!)
done
for port in 28080 28081 28082; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
  done
done
pidlist=$(IFS=,; echo "${pids[*]}")
common=(-url http://127.0.0.1:28080 -read-url http://127.0.0.1:28081 -projector-url http://127.0.0.1:28082
  -stations "$stations" -concurrency "$concurrency" -pids "$pidlist")

if [ "${SOAK_MODE:-}" = storage ]; then
  for kind in station vehicle; do
    echo "soak: storage per $kind item" >&2
    "$dir/bin/loadgen" storage -url http://127.0.0.1:28080 -read-url http://127.0.0.1:28081 \
      -pg-url "$FLEETPULSE_PG_URL" -kind "$kind" -prefix "storage-$kind" -json "$out/storage-$kind.json" | tee "$out/storage-$kind.txt"
  done
  echo "soak: results in $out" >&2
  exit 0
fi

rate=${SOAK_RATE:-}
if [ -z "$rate" ]; then
  echo "soak: measuring the ingest peak for $peak_duration" >&2
  "$dir/bin/loadgen" ingest "${common[@]}" -duration "$peak_duration" -json "$out/peak.json" | tee "$out/peak.txt"
  peak=$(sed -n 's/.*"measurements_per_sec": *\([0-9.]*\).*/\1/p' "$out/peak.json" | head -n 1)
  rate=$(awk -v p="$peak" 'BEGIN { printf "%d", p / 2 }')
  echo "soak: peak $peak measurements/s; soaking at half of it: $rate/s" >&2
fi

# Sizes of each table family (a partitioned table with its partitions,
# indexes and TOAST), sampled while the soak runs, and of the whole
# database (its "(database)" rows: catalogs and free space included).
sizes_sql="SELECT now()::timestamptz(0), coalesce(pg_partition_root(c.oid)::regclass::text, c.relname::text), sum(pg_total_relation_size(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY 2 HAVING sum(pg_total_relation_size(c.oid)) > 65536
  UNION ALL SELECT now()::timestamptz(0), '(database)', pg_database_size(current_database()) ORDER BY 2"
sample_once() {
  psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -AtF $'\t' -c "$sizes_sql" >>"$out/sizes.tsv" 2>/dev/null || true
}
sample_sizes() {
  while :; do
    sample_once
    sleep "${SOAK_SIZES_EVERY:-60}"
  done
}
sample_sizes &
pids+=($!)

# SOAK_ARGS: more loadgen soak flags, e.g. "-report-every 30s -max-lag 1s".
status=0
started=$(date +%s)
# shellcheck disable=SC2086
"$dir/bin/loadgen" soak "${common[@]}" -rate "$rate" -duration "$duration" -json "$out/soak.json" ${SOAK_ARGS:-} | tee "$out/soak.txt" || status=$?
sample_once

# With retention in minutes the database must stop growing once the
# longest period has passed: compare its size at the end with its first
# sample at least SOAK_FLAT_AFTER after the load started, table family by
# table family, so what still grows is named.
if [ -n "${flat_after:-}" ]; then
  max_growth=${SOAK_MAX_GROWTH:-10}
  awk -F '\t' -v settled="$((started + after_s))" -v max="$max_growth" -v after="$flat_after" '
    { cmd = "date -d \"" $1 "\" +%s"; cmd | getline t; close(cmd)
      if (t >= settled && !($2 in base)) { base[$2] = $3; baset[$2] = $1 }
      last[$2] = $3; lastt = $1; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
    END {
      printf "\n== database size after the first retention period (%s) and at the end ==\n", after
      printf "%-32s %14s %14s %9s\n", "table family", "settled (MB)", "end (MB)", "growth"
      for (i = 1; i <= n; i++) { f = order[i]; b = (f in base) ? base[f] : 0
        printf "%-32s %14.1f %14.1f %8s\n", f, b / 1048576, last[f] / 1048576, (b > 0 ? sprintf("%+.1f%%", 100 * (last[f] / b - 1)) : "new") }
      if (!("(database)" in base)) { print "no size sample after the settling time: run longer than SOAK_FLAT_AFTER"; exit 1 }
      g = 100 * (last["(database)"] / base["(database)"] - 1)
      printf "database %s -> %s: %.1f MB -> %.1f MB, %+.1f%% (limit %s%%)\n", baset["(database)"], lastt,
        base["(database)"] / 1048576, last["(database)"] / 1048576, g, max
      if (g >= max) { print "DATABASE NOT FLAT"; exit 1 }
      print "DATABASE FLAT"
    }' "$out/sizes.tsv" | tee -a "$out/soak.txt" || status=1
fi
psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -c "
  SELECT pg_size_pretty(pg_database_size('fleetpulse')) AS database,
         (SELECT count(*) FROM events) AS events" -c "SELECT name, events FROM projection_checkpoints" | tee "$out/database.txt"
# What the projector's scheduled archive runs moved out of the log.
if [ -n "${FLEETPULSE_ARCHIVE_URL:-}" ]; then
  psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -c "
    SELECT count(*) AS files, sum(events) AS events, sum(items) AS items, max(items) AS max_file_items,
           round(sum(bytes) / 1048576.0, 1) AS mb, round(sum(bytes)::numeric / nullif(sum(items), 0), 2) AS bytes_per_item,
           min(archived_at)::timestamptz(0) AS first_archived, max(archived_at)::timestamptz(0) AS last_archived
    FROM event_archive" | tee -a "$out/database.txt"
fi
psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -c "SELECT * FROM pg_stat_bgwriter" -x | tee -a "$out/database.txt"
# Dead rows and vacuums of the tables that are written to most: what
# DELETE-pruned tables (the archived log, live changes) cost.
psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -c "
  SELECT relname, n_live_tup, n_dead_tup, autovacuum_count, last_autovacuum::timestamptz(0),
         pg_size_pretty(pg_total_relation_size(relid)) AS size
  FROM pg_stat_user_tables ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC LIMIT 12" | tee -a "$out/database.txt"
psql -h 127.0.0.1 -p "$pgport" -U postgres -d fleetpulse -c "
  SELECT calls, round(total_exec_time::numeric / 1000, 1) AS total_s, round(mean_exec_time::numeric, 2) AS mean_ms, rows,
         left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS query
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" >>"$out/database.txt"
echo "soak: results in $out" >&2
exit "$status"
