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
(its defaults are what ``--cfg job`` prints, a wrong type is refused at composition), inputs are
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
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from nemotron_kit.errors import ArtifactError, ConfigError, ConfigValidationError

if TYPE_CHECKING:
    from nemotron_kit.artifacts import Artifact
    from nemotron_kit.execution.context import JobContext
    from nemotron_kit.registry.core import ArtifactRegistry

F = TypeVar("F", bound=Callable[..., Any])

#: The Hydra group whose options are recipes' declared configs (served by the recipe source).
RECIPE_GROUP = "nk_recipe"
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
    help: str = ""

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
    help: str = ""


@dataclass(frozen=True)
class Recipe:
    """A declared recipe: the function and everything the framework does around it."""

    fn: Callable[..., Any]
    name: str
    config: type | None
    inputs: Mapping[str, ArtifactInput]
    output: ArtifactOutput | None
    requires: tuple[str, ...]
    description: str

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
        framework = dataclasses.make_dataclass(f"{_class_name(self.name)}Framework", extra)
        if self.config is not None and dataclasses.is_dataclass(self.config):
            # Bases in this order put recipe/inputs/output first, then the class's sections.
            node_type = dataclasses.make_dataclass(
                f"{_class_name(self.name)}Recipe", [], bases=(self.config, framework)
            )
            return cast(DictConfig, OmegaConf.structured(node_type))
        node = cast(DictConfig, OmegaConf.structured(framework))
        if self.config is not None:  # a pydantic model: defaults here, checked before work
            defaults = self.config().model_dump(mode="json")
            return cast(DictConfig, OmegaConf.merge(OmegaConf.create(defaults), node))
        return node

    def sections(self) -> list[str]:
        """The top-level keys the config class owns."""
        if self.config is None:
            return []
        if dataclasses.is_dataclass(self.config):
            return [f.name for f in dataclasses.fields(self.config)]
        return list(self.config.model_fields)  # type: ignore[attr-defined]

    def typed_config(self, cfg: DictConfig) -> Any:
        """The recipe's config as an instance of its class (the whole config without one)."""
        if self.config is None:
            return cfg
        values: dict[str, Any] = {}
        for key in self.sections():
            if key in cfg:
                node = cfg._get_node(key)
                values[key] = (
                    OmegaConf.to_container(node, resolve=True)
                    if isinstance(node, DictConfig | ListConfig)
                    else cfg[key]
                )
        if dataclasses.is_dataclass(self.config):
            merged = OmegaConf.merge(OmegaConf.structured(self.config), values)
            return OmegaConf.to_object(merged)
        return _validate_pydantic(self.config, values)

    def check_config(self, cfg: DictConfig) -> None:
        """What composition cannot check: a pydantic config class's validation."""
        if self.config is not None and not dataclasses.is_dataclass(self.config):
            self.typed_config(cfg)

    # -- inputs and output ---------------------------------------------------------------
    def check_inputs(self, cfg: DictConfig, registry: ArtifactRegistry) -> None:
        """Every declared input names a published version of the declared type (from its
        record alone: nothing is downloaded before the run starts)."""
        from nemotron_kit.artifacts import Artifact
        from nemotron_kit.artifacts._base import import_artifact_class

        for name, spec in self.inputs.items():
            uri = _input_uri(cfg, name)
            version = registry.resolve(uri)
            cls = import_artifact_class(version.class_path) or Artifact
            if not issubclass(cls, spec.type):
                raise ArtifactError(
                    f"Input '{name}' of recipe {self.name} expects a {spec.type.__name__}, but "
                    f"{version.uri} is a {cls.__name__} ({version.type}): pass an artifact of "
                    f"type {spec.type.artifact_type} with 'inputs.{name}=art://NAME:VERSION'."
                )

    def __call__(self, cfg: DictConfig, ctx: JobContext) -> Any:
        """Run the recipe in a job: load its inputs, call it, publish what it returns."""
        loaded = {
            name: ctx.registry.load(_input_uri(cfg, name), expected=spec.type)
            for name, spec in self.inputs.items()
        }
        result = self.fn(self.typed_config(cfg), ctx, **loaded)
        return self.publish(cfg, result)

    def publish(self, cfg: DictConfig, result: Any) -> Any:
        """An artifact the recipe returned becomes a version of ``output.name`` (rank 0
        only: every rank of a torchrun job returns, one publishes)."""
        from nemotron_kit.artifacts import Artifact

        if not isinstance(result, Artifact):
            if result is None and self.output is not None and _rank() == 0:
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
        if _rank() != 0:
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
            name=name or fn.__module__.rpartition(".")[2],
            config=config,
            inputs=dict(inputs or {}),
            output=output,
            requires=tuple(requires),
            description=inspect.getdoc(fn) or "",
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
    except (ImportError, AttributeError, ValueError) as exc:
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
        module_name, _, attr = str(target).rpartition(".")
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return None  # the config check names the bad _target_
    return declared(fn)


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
    from importlib.metadata import entry_points

    from nemotron_kit.paths import RECIPE_PACKAGES_GROUP

    top = target.split(".", 1)[0]
    for ep in entry_points(group=RECIPE_PACKAGES_GROUP):
        if ep.value.split(":", 1)[0].split(".", 1)[0].strip() == top and ep.dist is not None:
            return {"name": ep.dist.name, "version": ep.dist.version}
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
        if not (dataclasses.is_dataclass(r.config) or is_pydantic):
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


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


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
