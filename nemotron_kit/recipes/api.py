"""Writing a recipe: a typed function the framework calls with its config, context and inputs.

    @dataclass
    class TrainConfig:
        steps: int = 100

    @recipe(
        name="nano3/train",
        config=TrainConfig,
        inputs={"data": ArtifactInput(PretrainBlendsArtifact, "pretrain-data")},
        output=ArtifactOutput(ModelArtifact, "nano3-model"),
    )
    def main(cfg: TrainConfig, ctx: JobContext, data: PretrainBlendsArtifact) -> ModelArtifact:
        ...
        return ModelArtifact(path=out, step=cfg.steps)

The declaration is the recipe's whole interface, so the framework does the rest where a user
would otherwise forget it: the config class becomes the structured config of the recipe's option
(its defaults are what ``--cfg job`` prints; a dataclass's wrong type is refused at composition,
everything else about the config before the run starts), inputs are
pinned and type-checked before the run record exists, loaded before the function runs, and the
artifact it returns is published (from rank 0) under ``output.name``.

A config option links to a recipe in one line (``conf/recipe/NAME.yaml``)::

    # @package _global_
    defaults:
      - /nk_recipe@_global_: my_package.train.main
      - _self_
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from nemotron_kit.config.schemas import RECIPE_GROUP
from nemotron_kit.errors import (
    ArtifactError,
    ConfigError,
    ConfigValidationError,
    RankFailedError,
    URIError,
)

if TYPE_CHECKING:
    from nemotron_kit.artifacts import Artifact
    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.registry.core import ArtifactRegistry

F = TypeVar("F", bound=Callable[..., Any])

#: Attribute a decorated function carries its declaration in.
ATTRIBUTE = "__nemotron_kit_recipe__"
#: Top-level keys the framework owns: a recipe's config class may not declare them.
RESERVED = frozenset(
    {"recipe", "inputs", "output", "executor", "tracker", "registry", "sweep", "hydra", "pipeline"}
)


class RecipeDefinitionError(ConfigError, TypeError):
    """A ``@recipe`` declaration that cannot work (raised when its module is imported)."""


@dataclass(frozen=True)
class ArtifactInput:
    """A recipe input by artifact type, with the artifact used when the config names none.

    ``default`` is a name (``pretrain-data`` means ``art://pretrain-data:latest``), a full
    ``art://`` URI, or None for an input the user must always give (``inputs.NAME=...``).
    """

    type: type[Artifact]
    default: str | None = None

    @property
    def default_uri(self) -> str | None:
        if self.default is None or self.default.startswith("art://"):
            return self.default
        return f"art://{self.default}:latest"


@dataclass(frozen=True)
class ArtifactOutput:
    """What a recipe publishes: its artifact type and the registry name (``output.name``)."""

    type: type[Artifact]
    name: str


@dataclass(frozen=True)
class Recipe:
    """A declared recipe: the function and everything the framework does around it."""

    fn: Callable[..., Any]
    name: str
    config: type | None
    inputs: Mapping[str, ArtifactInput]
    output: ArtifactOutput | None
    requires: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    # -- the config of the recipe's option ------------------------------------------------
    def config_node(self) -> DictConfig:
        """The structured config ``+recipe=NAME`` merges at the top level: ``recipe``,
        ``inputs``, ``output`` and the config class's own sections with their defaults."""
        from nemotron_kit.config.schemas import OutputConf, RecipeRefConf

        package = recipe_package(self.target)
        ref = RecipeRefConf(
            name=self.name,
            _target_=self.target,
            requires=list(self.requires),
            package=f"{package['name']} {package['version']}" if package else None,
        )
        inputs_type = dataclasses.make_dataclass(
            f"{_class_name(self.name)}Inputs",
            [
                (name, Optional[str], field(default=spec.default_uri or MISSING))  # noqa: UP045
                for name, spec in self.inputs.items()
            ],
        )
        extra: list[tuple[str, Any, Any]] = [
            ("recipe", RecipeRefConf, field(default_factory=lambda: ref)),
            ("inputs", inputs_type, field(default_factory=inputs_type)),
        ]
        if self.output is not None:
            out = OutputConf(_target_=_class_path(self.output.type), name=self.output.name)
            extra.append(("output", OutputConf, field(default_factory=lambda: out)))
        if self.config is not None and dataclasses.is_dataclass(self.config):
            # One flat class (keyword-only, so fields without defaults may come anywhere) rather
            # than a subclass: frozen classes and required fields compose too.
            try:
                hints = typing.get_type_hints(self.config)
            except Exception:  # a name only imported for type checkers: OmegaConf decides
                hints = {}
            own = [(f.name, hints.get(f.name, Any), _copy_field(f)) for f in _fields(self.config)]
            node_type = dataclasses.make_dataclass(
                f"{_class_name(self.name)}Recipe", [*extra, *own], kw_only=True
            )
            return _writable(cast(DictConfig, OmegaConf.structured(node_type)))
        framework = dataclasses.make_dataclass(f"{_class_name(self.name)}Framework", extra)
        node = cast(DictConfig, OmegaConf.structured(framework))
        if self.config is not None:  # a pydantic model: defaults here, checked before work
            defaults = OmegaConf.create(_pydantic_defaults(self.config))
            return cast(DictConfig, OmegaConf.merge(defaults, node))
        return node

    def sections(self) -> list[str]:
        """The top-level keys the config class owns."""
        if self.config is None:
            return []
        if dataclasses.is_dataclass(self.config):
            return [f.name for f in dataclasses.fields(self.config)]
        return list(self.config.model_fields)  # type: ignore[attr-defined]

    def _values(self, cfg: DictConfig) -> dict[str, Any]:
        """The config class's sections of ``cfg``, resolved, as plain values."""
        values: dict[str, Any] = {}
        for key in self.sections():
            if key in cfg:
                node = cfg._get_node(key)
                values[key] = (
                    OmegaConf.to_container(node, resolve=True)
                    if isinstance(node, DictConfig | ListConfig)
                    else cfg[key]
                )
        return values

    def typed_config(self, cfg: DictConfig) -> Any:
        """The recipe's config as an instance of its class (the whole config without one)."""
        if self.config is None:
            return cfg
        if dataclasses.is_dataclass(self.config):
            return OmegaConf.to_object(self._checked_node(cfg))
        return _validate_pydantic(self.config, self._values(cfg))

    def check_config(self, cfg: DictConfig) -> None:
        """Everything about the config class's sections that can be wrong, before any work:
        types, unknown keys, missing values, ranges and cross-checks (also of top-level
        fields, which composition merges into the untyped root)."""
        if self.config is None:
            return
        if dataclasses.is_dataclass(self.config):
            self._checked_node(cfg)
        else:
            values = self._values(cfg)  # resolved once: interpolations may read the registry
            _unknown_pydantic_keys(self.config, values, "")
            _validate_pydantic(self.config, values)

    def _checked_node(self, cfg: DictConfig) -> DictConfig:
        from omegaconf.errors import OmegaConfBaseException

        from nemotron_kit.config import check_config

        assert self.config is not None
        try:
            schema = _writable(cast(DictConfig, OmegaConf.structured(self.config)))
            node = OmegaConf.merge(schema, self._values(cfg))
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", None) or "the recipe's config"
            detail = str(exc).splitlines()[0].rstrip(".")
            raise ConfigValidationError(
                f"'{key}' is not valid for recipe {self.name} ({detail}): fix the override or "
                "the config file."
            ) from None
        assert isinstance(node, DictConfig)
        check_config(node)
        return node

    # -- inputs and output ---------------------------------------------------------------
    def check_inputs(self, cfg: DictConfig, registry: ArtifactRegistry) -> None:
        """Every declared input names a published version of the declared type (from its
        record alone: nothing is downloaded before the run starts)."""
        from nemotron_kit.artifacts import Artifact
        from nemotron_kit.artifacts._base import import_artifact_class
        from nemotron_kit.registry.uri import parse_uri

        for name, spec in self.inputs.items():
            uri = _input_uri(cfg, name)
            if parse_uri(uri).path:
                raise ArtifactError(
                    f"Input '{name}' of recipe {self.name} takes a whole artifact, not a file "
                    f"inside one ({uri}): pass art://NAME:VERSION and read the file from the "
                    "loaded artifact's path."
                )
            version = registry.resolve(uri)
            cls = import_artifact_class(version.class_path) or Artifact
            if not issubclass(cls, spec.type):
                raise ArtifactError(
                    f"Input '{name}' of recipe {self.name} expects a {spec.type.__name__}, but "
                    f"{version.uri} is of type {version.type} ({cls.__name__}): pass an "
                    f"artifact of type {spec.type.artifact_type} with "
                    f"'inputs.{name}=art://NAME:VERSION'."
                )

    def __call__(self, cfg: DictConfig, ctx: JobContext) -> Any:
        """Run the recipe in a job: load its inputs, call it, publish what it returns."""
        loaded = {
            name: ctx.registry.load(_input_uri(cfg, name), expected=spec.type)
            for name, spec in self.inputs.items()
        }
        result = self.fn(self.typed_config(cfg), ctx, **loaded)
        peer = ctx.failed_peer() if ctx.peers else None  # every rank done, before publishing
        if peer is not None:
            raise RankFailedError(f"The job failed on another rank: {peer}")
        return self.publish(cfg, result)

    def publish(self, cfg: DictConfig, result: Any) -> Any:
        """An artifact the recipe returned becomes a version of ``output.name`` (rank 0
        only: every rank of a torchrun job returns, one publishes)."""
        from nemotron_kit.artifacts import Artifact
        from nemotron_kit.execution.torchrun import rank

        if not isinstance(result, Artifact):
            if result is None and self.output is not None and rank() == 0:
                raise ArtifactError(
                    f"Recipe {self.name} declares the output {self.output.type.__name__} but "
                    "returned nothing: return the artifact to publish."
                )
            return result
        if self.output is None or not isinstance(result, self.output.type):
            expected = self.output.type.__name__ if self.output else "no output"
            raise ArtifactError(
                f"Recipe {self.name} returned a {type(result).__name__}, but it declares "
                f"{expected}: return what the @recipe output says, or change the declaration."
            )
        if rank() != 0:
            return None
        # Copy, not reference: the job's directory may be reused (a rerun, a resume with more
        # steps), and a published version must never change underneath its readers.
        return result.save(name=str(cfg.output.name), mode="copy")


def recipe(
    *,
    name: str | None = None,
    config: type | None = None,
    inputs: Mapping[str, ArtifactInput] | None = None,
    output: ArtifactOutput | None = None,
    requires: Sequence[str] = (),
) -> Callable[[F], F]:
    """Declare ``fn(cfg, ctx, **inputs)`` a recipe (see the module docstring).

    ``name`` defaults to the module's last component; ``requires`` names optional packages
    (``torch``) that are checked before any work.
    """

    def declare(fn: F) -> F:
        declared = Recipe(
            fn=fn,
            name=name or _default_name(fn),
            config=config,
            inputs=dict(inputs or {}),
            output=output,
            requires=tuple(requires),
        )
        _check_declaration(declared)
        setattr(fn, ATTRIBUTE, declared)
        return fn

    return declare


def declared(fn: Any) -> Recipe | None:
    """The declaration behind a recipe function (None for a plain ``_target_`` callable)."""
    target = getattr(fn, "func", fn)  # a functools.partial from instantiate(_partial_=True)
    found = getattr(target, ATTRIBUTE, None)
    return found if isinstance(found, Recipe) else None


@functools.cache
def load_recipe(target: str) -> Recipe:
    """The recipe declared at ``module.function`` (for the config source and the job)."""
    module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except ConfigError:
        raise  # a declaration in that module that cannot work says so itself
    except Exception as exc:  # the module's own code raised while it was imported
        raise ConfigError(
            f"Cannot import the recipe '{target}' ({type(exc).__name__}: {exc}): check the "
            "module path in the option's defaults list and that its package is installed."
        ) from None
    found = declared(fn)
    if found is None:
        raise ConfigError(
            f"'{target}' is not a @recipe: decorate it with nemotron_kit.recipe(...), or name it "
            "in 'recipe._target_' instead of linking it under /nk_recipe."
        )
    return found


def recipe_of_config(cfg: DictConfig) -> Recipe | None:
    """The declared recipe a composed job config runs, if it is one (imports its module)."""
    node = cfg.get("recipe")
    target = node.get("_target_") if node is not None else None
    if not target:
        return None
    try:
        return load_recipe(str(target))
    except ConfigError:
        return None  # a plain _target_ callable; a bad one is named by the config check


def recipe_options() -> Iterator[tuple[str, str | None]]:
    """``(option, output name)`` of every ``recipe/`` option on the search path, in search
    order: user directories, the packaged configs, installed recipe packages."""
    import yaml

    from nemotron_kit.paths import packaged_conf_dir, recipe_package_conf_dirs, user_config_dirs

    dirs = [*user_config_dirs(), packaged_conf_dir(), *(d for _, d in recipe_package_conf_dirs())]
    for directory in dirs:
        for path in sorted((directory / "recipe").rglob("*.yaml")):
            try:
                node = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue
            if not isinstance(node, dict):
                continue
            option = path.relative_to(directory / "recipe").with_suffix("").as_posix()
            output = node.get("output")
            name = output.get("name") if isinstance(output, dict) else None
            for entry in node.get("defaults") or []:
                linked = (
                    next(iter(entry.values()))
                    if isinstance(entry, dict)
                    and len(entry) == 1
                    and str(next(iter(entry))).lstrip("/").startswith(RECIPE_GROUP)
                    else None
                )
                if linked and name is None:
                    try:
                        declared_output = load_recipe(str(linked)).output
                    except ConfigError:
                        continue
                    name = declared_output.name if declared_output else None
            yield option, (str(name) if name is not None else None)


def recipe_package(target: str) -> dict[str, str] | None:
    """The installed distribution (name, version) that provides the recipe's module: the one
    declaring it as a recipe package (editable installs too), else whichever ships the module."""
    from nemotron_kit.paths import recipe_packages

    top = target.split(".", 1)[0]
    for package in recipe_packages():
        if package.module == top and package.distribution and package.version:
            return {"name": package.distribution, "version": package.version}
    names = ["nemotron-kit"] if top == "nemotron_kit" else list(_distributions().get(top) or [])
    for dist in names:
        try:
            return {"name": dist, "version": importlib.metadata.version(dist)}
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _check_declaration(r: Recipe) -> None:
    from nemotron_kit.artifacts import Artifact

    where = f"@recipe {r.name!r} ({r.target})"
    if r.config is not None:
        is_pydantic = hasattr(r.config, "model_fields") and hasattr(r.config, "model_validate")
        if not isinstance(r.config, type) or not (
            dataclasses.is_dataclass(r.config) or is_pydantic
        ):
            raise RecipeDefinitionError(
                f"{where}: config={r.config!r} is neither a dataclass nor a pydantic model: "
                "declare the config as one of those."
            )
        clash = sorted(RESERVED & set(r.sections()))
        if clash:
            raise RecipeDefinitionError(
                f"{where}: the config class declares {', '.join(clash)}, which the framework "
                "owns: rename those fields."
            )
    for name, spec in r.inputs.items():
        if not (isinstance(spec, ArtifactInput) and _is_artifact_type(spec.type, Artifact)):
            raise RecipeDefinitionError(
                f"{where}: input {name!r} must be ArtifactInput(SomeArtifact, default): "
                "give the artifact class it needs."
            )
        if spec.default is not None and not _valid_default(spec.default):
            raise RecipeDefinitionError(
                f"{where}: input {name!r} has default {spec.default!r}, which is neither an "
                "artifact name (pretrain-data) nor an art:// URI (art://pretrain-data:v3): "
                "give one of those."
            )
    if r.output is not None and not (
        isinstance(r.output, ArtifactOutput) and _is_artifact_type(r.output.type, Artifact)
    ):
        raise RecipeDefinitionError(
            f"{where}: output must be ArtifactOutput(SomeArtifact, 'name'): give the class of "
            "what the recipe publishes."
        )
    params = list(inspect.signature(r.fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named = {p.name for p in params[2:] if p.kind != p.VAR_KEYWORD}
    if len(positional) < 2 or named != set(r.inputs):
        wanted = ", ".join(["cfg", "ctx", *r.inputs])
        raise RecipeDefinitionError(
            f"{where}: the function must take ({wanted}), one parameter per declared input, "
            f"but takes ({', '.join(p.name for p in params)}): make the two agree."
        )


def _is_artifact_type(value: Any, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base)


def _validate_pydantic(model: Any, values: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise ConfigValidationError(
            f"'{key}' is {error.get('input')!r}, but {error['msg'][0].lower()}{error['msg'][1:]}:"
            " fix the override or the config file."
        ) from None


def _input_uri(cfg: DictConfig, name: str) -> str:
    inputs = cfg.get("inputs")
    value = inputs.get(name) if inputs is not None else None
    if not value:
        raise ConfigValidationError(
            f"'inputs.{name}' has no value: give the artifact with 'inputs.{name}=art://NAME'."
        )
    return str(value)


def _default_name(fn: Callable[..., Any]) -> str:
    """``train`` for ``pkg.train.main``; ``train/fit`` for another function of that module."""
    module = fn.__module__.rpartition(".")[2]
    return module if fn.__name__ == "main" else f"{module}/{fn.__name__}"


def _valid_default(default: str) -> bool:
    from nemotron_kit.registry.uri import parse_uri, validate_name

    try:
        if default.startswith("art://"):
            parse_uri(default)
        else:
            validate_name(default)
    except URIError:
        return False
    return True


def _writable(node: DictConfig) -> DictConfig:
    """A frozen dataclass makes its nodes read-only; overrides must still apply (the typed
    instance the recipe gets is frozen again)."""
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            _writable(child)
    return node


def _fields(config: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(config)


def _copy_field(f: dataclasses.Field[Any]) -> Any:
    """The same default (or factory) and metadata (``constrained``), for a new class."""
    if f.default is not dataclasses.MISSING:
        return field(default=f.default, metadata=f.metadata)
    if f.default_factory is not dataclasses.MISSING:
        return field(default_factory=f.default_factory, metadata=f.metadata)
    return field(default=MISSING, metadata=f.metadata)  # no default: '???' until given


def _pydantic_defaults(model: Any) -> dict[str, Any]:
    """A pydantic config class's defaults as plain values; '???' where a field has none."""
    from pydantic_core import to_jsonable_python

    return {
        name: MISSING
        if info.is_required()
        else to_jsonable_python(info.get_default(call_default_factory=True))
        for name, info in model.model_fields.items()
    }


def _unknown_pydantic_keys(model: Any, values: Any, where: str) -> None:
    """A key the pydantic class does not declare (``+note.bogus=1``) is refused, as a
    dataclass config refuses it; nested models are checked too."""
    if not isinstance(values, dict):
        return
    fields = model.model_fields
    for key, value in values.items():
        full = f"{where}{key}"
        if key not in fields:
            raise ConfigValidationError(
                f"'{full}' is not a setting here (the keys of '{where.rstrip('.') or 'the config'}'"
                f" are {', '.join(sorted(fields))}): remove it or fix the spelling."
            )
        inner = fields[key].annotation
        if isinstance(inner, type) and hasattr(inner, "model_fields"):
            _unknown_pydantic_keys(inner, value, f"{full}.")


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("/", "_").split("_") if part)


def _class_path(cls: type) -> str:
    """``module.Class``, by the public package when it re-exports a private module's class."""
    module = cls.__module__
    while "._" in module:
        parent = module.rpartition(".")[0]
        if getattr(importlib.import_module(parent), cls.__qualname__, None) is not cls:
            break
        module = parent
    return f"{module}.{cls.__qualname__}"
