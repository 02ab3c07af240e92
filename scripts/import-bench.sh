#!/usr/bin/env bash
# Bulk import throughput, end to end into the read models: a CSV of
# 1-minute pm25 data for IMPORT_STATIONS stations (rows interleaved by
# time, no ids, like an export), registered through the command API, then
# `fleetpulse import --json` with a projector running beside it; the clock
# stops when rm_daily counts every row. Loopback only, on a fresh database
# of the local server; the database is left for inspection, the processes
# are stopped on exit.
#
#   scripts/import-bench.sh                          # 10 stations x 100,000 rows
#   IMPORT_ROWS=530000 scripts/import-bench.sh       # a year of minutes per station
#   FLEETPULSE_IMPORT_BATCH=10000 scripts/import-bench.sh
#   IMPORT_VIA=http scripts/import-bench.sh          # POST /v1/imports, a job of the command API
#
# Environment: IMPORT_VIA (cli: `fleetpulse import`; http: the file uploaded
# to the command API's import route, which runs it as a job, polled until
# done), IMPORT_STATIONS (10), IMPORT_ROWS per station (100000),
# IMPORT_DB (fp_import_bench, dropped first), IMPORT_PG (the server,
# postgres://postgres@127.0.0.1:5432), IMPORT_DIR (a new temporary
# directory for the binaries, the file and the logs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

via=${IMPORT_VIA:-cli}
stations=${IMPORT_STATIONS:-10}
rows=${IMPORT_ROWS:-100000}
db=${IMPORT_DB:-fp_import_bench}
server=${IMPORT_PG:-postgres://postgres@127.0.0.1:5432}
dir=${IMPORT_DIR:-$(mktemp -d)}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

go build -o "$dir/" ./cmd/fleetpulse ./cmd/command-api ./cmd/projector
awk -v stations="$stations" -v rows="$rows" 'BEGIN {
	print "station,type,value,measured_at"
	start = systime() - rows * 60; start -= start % 60
	for (m = 0; m < rows; m++) {
		t = strftime("%Y-%m-%dT%H:%M:%SZ", start + m * 60, 1)
		for (s = 0; s < stations; s++) printf "bench-%d,pm25,%.1f,%s\n", s, ((m * 7 + s) % 500) / 10, t
	}
}' > "$dir/history.csv"

psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db"
export FLEETPULSE_PG_URL="$server/$db?sslmode=disable" FLEETPULSE_ADMIN_TOKEN=import-bench \
	FLEETPULSE_COMMAND_ADDR=127.0.0.1:18090 FLEETPULSE_PROJECTOR_ADDR=127.0.0.1:18092 FLEETPULSE_LOG_LEVEL=warn
"$dir/command-api" 2> "$dir/command-api.log" & api=$!; pids+=("$api")
until curl -sf 127.0.0.1:18090/healthz > /dev/null; do sleep 0.2; done
for ((s = 0; s < stations; s++)); do
	curl -sf -o /dev/null -H "Authorization: Bearer $FLEETPULSE_ADMIN_TOKEN" \
		-d "{\"id\": \"bench-$s\", \"name\": \"bench $s\", \"location\": {\"lat\": 50, \"lon\": 19}}" 127.0.0.1:18090/v1/stations
done
if [ "$via" != http ]; then
	kill "$api"; wait "$api" || true
fi

echo "load before: $(uptime)"
"$dir/projector" 2> "$dir/projector.log" & projector=$!; pids+=("$projector")
start=$(date +%s.%N)
case "$via" in
cli)
	/usr/bin/time -f "fleetpulse import CPU: %U s user, %S s system" -o "$dir/import.time" \
		"$dir/fleetpulse" import --json "$dir/history.csv" > "$dir/import.json"
	;;
http)
	job=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $FLEETPULSE_ADMIN_TOKEN" -H "Content-Type: text/csv" \
		--data-binary @"$dir/history.csv" 127.0.0.1:18090/v1/imports | tr -d '\r' | sed -n 's/^[Ll]ocation: *//p')
	echo "job $job, uploaded after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
	until curl -sf -H "Authorization: Bearer $FLEETPULSE_ADMIN_TOKEN" "127.0.0.1:18090$job" > "$dir/import.json" &&
		grep -Eq '"state": *"(done|failed)"' "$dir/import.json"; do sleep 0.5; done
	grep -q '"state": *"done"' "$dir/import.json" || { cat "$dir/import.json"; exit 1; }
	awk '{ printf "command API CPU: %.1f s\n", ($14 + $15) / 100 }' "/proc/$api/stat" > "$dir/import.time"
	;;
*) echo "IMPORT_VIA: cli or http, not $via" >&2; exit 2 ;;
esac
imported=$(date +%s.%N)
accepted=$(sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p' "$dir/import.json")
until [ "$(psql "$FLEETPULSE_PG_URL" -Atc 'SELECT coalesce(sum(count), 0) FROM rm_daily')" -ge "$accepted" ]; do sleep 0.5; done
projected=$(date +%s.%N)
awk '{ printf "projector CPU: %.1f s\n", ($14 + $15) / 100 }' "/proc/$projector/stat"
cat "$dir/import.time"
echo "load after: $(uptime)"
cat "$dir/import.json"
awk -v a="$start" -v b="$imported" -v c="$projected" -v n="$accepted" 'BEGIN {
	printf "%d rows: imported in %.1f s (%.0f rows/s), in rm_daily after %.1f s (%.0f rows/s end to end)\n", n, b - a, n / (b - a), c - a, n / (c - a)
}'
