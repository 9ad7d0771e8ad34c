"""The ``Artifact`` base model and ``InputDatasetInfo``."""

from __future__ import annotations

import builtins
import importlib
import math
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, overload

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
)

from nemotron_kit.errors import ArtifactError, MetadataError

A = TypeVar("A", bound="Artifact")

# Fields every artifact has; everything else a subclass declares is its typed metadata.
BASE_FIELDS = frozenset(
    {"path", "name", "type", "description", "created_at", "producer", "uri", "version", "metadata"}
)


def _fspath(value: Any) -> Any:
    """``Path('/data')`` -> ``'/data'``; strings (local paths, fsspec URLs) pass unchanged."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


#: A local path or fsspec URL; ``str`` and ``os.PathLike`` (``pathlib.Path``) are accepted and
#: stored as text, so records stay JSON and URLs like ``s3://b/k`` are never mangled by Path.
if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+; this runs on 3.10

    class _PathField:
        """How type checkers see a ``PathStr`` field: it reads as ``str`` but the constructor
        and assignment take ``str | os.PathLike[str]``, as pydantic does at run time.

        A plain ``str`` annotation would make the ``__init__`` that mypy and pyright synthesise
        for every model (dataclass_transform) refuse ``path=Path(...)``; a descriptor's
        ``__set__`` type is what PEP 681 gives that parameter instead.
        """

        @overload
        def __get__(self, obj: None, owner: type[Any], /) -> Self: ...
        @overload
        def __get__(self, obj: object, owner: type[Any] | None = None, /) -> str: ...
        def __get__(self, obj: object, owner: type[Any] | None = None, /) -> Self | str: ...
        def __set__(self, obj: object, value: str | os.PathLike[str], /) -> None: ...

    PathStr = _PathField
else:
    PathStr = Annotated[str, BeforeValidator(_fspath)]


class _OneSentenceModel(BaseModel):
    """A model users build by hand: a bad field is one sentence naming it, not pydantic's
    multi-line report."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise MetadataError(describe_validation_error(type(self), exc)) from None


class InputDatasetInfo(_OneSentenceModel):
    """A source dataset that went into an artifact: where from, which split, how much."""

    model_config = ConfigDict(extra="forbid")

    uri: PathStr
    name: str | None = None
    split: str | None = None
    weight: NonNegativeFloat = 1.0
    num_rows: NonNegativeInt | None = None
    num_tokens: NonNegativeInt | None = None


class Artifact(_OneSentenceModel):
    """A path (local or fsspec URL) plus typed metadata, publishable as ``art://NAME:vN``.

    Subclass it for your own types: declare typed fields, set ``type``; a published version loads
    back as its own class wherever that class is importable.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    artifact_type: ClassVar[str] = "artifact"

    path: PathStr
    name: str | None = None
    type: str = ""
    description: str = ""
    created_at: datetime | None = None
    producer: str | None = Field(default=None, description="run id of the producing run")
    uri: str | None = Field(default=None, description="art://NAME:vN once published")
    version: int | None = None
    # Free-form user metadata beside the typed fields (JSON-serialisable values).
    metadata: dict[str, Any] = Field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "artifact_type" not in cls.__dict__:
            cls.artifact_type = cls.__name__.removesuffix("Artifact").lower() or "artifact"

    def __init__(self, **values: Any) -> None:
        # Declared here, not only inherited, so type checkers let ``type[Artifact]`` take any
        # subclass's fields instead of the signature they synthesise from Artifact's own.
        super().__init__(**values)

    def model_post_init(self, context: Any, /) -> None:
        if not self.type:
            object.__setattr__(self, "type", self.artifact_type)

    # -- metadata -------------------------------------------------------------------------
    @property
    def typed_metadata(self) -> dict[str, Any]:
        """The subclass's own fields plus the free-form ``metadata`` dict."""
        data = self.model_dump(mode="json", exclude=set(BASE_FIELDS))
        return {**data, **self.metadata}

    @property
    def metrics(self) -> dict[str, float]:
        """The numeric metadata (bools excluded), e.g. ``{'step': 300, 'final_loss': 1.7}``."""
        return {
            key: float(value)
            for key, value in self.typed_metadata.items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        }

    @property
    def local_path(self) -> Path:
        """``path`` as a local ``Path``; an error for remote URLs."""
        if "://" in self.path and not self.path.startswith("file://"):
            raise ArtifactError(
                f"Artifact path '{self.path}' is remote: open it with fsspec, or load the "
                "artifact from a local registry."
            )
        return Path(self.path.removeprefix("file://"))

    # -- registry convenience (logic lives in nemotron_kit.registry) ----------------------
    def save(
        self,
        name: str | None = None,
        *,
        aliases: list[str] | tuple[str, ...] = (),
        mode: Literal["auto", "copy", "reference"] = "auto",
    ) -> str:
        """Publish this artifact; returns ``art://NAME:vN`` and sets ``uri``/``version``."""
        from nemotron_kit.registry import get_registry

        return get_registry().publish(self, name=name, aliases=aliases, mode=mode).uri

    @classmethod
    def from_uri(cls: builtins.type[A], uri: str, *, verify: bool = False) -> A:
        """Load ``art://NAME[:VER]`` as ``cls`` (or its subclass recorded at publish time)."""
        from nemotron_kit.registry import get_registry

        return get_registry().load(uri, expected=cls, verify=verify)


def artifact_class_path(cls: type[Artifact]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def import_artifact_class(path: str) -> type[Artifact] | None:
    """The class named by ``module:QualName``, or None if it cannot be imported here.

    The path comes from a version record, which anyone with write access to a shared
    registry can craft: a module is imported only if its top-level package already is (the
    program uses it), so reading a record never runs the import code of an arbitrary module.
    """
    module_name, _, qualname = path.partition(":")
    if module_name.split(".")[0] not in sys.modules:
        return None
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) and issubclass(obj, Artifact) else None


def describe_validation_error(cls: type[BaseModel], exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<root>"
    if first["type"] == "missing":
        return f"{cls.__name__} needs a value for '{field}': pass {field}=..."
    if first["type"] == "extra_forbidden":
        if "metadata" not in cls.model_fields:
            fields = ", ".join(cls.model_fields)
            return f"'{field}' is not a field of {cls.__name__}: use one of {fields}."
        return (
            f"'{field}' is not a field of {cls.__name__}: fix the spelling, or put free-form "
            "values in metadata={...}."
        )
    return (
        f"{cls.__name__}.{field} is invalid ({first['msg']}, got {first.get('input')!r}): "
        "give a valid value."
    )
