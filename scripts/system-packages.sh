#!/usr/bin/env bash
# Every Debian package the tests use that this machine lacks, in one apt transaction (root only).
# scripts/setup.sh, local-slurm.sh and podman-setup.sh each install their own when run
# alone; on a fresh machine one `apt-get update` and one install instead of four of each saves
# a minute of CI. Skips what NK_SKIP_SLURM / NK_SKIP_CONTAINER / NK_SKIP_BROWSER=1 skip.
#   bash scripts/system-packages.sh
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 0
want=()
# need <command> <package...>: the packages, unless the command is there already
need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/libexec/podman/$1" ] \
    || want+=("${@:2}")
}
need dot graphviz
if [ "${NK_SKIP_SLURM:-0}" != 1 ]; then
  need munged munge
  need slurmctld slurmctld
  need slurmd slurmd
  need sbatch slurm-client
  if [ "${WITH_ACCOUNTING:-1}" = 1 ]; then
    need slurmdbd slurmdbd
    need mariadbd mariadb-server
  fi
fi
if [ "${NK_SKIP_CONTAINER:-0}" != 1 ]; then
  for tool in podman runc mmdebstrap catatonit; do need "$tool" "$tool"; done
fi
[ "${NK_SKIP_BROWSER:-0}" != 1 ] && need chromium chromium fonts-liberation
[ ${#want[@]} -eq 0 ] && exit 0
echo "system-packages: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${want[@]}" >/dev/null
