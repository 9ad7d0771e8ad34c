"""The one helper through which nemotron-kit turns a ``_target_`` node into an object.

Hydra 1.3.6+ refuses some targets by policy and 1.4 deprecates unrestricted ``instantiate``;
keeping every call here means one place to adapt, and one error message for users.
"""

from __future__ import annotations

import re
from typing import Any

from nemotron_kit.errors import InstantiationError


def instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with nemotron-kit's error reporting.

    A target that cannot be imported, is refused by Hydra's target policy, or raises while
    being built becomes an :class:`InstantiationError` naming the config key and the target.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(config, *args, **kwargs)
    except InstantiationException as exc:
        raise _explain(config, exc) from exc


def _explain(config: Any, exc: Exception) -> InstantiationError:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    full_key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
    # The failing node may be nested: name its own target, not the root's.
    target = _target_at(config, full_key) or _target_of(config)
    first = lines[0] if lines else type(exc).__name__
    where = f"'{full_key}'" if full_key else "the config"
    if first.startswith("Error locating target"):
        located = re.search(r"Error locating target '([^']+)'", first)
        target = located.group(1) if located else target
        cause = _root_cause(exc)
        detail = f" ({type(cause).__name__}: {_first_line(cause)})" if cause is not exc else ""
        return InstantiationError(
            f"Cannot import _target_ '{target}' for {where}{detail}: check the dotted "
            "path and that its package is installed."
        )
    cause = _root_cause(exc)
    if cause is exc:
        # Nothing raised underneath: Hydra itself refused the target, in a message wrapped over
        # several lines that only makes sense whole.
        return _refused(where, target, lines)
    return InstantiationError(
        f"Cannot build {where} from _target_ '{target}' ({type(cause).__name__}: "
        f"{_first_line(cause)}): check its arguments in the config."
    )


def _refused(where: str, target: str, lines: list[str]) -> InstantiationError:
    """One sentence for a target Hydra refuses by policy, with the way out it allows."""
    text = " ".join(ln.strip() for ln in lines if not ln.startswith("full_key:"))
    reason = re.sub(r"\.\s+(\w)", lambda m: "; " + m.group(1).lower(), text.strip().rstrip("."))
    if "to bypass" in reason:  # blocklisted, but an allowlist override is accepted
        advice = (
            f"build it in Python code instead, or, only if you trust this config, set "
            f"HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE={target}"
        )
    elif "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE" in reason or "blocklisted" in reason:
        advice = "build it in Python code instead, since no setting allows it in a config"
    else:
        advice = "check the target and its arguments in the config"
    return InstantiationError(
        f"Hydra refuses _target_ '{target}' for {where} ({reason}): {advice}."
    )


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__


def _target_at(config: Any, key: str) -> str:
    """The ``_target_`` of the node at ``key`` inside ``config`` ("" if none)."""
    if not key:
        return ""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.select(OmegaConf.create(config), key)
    except Exception:  # not a config OmegaConf can read: fall back to the root's target
        return ""
    return _target_of(node) if node is not None else ""


def _target_of(config: Any) -> str:
    try:
        target = config.get("_target_", "")
    except AttributeError:
        return ""
    return target if isinstance(target, str) else getattr(target, "__qualname__", str(target))
