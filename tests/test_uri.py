"""The art:// grammar: what parses to what, what prints back, and the one sentence for bad input.

Fast, pure unit tests of nemotron_kit.registry.uri (no registry, no files).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemotron_kit.errors import URIError
from nemotron_kit.registry.uri import (
    ALIAS_RE,
    NAME_RE,
    ArtURI,
    parse_uri,
    validate_alias,
    validate_name,
)

# -- what parses to what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("art://d", ArtURI("d")),
        ("art://d:v3", ArtURI("d", version=3)),
        ("art://d:3", ArtURI("d", version=3)),
        ("art://d:v007", ArtURI("d", version=7)),
        ("art://d:best", ArtURI("d", alias="best")),
        ("art://d:latest", ArtURI("d", alias="latest")),
        ("art://proj/d", ArtURI("d", project="proj")),
        ("art://proj/d:v2", ArtURI("d", project="proj", version=2)),
        ("art://d:v1/blend.json", ArtURI("d", version=1, path="blend.json")),
        ("art://d:latest/a/b/c.json", ArtURI("d", alias="latest", path="a/b/c.json")),
        ("art://proj/d:best/blend.json", ArtURI("d", "proj", alias="best", path="blend.json")),
        ("art://proj/d:v4/shards/0.bin", ArtURI("d", "proj", version=4, path="shards/0.bin")),
    ],
)
def test_the_grammar_parses_each_form(text: str, expected: ArtURI) -> None:
    parsed = parse_uri(text)
    assert parsed == expected
    # Absent parts are None (the CLI tells "no selector" by `alias is None`), not "".
    if ":" not in text.removeprefix("art://"):
        assert parsed.alias is None and parsed.version is None
        assert parsed.selector == "latest" and not parsed.is_pinned


@pytest.mark.parametrize(
    "text",
    [
        "art://d",
        "art://d:v3",
        "art://d:best",
        "art://proj/d",
        "art://proj/d:v2",
        "art://d:v1/blend.json",
        "art://proj/d:latest/a/b/c.json",
    ],
)
def test_canonical_text_prints_back_unchanged(text: str) -> None:
    assert str(parse_uri(text)) == text
    assert parse_uri(text).format() == text


def test_format_leaves_out_only_the_default_project() -> None:
    uri = parse_uri("art://proj/d:v2/x.json")
    assert uri.format(default_project="proj") == "art://d:v2/x.json"
    assert uri.format(default_project="other") == "art://proj/d:v2/x.json"
    assert parse_uri("art://d:3").format() == "art://d:v3"  # a bare number prints as vN


def test_with_version_pins_and_keeps_project_and_path() -> None:
    pinned = parse_uri("art://proj/d:best/x/y.json").with_version(4)
    assert pinned == ArtURI("d", project="proj", version=4, alias=None, path="x/y.json")
    assert pinned.is_pinned and pinned.selector == "v4"
    assert str(pinned) == "art://proj/d:v4/x/y.json"
    assert str(parse_uri("art://d").with_version(1)) == "art://d:v1"


_names = st.from_regex(NAME_RE, fullmatch=True).filter(lambda s: ".." not in s)
_aliases = st.from_regex(ALIAS_RE, fullmatch=True).filter(
    lambda s: re.fullmatch(r"v?[0-9]+", s) is None
)
_segments = st.from_regex(r"[A-Za-z0-9_.-]{1,16}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)


@st.composite
def _uris(draw: st.DrawFn) -> ArtURI:
    name = draw(_names)
    project = draw(st.none() | _names)
    kind = draw(st.sampled_from(["none", "version", "alias"]))
    version = draw(st.integers(1, 10**9)) if kind == "version" else None
    alias = draw(_aliases) if kind == "alias" else None
    # A path needs a selector: art://a/b is project a, artifact b.
    path = "/".join(draw(st.lists(_segments, max_size=3))) if kind != "none" else ""
    return ArtURI(name, project, version, alias, path)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(_uris())
def test_every_uri_survives_printing_and_parsing(uri: ArtURI) -> None:
    assert parse_uri(str(uri)) == uri
    without_project = parse_uri(uri.format(default_project=uri.project))
    assert without_project == ArtURI(uri.name, None, uri.version, uri.alias, uri.path)


# -- malformed input: one sentence that names the input and the fix -----------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (5, ["must be a string, not int"]),
        ("d:v1", ["'d:v1' is not an artifact URI", "art://NAME:vN"]),
        ("art://d\x00", ["control character or backslash"]),
        ("art://d\\x", ["control character or backslash"]),
        ("art://", ["names no artifact"]),
        ("art:///etc/passwd", ["'art:///etc/passwd'", "absolute path"]),
        ("art://a/b/c", ["'art://a/b/c' is ambiguous", "e.g. art://a:latest/b/c."]),
        ("art://a/b/c/d", ["e.g. art://a:latest/b/c/d."]),
        ("art://d:", ["'art://d:' has an empty version after ':'", ":vN, :N or :ALIAS"]),
        ("art://d:v0", ["asks for version 0", "start at 1"]),
        ("art://d:v1/../x", ["'..' path segment"]),
        ("art://d:v1/a/..", ["'..' path segment"]),
        ("art://d:v1/./x", ["empty, '.' or '..' path segment"]),
        ("art://d:v1/a//b", ["empty, '.' or '..' path segment"]),
        ("art://d:v1/", ["empty, '.' or '..' path segment"]),
        ("art://bad..proj/d", ["The project name 'bad..proj' is not allowed"]),
        ("art://p/bad..name", ["The artifact name 'bad..name' is not allowed"]),
        ("art://.hidden", ["The artifact name '.hidden' is not allowed"]),
        ("art://d:9lives", ["The alias '9lives' is not allowed"]),
    ],
)
def test_malformed_uris_are_one_sentence(text: str, fragments: list[str]) -> None:
    with pytest.raises(URIError) as info:
        parse_uri(text)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


# -- names and aliases: nothing that can leave the registry root --------------------------------


@pytest.mark.parametrize("name", ["pretrain-data", "a", "A.b_c-1", "9lives", "v3", "x" * 128])
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["a/b", "../escape", ".hidden", "a..b", "x..", "-lead", "a b", "é", "x" * 129]
)
def test_names_that_could_escape_or_confuse_are_refused(name: str) -> None:
    with pytest.raises(URIError) as info:
        validate_name(name)
    assert str(info.value) == (
        f"The artifact name {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit, without '..' or '/'."
    )


def test_name_errors_say_which_name() -> None:
    with pytest.raises(URIError, match=r"^The project name 'a\.\.b' is not allowed"):
        validate_name("a..b", "project name")
    with pytest.raises(URIError, match=r"^The run id is empty"):
        validate_name("", "run id")


@pytest.mark.parametrize("name", ["tab\tname", "nul\x00", "back\\slash", "del\x7f"])
def test_control_characters_and_backslashes_are_refused(name: str) -> None:
    with pytest.raises(URIError) as info:
        validate_name(name)
    assert str(info.value) == (
        f"The artifact name {name!r} contains a control character or backslash: use letters, "
        "digits, '.', '_' and '-'."
    )


@pytest.mark.parametrize("alias", ["best", "rc-1", "prod.v2", "a" * 64, "latest"])
def test_valid_aliases_are_accepted(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["9lives", "_x", "a b", "tab\t", "back\\slash", "", "a" * 65, 3])
def test_bad_aliases_are_refused_with_the_rule(alias: object) -> None:
    with pytest.raises(URIError) as info:
        validate_alias(alias)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"The alias {alias!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
        "starting with a letter."
    )


@pytest.mark.parametrize("alias", ["v3", "v0", "v12"])
def test_version_like_aliases_are_refused(alias: str) -> None:
    with pytest.raises(URIError, match="looks like a version number"):
        validate_alias(alias)
