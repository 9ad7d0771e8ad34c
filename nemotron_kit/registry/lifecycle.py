"""Versions leave the registry: ``delete`` (a tombstone; gc then reclaims the data no live
version shares), ``remove_alias``, and ``retention`` (which versions a policy lets go). The
registry keeps its retention policy (``read_policy``/``write_policy``), so the gc a team
schedules and the one a user runs apply the same rules.

A deleted version keeps its record: its number is never reused, lineage still shows who made it
and from what, and resolving it says when it was deleted. A version that a live version
downstream was made from is not deleted unless forced: that would leave a result that can no
longer be re-made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from nemotron_kit.errors import ArtifactError, LiveDownstreamError, NotFoundError, URIError
from nemotron_kit.registry import layout, records
from nemotron_kit.registry.base import _storage_errors
from nemotron_kit.registry.uri import LATEST, validate_alias

if TYPE_CHECKING:
    from nemotron_kit.registry.core import ArtifactRegistry, ArtifactVersion
    from nemotron_kit.registry.uri import ArtURI


def live_downstream(registry: ArtifactRegistry, version: ArtifactVersion) -> list[str]:
    """Live versions published by runs that read ``version``."""
    out = []
    for run_id in registry.consumers(version.uri):
        for uri in registry.run_outputs(run_id):
            try:
                registry.resolve(uri)
            except NotFoundError:  # deleted: nothing live depends on it there
                continue  # (any other failure is raised: unknown is not "not live")
            out.append(uri)
    return sorted(set(out))


@_storage_errors
def delete(
    registry: ArtifactRegistry,
    uri: str | ArtURI,
    *,
    reason: str | None = None,
    force: bool = False,
) -> ArtifactVersion:
    """Delete the version ``uri`` resolves to; returns it. Its aliases go with it."""
    version = registry.resolve(uri)
    downstream = live_downstream(registry, version)
    if downstream and not force:
        shown = ", ".join(downstream[:5]) + (" ..." if len(downstream) > 5 else "")
        raise LiveDownstreamError(
            downstream,
            f"{version.uri} is an input of live versions ({shown}): delete those first, or "
            "force it (--force), and they can no longer be re-made.",
        )
    stone = records.TombstoneRecord(
        deleted_at=datetime.now(timezone.utc).isoformat(), reason=reason, forced=bool(downstream)
    )
    key = layout.tombstone(version.project, version.name, version.version)
    registry.storage.create(key, records.dumps(stone))  # a second delete keeps the first
    for alias, target in registry.aliases(version.name, project=version.project).items():
        if alias != LATEST and target == version.version:
            registry.storage.delete(layout.alias(version.project, version.name, alias))
    return version


@_storage_errors
def remove_alias(
    registry: ArtifactRegistry, name: str, alias: str, project: str | None = None
) -> int:
    """Remove ``alias`` of ``name``; returns the version it pointed at."""
    validate_alias(alias)
    if alias == LATEST:
        raise URIError("'latest' always names the newest version and cannot be removed.")
    project = project or registry.project
    target = registry.aliases(name, project=project).get(alias)
    if target is None:
        known = ", ".join(sorted(registry.aliases(name, project=project)))
        raise ArtifactError(f"'{name}' has no alias '{alias}' (its aliases: {known}).")
    registry.storage.delete(layout.alias(project, name, alias))
    return target


@dataclass
class RetentionPlan:
    """What a policy lets go, newest first (so a version goes before the versions it was made
    from), each with its rule and the aliases that go with it; and what it would
    but may not (live versions outside the plan were made from it)."""

    delete: list[ArtifactVersion] = field(default_factory=list)
    kept_for_downstream: list[str] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, records.RetentionRule] = field(default_factory=dict)


@dataclass
class RetentionResult:
    """What ``apply_retention`` deleted, and what it kept after all, with why."""

    deleted: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


#: Longer than any artifact lives; a larger age is a typo (30000d for 30d).
MAX_AGE_S = 100 * 365 * 86400.0


def parse_duration(text: str | float) -> float:
    """Seconds from 3600, '3600', '90m', '12h' or '30d'; ValueError names the text."""
    if isinstance(text, bool):
        raise ValueError(f"'{text}' is not a duration such as 3600, 12h or 30d")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        scale = units.get(text[-1:], 1) if text else 1
        number = text[:-1] if text[-1:] in units else text
        try:
            value = float(number) * scale
        except ValueError:
            value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"'{text}' is not a duration such as 3600, 12h or 30d")
    return value


_RULE_KEYS = ("keep_last", "older_than", "keep_aliased")
MAX_RULES = 1000


def _rule(
    data: Any, inherit: records.RetentionRule, where: str, keys: tuple[str, ...] = _RULE_KEYS
) -> records.RetentionRule:
    if not isinstance(data, Mapping):
        raise ArtifactError(f"{where} must be a mapping with the keys {', '.join(keys)}.")
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        raise ArtifactError(
            f"{where} has an unknown key '{unknown[0]}': the keys are {', '.join(keys)}."
        )
    keep_last = data.get("keep_last", inherit.keep_last)
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
    ):
        raise ArtifactError(
            f"{where}: keep_last must be a whole number >= 1 (the newest stays) or null (keep "
            f"every version), not {_shown(keep_last)}."
        )
    keep_aliased = data.get("keep_aliased", inherit.keep_aliased)
    if not isinstance(keep_aliased, bool):
        raise ArtifactError(
            f"{where}: keep_aliased must be true or false, not {_shown(keep_aliased)}."
        )
    older_than = inherit.older_than_s
    if "older_than" in data:
        try:
            older_than = 0.0 if data["older_than"] is None else parse_duration(data["older_than"])
        except (ValueError, TypeError):
            raise ArtifactError(
                f"{where}: older_than {_shown(data['older_than'])} is not a duration such as "
                "3600, 12h or 30d."
            ) from None
        if older_than > MAX_AGE_S:
            raise ArtifactError(
                f"{where}: older_than {_shown(data['older_than'])} is more than 100 years: give "
                "an age such as 30d."
            )
    return records.RetentionRule(
        keep_last=keep_last, older_than_s=older_than, keep_aliased=keep_aliased
    )


def policy_from_config(data: Any, where: str = "The retention policy") -> records.RetentionPolicy:
    """A policy from its config form (a YAML file's content)::

        keep_last: 10          # each name keeps its newest 10 versions (null: all of them)
        older_than: 30d        # and whatever was made in the last 30 days
        keep_aliased: true     # and every aliased version (the default)
        names:                 # rules for some names (NAME or PROJECT/NAME globs, first match
          "*-ckpt": {keep_last: 3}   # wins); what a rule omits comes from above
          "raw-data": {keep_last: null}

    Anything else is one ArtifactError naming the culprit.
    """
    top = (*_RULE_KEYS, "names")
    if data is None or data == {}:
        raise ArtifactError(
            f"{where} is empty: give keep_last (and older_than, keep_aliased, names), or remove "
            "the policy with --clear."
        )
    default = _rule(data, records.RetentionRule(), where, top)
    names = data.get("names")
    if names is None:
        names = {}
    if not isinstance(names, Mapping):
        raise ArtifactError(
            f"{where}: names must map name patterns to rules, as in '*-ckpt: {{keep_last: 3}}'."
        )
    if len(names) > MAX_RULES:
        raise ArtifactError(
            f"{where} has {len(names)} rules, more than {MAX_RULES}: cover several names with "
            "one pattern ('*-ckpt', 'team/*')."
        )
    rules = []
    for pattern, rule in names.items():
        if not isinstance(pattern, str):
            raise ArtifactError(f"{where}: the name pattern {pattern!r} must be a string.")
        rules.append((pattern, _rule(rule, default, f"{where} (rule '{pattern}')")))
    from pydantic import ValidationError

    try:
        return records.RetentionPolicy(
            default=default, names=rules, updated_at=datetime.now(timezone.utc).isoformat()
        )
    except ValidationError as exc:  # a bad pattern
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ArtifactError(f"{where}: {message}.") from None


def _shown(value: Any) -> str:
    """A value from a YAML file as its author wrote it (``null``, ``"x"``), not as Python's repr."""
    import json

    return json.dumps(value, default=str)


def policy_as_config(policy: records.RetentionPolicy) -> dict[str, Any]:
    """The config form of a stored policy (what ``policy_from_config`` reads back)."""

    def rule(r: records.RetentionRule) -> dict[str, Any]:
        return {
            "keep_last": r.keep_last,
            "older_than": format_age(r.older_than_s),
            "keep_aliased": r.keep_aliased,
        }

    return {**rule(policy.default), "names": {p: rule(r) for p, r in policy.names}}


def format_age(seconds: float) -> str | float:
    """30d, 12h or 90m where that is exact; else seconds."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return int(seconds) if float(seconds).is_integer() else seconds


@_storage_errors
def read_policy(registry: ArtifactRegistry) -> records.RetentionPolicy | None:
    """The registry's retention policy, or None. A damaged one is an error (never "none"):
    gc must not fall back to keeping, or deleting, by a policy nobody set."""
    key = layout.retention_policy()
    try:
        raw = registry.storage.read(key)
    except FileNotFoundError:
        return None
    return records.parse(
        records.RetentionPolicy,
        raw,
        f"The retention policy '{key}'",
        fix="set it again (`nemotron-kit artifacts retention --set FILE`) or remove it "
        "(`--clear`); gc deletes no version until then",
    )


@_storage_errors
def write_policy(registry: ArtifactRegistry, policy: records.RetentionPolicy | None) -> None:
    """Set (or, with None, remove) the registry's retention policy, atomically."""
    key = layout.retention_policy()
    if policy is None:
        registry.storage.delete(key)
    else:
        registry.storage.replace(key, records.dumps(policy))


def rule_for(policy: records.RetentionPolicy, project: str, name: str) -> records.RetentionRule:
    """The first rule whose pattern matches: ``PROJECT/NAME`` for a pattern with a ``/``, the
    name alone otherwise (``a*`` is not ``alpha/model``); else the default."""
    for pattern, rule in policy.names:
        if fnmatchcase(f"{project}/{name}" if "/" in pattern else name, pattern):
            return rule
    return policy.default


def keep_last_policy(keep_last: int, older_than_s: float = 0.0) -> records.RetentionPolicy:
    """One rule for every name (``gc --keep-last N [--older-than AGE]``)."""
    if keep_last < 1:
        raise ArtifactError(f"keep_last must be at least 1 (got {keep_last}): the newest stays.")
    return records.RetentionPolicy(
        default=records.RetentionRule(keep_last=keep_last, older_than_s=older_than_s)
    )


def retention(
    registry: ArtifactRegistry,
    policy: records.RetentionPolicy,
    *,
    project: str | None = None,
) -> RetentionPlan:
    """Versions of each name (of every project, or of ``project``) that its rule lets go:
    beyond the newest ``keep_last``, created more than ``older_than_s`` ago, not aliased (with
    ``keep_aliased``), and every live version made from them going too."""
    now = time.time()
    found: dict[str, tuple[ArtifactVersion, records.RetentionRule, list[str]]] = {}
    for project_ in [project] if project else registry.projects():
        for entry in registry.list(project=project_):
            rule = rule_for(policy, entry.project, entry.name)
            if rule.keep_last is None:
                continue
            versions = registry.versions(entry.name, project=entry.project)
            aliased: dict[int, list[str]] = {}
            for alias, number in registry.aliases(entry.name, project=entry.project).items():
                if alias != LATEST:
                    aliased.setdefault(number, []).append(alias)
            for version in versions[: max(0, len(versions) - rule.keep_last)]:
                created = datetime.fromisoformat(version.created_at).timestamp()
                if created > now - rule.older_than_s:
                    continue
                if rule.keep_aliased and version.version in aliased:
                    continue
                found[version.uri] = (version, rule, sorted(aliased.get(version.version, [])))
    # A version goes if every live version made from it goes too: so a model the policy
    # deletes does not keep the data it was trained on until the next gc.
    downstream = {uri: set(live_downstream(registry, v)) for uri, (v, _, _) in found.items()}
    going = {uri for uri, outputs in downstream.items() if not outputs}
    while more := {u for u, outputs in downstream.items() if u not in going and outputs <= going}:
        going |= more
    plan = RetentionPlan(kept_for_downstream=sorted(set(found) - going))
    # Newest first: what was made from a version was published after it, and goes before it.
    for uri in sorted(going, key=lambda u: found[u][0].created_at, reverse=True):
        version, rule, aliases = found[uri]
        plan.delete.append(version)
        plan.rules[uri] = rule
        plan.aliases[uri] = aliases
    return plan


def retention_reason(rule: records.RetentionRule) -> str:
    """Why ``rule`` deletes a version: the tombstone's reason, and what gc prints."""
    age = f" older than {format_age(rule.older_than_s)}" if rule.older_than_s else ""
    return f"retention: keep the last {rule.keep_last}{age}"


def apply_retention(
    registry: ArtifactRegistry,
    plan: RetentionPlan,
    deleted: Callable[[str], None] | None = None,
) -> RetentionResult:
    """Delete what ``plan`` lets go, calling ``deleted(uri)`` after each. Each is looked at
    again first, as the plan may be minutes old: one aliased since (under ``keep_aliased``)
    or made an input of a live version since stays; one already deleted (by a gc running
    beside this one) is skipped."""
    result = RetentionResult()
    for version in plan.delete:
        uri = version.uri
        try:
            now_aliased = [
                alias
                for alias, number in registry.aliases(version.name, project=version.project).items()
                if alias != LATEST and number == version.version
            ]
            if plan.rules[uri].keep_aliased and now_aliased:
                result.kept[uri] = f"aliased since ({', '.join(now_aliased)})"
                continue
            delete(registry, uri, reason=retention_reason(plan.rules[uri]))
        except LiveDownstreamError as exc:  # delete looks again itself
            result.kept[uri] = f"live versions were made from it since ({exc.downstream[0]})"
            continue
        except NotFoundError:  # a gc beside this one deleted it first
            result.kept[uri] = "already deleted"
            continue
        result.deleted.append(uri)
        if deleted is not None:
            deleted(uri)
    return result
