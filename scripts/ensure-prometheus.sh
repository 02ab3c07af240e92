#!/usr/bin/env bash
# Makes sure Prometheus and promtool are installed: the metrics test
# (infra/deploy) checks the alert rules with promtool and runs a Prometheus
# server of its own on loopback that scrapes the services it starts. Installs
# Debian's prometheus package with apt-get when either is missing, and stops
# the server the package may have started: the test needs only the binaries.
# The test skips (saying so) when they are still missing, so this never fails
# the run.
set -uo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
echo "ensure-prometheus: installing prometheus (and promtool) with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; then
  echo "ensure-prometheus: could not install prometheus; the metrics test will be skipped" >&2
  exit 0
fi
# Without systemd the package's init script may have started a server on
# :9090; the test starts its own on a free port.
$sudo service prometheus stop >/dev/null 2>&1 || true
exit 0
