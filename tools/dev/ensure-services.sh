#!/usr/bin/env bash
# Makes sure the services wgmesh's tests and demo need are listening on this machine:
# NATS with JetStream on 127.0.0.1:4222 and Redis on 127.0.0.1:6379. Starts whichever is not
# listening (installing Debian's nats-server / redis-server first when missing and we are root).
# Leaves running services alone. Exit 0 when both listen, non-zero with the reason otherwise.
set -euo pipefail

STATE_DIR=${WGMESH_STATE_DIR:-/tmp/wgmesh-services}
mkdir -p "$STATE_DIR"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port name
  for _ in $(seq 1 100); do listening "$1" && return 0; sleep 0.1; done
  echo "ensure-services: $2 did not start listening on 127.0.0.1:$1 (see $STATE_DIR/$2.log)" >&2
  return 1
}

need_binary() { # binary debian-package
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-services: installing $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  fi
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ||
    { echo "ensure-services: $1 is missing; install Debian's $2 (apt-get install $2)" >&2; return 1; }
}

if ! listening 4222; then
  need_binary nats-server nats-server
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  mkdir -p "$STATE_DIR/jetstream"
  echo "ensure-services: starting nats-server (JetStream) on 127.0.0.1:4222" >&2
  nohup "$nats" -a 127.0.0.1 -p 4222 -js -sd "$STATE_DIR/jetstream" >"$STATE_DIR/nats-server.log" 2>&1 &
  wait_for 4222 nats-server
fi

if ! listening 6379; then
  need_binary redis-server redis-server
  echo "ensure-services: starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$STATE_DIR" --logfile "$STATE_DIR/redis-server.log" >/dev/null
  wait_for 6379 redis-server
fi
