#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, and all tests (real
# mariadbd, real etcd, real RocksDB, real etcdctl / mysql clients).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vitrail-target}"
scripts/target-guard.sh "$CARGO_TARGET_DIR"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
