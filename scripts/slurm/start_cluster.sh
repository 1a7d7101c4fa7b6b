#!/usr/bin/env bash
# A single-node SLURM cluster (slurmctld + slurmd + slurmdbd on mariadb, munge auth) for tests and
# CI on a machine without systemd. Idempotent: installs what is missing, rewrites the configs, and
# (re)starts only what is not running with the current config. Needs root.
#
#   scripts/slurm/start_cluster.sh          # install if needed, start, wait for the node idle
#   scripts/slurm/stop_cluster.sh           # stop the daemons this script started
#
# Accounting (slurmdbd) is not optional here: without it `sacct` fails, submitit sees every job as
# UNKNOWN and waits forever on a job that died without writing its result.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "start_cluster.sh: needs root (it installs packages and starts daemons)" >&2
    exit 1
fi
t_start=$(date +%s%N)
log() { local ms=$((($(date +%s%N) - t_start) / 1000000)); printf '[slurm %d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2; }

ETC=/etc/slurm
RUN=/run/slurm
LOGS=/var/log/slurm
NODE=$(hostname -s)
CPUS=$(nproc)
# memory is not a consumable (CR_Core) but --mem above RealMemory is refused: offer 90% of RAM
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
DB_PASS=spmlbench-slurmdbd  # a local socket-only database for a throwaway test cluster

# -- install ------------------------------------------------------------------------------------
PKGS=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # one apt at a time: .ci/run may be installing chromium meanwhile
    apt_get() { "$(dirname "$0")/../apt-get-locked" "$@"; }
    apt_install() { apt_get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
    # no package lists yet, or stale ones naming versions the mirror no longer has: update once
    if [[ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]] || ! apt_install; then
        apt_get update -q >/dev/null
        apt_install
    fi
    log "installed"
fi

# -- configs -------------------------------------------------------------------------------------
mkdir -p "$ETC" "$RUN" "$LOGS" /var/spool/slurmctld /var/spool/slurmd
conf=$(cat <<CONF
# written by scripts/slurm/start_cluster.sh: one node, $CPUS CPUs, accounting through slurmdbd
ClusterName=spmlbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again only once its credential expired: 10 s instead of 120 s
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# no systemd/cgroups in containers: track processes by parent id, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# a requeued job waits for a scheduling pass after its credential expired: every 2 s, not 60 s
SchedulerParameters=sched_interval=2,bf_interval=5
ReturnToService=2
KillWait=5
JobRequeue=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
)
dbdconf=$(cat <<CONF
# written by scripts/slurm/start_cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
)
changed=0
if [[ "$(cat "$ETC/slurm.conf" 2>/dev/null)" != "$conf" ]]; then
    printf '%s\n' "$conf" >"$ETC/slurm.conf"; changed=1
fi
if [[ "$(cat "$ETC/slurmdbd.conf" 2>/dev/null)" != "$dbdconf" ]]; then
    printf '%s\n' "$dbdconf" >"$ETC/slurmdbd.conf"; changed=1
fi
chmod 600 "$ETC/slurmdbd.conf"  # slurmdbd refuses a world-readable config (it holds a password)

# -- daemons -------------------------------------------------------------------------------------
alive() {  # alive PIDFILE: the daemon the file is named after (munged.pid: munged) runs under the pid it holds
    # the name is checked, not only the pid: a stale file's pid may since belong to another process
    [[ -s "$1" ]] && [[ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" == "$(basename "$1" .pid)" ]]
}
stop() {  # stop PIDFILE: end the process in PIDFILE and wait for it
    if alive "$1"; then
        local pid; pid=$(cat "$1"); kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$1"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "start_cluster.sh: $what did not come up within ${secs}s; see $LOGS/" >&2
    return 1
}

# munge: the key comes with the package; the socket directory lives on a tmpfs
if ! alive /run/munge/munged.pid; then
    install -d -o munge -g munge -m 0755 /run/munge
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
    wait_for 10 munged munge -n
    log "munged started"
fi

if ! mysqladmin --protocol=socket ping >/dev/null 2>&1; then
    install -d -o mysql -g mysql /run/mysqld
    (mysqld_safe --user=mysql --bind-address=127.0.0.1 >"$LOGS/mariadb.out" 2>&1 &)
    wait_for 60 mariadb mysqladmin --protocol=socket ping
    log "mariadb started"
fi
mysql --protocol=socket -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

if ((changed)); then
    stop "$RUN/slurmd.pid"; stop "$RUN/slurmctld.pid"; stop "$RUN/slurmdbd.pid"
fi
if ! alive "$RUN/slurmdbd.pid"; then
    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
    log "slurmdbd started"
fi
# the cluster must be known to the database before slurmctld registers with it
sacctmgr -n list cluster format=cluster | grep -qw spmlbench || sacctmgr -i add cluster spmlbench >/dev/null
if ! alive "$RUN/slurmctld.pid"; then
    slurmctld
    wait_for 30 slurmctld scontrol ping
    log "slurmctld started"
fi
if ! alive "$RUN/slurmd.pid"; then
    slurmd
    log "slurmd started"
fi
node_idle() { [[ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" =~ ^(idle|mixed|allocated)$ ]]; }
if ! node_idle; then
    # a node left down/drained by an earlier run comes back
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
fi
wait_for 60 "node $NODE (idle)" node_idle
log "ready: $(sinfo -h -o '%P %D %T %C' | head -1)"
