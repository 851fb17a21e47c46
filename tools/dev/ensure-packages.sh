#!/usr/bin/env bash
# Installs the Debian packages wgmesh's tests, lab and benchmarks use, when any is missing and we
# are root (apt-get). Prints what is missing otherwise. The one list of system packages.
set -euo pipefail

packages=(
  nats-server redis-server                # NATS and Redis for integration tests and the demo
  dnsutils                                # dig
  wireguard-go wireguard-tools            # the userspace WireGuard dataplane and wg
  iproute2 iptables conntrack iputils-ping procps # the network-namespace lab
  dnsperf knot                            # the DNS benchmark (Knot for the side-by-side)
  ethtool iperf3                          # VPP host interfaces (offloads off on a veth), the dataplane benchmark
  coturn                                  # third-party STUN client and server (nat-probe interop tests)
  chromium                                # headless browser for the mesh map's page tests and its screenshot
)

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-packages: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "ensure-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
