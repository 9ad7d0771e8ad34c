"""Version gates for the libraries whose behaviour changes between releases."""

from __future__ import annotations

from typing import NamedTuple


class Version(NamedTuple):
    major: int
    minor: int
    patch: int


def _parse(version: str) -> Version:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return Version(*parts)


def hydra_version() -> Version:
    import hydra

    return _parse(hydra.__version__)
