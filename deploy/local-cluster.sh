#!/usr/bin/env bash
# Starts a three-member vitrail control plane on this machine and keeps it
# in the foreground; Ctrl-C stops all three. Data stays under $DIR for the
# next start (same command: members rejoin with their data).
#
#   deploy/local-cluster.sh [DIR]      (default DIR: ./.vitrail/control)
#
# Members: n1 client 127.0.0.1:2379 peer :2380, n2 :2479/:2480, n3 :2579/:2580;
# metrics on :2381, :2481, :2581.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$here/.vitrail/control}"
BIN="${VITRAIL_BIN:-}"
if [ -z "$BIN" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vitrail-target}"
  cargo build --release -p vitrail --manifest-path "$here/Cargo.toml" >&2
  BIN="$CARGO_TARGET_DIR/release/vitrail"
fi
mkdir -p "$DIR"
CLUSTER="n1=127.0.0.1:2380,n2=127.0.0.1:2480,n3=127.0.0.1:2580"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  base=$((2279 + 100 * i))
  "$BIN" control --name "n$i" --data-dir "$DIR/n$i" \
    --client-addr "127.0.0.1:$base" --peer-addr "127.0.0.1:$((base + 1))" \
    --metrics-addr "127.0.0.1:$((base + 2))" \
    --initial-cluster "$CLUSTER" >"$DIR/n$i.log" 2>&1 &
  pids+=($!)
done
export ETCDCTL_API=3
EP=127.0.0.1:2379,127.0.0.1:2479,127.0.0.1:2579
for _ in $(seq 1 100); do
  if etcdctl --endpoints=$EP endpoint health >/dev/null 2>&1; then break; fi
  sleep 0.1
done
etcdctl --endpoints=$EP endpoint status -w table
cat <<MSG
vitrail control plane is up (logs: $DIR/n*.log). Talk to it with etcdctl:
  ETCDCTL_API=3 etcdctl --endpoints=$EP put hello world
  ETCDCTL_API=3 etcdctl --endpoints=$EP member list -w table
Ctrl-C stops all three members.
MSG
wait
