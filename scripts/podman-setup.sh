#!/usr/bin/env bash
# Make podman usable on this machine for executor=container and its tests, without touching
# /etc: install podman, runc, catatonit and mmdebstrap (root, apt) when missing, write a private
# containers.conf (runc instead of crun, ulimits capped to what the kernel allows), prove that a
# real container starts, and build the test image (scripts/build-test-image.sh).
#   bash scripts/podman-setup.sh            # prints the CONTAINERS_CONF path on its last line
# Then: export CONTAINERS_CONF=<that path>   (NK_PODMAN_DIR chooses the directory, default
# /tmp/nk-podman). See docs/execution.md, "Containers", for why each setting is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${NK_PODMAN_DIR:-/tmp/nk-podman}
mkdir -p "$DIR"
export DEBIAN_FRONTEND=noninteractive

missing=()
for tool in podman runc mmdebstrap catatonit; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/libexec/podman/$tool" ] || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "podman-setup: missing ${missing[*]}; run as root to install them with apt" >&2
    exit 1
  fi
  echo "podman-setup: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    podman runc mmdebstrap catatonit >&2
fi

# Podman's rootful defaults ask for nofile=1048576 and a huge nproc, which fail without
# CAP_SYS_RESOURCE; crun (the default runtime) refuses hybrid cgroups. runc + capped ulimits
# work everywhere we have tried. A --ulimit on the command line would replace this whole list.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
NPROC=$(ulimit -Hu)
if [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ]; then NPROC=32768; fi
CONF="$DIR/containers.conf"
cat > "$CONF.tmp" <<CONF
# Written by scripts/podman-setup.sh; used through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
mv "$CONF.tmp" "$CONF"
export CONTAINERS_CONF="$CONF"

bash scripts/build-test-image.sh >&2
# The built-in recipes need torch in the image (tests/test_sweeps.py: the tiny pipeline).
bash scripts/build-test-image.sh --torch >&2
# `podman info` succeeding proves nothing: only a real container start does.
IMAGE=${NK_TEST_IMAGE:-localhost/nemotron-kit-test:latest}
if ! out=$(podman run --rm --init --network=none "$IMAGE" python3 -c 'import nemotron_kit' 2>&1)
then
  echo "podman-setup: podman cannot start a container here: $out" >&2
  exit 1
fi
echo "$CONF"
