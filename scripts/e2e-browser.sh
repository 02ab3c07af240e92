#!/usr/bin/env bash
# Browser end-to-end test of the dashboard (readapi/dashboard/e2e): builds
# cmd/fleetpulse, runs `fleetpulse dev` on a throwaway database and free
# ports, and drives Debian's headless Chromium with playwright-core.
# Installs what it needs on a fresh machine: PostgreSQL (ensure-postgres.sh),
# Chromium with apt-get, the front-end packages with `npm ci` (locked).
# Screenshots and the server log land in readapi/dashboard/e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

scripts/ensure-postgres.sh

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
need=()
[ -x "$CHROMIUM" ] || need+=(chromium fonts-dejavu-core fonts-liberation)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "e2e-browser: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

cd readapi/dashboard
npm ci --no-audit --no-fund --loglevel=error
node --test --test-reporter=spec e2e/dashboard.test.mjs
