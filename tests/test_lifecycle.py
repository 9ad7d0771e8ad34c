"""Versions leave the registry: `artifacts rm` (a tombstone), `alias --rm`, retention through
`gc --keep-last` or the registry's policy; gc then reclaims the bytes, and never what a live
version needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from nemotron_kit.artifacts import Artifact
from nemotron_kit.errors import ArtifactError, NotFoundError
from nemotron_kit.registry import ArtifactRegistry, lifecycle
from nemotron_kit.registry.lifecycle import (
    apply_retention,
    delete,
    keep_last_policy,
    policy_as_config,
    policy_from_config,
    read_policy,
    retention,
    rule_for,
    write_policy,
)
from tests.conftest import needs

MIB = 1 << 20


def disk_bytes(root: Path) -> int:
    """Bytes of the registry's files on disk (hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in root.rglob("*"):
        st = path.lstat()
        if path.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def payload(tmp_path: Path, tag: str, size: int = MIB) -> Path:
    data = tmp_path / f"data-{tag}"
    data.mkdir()
    (data / "weights.bin").write_bytes(os.urandom(size))
    (data / "tag.txt").write_text(tag)
    return data


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`nemotron-kit artifacts ARGS` (or `lineage ARGS`) against the test's registry."""
    root = str(tmp_path / "registry")
    command = ["lineage", *args[1:]] if args[0] == "lineage" else ["artifacts", *args]
    return subprocess.run(
        [sys.executable, "-m", "nemotron_kit", *command, "--root", root],
        capture_output=True,
        text=True,
        env={**os.environ, "NEMOTRON_KIT_HOME": str(tmp_path / "home")},
        timeout=120,
    )


@pytest.fixture
def registry(tmp_path: Path) -> ArtifactRegistry:
    return ArtifactRegistry(tmp_path / "registry", hash_cache=False)


