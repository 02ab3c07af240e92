#!/usr/bin/env bash
# Rebuilds the dashboard into dist/ (committed, embedded by dashboard.go).
# Run it after changing src/ and commit what changes; `go build` never needs it.
# Reproducible: the tools and libraries come from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs
