"""The registry's layout: the one place that builds its keys. Every key is relative to the root.

    artifacts/PROJECT/NAME/versions/00000001.json    version records: immutable, the commit point
    artifacts/PROJECT/NAME/aliases/ALIAS.json        mutable pointers ({"version": N}), `latest` too
    artifacts/PROJECT/NAME/deleted/00000001.json     tombstones: the version was deleted
    artifacts/PROJECT/NAME/consumers/00000001/RUN    index: runs that read the version (empty)
    manifests/ab/<tree digest>.json                  file lists with sizes and BLAKE3 digests
    objects/ab/<file digest>                         file contents (copy mode), stored once
    objects/ab/.tmp-<id>                             a local copy in flight; leftovers are gc's
    trees/<tree digest>/...                          copy-mode artifacts laid out for reading
    staging/<id>/...                                 in-flight copies; leftovers are gc's
    runs/RUN/start.json, end.json                    run records (start: exclusive; end: once)
    runs/RUN/attempts/0002.json                      later attempts of a requeued run
    runs/RUN/heartbeat.json                          the lease of a running run
    runs/RUN/outputs/PROJECT/NAME/00000001           index: versions the run published (empty)
    runs/RUN/outputs/PROJECT/NAME/00000001.pending-<id>  marked before the commit, removed after
    runs/RUN/metrics/<time>-<writer>.jsonl           logged metrics, in chunks (append = create)
    runs/RUN/console.txt, runs/RUN/code.diff         the tail of what it printed; its code changes
    sweeps/SWEEP/jobs/RUN, sweeps/SWEEP/summary.json the runs of a sweep, and its summary
    pipeline-cache/<key>.json                        pipeline steps' cached outputs
    policies/retention.json                          the retention policy gc applies
    gc/<id>.json                                     what a gc in progress may delete (its fence)

Names (project, artifact, alias, run, sweep) are validated before they reach a key.
"""

from __future__ import annotations

ARTIFACTS = "artifacts"
MANIFESTS = "manifests"
OBJECTS = "objects"
TREES = "trees"
STAGING = "staging"
RUNS = "runs"
SWEEPS = "sweeps"
PIPELINE_CACHE = "pipeline-cache"
POLICIES = "policies"
GC = "gc"
#: Top-level prefixes that hold content gc may collect.
COLLECTABLE = (OBJECTS, MANIFESTS, STAGING, TREES)


def project(project: str) -> str:
    return f"{ARTIFACTS}/{project}"


def name(project_: str, name_: str) -> str:
    return f"{ARTIFACTS}/{project_}/{name_}"


def versions(project_: str, name_: str) -> str:
    return f"{name(project_, name_)}/versions"


def version_number(entry: str) -> int | None:
    """The version a name under ``versions(...)`` records, or None for anything else."""
    number = entry.removesuffix(".json")
    return int(number) if entry.endswith(".json") and number.isdigit() else None


def aliases(project_: str, name_: str) -> str:
    return f"{name(project_, name_)}/aliases"


def alias_name(entry: str) -> str:
    """The alias a name under ``aliases(...)`` holds."""
    return entry.removesuffix(".json")


def version_record(project_: str, name_: str, version: int) -> str:
    return f"{name(project_, name_)}/versions/{version:08d}.json"


def alias(project_: str, name_: str, alias_: str) -> str:
    return f"{name(project_, name_)}/aliases/{alias_}.json"


def tombstone(project_: str, name_: str, version: int) -> str:
    return f"{name(project_, name_)}/deleted/{version:08d}.json"


def consumers(project_: str, name_: str, version: int) -> str:
    return f"{name(project_, name_)}/consumers/{version:08d}"


def consumer(project_: str, name_: str, version: int, run_id: str) -> str:
    return f"{consumers(project_, name_, version)}/{run_id}"


def manifest(digest: str) -> str:
    return f"{MANIFESTS}/{digest[:2]}/{digest}.json"


def object_(digest: str) -> str:
    return f"{OBJECTS}/{digest[:2]}/{digest}"


def digest_of(key: str) -> str:
    """The digest a key under objects/, manifests/ or trees/ belongs to."""
    top, _, rest = key.partition("/")
    if top == TREES:
        return rest.split("/", 1)[0]
    return rest.rsplit("/", 1)[-1].removesuffix(".json")


def is_temporary(key: str) -> bool:
    """A writer's temporary file (a killed writer may leave it)."""
    return key.rsplit("/", 1)[-1].startswith(".tmp-")


def tree(digest: str) -> str:
    return f"{TREES}/{digest}"


def object_temp(token: str) -> str:
    """An object being copied in (then renamed to its digest's key), in the shard ``token``
    happens to pick: spread over the shards, not all in one directory, where ext4 creates and
    renames files about 3x slower once it holds thousands."""
    return f"{OBJECTS}/{token[:2]}/.tmp-{token}"


def staging(token: str) -> str:
    return f"{STAGING}/{token}"


def run(run_id: str) -> str:
    return f"{RUNS}/{run_id}"


def run_start(run_id: str) -> str:
    return f"{RUNS}/{run_id}/start.json"


def run_end(run_id: str) -> str:
    return f"{RUNS}/{run_id}/end.json"


def run_heartbeat(run_id: str) -> str:
    return f"{RUNS}/{run_id}/heartbeat.json"


def run_attempts(run_id: str) -> str:
    return f"{RUNS}/{run_id}/attempts"


def run_attempt(run_id: str, attempt: int) -> str:
    return f"{RUNS}/{run_id}/attempts/{attempt:04d}.json"


def run_outputs(run_id: str) -> str:
    return f"{RUNS}/{run_id}/outputs"


def run_metrics(run_id: str) -> str:
    return f"{RUNS}/{run_id}/metrics"


def run_metrics_chunk(run_id: str, chunk: str) -> str:
    return f"{RUNS}/{run_id}/metrics/{chunk}.jsonl"


def run_text(run_id: str, kind: str) -> str:
    """``console`` (the tail of what the job printed) or ``code_diff`` (its uncommitted code)."""
    return f"{RUNS}/{run_id}/{RUN_TEXTS[kind]}"


RUN_TEXTS = {"console": "console.txt", "code_diff": "code.diff"}


def run_output(run_id: str, project_: str, name_: str, version: int) -> str:
    return f"{RUNS}/{run_id}/outputs/{project_}/{name_}/{version:08d}"


PENDING = ".pending"


def run_output_pending(run_id: str, project_: str, name_: str, version: int, token: str) -> str:
    """Written before the version's commit and removed after its index entry (``token``: the
    publish's own, so that no other removes it): one left behind is a publish killed in
    between (committed or not: the version record says)."""
    return f"{run_output(run_id, project_, name_, version)}{PENDING}-{token}"


def is_pending_output(key: str) -> bool:
    """A mark ``run_output_pending`` left (under runs/RUN/outputs/)."""
    top, _, rest = key.partition("/")
    return top == RUNS and "/outputs/" in rest and f"{PENDING}-" in key.rsplit("/", 1)[-1]


def parse_run_output(run_id: str, key: str) -> tuple[str, str, int, bool] | None:
    """(project, name, version, pending) of a key under ``run_outputs(run_id)``; None if
    malformed."""
    parts = key.removeprefix(run_outputs(run_id) + "/").split("/")
    if len(parts) != 3:
        return None
    number, pending, _ = parts[2].partition(PENDING + "-")
    if not number.isdigit() or int(number) < 1:
        return None
    return parts[0], parts[1], int(number), bool(pending)


def sweep_jobs(sweep_id: str) -> str:
    return f"{SWEEPS}/{sweep_id}/jobs"


def sweep_job(sweep_id: str, run_id: str) -> str:
    return f"{SWEEPS}/{sweep_id}/jobs/{run_id}"


def sweep_summary(sweep_id: str) -> str:
    return f"{SWEEPS}/{sweep_id}/summary.json"


def pipeline_cache(key: str) -> str:
    return f"{PIPELINE_CACHE}/{key}.json"


def retention_policy() -> str:
    return f"{POLICIES}/retention.json"


def gc_fence(token: str) -> str:
    return f"{GC}/{token}.json"


def clock_probe(token: str) -> str:
    """An empty object written to read the storage's clock (see gc_fence.storage_clock)."""
    return f"{GC}/clock-{token}"
