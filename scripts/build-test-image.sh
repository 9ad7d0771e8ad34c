#!/usr/bin/env bash
# Build the small image that executor=container's tests and examples run in, without any
# container registry: a Debian bookworm rootfs unpacked by mmdebstrap (python3, dash,
# coreutils), plus this project's wheel and its runtime dependencies (no torch), imported
# with `podman import`. With --torch, the image also holds the `torch` extra (the CPU build
# of the CI pin, numpy), for the built-in recipes: tests/test_sweeps.py runs the tiny pipeline
# in it. Idempotent: skipped when the image exists and its label nk.wheel-digest matches the
# digest of the wheel built from the current source (and of this script and the extras).
#   bash scripts/build-test-image.sh [--torch] [IMAGE]
#   (default localhost/nemotron-kit-test:latest, with --torch ...-test-torch:latest)
# Needs podman, mmdebstrap, root, CONTAINERS_CONF from scripts/podman-setup.sh, the Debian
# mirror and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=""
PACKAGES=python3,dash,coreutils
if [ "${1:-}" = --torch ]; then
  EXTRAS="[torch]"
  PACKAGES=$PACKAGES,libstdc++6,libgomp1  # torch's C++ runtime and OpenMP
  shift
  IMAGE=${1:-${NK_TEST_TORCH_IMAGE:-localhost/nemotron-kit-test-torch:latest}}
else
  IMAGE=${1:-${NK_TEST_IMAGE:-localhost/nemotron-kit-test:latest}}
fi
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
MIRROR=${NK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /tmp/nk-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The project's wheel and the digest of its contents (names and bytes, not zip timestamps),
# and of this script (a changed recipe rebuilds too).
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/own" . >&2 2>/dev/null \
  || "$PY" -m pip wheel -q --no-deps -w "$WORK/own" . >&2
WHEEL=$(ls "$WORK"/own/*.whl)
DIGEST=$("$PY" - "$WHEEL" "$0" "$EXTRAS" <<'PYEOF'
import hashlib, sys, zipfile
h = hashlib.sha256(open(sys.argv[2], "rb").read() + sys.argv[3].encode())
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        h.update(name.encode() + b"\0" + hashlib.sha256(z.read(name)).digest())
print(h.hexdigest())
PYEOF
)
CURRENT=$(podman image inspect --format '{{ index .Labels "nk.wheel-digest" }}' "$IMAGE" \
  2>/dev/null || true)
if [ "$CURRENT" = "$DIGEST" ]; then
  echo "build-test-image: $IMAGE is up to date (wheel $DIGEST)" >&2
  exit 0
fi

echo "build-test-image: building $IMAGE" >&2
ROOT="$WORK/rootfs"
mmdebstrap --quiet --mode=root --variant=extract --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' bookworm "$ROOT" "$MIRROR" >&2
# The extract variant runs no maintainer scripts: give the image the names it needs.
[ -e "$ROOT/bin/sh" ] || ln -s dash "$ROOT/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
  > "$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
rm -rf "$ROOT/var/cache/apt"/* "$ROOT/var/lib/apt/lists"/*

# Runtime dependencies as cp311 manylinux wheels (the image's python3 is Debian's 3.11),
# pinned by the CI constraints; antlr4 4.9.3 exists only as an sdist, built to a pure wheel.
"$PY" -m pip wheel -q -w "$WORK/deps" -c constraints/ci.txt "$WHEEL$EXTRAS" >&2
"$PY" -m pip install -q --no-index --no-deps --find-links "$WORK/deps" \
  --target "$ROOT/usr/lib/python3/dist-packages" --python-version 3.11 \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform linux_x86_64 \
  --only-binary=:all: \
  "$WORK"/deps/*.whl >&2
rm -rf "$ROOT/usr/lib/python3/dist-packages/bin"
# Byte-compile with the image's interpreter: jobs must not compile hydra & co. at every start
# (torch's and sympy's thousands of modules compile on first import instead: minutes here).
chroot "$ROOT" /usr/bin/python3 -m compileall -q -j 0 -x '/(torch|sympy|functorch)/' \
  /usr/lib/python3/dist-packages /usr/lib/python3.11 >/dev/null 2>&1 || true
# Catch an unusable image now, with the image's own interpreter.
chroot "$ROOT" /usr/bin/python3 -c 'import nemotron_kit, hydra, pydantic, blake3' >&2
if [ -n "$EXTRAS" ]; then
  chroot "$ROOT" /usr/bin/python3 -c 'import torch, numpy; torch.ones(1).numpy()' >&2
fi

OLD=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
tar --numeric-owner -C "$ROOT" -c . | podman import -q \
  --change "LABEL nk.wheel-digest=$DIGEST" --change "LABEL org.opencontainers.image.title=nemotron-kit-test" \
  --change "ENV PATH=/usr/local/bin:/usr/bin:/bin" --change "CMD [\"python3\"]" \
  - "$IMAGE" >/dev/null
# The replaced image is now untagged: drop it unless a container still uses it.
[ -z "$OLD" ] || podman rmi "$OLD" >/dev/null 2>&1 || true
echo "build-test-image: built $IMAGE (wheel $DIGEST)" >&2
