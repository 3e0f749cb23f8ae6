#!/usr/bin/env bash
# Control-plane benchmark: a 3-member etcd cluster (/usr/bin/etcd) and a
# 3-member `vitrail control` cluster on this machine, driven by the same
# etcd-client code (bench/), side by side.
#
#   scripts/bench-control.sh                                 # print the table
#   scripts/bench-control.sh --update-doc docs/benchmarks.md # and splice it in
#
# Any flag is passed to `bench compare` (see `bench compare --help`), e.g.
# --duration-secs 5 --check-perf s for a quick run. A full run takes about
# 10 minutes on 2 cores; results and member logs land in
# $TARGET_DIR/bench-control/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vitrail-target}"

cargo build --release -p vitrail -p bench

target_dir=$(cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release"
out="$target_dir/bench-control/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
  echo "vitrail: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "etcd: $(/usr/bin/etcd --version | head -1)"
  echo "rustc processes running at start: $(pgrep -c rustc || true)"
} | tee "$out/conditions.txt"

"$bin/bench" compare \
  --vitrail-bin "$bin/vitrail" \
  --work-dir "$out/data" \
  --out-md "$out/results.md" \
  --out-json "$out/results.json" \
  "$@"

# Member data is large after check perf; keep only the logs.
find "$out/data" -mindepth 2 -maxdepth 2 -type d -exec rm -rf {} +
echo "results: $out/results.md (logs in $out/data)"
