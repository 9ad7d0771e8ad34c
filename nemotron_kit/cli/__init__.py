"""Command-line entry point: the Hydra app, with errors reported as one sentence.

Hydra prints its own multi-line errors and exits 1; we ask it to raise instead
(HYDRA_FULL_ERROR=1 while it runs) and report one sentence naming the culprit and the fix.
A user who sets HYDRA_FULL_ERROR=1 gets Hydra's full traceback as usual.

A few plain subcommands (``nemotron-kit artifacts ...``) are not Hydra jobs: when the first
argument names one, ``main`` hands the rest to that module's ``main(argv) -> int`` instead.
Those modules are imported only then, so ``--help`` and ``--cfg job`` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

FULL_ERROR_ENV = "HYDRA_FULL_ERROR"

# Subcommand name -> module with ``main(argv: list[str]) -> int`` (imported on use only).
SUBCOMMANDS: dict[str, str] = {
    "artifacts": "nemotron_kit.cli.artifacts",
    "lineage": "nemotron_kit.cli.lineage",
    "new": "nemotron_kit.cli.new",
    "reproduce": "nemotron_kit.cli.reproduce",
    "runs": "nemotron_kit.cli.runs",
    "ui": "nemotron_kit.cli.ui",
}


def main(argv: Sequence[str] | None = None) -> None:
    """``nemotron-kit`` / ``python -m nemotron_kit``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        sys.exit(run_subcommand(args[0], args[1:]))
    if any(a in ("-m", "--multirun") for a in args):
        # -m is an explicit hydra.mode=MULTIRUN: the launcher then knows a sweep was asked for
        # (a run on another executor is a one-job multirun too), and Hydra does not warn that
        # -m overrides the config's mode.
        args = [a for a in args if a not in ("-m", "--multirun")] + ["hydra.mode=MULTIRUN"]
    from nemotron_kit.tracking._secrets import secret_overrides_by_reference

    # A secret given as an override goes into this process's environment, and Hydra sees
    # ${oc.env:...} instead: no saved config, sweep file or job pickle holds the value.
    sys.argv = [sys.argv[0], *secret_overrides_by_reference(lift_config_dirs(args))]
    sys.exit(run_hydra_app())


