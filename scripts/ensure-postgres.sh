#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on $PGHOST:$PGPORT (default
# 127.0.0.1:5432) with trust auth for user postgres: starts the local
# cluster if it is installed but down, installs it with apt-get if missing.
set -euo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -h "$host" -p "$port" -q; }
ready && exit 0

if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is not installed; installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  fresh=1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
hba=/etc/postgresql/$version/main/pg_hba.conf
if [ "${fresh:-0}" = 1 ] || ! $sudo grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  # Tests and `make dev` connect as postgres over loopback without a password.
  $sudo sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
  restart=1
fi
echo "ensure-postgres: starting PostgreSQL $version" >&2
if [ "${restart:-0}" = 1 ]; then
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main restart || $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
else
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do
  ready && exit 0
  sleep 1
done
echo "ensure-postgres: PostgreSQL did not answer on $host:$port" >&2
exit 1