def test_rm_then_gc_reclaims_the_bytes_and_numbers_are_not_reused(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    for tag in ("a", "b"):
        registry.publish(Artifact(path=str(payload(tmp_path, tag))), name="m", mode="copy")
    registry.load("art://m:v1")  # a materialized tree too
    before = disk_bytes(tmp_path / "registry")
    result = cli(tmp_path, "rm", "art://m:v1", "--reason", "bad run")
    assert result.returncode == 0, result.stderr
    assert cli(tmp_path, "gc", "--grace", "0").returncode == 0
    after = disk_bytes(tmp_path / "registry")
    assert before - after >= MIB, (before, after)  # v1's weights are gone from disk
    with pytest.raises(NotFoundError, match=r"art://m:v1, which was deleted on .* \(bad run\)"):
        registry.resolve("art://m:v1")
    assert registry.verify("art://m:v2").ok and registry.resolve("art://m").version == 2
    assert [v.version for v in registry.versions("m")] == [2]
    nxt = registry.publish(Artifact(path=str(payload(tmp_path, "c"))), name="m", mode="copy")
    assert nxt.version == 3  # v1's number stays taken
    delete(registry, "art://m:v3")
    assert registry.resolve("art://m").version == 2  # latest: the newest live version
    assert registry.aliases("m")["latest"] == 2
    assert [(e.name, e.latest.version) for e in registry.list()] == [("m", 2)]
    delete(registry, "art://m:v2")
    assert registry.list() == []  # every version deleted: nothing to list
    with pytest.raises(NotFoundError, match="Every version of 'm' was deleted"):
        registry.resolve("art://m")


def test_a_deleted_versions_content_reused_later_stays(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = payload(tmp_path, "same")
    registry.publish(Artifact(path=str(data)), name="m", mode="copy")
    delete(registry, "art://m:v1")
    again = registry.publish(Artifact(path=str(data)), name="m", mode="copy")  # same objects
    registry.gc(grace_seconds=0)
    assert registry.verify(again.uri).ok
    assert (Path(registry.load(again.uri).path) / "tag.txt").read_text() == "same"


def test_rm_refuses_an_input_of_a_live_version_unless_forced(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    data = registry.publish(Artifact(path=str(payload(tmp_path, "d"))), name="data", mode="copy")
    registry.add_consumer(data.uri, "run-train")
    registry.publish(
        Artifact(path=str(payload(tmp_path, "model"))),
        name="model",
        mode="copy",
        producer="run-train",
        inputs=[data.uri],
    )
    refused = cli(tmp_path, "rm", data.uri)
    assert refused.returncode != 0
    assert "is an input of live versions (art://model:v1)" in refused.stderr
    assert registry.resolve(data.uri).version == 1  # still there
    assert cli(tmp_path, "rm", data.uri, "--force").returncode == 0
    registry.gc(grace_seconds=0)
    assert registry.verify("art://model:v1").ok  # the model keeps its own data
    # Lineage keeps the deleted version, says so, and still follows it both ways.
    up = cli(tmp_path, "lineage", "art://model:v1")
    down = cli(tmp_path, "lineage", data.uri, "--downstream")
    assert up.returncode == 0 and "art://data:v1" in up.stdout and "deleted" in up.stdout
    assert down.returncode == 0 and "art://model:v1" in down.stdout, down.stderr


def test_alias_rm_and_retention_keep_aliased_and_newest(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    for tag in "abcd":
        registry.publish(Artifact(path=str(payload(tmp_path, tag))), name="m", mode="copy")
    registry.alias("art://m:v1", "best")
    registry.alias("art://m:v2", "old")
    removed = cli(tmp_path, "alias", "art://m", "old", "--rm")
    assert removed.returncode == 0 and "removed old (was v2)" in removed.stdout
    assert "old" not in registry.aliases("m")
    before = disk_bytes(tmp_path / "registry")
    planned = cli(tmp_path, "gc", "--keep-last", "1", "--dry-run", "--json")
    assert json.loads(planned.stdout)["retired"] == ["art://m:v3", "art://m:v2"]  # newest first
    assert disk_bytes(tmp_path / "registry") == before  # a dry run changes nothing
    result = cli(tmp_path, "gc", "--keep-last", "1", "--grace", "0")
    assert result.returncode == 0, result.stderr
    assert [v.version for v in registry.versions("m")] == [1, 4]  # best and the newest
    assert before - disk_bytes(tmp_path / "registry") >= 2 * MIB
    assert all(registry.verify(v.uri).ok for v in registry.versions("m"))


def test_bad_lifecycle_input_is_one_sentence(registry: ArtifactRegistry, tmp_path: Path) -> None:
    registry.publish(Artifact(path=str(payload(tmp_path, "x", 10))), name="m")
    for args, said in (
        (("gc", "--keep-last", "0"), "'0' is not a whole number >= 1"),
        (("gc", "--keep-last", "1", "--older-than", "soon"), "'soon' is not a duration"),
        (("alias", "art://m", "latest", "--rm"), "'latest' always names the newest version"),
        (("alias", "art://m", "nope", "--rm"), "'m' has no alias 'nope'"),
        (("rm", "art://m:v9"), "art://m:v9 does not exist"),
    ):
        result = cli(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert said in result.stderr, (args, result.stderr)
    with pytest.raises(ArtifactError, match="keep_last must be at least 1"):
        keep_last_policy(0)
    older = cli(tmp_path, "gc", "--older-than", "3d")  # it qualifies --keep-last only
    assert older.returncode == 2 and "--older-than applies to --keep-last" in older.stderr


# -- the registry's retention policy ------------------------------------------------------------


def set_policy(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "retention.yaml"
    policy.write_text(text)
    return cli(tmp_path, "retention", "--set", str(policy))


def test_gc_applies_the_registrys_retention_policy_per_name(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    for name in ("run-ckpt", "data"):
        for i in range(4):
            registry.publish(Artifact(path=str(payload(tmp_path, f"{name}{i}"))), name=name)
    registry.alias("art://run-ckpt:v1", "best")  # keep_aliased: false for checkpoints
    registry.alias("art://data:v1", "golden")
    assert "no retention policy" in cli(tmp_path, "retention").stdout
    none = cli(tmp_path, "gc", "--dry-run", "--json")  # no policy: no version goes
    assert none.returncode == 0 and json.loads(none.stdout)["retired"] == []
    made = set_policy(
        tmp_path,
        'keep_last: 2\nnames:\n  "*-ckpt": {keep_last: 1, keep_aliased: false}\n',
    )
    assert made.returncode == 0, made.stderr
    rules = [line.split()[0] for line in made.stdout.splitlines()[1:]]
    assert rules == ["*-ckpt", "every"]  # in the order they apply
    assert "keep the newest 1" in made.stdout
    shown = json.loads(cli(tmp_path, "retention", "--json").stdout)
    assert shown["keep_last"] == 2 and shown["names"]["*-ckpt"]["keep_aliased"] is False
    before = disk_bytes(tmp_path / "registry")
    planned = cli(tmp_path, "gc", "--dry-run", "--json")
    expected = ["art://data:v2", "art://run-ckpt:v1", "art://run-ckpt:v2", "art://run-ckpt:v3"]
    assert sorted(json.loads(planned.stdout)["retired"]) == expected
    skipped = cli(tmp_path, "gc", "--no-retention", "--grace", "0", "--json")
    assert json.loads(skipped.stdout)["retired"] == []
    assert disk_bytes(tmp_path / "registry") == before  # nothing yet
    result = cli(tmp_path, "gc", "--grace", "0")
    assert result.returncode == 0, result.stderr
    assert "deleted art://run-ckpt:v3 (retention: keep the last 1)" in result.stdout
    assert [v.version for v in registry.versions("run-ckpt")] == [4]
    assert [v.version for v in registry.versions("data")] == [1, 3, 4]  # golden stays
    assert "best" not in registry.aliases("run-ckpt")  # it went with its version
    assert before - disk_bytes(tmp_path / "registry") >= 4 * MIB
    assert all(
        registry.verify(v.uri).ok for n in ("data", "run-ckpt") for v in registry.versions(n)
    )
    again = cli(tmp_path, "gc", "--dry-run", "--json")  # the policy holds: nothing more
    assert json.loads(again.stdout)["retired"] == []


def test_retention_older_than_keeps_what_is_younger(
    registry: ArtifactRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        registry.publish(Artifact(path=str(payload(tmp_path, str(i), 10))), name="m")
    policy = policy_from_config({"keep_last": 1, "older_than": "1d"})
    assert policy.default.older_than_s == 86400
    assert retention(registry, policy).delete == []  # made a moment ago
    later = time.time() + 2 * 86400
    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(time=lambda: later))
    assert [v.version for v in retention(registry, policy).delete] == [2, 1]


def test_a_bad_policy_is_one_sentence_and_keeps_the_one_set(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    registry.publish(Artifact(path=str(payload(tmp_path, "x", 10))), name="m")
    assert set_policy(tmp_path, "keep_last: 3\n").returncode == 0
    for text, said in (
        ("keep_last: 0\n", "keep_last must be a whole number >= 1"),
        ("keep_lst: 2\n", "unknown key 'keep_lst': the keys are keep_last, older_than"),
        ("older_than: soon\n", 'older_than "soon" is not a duration'),
        ("keep_aliased: maybe\n", "keep_aliased must be true or false"),
        ("names: {a/b/c: {keep_last: 1}}\n", "'a/b/c' is not a name pattern"),
        ("names: {x: {keep_last: -1}}\n", "(rule 'x'): keep_last must be a whole number"),
        ("names: [1\n", "is not valid YAML at line 2"),
        ("- 1\n", "must be a mapping"),
        ("", "is empty: give keep_last"),
        ("keep_last: 2\nkeep_last: 3\n", "duplicate key 'keep_last'"),
        ("older_than: []\n", "older_than [] is not a duration"),
        ("keep_last: 2\nnames: []\n", "names must map name patterns to rules"),
        ("keep_aliased: null\n", "keep_aliased must be true or false, not null"),
        ("keep_last: 1\nolder_than: 1e300d\n", "is more than 100 years"),
        ("names: {a b: {keep_last: 1}}\n", "'a b' is not a name pattern"),
        ('names: {"x\\e[2J": {keep_last: 1}}\n', "a pattern is not a name pattern"),
    ):
        result = set_policy(tmp_path, text)
        assert result.returncode == 2, (text, result.stderr)
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            text,
            result.stderr,
        )
    binary = tmp_path / "policy.bin"
    binary.write_bytes(b"\xff\xfe")
    result = cli(tmp_path, "retention", "--set", str(binary))
    assert result.returncode == 2 and "is not UTF-8 text" in result.stderr
    assert json.loads(cli(tmp_path, "retention", "--json").stdout)["keep_last"] == 3


def test_the_documented_policy_is_accepted_as_written(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    import re

    docs = (Path(__file__).parents[1] / "docs" / "registry.md").read_text()
    (example,) = re.findall(r"```yaml\n(# retention.yaml\n.*?)```", docs, re.S)
    registry.publish(Artifact(path=str(payload(tmp_path, "x", 10))), name="m")
    made = set_policy(tmp_path, example)
    assert made.returncode == 0, made.stderr
    shown = json.loads(cli(tmp_path, "retention", "--json").stdout)
    assert shown["older_than"] == "30d" and list(shown["names"]) == ["*-ckpt", "team/raw-*"]


def test_a_damaged_policy_stops_retention_not_gc(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    for i in range(3):
        registry.publish(Artifact(path=str(payload(tmp_path, str(i), 10))), name="m")
    assert set_policy(tmp_path, "keep_last: 1\n").returncode == 0
    stored = tmp_path / "registry" / "policies" / "retention.json"
    stored.write_text('{"format": "nemotron-kit/retention/1", "default": {"keep_last": "1"}}')
    result = cli(tmp_path, "gc", "--grace", "0")
    assert result.returncode != 0 and "retention policy" in result.stderr
    assert "--clear" in result.stderr  # the way out
    crafted = {"default": {"keep_last": 1}, "updated_at": "\u001b[2J\u001b[31mPWNED"}
    stored.write_text(json.dumps({"format": "nemotron-kit/retention/1", **crafted}))
    shown = cli(tmp_path, "retention")
    assert shown.returncode == 2 and "updated_at" in shown.stderr
    assert "\x1b" not in shown.stderr + shown.stdout  # no escape sequence reaches a terminal
    stored.write_text(json.dumps({"default": {"keep_last": 1}, "\u001b[2Jkey": 1}))
    shown = cli(tmp_path, "gc")
    assert shown.returncode == 2 and "\\x1b[2Jkey" in shown.stderr  # named, escaped
    assert "\x1b" not in shown.stderr
    assert [v.version for v in registry.versions("m")] == [1, 2, 3]
    assert cli(tmp_path, "gc", "--no-retention", "--grace", "0").returncode == 0
    cleared = cli(tmp_path, "retention", "--clear")
    assert cleared.returncode == 0 and "no retention policy" in cleared.stdout
    assert not stored.exists()
    assert json.loads(cli(tmp_path, "gc", "--dry-run", "--json").stdout)["retired"] == []


def test_retention_spans_projects_and_globs_mean_what_they_say(tmp_path: Path) -> None:
    """A scheduled gc (default project) applies the policy to every project; a pattern
    without '/' matches names only ('a*' is not 'alpha/model')."""
    root = tmp_path / "registry"
    for project in ("default", "alpha"):
        in_project = ArtifactRegistry(root, project=project, hash_cache=False)
        for i in range(3):
            data = payload(tmp_path, f"{project}{i}", 10)
            in_project.publish(Artifact(path=str(data)), name="model")
    assert set_policy(tmp_path, 'keep_last: null\nnames: {"a*": {keep_last: 1}}\n').returncode == 0
    planned = cli(tmp_path, "gc", "--dry-run", "--json")
    assert json.loads(planned.stdout)["retired"] == []  # no name starts with a
    assert (
        set_policy(tmp_path, 'keep_last: null\nnames: {"alpha/*": {keep_last: 1}}\n').returncode
        == 0
    )
    planned = cli(tmp_path, "gc", "--dry-run", "--json")
    assert json.loads(planned.stdout)["retired"] == ["art://alpha/model:v2", "art://alpha/model:v1"]


def test_retention_takes_an_input_along_with_what_was_made_from_it(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    """The dry run shows all that goes: a model the policy deletes no longer keeps the data it
    was made from (which goes after it); a model that stays keeps its data."""
    for i in range(2):
        data = registry.publish(Artifact(path=str(payload(tmp_path, f"d{i}", 10))), name="data")
        registry.add_consumer(data.uri, f"run-{i}")
        registry.publish(
            Artifact(path=str(payload(tmp_path, f"m{i}", 10))),
            name="model",
            producer=f"run-{i}",
            inputs=[data.uri],
        )
    assert set_policy(tmp_path, "keep_last: 1\nnames: {model: {keep_last: 2}}\n").returncode == 0
    kept = json.loads(cli(tmp_path, "gc", "--dry-run", "--json").stdout)
    assert kept["retired"] == []
    assert kept["retention"]["kept"] == [
        {"uri": "art://data:v1", "why": "live versions were made from it"}
    ]
    assert set_policy(tmp_path, "keep_last: 1\n").returncode == 0
    planned = cli(tmp_path, "gc", "--dry-run")
    assert planned.stdout.splitlines()[:2] == [
        "would delete art://model:v1 (retention: keep the last 1)",
        "would delete art://data:v1 (retention: keep the last 1)",
    ]
    result = cli(tmp_path, "gc")
    assert result.returncode == 0, result.stderr
    assert [v.version for v in registry.versions("data")] == [2]
    assert [v.version for v in registry.versions("model")] == [2]


def test_retention_looks_again_before_each_delete(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    """A plan may be minutes old: a version aliased since stays, one another gc deleted is
    skipped; with keep_aliased: false the aliases that go are said before."""
    for i in range(4):
        registry.publish(Artifact(path=str(payload(tmp_path, str(i), 10))), name="m")
    registry.alias("art://m:v1", "old")
    policy = policy_from_config({"keep_last": 1})
    plan = retention(registry, policy)
    assert [v.uri for v in plan.delete] == ["art://m:v3", "art://m:v2"]  # v1 is aliased
    registry.alias("art://m:v3", "best")  # meanwhile, a user marks v3
    delete(registry, "art://m:v2", reason="by hand")  # and another gc takes v2
    said: list[str] = []
    result = apply_retention(registry, plan, said.append)
    assert result.deleted == said == []
    assert result.kept == {"art://m:v3": "aliased since (best)", "art://m:v2": "already deleted"}
    assert registry.aliases("m")["best"] == 3
    loose = policy_from_config({"keep_last": 1, "keep_aliased": False})
    shown = cli(tmp_path, "gc", "--dry-run", "--keep-last", "1")  # the flag keeps aliased ones
    assert "would delete" not in shown.stdout
    write_policy(registry, loose)
    planned = cli(tmp_path, "gc", "--dry-run")
    assert "would delete art://m:v3 (retention: keep the last 1; its aliases go: best)" in (
        planned.stdout
    )
    assert "its aliases go: old" in planned.stdout
    plan = retention(registry, loose)
    assert "art://m:v3" in [v.uri for v in plan.delete]
    registry.add_consumer("art://m:v3", "run-late")  # meanwhile a run reads v3 and publishes
    registry.publish(
        Artifact(path=str(payload(tmp_path, "late", 10))),
        name="late",
        producer="run-late",
        inputs=["art://m:v3"],
    )
    late = apply_retention(registry, plan)
    assert late.kept["art://m:v3"] == "live versions were made from it since (art://late:v1)"
    assert registry.resolve("art://m:v3").version == 3


@pytest.mark.parametrize("backend", ["local", "memory", pytest.param("s3", marks=needs("s3"))])
def test_the_policy_lives_in_the_registry_on_every_backend(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root: str | Path = tmp_path / "registry"
    options: dict[str, str] = {}
    if backend == "memory":
        root = f"memory://nk-{uuid.uuid4().hex}"
    elif backend == "s3":
        bucket, endpoint = (request.getfixturevalue(f) for f in ("s3_bucket", "s3_endpoint"))
        root, options = f"s3://{bucket}/{uuid.uuid4().hex}", {"endpoint_url": endpoint}
    shared, other = (
        ArtifactRegistry(root, storage_options=options, hash_cache=False) for _ in range(2)
    )
    assert read_policy(other) is None
    policy = policy_from_config({"keep_last": 5, "names": {"team/*": {"older_than": "12h"}}})
    write_policy(shared, policy)
    seen = read_policy(other)  # another user of the registry sees the same policy
    assert seen is not None and seen == policy
    assert rule_for(seen, "team", "x").older_than_s == 43200
    assert rule_for(seen, "team", "x").keep_last == 5  # what the rule omits comes from above
    assert rule_for(seen, "default", "x") == seen.default
    assert rule_for(seen, "default", "team") == seen.default  # a '/' pattern needs the project
    assert policy_from_config(policy_as_config(seen)).names == seen.names
    write_policy(other, None)
    write_policy(other, None)  # clearing twice is no error
    assert read_policy(shared) is None


def test_gc_collects_the_homes_unused_caches_and_keeps_what_a_run_names(
    registry: ArtifactRegistry, tmp_path: Path
) -> None:
    """Downloaded trees and code snapshots unused for --cache-age go (snapshots only when no
    run record names them: reproduce runs them), and hash-cache entries of files that are gone."""
    home = tmp_path / "home"
    month_ago = 40 * 86400

    def cached(kind: str, digest: str, *, old: bool) -> Path:
        entry = home / kind / digest
        entry.mkdir(parents=True)
        (entry / "file.bin").write_bytes(os.urandom(MIB))
        os.chmod(entry / "file.bin", 0o444)  # as trees are: read-only files
        if old:
            stamp = os.stat(entry).st_mtime - month_ago
            os.utime(entry, (stamp, stamp))
        return entry

    named = cached("snapshots", "a" * 64, old=True)  # a run record names it: kept
    unused = cached("snapshots", "b" * 64, old=True)
    recent = cached("snapshots", "c" * 64, old=False)
    old_tree = cached("cache/trees", "d" * 64, old=True)
    new_tree = cached("cache/trees", "e" * 64, old=False)
    registry.create_run(
        "run-1",
        {"run_id": "run-1", "code": {"snapshot": {"digest": named.name, "path": str(named)}}},
    )
    # The hash cache remembers a file that is then deleted.
    hashed = ArtifactRegistry(tmp_path / "registry", hash_cache=home / "cache" / "hashes.sqlite")
    gone = payload(tmp_path, "gone")
    hashed.publish(Artifact(path=str(gone)), name="g", mode="copy")
    for path in gone.iterdir():
        path.unlink()

    before = disk_bytes(home)
    assert json.loads(cli(tmp_path, "gc", "--json").stdout)["home"] is None  # opt-in
    dry = cli(tmp_path, "gc", "--cache-age", "30d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)["home"]
    assert sorted(planned["removed"]) == sorted([str(unused), str(old_tree)])
    assert planned["snapshots_kept_because"] is None
    assert planned["freed_bytes"] == 2 * MIB and planned["stale_hashes"] == 2
    assert disk_bytes(home) == before  # a dry run removes nothing

    done = cli(tmp_path, "gc", "--cache-age", "30d")
    assert done.returncode == 0, done.stderr
    assert "Removed 2 unused cache entries (2,097,152 bytes):" in done.stdout
    assert "Removed 2 hash-cache entries of files that are gone." in done.stdout
    assert not unused.exists() and not old_tree.exists()
    assert named.is_dir() and recent.is_dir() and new_tree.is_dir()
    assert before - disk_bytes(home) >= 2 * MIB
    again = json.loads(cli(tmp_path, "gc", "--cache-age", "30d", "--json").stdout)["home"]
    assert again["removed"] == [] and again["stale_hashes"] == 0


def test_collecting_the_home_keeps_a_tree_that_a_load_hands_out_as_it_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree downloaded from a remote registry, unused for days, which a job loads just as
    gc of the home decides it is stale: the load's path must stay (it was removed, and the
    job got a path that did not exist)."""
    import uuid

    from nemotron_kit.paths import home
    from nemotron_kit.registry import home_cache

    monkeypatch.setenv("NEMOTRON_KIT_HOME", str(tmp_path / "home"))
    remote = ArtifactRegistry(f"memory://nk-home-{uuid.uuid4().hex}", hash_cache=False)
    version = remote.publish(Artifact(path=str(payload(tmp_path, "p"))), name="m")
    tree = Path(remote.load(version.uri).path)
    days_ago = time.time() - 3 * 86400
    os.utime(tree, (days_ago, days_ago))
    loaded: list[str] = []
    real_size = home_cache._size

    def size_then_load(path: Path) -> int:  # gc has decided; a job loads the version now
        loaded.append(remote.load(version.uri).path)
        return real_size(path)

    monkeypatch.setattr(home_cache, "_size", size_then_load)
    report = home_cache.collect_home(remote, home(), older_than_s=86400)
    assert loaded == [str(tree)] and report.removed == []
    assert tree.is_dir() and any(tree.iterdir())