def run_subcommand(name: str, args: list[str]) -> int:
    """Run the plain (non-Hydra) subcommand ``name``; return the process exit code.

    Errors are reported like the Hydra app's: one ``Error: ...`` line on stderr, exit code 2 for
    nemotron-kit's own errors and 1 for anything else; HYDRA_FULL_ERROR=1 shows the traceback.
    """
    import importlib

    handler = importlib.import_module(SUBCOMMANDS[name]).main
    try:
        code: int = handler(args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python's exit-time flush
        # from raising a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if os.environ.get(FULL_ERROR_ENV) == "1":
            raise
        from nemotron_kit.errors import NemotronKitError

        if isinstance(exc, NemotronKitError):
            print(f"Error: {one_line(str(exc))}", file=sys.stderr)
            return exc.exit_code
        print(
            f"Error: `nemotron-kit {name}` raised {type(exc).__name__}: "
            f"{one_line(_first_line(exc))} "
            f"(set {FULL_ERROR_ENV}=1 to see the traceback).",
            file=sys.stderr,
        )
        return 1


def lift_config_dirs(args: list[str]) -> list[str]:
    """Turn ``--config-dir DIR`` into a front entry of ``$NEMOTRON_KIT_CONFIG_PATH``.

    Hydra 1.3 inserts ``--config-dir`` *after* the app's own configs, so a user's option could
    never shadow a packaged one of the same name. Through the variable the directory goes first,
    and jobs on other machines (Slurm, containers) inherit the same search path.
    """
    from nemotron_kit.environment import CONFIG_PATH_ENV

    rest: list[str] = []
    dirs: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("--config-dir="):
            dirs.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    if dirs:
        absolute = [os.path.abspath(os.path.expanduser(d)) for d in dirs]
        existing = os.environ.get(CONFIG_PATH_ENV, "")
        os.environ[CONFIG_PATH_ENV] = os.pathsep.join(
            [*absolute, *([existing] if existing else [])]
        )
    return rest


def run_hydra_app() -> int:
    """Run the Hydra app; return the process exit code."""

    def app() -> None:
        from nemotron_kit.app import hydra_app
        from nemotron_kit.cli.hydra_help import help_on_demand

        with help_on_demand():
            hydra_app()

    return run_reported(app)


def run_reported(action: Callable[[], Any]) -> int:
    """Run ``action`` as the command line does: its errors as one sentence, the exit code.

    Hydra is made to raise a job's error rather than print its own report, as it does with
    HYDRA_FULL_ERROR=1, but without setting that variable: commands started from here (a
    pipeline's steps, a reproduction) inherit the user's environment and report their own
    errors the same way. A user who set HYDRA_FULL_ERROR=1 gets the traceback as usual.
    """
    user_asked = os.environ.get(FULL_ERROR_ENV) == "1"
    stderr = sys.stderr
    if not user_asked:
        # Hydra writes "Error executing job with overrides: [...]" before re-raising a failed
        # run's exception; the user gets our one sentence about it instead.
        sys.stderr = _WithoutHydraJobError(stderr)
    try:
        with _hydra_raises():
            action()
        return 0
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if user_asked:
            raise
        from nemotron_kit.errors import NemotronKitError

        print(f"Error: {one_line(describe_error(exc))}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, NemotronKitError) else 1
    finally:
        sys.stderr = stderr


@contextlib.contextmanager
def _hydra_raises() -> Iterator[None]:
    """Hydra's ``run_and_report`` re-raises when ``_is_env_set("HYDRA_FULL_ERROR")``: it is
    told so here, in this process only. A Hydra without that function gets the variable
    itself, for this process and (unavoidably) the commands it starts."""
    from hydra._internal import utils

    original = getattr(utils, "_is_env_set", None)
    if original is None:
        saved = os.environ.get(FULL_ERROR_ENV)
        os.environ[FULL_ERROR_ENV] = "1"
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop(FULL_ERROR_ENV, None)
            else:
                os.environ[FULL_ERROR_ENV] = saved
        return
    utils._is_env_set = lambda name: name == FULL_ERROR_ENV or original(name)
    try:
        yield
    finally:
        utils._is_env_set = original


class _WithoutHydraJobError:
    """``sys.stderr`` minus the one line Hydra writes about a failed run (everything else,
    including ``fileno()``, goes to the real stream)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith("Error executing job with overrides: "):
            return len(text)
        written: int = self._stream.write(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def one_line(text: str) -> str:
    """``text`` on one line, its control characters escaped (``printable``)."""
    return printable(" ".join(text.split()))


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters but newlines escaped (``\\x1b``): a message or
    a table may show what a registry holds, and an escape sequence from there must not drive
    the user's terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def describe_error(exc: BaseException) -> str:
    """One sentence for ``exc`` that names the culprit and the fix."""
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    from nemotron_kit.errors import NemotronKitError

    if isinstance(exc, NemotronKitError):
        return str(exc)
    cause = exc.__cause__
    if isinstance(cause, NemotronKitError):
        return str(cause)
    if isinstance(exc, OverrideParseException):
        reason = exc.message.splitlines()[0].strip().rstrip(".")
        value = str(exc.override).partition("=")[2]
        if re.search(r"[\[{][^\]}\"']*=", value):
            return (
                f"Override '{exc.override}' is malformed ({reason}): quote a list or dict "
                "element that holds '=', e.g. 'key=[\"train.steps=200\"]'."
            )
        return (
            f"Override '{exc.override}' is malformed ({reason}): write it as key=value, "
            "group=option, +key=value, ++key=value or ~key."
        )
    if isinstance(exc, MissingConfigException):
        return _describe_missing_config(exc)
    if isinstance(exc, ConfigCompositionException):
        return _describe_composition(exc)
    yaml_error = _describe_yaml(exc)
    if yaml_error:
        return yaml_error
    interpolation = _describe_interpolation(exc)
    if interpolation:
        return interpolation
    return (
        f"The job raised {type(exc).__name__}: {_first_line(exc)} "
        f"(set {FULL_ERROR_ENV}=1 to see the traceback)."
    )


def _describe_missing_config(exc: BaseException) -> str:
    missing: str = getattr(exc, "missing_cfg_file", "") or ""
    options: list[str] | None = getattr(exc, "options", None)
    group, _, option = missing.rpartition("/")
    dirs = "a config directory (--config-dir DIR or $NEMOTRON_KIT_CONFIG_PATH)"
    # Hydra lists the options of the top group only (``recipe``, for ``recipe/nano3/x``):
    # those of the group asked for, with those of its subgroups (``nano3/train``), instead.
    listed = _group_options(group)
    top = group.partition("/")[0]
    if not listed and top != group and (everything := _group_options(top)):
        return (
            f"Config group '{group}' does not exist (asked for '{missing}'): choose one of "
            f"{', '.join(everything)} for {top}, or add {missing}.yaml to {dirs}."
        )
    options = listed or options
    if options:
        choices = ", ".join(sorted(options))
        return (
            f"Config group '{group}' has no option '{option}': choose one of {choices}, "
            f"or add {group}/{option}.yaml to {dirs}."
        )
    if group:
        return (
            f"Config group '{group}' does not exist (asked for '{missing}'): check the spelling, "
            f"or create {missing}.yaml in {dirs}."
        )
    return f"{_first_line(exc)}: check the config name, or add it to {dirs}."


def _group_options(group: str) -> list[str]:
    """The options of config group ``group`` and of its subgroups (``nano3/train``); empty
    if they cannot be listed (the error sentence stands without them)."""
    if not group:
        return []
    from nemotron_kit.execution.profiles import group_options

    try:
        return group_options(group)
    except Exception:
        return []


_COULD_NOT_OVERRIDE = re.compile(
    r"Could not override '([^']+)'\.\s*To append to your config use \+(\S+)"
)
_COULD_NOT_APPEND = re.compile(r"Could not append to config\. An item is already at '([^']+)'")
_COULD_NOT_DELETE = re.compile(r"Could not delete from config\. '([^']+)' does not exist")


def _describe_composition(exc: BaseException) -> str:
    typed = _describe_typed_node_error(exc.__cause__)
    if typed:
        return typed
    text = " ".join(str(exc).split())
    if m := _COULD_NOT_OVERRIDE.search(text):
        key, line = m.group(1), m.group(2)
        return (
            f"Override '{line}' changes '{key}', which is not in the config: write '+{line}' to "
            "add it, or check the spelling."
        )
    if m := _COULD_NOT_APPEND.search(text):
        key = m.group(1)
        return (
            f"Override '+{key}=...' adds '{key}', which the config already has: drop the '+' to "
            "change it, or write '++' to add or change."
        )
    if m := _COULD_NOT_DELETE.search(text):
        return (
            f"Override '~{m.group(1)}' deletes a key that is not in the config: check the spelling."
        )
    cause = exc.__cause__
    summary = _first_line(exc) or "The config could not be composed"
    if cause is not None:
        return f"{summary}: {_first_line(cause)}; fix the config or the override."
    return f"{summary}; fix the config or the override."


_NOT_CONVERTED = re.compile(r"^Value '(.*)' of type '\w+' could not be converted to (\w+)")
_KINDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}


def _describe_typed_node_error(cause: BaseException | None) -> str:
    """A key or value refused by a typed config node (nemotron_kit.config.schemas)."""
    import dataclasses

    full_key = getattr(cause, "full_key", None)
    schema = getattr(cause, "object_type", None)
    if cause is None or not full_key:
        return ""
    section = str(full_key).rpartition(".")[0]
    omegaconf_errors = sys.modules.get("omegaconf.errors")
    if omegaconf_errors is None:
        return ""
    missing_key = (omegaconf_errors.ConfigKeyError, omegaconf_errors.ConfigAttributeError)
    if isinstance(cause, missing_key) and dataclasses.is_dataclass(schema):
        settings = ", ".join(f.name for f in dataclasses.fields(schema))
        return (
            f"'{full_key}' is not a setting of '{section or 'the config'}' (its settings: "
            f"{settings}): fix the spelling."
        )
    if isinstance(cause, omegaconf_errors.ValidationError):
        first = _first_line(cause)
        if m := _NOT_CONVERTED.match(first):
            kind = _KINDS.get(m.group(2), m.group(2).lower())
            return (
                f"'{full_key}' takes {kind}, not '{m.group(1)}': fix the override or the "
                "config file."
            )
        return f"'{full_key}' has an invalid value ({first}): fix the override or the config file."
    return ""


_RAISED_WHILE_RESOLVING = re.compile(r"^(\w+) raised while resolving interpolation: (.*)$", re.S)


def _describe_interpolation(exc: BaseException) -> str:
    """OmegaConf wraps a resolver's error (``${art:...}``) and drops its cause; unwrap the text."""
    omegaconf_errors = sys.modules.get("omegaconf.errors")
    if omegaconf_errors is None or not isinstance(
        exc, omegaconf_errors.InterpolationResolutionError
    ):
        return ""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    match = _RAISED_WHILE_RESOLVING.match(lines[0]) if lines else None
    if match is None:
        return ""
    key = next(
        (ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith("full_key:")), ""
    )
    where = f" (in '{key}')" if key else ""
    return f"{match.group(2).strip()}{where}"


def _describe_yaml(exc: BaseException) -> str:
    """Hydra lets a malformed YAML file's parser error through; name the file and the spot."""
    yaml = sys.modules.get("yaml")
    if yaml is None or not isinstance(exc, yaml.MarkedYAMLError):
        return ""
    mark = exc.problem_mark or exc.context_mark
    where = (
        f"'{mark.name}' at line {mark.line + 1}, column {mark.column + 1}"
        if mark
        else "a config file"
    )
    problem = exc.problem or exc.context or "syntax error"
    return f"Config file {where} is not valid YAML ({problem}): fix the syntax there."


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else ""
