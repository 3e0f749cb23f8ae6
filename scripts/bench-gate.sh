#!/usr/bin/env bash
# Query-path benchmark: sysbench against the same MariaDB three ways —
# directly, through haproxy in TCP mode (the floor any proxy pays), and
# through the gate — plus the gate in front of 2 shards, side by side in
# one run. Every combination of workload × statement mode × threads runs
# against every target before the next combination starts, so a noisy
# minute hurts all targets alike.
#
#   scripts/bench-gate.sh                                  # print the table
#   scripts/bench-gate.sh --update-doc docs/benchmarks.md  # and splice it in
#
# Environment: BENCH_TIME (seconds per run, default 10), BENCH_THREADS
# (default "1 8 32"), BENCH_WORKLOADS (default "oltp_point_select
# oltp_read_only oltp_insert"), BENCH_PS_MODES (default "auto disable"),
# BENCH_TABLE_SIZE (default 10000), BENCH_ROUNDS (default 1: times every
# combination runs through all targets in turn; the report shows medians,
# and ratios as the median of each round's ratio, so a noisy machine's
# drift between rounds cancels out). A full run takes about 15 minutes;
# results and logs land in $CARGO_TARGET_DIR/bench-gate/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vitrail-target}"

update_doc=""
while [ $# -gt 0 ]; do
  case "$1" in
    --update-doc) update_doc="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

time_s="${BENCH_TIME:-10}"
threads_list="${BENCH_THREADS:-1 8 32}"
workloads="${BENCH_WORKLOADS:-oltp_point_select oltp_read_only oltp_insert}"
ps_modes="${BENCH_PS_MODES:-auto disable}"
table_size="${BENCH_TABLE_SIZE:-10000}"
rounds="${BENCH_ROUNDS:-1}"

for tool in sysbench haproxy mariadb; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh" >&2; exit 1; }
done

cargo build --release -p vitrail
bin="$CARGO_TARGET_DIR/release/vitrail"
out="$CARGO_TARGET_DIR/bench-gate/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

pids=()
hap_pid=""
finished=""
cleanup() {
  # Background jobs of a script ignore SIGINT, and haproxy keeps that
  # disposition: it gets SIGTERM (the clusters take SIGINT, their clean stop).
  [ -n "$hap_pid" ] && kill "$hap_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # After a complete run only the results and logs are kept: the clusters'
  # data (1.5 GB after a 3-round run, mostly the inserts' binlogs) is not
  # needed again. A failed run keeps it for a look.
  if [ -n "$finished" ]; then rm -rf "$out/one" "$out/two"; fi
}
trap cleanup EXIT

# sysbench's table, sharded by hash(id) (a no-op split with one shard).
cat > "$out/vschema.json" <<'JSON'
{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"sbtest1": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}
JSON
: > "$out/schema.sql"

# Fixed ports below the ephemeral range; `vitrail up` derives tablet ports
# from the bases (tablet uid 101 is shard 0's primary).
one_gate=25306; two_gate=25307; hap=25308
start_up() { # name shards gate_port control_port grpc_base mysql_base
  "$bin" up --dir "$out/$1" --shards "$2" --replicas 0 \
    --vschema "$out/vschema.json" --schema "$out/schema.sql" \
    --mysql-addr "127.0.0.1:$3" --control-port "$4" \
    --grpc-port-base "$5" --mysql-port-base "$6" > "$out/$1.log" 2>&1 &
  pids+=($!)
}
wait_sql() { # port user password
  for _ in $(seq 1 600); do
    if mariadb -h127.0.0.1 -P"$1" -u"$2" ${3:+-p"$3"} -e 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing answers on port $1; see $out/*.log" >&2
  exit 1
}
start_up one 1 "$one_gate" 24379 24000 24300
start_up two 2 "$two_gate" 24479 24600 24900
wait_sql "$one_gate" root ""
wait_sql "$two_gate" root ""
direct=$((24300 + 101))
wait_sql "$direct" vt_app vt_app_password

cat > "$out/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 5m
  timeout server 5m
listen mysql
  bind 127.0.0.1:$hap
  server db 127.0.0.1:$direct
CFG
haproxy -f "$out/haproxy.cfg" -db > "$out/haproxy.log" 2>&1 &
hap_pid=$!
pids+=("$hap_pid")
wait_sql "$hap" vt_app vt_app_password

# name port user password
targets=(
  "direct $direct vt_app vt_app_password"
  "haproxy $hap vt_app vt_app_password"
  "gate-1-shard $one_gate root -"
  "gate-2-shards $two_gate root -"
)

sb() { # port user password workload cmd [args...]
  local port=$1 user=$2 pw=$3 wl=$4 cmd=$5; shift 5
  local pwarg=()
  [ "$pw" != "-" ] && pwarg=(--mysql-password="$pw")
  sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user="$user" "${pwarg[@]}" --mysql-db=commerce \
    --tables=1 --table-size="$table_size" --auto_inc=off "$@" "$cmd"
}

# The 1-shard gate fronts the same MariaDB as direct and haproxy: one
# table serves all three. The 2-shard gate gets its own.
for t in "gate-1-shard $one_gate root -" "gate-2-shards $two_gate root -"; do
  read -r name port user pw <<<"$t"
  echo "preparing sbtest1 ($table_size rows) through $name"
  sb "$port" "$user" "$pw" oltp_common prepare > "$out/prepare-$name.log" 2>&1 \
    || { cat "$out/prepare-$name.log"; exit 1; }
done

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
  echo "vitrail: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "mariadb: $(mariadb --version)"
  echo "sysbench: $(sysbench --version), haproxy: $(haproxy -v | head -1)"
  echo "runs: ${time_s}s each, $rounds round(s) through all targets in turn, table of $table_size rows, everything on this machine"
} | tee "$out/conditions.txt"

results="$out/results.tsv"
printf 'workload\tps_mode\tthreads\ttarget\tround\tqps\tp95_ms\terrors\n' > "$results"
for wl in $workloads; do
  for mode in $ps_modes; do
    for th in $threads_list; do
      for round in $(seq "$rounds"); do
      for t in "${targets[@]}"; do
        read -r name port user pw <<<"$t"
        log="$out/run-$wl-$mode-$th-$name-$round.log"
        # oltp_insert draws random ids: a rare duplicate (1062) is counted
        # in the errors column instead of ending the run.
        ignore=none
        [ "$wl" = oltp_insert ] && ignore=1062
        sb "$port" "$user" "$pw" "$wl" run --threads="$th" --time="$time_s" \
          --report-interval=0 --percentile=95 --db-ps-mode="$mode" \
          --mysql-ignore-errors="$ignore" > "$log" 2>&1 || true
        qps=$(sed -n 's/.*queries: *[0-9]* *(\([0-9.]*\) per sec.).*/\1/p' "$log")
        p95=$(sed -n 's/.*95th percentile: *\([0-9.]*\).*/\1/p' "$log")
        errs=$(sed -n 's/.*ignored errors: *\([0-9]*\).*/\1/p' "$log")
        if [ -z "$qps" ]; then qps=FAILED; p95=-; errs=-; fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$mode" "$th" "$name" "$round" "$qps" "$p95" "$errs" | tee -a "$results"
      done
      done
    done
  done
done

python3 scripts/bench_gate_report.py "$out/conditions.txt" "$results" > "$out/results.md"
cat "$out/results.md"
if [ -n "$update_doc" ]; then
  python3 scripts/bench_gate_report.py --splice "$update_doc" "$out/results.md"
  echo "updated $update_doc"
fi
finished=1
echo "results: $out/results.md (logs in $out)"
