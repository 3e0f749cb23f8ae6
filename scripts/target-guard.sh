#!/usr/bin/env bash
# Keeps a cached cargo target dir from filling the disk.
#
# A target dir shared across runs keeps every build it ever made: each
# checkout path, toolchain and feature set adds its own copies. Left alone it
# filled a CI machine's disk and the tests died with ENOSPC mid-run. The dir
# is only a cache, so when it is too big, or the disk too full, it is removed
# and the build starts afresh (a few minutes) instead of failing. Only a
# dir cargo marked as its own (CACHEDIR.TAG) is removed; benchmark results
# kept under it (bench-gate/) go with it.
#
# usage: scripts/target-guard.sh TARGET_DIR
# env:   VITRAIL_TARGET_MAX_GB (default 40), VITRAIL_MIN_FREE_GB (default 15)
set -euo pipefail
target="${1:?usage: target-guard.sh TARGET_DIR}"
max_gb="${VITRAIL_TARGET_MAX_GB:-40}"
min_free_gb="${VITRAIL_MIN_FREE_GB:-15}"

[ -d "$target" ] || exit 0
used_gb=$(( $(du -sk "$target" | cut -f1) / 1024 / 1024 ))
free_gb=$(( $(df -Pk "$target" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if [ ! -f "$target/CACHEDIR.TAG" ]; then
    echo "target-guard: $target has no CACHEDIR.TAG (not a cargo target dir); leaving it" >&2
elif [ "$used_gb" -ge "$max_gb" ] || [ "$free_gb" -lt "$min_free_gb" ]; then
    echo "target-guard: $target holds ${used_gb} GB, ${free_gb} GB free on its disk; removing it (a cache) before building" >&2
    rm -rf "$target"
    free_gb=$(( $(df -Pk "$(dirname "$target")" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
fi
if [ "$free_gb" -lt "$min_free_gb" ]; then
    echo "target-guard: only ${free_gb} GB free; the build and tests may run out of space" >&2
fi
