#!/usr/bin/env bash
# The test command (README): makes sure PostgreSQL (and the NATS and
# Mosquitto brokers the bus and MQTT tests use) run and Prometheus is
# installed (the metrics tests run their own), runs vet, every Go
# test, the browser test of the dashboard and short fuzz runs, and drops the
# throwaway databases tests left.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
scripts/ensure-postgres.sh
scripts/ensure-brokers.sh
scripts/ensure-prometheus.sh

admin_url=${FLEETPULSE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cleanup() {
  # Tests drop their own databases; this catches those of a crashed run.
  psql "$admin_url" -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE 'fp\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$admin_url" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

go vet ./...
# The longest packages first, so that the two cores stay busy to the end
# (go test runs packages in the order given, each once).
go test -count=1 -timeout 15m ./infra/faulttest/ ./infra/postgres/eventstore/ ./infra/bustest/ ./projections/ ./... "$@"
echo "test.sh: go vet and go test took ${SECONDS} s" >&2

# The dashboard in headless Chromium (installs Chromium and the locked
# front-end packages when missing).
scripts/e2e-browser.sh
echo "test.sh: browser tests done at ${SECONDS} s" >&2

# Short fuzz runs of every decoder that faces the network; the seed corpus
# also runs as plain tests above. Two targets at a time, one fuzzing worker
# each (the machine has two cores). Minimising each new interesting input is
# capped: the HTTP targets would otherwise spend their whole time on it.
fuzztime=${FUZZTIME:-4s}
fuzzlogs=$(mktemp -d)
fuzz_one() {
  local target=$1 pkg
  pkg=$(grep -rlE "^func ${target}\(" --include='*_test.go' . | head -n 1 | xargs dirname)
  echo "fuzz $target in $pkg for $fuzztime"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s -parallel 1 "$pkg" >"$fuzzlogs/$target.log" 2>&1 && return 0
  # Go 1.26's fuzzing coordinator can fail a target with a bare "context
  # deadline exceeded" as -fuzztime ends, having found nothing (a race in
  # internal/fuzz, golang/go#75804, fixed in Go 1.27). A real failure
  # writes its input to testdata/fuzz: only that, or any other error, fails.
  if ! grep -q 'Failing input written to' "$fuzzlogs/$target.log" &&
    [ "$(grep -c -v -e '^fuzz: elapsed' -e '^--- FAIL: ' -e 'context deadline exceeded' -e '^FAIL' -e '^exit status 1' "$fuzzlogs/$target.log")" -eq 0 ]; then
    echo "fuzz $target: stopped by Go's fuzztime race (golang/go#75804), no failing input" >&2
    return 0
  fi
  cat "$fuzzlogs/$target.log"
  return 1
}
export -f fuzz_one
export fuzztime fuzzlogs
grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/func //' | sort -u |
  xargs -P 2 -I{} bash -c 'fuzz_one {}'
rm -rf "$fuzzlogs"
echo "test.sh: fuzzing done at ${SECONDS} s" >&2
