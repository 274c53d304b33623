#!/usr/bin/env bash
# Jobs per minute of a fleet of `dtp worker`s on a throwaway PostgreSQL on
# loopback: JOBS queued copies of examples/data/sample (17 items, 5 data types)
# run by 1, 2 and 4 workers (each --jobs PER_WORKER), timed from the workers'
# start to the last one leaving an empty queue.
#   cargo build --release -p dtp-cli && dtp-cli/scripts/fleet-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DTP=${DTP:-$PWD/target/release/dtp}
JOBS=${JOBS:-200}
PER_WORKER=${PER_WORKER:-2}
WORKERS=${WORKERS:-"1 2 4"}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/dtp-fleet-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$BIN/initdb -N -D $dir/data -A trust -U postgres >/dev/null"
as_pg "$BIN/pg_ctl -D $dir/data -l $dir/log -w -o '-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200' start >/dev/null"
trap 'as_pg "$BIN/pg_ctl -D $dir/data -m fast -w stop >/dev/null"; rm -rf "$dir"' EXIT
export DTP_SECRET_KEY=$(printf '5%.0s' $(seq 64)) DTP_DATA_DIR=$dir/dtp DTP_CONFIG_DIR=$dir/dtp
sample=$PWD/examples/data/sample
for n in $WORKERS; do
  db=bench_$n
  "$BIN/psql" -q "postgres://postgres@127.0.0.1:$port/postgres" -c "CREATE DATABASE $db"
  url=postgres://postgres@127.0.0.1:$port/$db
  for i in $(seq "$JOBS"); do
    "$DTP" transfer --from "local:$sample" --to "local:$dir/out-$n-$i" --store "$url" --enqueue >/dev/null &
    if (( i % 8 == 0 )); then wait; fi
  done
  wait
  pm=$(head -1 "$dir/data/postmaster.pid")
  pg0=$(awk '{print $14+$15+$16+$17}' /proc/$pm/stat)
  self0=$(awk '{print $16+$17}' /proc/$$/stat)
  t0=$(date +%s.%N)
  for w in $(seq "$n"); do
    "$DTP" worker --store "$url" --jobs "$PER_WORKER" --poll-secs 0.05 --health-secs 60 --exit-when-idle --name "w$w" >"$dir/w-$n-$w.log" &
  done
  wait
  t1=$(date +%s.%N)
  sleep 0.5 # the server reaps the workers' backends
  pg_cpu=$(( $(awk '{print $14+$15+$16+$17}' /proc/$pm/stat) - pg0 ))
  worker_cpu=$(( $(awk '{print $16+$17}' /proc/$$/stat) - self0 ))
  tck=$(getconf CLK_TCK)
  done_jobs=$(grep -h "event=finished" "$dir"/w-"$n"-*.log | grep -c "state=complete" || true)
  avg_ms=$(grep -h "event=finished" "$dir"/w-"$n"-*.log | sed -n 's/.* ms=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {if (NR) printf "%.0f", s/NR; else print 0}')
  python3 -c "s=$t1-$t0; print(f'workers=$n jobs_per_worker=$PER_WORKER completed=$done_jobs seconds={s:.1f} jobs_per_min={$done_jobs*60/s:.0f} avg_job_ms=$avg_ms cpu_ms_per_job_workers={$worker_cpu*1000/$tck/max($done_jobs,1):.0f} cpu_ms_per_job_postgres={$pg_cpu*1000/$tck/max($done_jobs,1):.0f}')"
done
