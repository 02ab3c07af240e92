#!/usr/bin/env bash
# Makes sure the brokers the bus and MQTT tests use answer on loopback:
# NATS with JetStream (4222) and Mosquitto (1883). Starts them if they are
# installed but down, installs them with apt-get if missing. The nats-server
# program is installed even when something else answers on 4222: the NATS
# cluster test starts three nodes of its own. The tests skip (saying so)
# when a broker is still missing, so this never fails the run.
set -uo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 30); do listening "$1" && return 0; sleep 0.5; done
  echo "ensure-brokers: nothing answers on 127.0.0.1:$1" >&2
  return 1
}
install() {
  echo "ensure-brokers: installing $* with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v nats-server >/dev/null 2>&1 || install nats-server
if ! listening 4222; then
  if command -v nats-server >/dev/null 2>&1; then
    $sudo mkdir -p /var/lib/nats-server
    $sudo start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_for 4222
  fi
fi

if ! listening 1883; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || install mosquitto
  mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  if [ -x "$mosq" ]; then
    if [ -f /etc/mosquitto/mosquitto.conf ]; then
      $sudo "$mosq" -d -c /etc/mosquitto/mosquitto.conf
    else
      $sudo "$mosq" -d
    fi
    wait_for 1883
  fi
fi
exit 0
