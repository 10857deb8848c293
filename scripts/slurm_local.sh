#!/usr/bin/env bash
# A single-node Slurm on this machine, for the Slurm e2e tests and for trying slurm.sbatch without a cluster.
#
#   bash scripts/slurm_local.sh [start]   install (apt, as root) and start munge + slurmctld + slurmd; wait for the
#                                         node to be idle; print `SLURM_CONF=<file>` last (clients read it)
#   bash scripts/slurm_local.sh stop      stop the daemons this script started (by their pid files)
#   bash scripts/slurm_local.sh status    say whether the local Slurm answers
#
# Idempotent and quick: a Slurm that already answers with a usable node is used as it is (exit 0, nothing
# started); packages already installed are not reinstalled; daemons already running are not restarted.
# Exit 3 with one line "slurm_local: cannot start: <reason>" when it cannot (not root, no apt-get, an install
# that fails, a node that does not come up): the tests turn that line into their skip reason.
#
# The config is ours, in $FTGEN_SLURM_DIR (default /var/lib/ftgen-slurm): one node = this machine's CPUs and
# memory as `slurmd -C` reports them, proctrack/linuxproc, task/none, select/cons_tres, SlurmUser root, no
# accounting. An existing /etc/slurm/slurm.conf written by someone else is left alone (clients then need
# SLURM_CONF, which this script prints); when there is none, ours is linked there so plain `sinfo` works.
set -euo pipefail

DIR="${FTGEN_SLURM_DIR:-/var/lib/ftgen-slurm}"
CONF="$DIR/slurm.conf"
MARK="# written by ftgen scripts/slurm_local.sh"
WAIT_S="${FTGEN_SLURM_WAIT_S:-60}"

cannot() {
  echo "slurm_local: cannot start: $*" >&2
  exit 3
}

answers() {  # a Slurm answers (with the config in SLURM_CONF, if set) and has a node that can run jobs
  command -v sinfo >/dev/null 2>&1 || return 1
  timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  local missing=()
  for exe in slurmctld slurmd sinfo munged; do
    command -v "$exe" >/dev/null 2>&1 || [ -x "/usr/sbin/$exe" ] || missing+=("$exe")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" = "0" ] || cannot "Slurm is not installed (${missing[*]} missing) and installing it needs root"
  command -v apt-get >/dev/null 2>&1 || cannot "Slurm is not installed (${missing[*]} missing) and there is no apt-get"
  echo "slurm_local: installing slurmctld slurmd slurm-client munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  # no init system in a container: keep the packages' postinst from starting daemons with their own config
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  local ok=1
  if ! apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >"$DIR/apt.log" 2>&1; then
    apt-get update -qq >>"$DIR/apt.log" 2>&1 || true
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >>"$DIR/apt.log" 2>&1 || ok=""
  fi
  [ -n "$added" ] && rm -f "$policy"
  [ -n "$ok" ] || cannot "apt-get install slurmctld slurmd slurm-client munge failed (see $DIR/apt.log)"
}

write_config() {
  local node host cpus
  host="$(hostname -s)"
  node="$(slurmd -C 2>/dev/null | head -n 1 | grep '^NodeName=' || true)"
  if [ -z "$node" ]; then
    cpus="$(nproc)"
    node="NodeName=$host CPUs=$cpus"
  fi
  # RealMemory a little under what slurmd sees, so a node never drains for "low memory"
  node="$(echo "$node" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^RealMemory=/) { split($i, a, "="); $i = "RealMemory=" int(a[2] * 0.9) } print}')"
  local tmp="$CONF.tmp.$$"
  cat >"$tmp" <<EOF
$MARK (do not edit: it is rewritten)
ClusterName=ftgen-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$CONF"
  fi
  mkdir -p /etc/slurm
  if [ ! -e /etc/slurm/slurm.conf ] || grep -qF "$MARK" /etc/slurm/slurm.conf 2>/dev/null; then
    ln -sfn "$CONF" /etc/slurm/slurm.conf
  fi
}

start_munge() {
  if pgrep -x munged >/dev/null 2>&1 && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 || true
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if command -v runuser >/dev/null 2>&1 && id munge >/dev/null 2>&1; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  echo "munge" >>"$DIR/started"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cannot "munged does not answer (see /var/log/munge/munged.log)"
}

start() {
  mkdir -p "$DIR"
  if [ -f "$CONF" ] && pid_alive "$DIR/slurmctld.pid" && SLURM_CONF="$CONF" answers; then
    echo "slurm_local: already running" >&2
    echo "SLURM_CONF=$CONF"
    return 0
  fi
  if [ -z "${FTGEN_SLURM_OWN:-}" ] && answers; then
    echo "slurm_local: a Slurm already answers here; using it (FTGEN_SLURM_OWN=1 starts ours instead)" >&2
    echo "SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}"
    return 0
  fi
  install_packages
  [ "$(id -u)" = "0" ] || cannot "starting the Slurm daemons needs root"
  mkdir -p "$DIR/state" "$DIR/spool"
  write_config
  export SLURM_CONF="$CONF"
  start_munge
  if ! pid_alive "$DIR/slurmctld.pid"; then
    slurmctld -f "$CONF" || cannot "slurmctld did not start (see $DIR/slurmctld.log)"
    echo "slurmctld" >>"$DIR/started"
  fi
  if ! pid_alive "$DIR/slurmd.pid"; then
    slurmd -f "$CONF" || cannot "slurmd did not start (see $DIR/slurmd.log)"
    echo "slurmd" >>"$DIR/started"
  fi
  local state="" waited=0
  while [ "$waited" -lt "$((WAIT_S * 2))" ]; do
    state="$(timeout 10 sinfo -h -o '%T' 2>/dev/null | head -n 1 || true)"
    case "$state" in
      idle | mixed | allocated | completing) break ;;
      down* | drain* | fail*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
      *) ;;
    esac
    sleep 0.5
    waited=$((waited + 1))
  done
  case "$state" in
    idle | mixed | allocated | completing) ;;
    *) cannot "the node did not become idle in ${WAIT_S} s (state '${state:-no answer}'; see $DIR/slurmd.log)" ;;
  esac
  echo "slurm_local: node $(hostname -s) $state" >&2
  echo "SLURM_CONF=$CONF"
}

stop_pidfile() {
  local file="$1"
  if pid_alive "$file"; then
    local pid
    pid="$(cat "$file")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$file"
}

stop() {
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  if [ -f "$DIR/started" ] && grep -qx munge "$DIR/started"; then
    stop_pidfile /run/munge/munged.pid
  fi
  rm -f "$DIR/started"
  echo "slurm_local: stopped" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status)
    if SLURM_CONF="${SLURM_CONF:-$CONF}" answers; then echo "slurm_local: up"; else echo "slurm_local: down"; exit 1; fi ;;
  *)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2 ;;
esac
