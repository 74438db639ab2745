#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for running `hydra/launcher=submitit_slurm` sweeps
# (and their tests) for real without a cluster. Debian bookworm, Slurm 22.05, run as root.
#
#   scripts/slurm-local.sh start    # install slurm-wlm + munge if needed, configure, start
#   scripts/slurm-local.sh status   # sinfo
#   scripts/slurm-local.sh stop     # stop slurmctld, slurmd, munged
#
# State lives in $SLURM_LOCAL_DIR (default /var/lib/transplant-slurm); the configuration is
# written to /etc/slurm/slurm.conf, where the Slurm commands look for it.
set -euo pipefail

STATE=${SLURM_LOCAL_DIR:-/var/lib/transplant-slurm}
CONF=/etc/slurm/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; run as root to install them"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge procps >/dev/null
}

write_conf() {
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OpenMP limits
    # Leave the OS some memory: slurmd refuses a node that claims more than it has.
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
    cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster on $host.
ClusterName=transplant-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ReturnToService=2
JobRequeue=1
MaxArraySize=1001
KillWait=30
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

running() { pgrep -x "$1" >/dev/null; }

start() {
    install
    write_conf
    if ! running munged; then
        mkdir -p /run/munge && chown munge:munge /run/munge
        [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
                                         chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
        runuser -u munge -- /usr/sbin/munged
    fi
    running slurmctld || slurmctld
    running slurmd || slurmd
    # The node registers within seconds; wait until it takes jobs.
    for _ in $(seq 60); do
        if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "slurm-local: up ($(sinfo -h -o '%P %D node(s) %c CPUs %t'))"
            return
        fi
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    die "the node did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log"
}

stop() {
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    # Wait for them to exit: a `start` right after must not find daemons still shutting down.
    for _ in $(seq 150); do
        running slurmd || running slurmctld || running munged || { echo "slurm-local: stopped"; return; }
        sleep 0.2
    done
    die "the daemons did not exit within 30 s"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) die "usage: $0 start|stop|status" ;;
esac
