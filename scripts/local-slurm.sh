#!/usr/bin/env bash
# Single-node Slurm 22.05 (Debian 12) on loopback, for the tests and for trying executor=slurm
# on a laptop. Run as root (no systemd needed: every daemon is started by hand).
#   local-slurm.sh setup     # apt packages (~20-40 s)
#   local-slurm.sh start     # munged [+ mariadb + slurmdbd] + slurmctld + slurmd (~2 s); idempotent
#   local-slurm.sh health    # sinfo idle, srun, sbatch + poll [, sacct]  (~1-3 s)
#   local-slurm.sh stop      # kill exactly the daemons this script started (by pid file)
# Env: SLURM_DIR (default /tmp/slurm), WITH_ACCOUNTING=1|0 (slurmdbd+MariaDB, so sacct works)
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/tmp/slurm}
WITH_ACCOUNTING=${WITH_ACCOUNTING:-1}
NODE=$(hostname -s)
# CPUS > nproc lets more 1-CPU jobs run at once; needs SlurmdParameters=config_overrides
CPUS=${CPUS:-8}
# slurmd drains the node if RealMemory > what it detects; leave ~10% slack
MEM_MB=$(awk '/MemTotal/{print int($2/1024*0.9)}' /proc/meminfo)

wait_for() {  # wait_for <seconds> <cmd...>
  local n=$(( $1 * 10 )); shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timeout waiting for: $*" >&2; return 1
}

running() {  # running <pidfile>: pid file names a live, non-zombie process
  local p st; p=$(cat "$1" 2>/dev/null) || return 1
  st=$(ps -o stat= -p "$p" 2>/dev/null) || return 1
  case "$st" in Z*) return 1;; esac
}

setup() {
  export DEBIAN_FRONTEND=noninteractive
  local missing=0
  for cmd in munged slurmctld slurmd sbatch; do command -v "$cmd" >/dev/null || missing=1; done
  if [ "$WITH_ACCOUNTING" = 1 ]; then
    for cmd in slurmdbd mariadbd; do command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing=1; done
  fi
  [ "$missing" = 0 ] && return 0
  apt-get update -qq
  local pkgs="munge slurmctld slurmd slurm-client"
  [ "$WITH_ACCOUNTING" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  # postinst scripts try to start services; policy-rc.d / no systemd stops them: fine, we start by hand
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
}

write_conf() {
  mkdir -p "$SLURM_DIR"/{state,spool,log} /etc/slurm
  cat > /etc/slurm/slurm.conf <<EOF
ClusterName=localcluster
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# CR_Core: memory is NOT a consumable resource (no --mem bookkeeping; --mem <= RealMemory accepted)
SelectTypeParameters=CR_Core
ReturnToService=2
# submitit jobs ignore SIGTERM (they wait for USR2/KILL): shorten the TERM->KILL grace on scancel
KillWait=5
SlurmdParameters=config_overrides
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
JobCompType=jobcomp/none
# Job arrays of at most 4 tasks (Slurm's default is 1001): sweeps larger than that go out as
# several arrays, and the tests exercise that on every run.
MaxArraySize=${NK_SLURM_MAX_ARRAY_SIZE:-4}
EOF
  if [ "$WITH_ACCOUNTING" = 1 ]; then
    cat >> /etc/slurm/slurm.conf <<EOF
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
EOF
  else
    cat >> /etc/slurm/slurm.conf <<EOF
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
EOF
  fi
  cat >> /etc/slurm/slurm.conf <<EOF
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  # 1. hostname must resolve (slurmctld/slurmd look up SlurmctldHost / NodeName)
  getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >> /etc/hosts
  # 2. munge: key (postinst normally creates it), /run/munge owned by munge, daemon as user munge
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
  fi
  chown -R munge:munge /etc/munge; chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge /var/lib/munge /var/log/munge
  running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged   # daemonizes; writes its pid file
  wait_for 5 sh -c 'munge -n | unmunge'
  write_conf
  if [ "$WITH_ACCOUNTING" = 1 ]; then
    # 3. MariaDB (datadir initialised by the Debian package postinst)
    install -d -o mysql -g mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    running /run/mysqld/mysqld.pid || setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
      --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
      > "$SLURM_DIR/log/mariadb.log" 2>&1 < /dev/null &
    wait_for 30 mariadb-admin ping
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    # 4. slurmdbd (conf must be 0600 and owned by SlurmUser)
    cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$SLURM_DIR/log/slurmdbd.log
PidFile=$SLURM_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
    running "$SLURM_DIR/slurmdbd.pid" || slurmdbd
    wait_for 30 sacctmgr -n list cluster     # rc 0 once slurmdbd answers
  fi
  # 5. controller + node daemon (both daemonize; slurmd must be root to launch jobs as the user)
  running "$SLURM_DIR/slurmctld.pid" || slurmctld
  running "$SLURM_DIR/slurmd.pid" || slurmd
  wait_for 30 sh -c 'sinfo -h -o %T | grep -qx idle'
}

health() {
  sinfo
  srun -t 1 hostname
  # (sbatch --wait works too but polls slowly: ~10 s for a trivial job)
  local id; id=$(sbatch --parsable -t 1 -o /dev/null --wrap 'echo ok')
  wait_for 30 sh -c "scontrol show job $id | grep -q JobState=COMPLETED"
  if [ "$WITH_ACCOUNTING" = 1 ]; then sacct -X --parsable2 -o JobID,State | tail -2; fi
  echo HEALTH OK
}

stop() {
  local f p
  for f in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/slurmdbd.pid" \
           /run/mysqld/mysqld.pid /run/munge/munged.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    # only kill if the pid still belongs to one of our daemons (stale pid files)
    ps -o comm= -p "$p" 2>/dev/null | grep -qE 'slurm|munged|mariadbd' || continue
    kill "$p" 2>/dev/null || true
    # wait until gone (a zombie counts as gone)
    for _ in $(seq 100); do
      st=$(ps -o stat= -p "$p" 2>/dev/null) || break
      case "$st" in Z*) break;; esac
      sleep 0.1
    done
  done
}

"${1:?setup|start|health|stop}"
