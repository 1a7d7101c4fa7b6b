#!/usr/bin/env bash
# Stop the daemons scripts/slurm/start_cluster.sh started (by their pid files), mariadb included,
# and wait until they are gone. Job state and accounting stay on disk.
set -uo pipefail
for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/slurm/slurmdbd.pid /run/munge/munged.pid; do
    [[ -s "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
done
mysqladmin --protocol=socket shutdown 2>/dev/null || true
