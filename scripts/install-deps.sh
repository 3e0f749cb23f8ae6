#!/usr/bin/env bash
# Installs the Debian packages vitrail builds and tests with (idempotent:
# skips apt entirely when everything is present). Needs root (or sudo).
set -euo pipefail
pkgs=(build-essential pkg-config clang libclang-dev librocksdb-dev protobuf-compiler
      mariadb-server mariadb-client etcd-server etcd-client nftables sysbench haproxy
      python3-pymysql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's packages start their own mariadb/etcd/haproxy services on their
# default ports; vitrail's tests use their own ports, but the services are
# not wanted either way.
for svc in mariadb etcd haproxy; do
  systemctl stop "$svc" 2>/dev/null || true
done
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
