#!/usr/bin/env bash
# Mutation score of nemotron_kit/registry/uri.py and nemotron_kit/registry/hashing.py (mutmut 3.8.1).
#
# Prints per module: mutants, killed, survived, hung, no tests, the raw score killed/total,
# the adjusted score killed/(total - EQUIVALENT below, mutants that cannot change a result), and
# the live mutants not on that list. Tests: tests/test_uri.py, tests/test_hashing.py and
# tests/test_registry.py without real services. 3-7 min on 2 shared cores (1 min venv, by load).
# Works in a temporary copy with its own venv (mutmut rewrites sources) and removes both.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/nk-mutation.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 CI= PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONHASHSEED=0  # fixed test order
rsync -a --exclude .venv --exclude .git --exclude mutants "$REPO/" "$WORK/src/"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q -c "$REPO/constraints/ci.txt" -e "$WORK/src[test]" mutmut==3.8.1 \
    >"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; exit 1; }
cd "$WORK/src"
cp pyproject.toml "$WORK/pyproject.orig"
# Mutant numbers follow the code: when a function changes, its entries are dropped until its
# survivors are read again (mutmut show) - hash_file and hash_files since they count bytes.
declare -A EQUIVALENT=(
    [uri]="validate_name:13,14,17"
    [hashing]="_buffer:1,2,7,8 scan:25
        HashCache._connect:13,16,17,20,21,24,25,27,28 HashCache.lookup:14,15,17,18
        HashCache.store:12,13"
)
for mod in uri hashing; do
    cp "$WORK/pyproject.orig" pyproject.toml
    # forkserver: BLAKE3's thread pool does not survive a fork from a process that used it.
    cat >>pyproject.toml <<EOF

[tool.mutmut]
source_paths = ["nemotron_kit"]
only_mutate = ["nemotron_kit/registry/$mod.py"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not needs"]
pytest_add_cli_args_test_selection = ["tests/test_registry.py", "tests/test_uri.py", "tests/test_hashing.py"]
use_git_change_detection = false
process_isolation = "forkserver"
timeout_multiplier = 30.0
EOF
    rm -rf mutants
    "$WORK/venv/bin/mutmut" run --max-children 2 >"$WORK/$mod.log" 2>&1 \
        || { tail -c 3000 "$WORK/$mod.log"; exit 1; }
    "$WORK/venv/bin/mutmut" results --all true >"$WORK/$mod.results" 2>&1
    "$WORK/venv/bin/python" - "$mod" "$WORK/$mod.results" ${EQUIVALENT[$mod]} <<'PY'
import collections, sys
mod, path, *specs = sys.argv[1:]
rows = [line.strip().rsplit(": ", 1) for line in open(path) if ": " in line]
status = {name.rsplit(".", 1)[1]: s for name, s in rows}
equivalent = {("xǁ" + f.replace(".", "ǁ") if "." in f else "x_" + f) + f"__mutmut_{n}"
              for f, nums in (spec.split(":") for spec in specs) for n in nums.split(",")}
n = collections.Counter(status.values())
killed, total = n["killed"], len(status)
excluded = [m for m in equivalent if status.get(m, "killed") != "killed"]
hung = n["timeout"] + n["segfault"]  # a worker stopped at its time or CPU limit
print(f"{mod}.py: {total} mutants, {killed} killed, {n['survived']} survived, {hung} hung "
      f"(timeout), {n['no tests']} no tests; score {killed}/{total} = {killed / total:.1%}, "
      f"adjusted {killed}/{total - len(excluded)} = {killed / (total - len(excluded)):.1%}")
for m in sorted(equivalent - set(excluded)):
    print(f"  listed as equivalent but {status.get(m, 'not generated')}: {m}")
for m, s in sorted(status.items()):
    if s != "killed" and m not in equivalent:
        print(f"  {s}: {m}")
PY
done
