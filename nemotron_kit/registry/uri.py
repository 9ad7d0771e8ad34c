"""The one ``art://`` grammar and its one parser, used by every part of nemotron-kit.

    art://[PROJECT/]NAME[:vN|:N|:ALIAS][/PATH/INSIDE]

A path inside an artifact needs an explicit version or alias (``art://data:latest/blend.json``):
otherwise ``art://a/b`` could mean project ``a`` name ``b`` or artifact ``a`` file ``b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nemotron_kit.errors import URIError

SCHEME = "art://"
LATEST = "latest"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_VERSION_RE = re.compile(r"v?([0-9]+)")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_name(name: str, what: str = "artifact name") -> str:
    """A name that cannot leave the registry root: letters, digits, ``. _ -``; no ``..``."""
    if not isinstance(name, str) or not name:
        raise URIError(f"The {what} is empty: give a name such as 'pretrain-data'.")
    if _FORBIDDEN.search(name):
        raise URIError(
            f"The {what} {name!r} contains a control character or backslash: use letters, "
            "digits, '.', '_' and '-'."
        )
    if "/" in name or name.startswith(".") or ".." in name or not NAME_RE.fullmatch(name):
        raise URIError(
            f"The {what} {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..' or '/'."
        )
    return name


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or _FORBIDDEN.search(alias) or not ALIAS_RE.fullmatch(alias):
        raise URIError(
            f"The alias {alias!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter."
        )
    if _VERSION_RE.fullmatch(alias):
        raise URIError(f"The alias {alias!r} looks like a version number: pick another name.")
    return alias


@dataclass(frozen=True)
class ArtURI:
    """A parsed ``art://`` URI. ``version`` is an int, ``alias`` a name (``latest`` if neither)."""

    name: str
    project: str | None = None
    version: int | None = None
    alias: str | None = None
    path: str = ""

    @property
    def is_pinned(self) -> bool:
        return self.version is not None

    @property
    def selector(self) -> str:
        return f"v{self.version}" if self.version is not None else (self.alias or LATEST)

    def with_version(self, version: int) -> ArtURI:
        return ArtURI(self.name, self.project, version, None, self.path)

    def format(self, default_project: str | None = None) -> str:
        """Canonical text; the project is left out when it is the default one."""
        project = f"{self.project}/" if self.project and self.project != default_project else ""
        selector = f":{self.selector}" if (self.version is not None or self.alias) else ""
        path = f"/{self.path}" if self.path else ""
        return f"{SCHEME}{project}{self.name}{selector}{path}"

    def __str__(self) -> str:
        return self.format()


def parse_uri(text: str) -> ArtURI:
    """Parse ``art://[PROJECT/]NAME[:VER][/PATH]``; every malformed input is one clear sentence."""
    if not isinstance(text, str):
        raise URIError(f"An artifact URI must be a string, not {type(text).__name__}.")
    if not text.startswith(SCHEME):
        raise URIError(
            f"{text!r} is not an artifact URI: write art://NAME, art://NAME:vN or art://NAME:ALIAS."
        )
    rest = text[len(SCHEME) :]
    if _FORBIDDEN.search(rest):
        raise URIError(f"{text!r} contains a control character or backslash: remove it.")
    if not rest or rest.startswith("/"):
        raise URIError(f"{text!r} names no artifact (or is an absolute path): write art://NAME.")
    segments = rest.split("/")
    if len(segments) == 1 or ":" in segments[0]:
        project, head, inner = None, segments[0], segments[1:]
    elif len(segments) >= 2 and (":" in segments[1] or len(segments) == 2):
        project, head, inner = segments[0], segments[1], segments[2:]
    else:
        raise URIError(
            f"{text!r} is ambiguous: a path inside an artifact needs a version or alias, e.g. "
            f"art://{segments[0]}:latest/{'/'.join(segments[1:])}."
        )
    name, sep, selector = head.partition(":")
    if project is not None:
        validate_name(project, "project name")
    validate_name(name)
    version: int | None = None
    alias: str | None = None
    if sep:
        if not selector:
            raise URIError(f"{text!r} has an empty version after ':': write :vN, :N or :ALIAS.")
        match = _VERSION_RE.fullmatch(selector)
        if match:
            version = int(match.group(1))
            if version < 1:
                raise URIError(f"{text!r} asks for version {version}: versions start at 1.")
        else:
            alias = validate_alias(selector)
    if any(part in ("", ".", "..") for part in inner):
        raise URIError(
            f"{text!r} has an empty, '.' or '..' path segment: name a file inside the artifact."
        )
    return ArtURI(name=name, project=project, version=version, alias=alias, path="/".join(inner))
