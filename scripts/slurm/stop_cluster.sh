#!/usr/bin/env bash
# Stop the daemons scripts/slurm/start_cluster.sh started (by their pid files), mariadb included.
set -uo pipefail
for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/slurm/slurmdbd.pid /run/munge/munged.pid; do
    [[ -s "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null
    rm -f "$pidfile"
done
mysqladmin --protocol=socket shutdown 2>/dev/null || true
