#!/usr/bin/env bash
# Takes the README's screenshot of the dashboard: builds rtlsd, rtls-fleetsim
# and the real GUI rtls-dashboard, starts one development node on loopback
# ports of its own (18480 for WebSockets, 14322 for NATS, so a node from
# `task run` or `task cluster` is not disturbed), drives a simulated fleet
# through it, runs the dashboard under Xvfb and writes the screen to a PNG.
# 10% of the drivers fall silent (stale, no-fix); 20 more (sim-00 to
# sim-019, listed among the others) leave while the dashboard watches
# (offline, disconnected), one of them selected to show its changes.
#
#   dashboard/screenshot.sh [out.png]        (default docs/dashboard.png)
#
# Needs the GUI build packages and: xvfb imagemagick x11-apps xauth curl.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/dashboard.png}
drivers=${DRIVERS:-300}
warmup=${WARMUP:-30}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
go build -o "$work/rtlsd" ./node/cmd/rtlsd
go build -o "$work/rtls-fleetsim" ./dashboard/cmd/rtls-fleetsim
go build -tags gui -o "$work/rtls-dashboard" ./dashboard/cmd/rtls-dashboard

echo "== node on 127.0.0.1:18480 (ws) and 127.0.0.1:14322 (nats)"
"$work/rtlsd" -dev -name n1 -data "$work/data" -http 127.0.0.1:18480 -nats 127.0.0.1:14322 -log-level warn &
pids+=($!)
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18480/readyz >/dev/null && break
  sleep 0.2
done
curl -sf http://127.0.0.1:18480/readyz >/dev/null || { echo "node not ready"; exit 1; }

echo "== $drivers simulated drivers, ${warmup}s to build up trails (10% go quiet), 20 more that will leave"
"$work/rtls-fleetsim" -ws ws://127.0.0.1:18480/v1/ws -drivers "$drivers" -interval 1s -quiet 0.1 -stats 0 &
pids+=($!)
"$work/rtls-fleetsim" -ws ws://127.0.0.1:18480/v1/ws -drivers 20 -prefix sim-0 -seed 2 -interval 1s -stats 0 &
leaving=$!
pids+=($leaving)
sleep "$warmup"

echo "== dashboard under Xvfb -> $out"
mkdir -p "$(dirname "$out")"
LANG=en_US.UTF-8 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" sh -c '
  "$1" -nats nats://127.0.0.1:14322 -size 1280x800 -select sim-03 -tiles-cache "" &
  app=$!
  sleep 5
  kill "$3" # 20 drivers leave: their connections close
  sleep 4
  /usr/bin/import -window root "$2"
  kill $app; wait $app || true
' sh "$work/rtls-dashboard" "$out" "$leaving"
echo "== wrote $out"
