#!/usr/bin/env bash
# One command for a local sharded cluster: installs what it needs, builds,
# then runs `vitrail up` (control plane, keyspace `commerce` with 2 shards ×
# (1 primary + 2 replicas) of real mariadbd, default schema + VSchema, a gate
# on 127.0.0.1:15306). Prints the mysql command to connect; Ctrl-C stops it
# and keeps the data under ./vitrail-data for the next start.
#
#   scripts/up.sh [vitrail up flags…]   e.g. --shards 4 --dir /tmp/v
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vitrail-target}"
cargo build --release -p vitrail
exec "$CARGO_TARGET_DIR/release/vitrail" up "$@"
