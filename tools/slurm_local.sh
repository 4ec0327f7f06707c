#!/usr/bin/env bash
# A one-node Slurm on localhost, for testing `armor run --launcher slurm` without a cluster.
#
#   tools/slurm_local.sh install        apt-get Debian's slurm-wlm and munge (root; idempotent)
#   tools/slurm_local.sh start DIR      munged + slurmctld + slurmd with state, logs and config under DIR;
#                                       waits until the node is idle; prints `export SLURM_CONF=...`
#   tools/slurm_local.sh stop DIR       stops the daemons started by `start DIR`
#
# `start` exits 3 (and says why on stderr) when Slurm cannot run on this machine: not root, the
# packages missing, or a daemon that does not come up; its logs are under DIR then.
# The node runs tasks with proctrack/linuxproc and task/none: no cgroups needed, so it works in
# containers. Nothing is written outside DIR except munge's key, socket and log, in DIR as well.
set -euo pipefail

cannot() { echo "slurm_local: Slurm cannot start here: $*" >&2; exit 3; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || cannot "installing slurm-wlm and munge needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  [ "$(id -u)" = 0 ] || cannot "the test cluster runs its daemons as root (SlurmUser=root); run as root"
  for program in slurmctld slurmd munged mungekey sinfo; do
    command -v "$program" >/dev/null || cannot "$program is not installed (tools/slurm_local.sh install)"
  done
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"
  [ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed" ||
    cannot "munged did not start (log: $dir/log/munged.log)"

  local cpus memory_mb
  cpus=$(nproc)
  memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  cat >"$dir/slurm.conf" <<EOF
# One-node test cluster written by tools/slurm_local.sh.
ClusterName=armortest
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Ended jobs stay visible to squeue for 10 minutes: with no accounting database, that is where
# armor reads how a task ended.
MinJobAge=600
KillWait=5
SchedulerParameters=sched_interval=1
NodeName=localhost NodeHostname=localhost CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF" || cannot "slurmctld did not start (log: $dir/log/slurmctld.log)"
  wait_for 30 "slurmctld" scontrol ping || cannot "slurmctld does not answer (log: $dir/log/slurmctld.log)"
  slurmd -f "$SLURM_CONF" || cannot "slurmd did not start (log: $dir/log/slurmd.log)"
  node_idle() { sinfo -h -N -o '%T' | grep -q '^idle'; }
  if ! wait_for 60 "an idle node" node_idle; then
    cannot "the node is not idle after 60 s: $(sinfo -h -N -o '%T %E' 2>&1) (logs: $dir/log)"
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
  local dir
  dir=$(cd "$1" && pwd)
  for pid_file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    if [ -f "$pid_file" ]; then
      kill "$(cat "$pid_file")" 2>/dev/null || true
    fi
  done
  # The daemons remove their pid files on the way out; wait a little so that DIR can be deleted.
  for pid_file in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    wait_for 10 "exit" test ! -e "$pid_file" || true
  done
}

case "${1:-}" in
  install) install_packages ;;
  start) start "${2:?usage: slurm_local.sh start DIR}" ;;
  stop) stop "${2:?usage: slurm_local.sh stop DIR}" ;;
  *) echo "usage: tools/slurm_local.sh install | start DIR | stop DIR" >&2; exit 2 ;;
esac
