"""Keep secrets out of everything nemotron-kit writes and prints: records, configs, W&B, logs.

A name is secret when one of its words (split at ``_ - .`` and camelCase) is a secret word
(``password``, ``token``, ``secret``, ``credentials``, ...) or two of them make one (``api key``,
``access key``, ``private key``): ``db.password``, ``HF_TOKEN`` and ``apiKey`` are secret,
``shard_tokens``, ``max_new_tokens``, ``text_key`` and ``author`` are not. Redaction is by
value: the values of secret environment variables and of secret config keys are replaced
wherever they occur, also inside longer strings (a URL with a token in it).

Secrets given as overrides (``+api_token=S``) never reach Hydra: the command line moves each
into an environment variable of the process and passes ``${oc.env:NAME}`` instead
(:func:`secret_overrides_by_reference`), so saved configs, sweep files, job pickles and run
records hold the reference, and jobs on other machines get the value with the other secrets,
by private file.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from pathlib import PurePath
from typing import Any

from nemotron_kit.environment import SECRET_ENV_PREFIX

REDACTED = "***REDACTED***"
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "privatekey",
    }
)
SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("session", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("client", "secret"),
        # Azure: the account key, and connection strings that carry it (or a SAS token).
        ("account", "key"),
        ("storage", "key"),
        ("connection", "string"),
        ("sas", "url"),
    }
)
# Too short to redact safely inside other text (would mangle ordinary words).
_MIN_SECRET_LEN = 6
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(name: str) -> list[str]:
    """``dbPassword`` -> [db, password]; ``AWS_SECRET_ACCESS_KEY`` -> [aws, secret, access, key]."""
    return [w.lower() for w in _WORD.findall(str(name))]


def is_secret_name(name: str) -> bool:
    """True if a word of ``name`` is a secret word, or two adjacent words make one."""
    parts = words(name)
    if any(p in SECRET_WORDS for p in parts):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(parts))


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of secret environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def secret_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The secret environment variables themselves (name -> value)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if is_secret_name(k)}


def config_secrets(data: Any) -> list[str]:
    """Values under secret keys anywhere in ``data`` (dicts and lists), to redact by value."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if is_secret_name(str(key)) and isinstance(value, (str, int, float)):
                    text = str(value)
                    if len(text) >= _MIN_SECRET_LEN and not text.startswith("${"):
                        found.add(text)
                else:
                    visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(data)
    return sorted(found, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact(data: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``data`` (dicts, lists, scalars) with secret keys and values replaced.

    A value under a secret key that is only a reference (``${oc.env:TOKEN}``) is kept: it is
    not the secret, and a re-run needs it.
    """
    if secrets is None:
        secrets = sorted({*secret_values(), *config_secrets(data)}, key=len, reverse=True)
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if (
                is_secret_name(str(key))
                and isinstance(value, (str, int, float))
                and value != ""
                and not str(value).startswith("${")
            ):
                out[key] = REDACTED
            else:
                out[key] = redact(value, secrets)
        return out
    if isinstance(data, (list, tuple)):
        return [redact(v, secrets) for v in data]
    if isinstance(data, str):
        return redact_text(data, secrets)
    if isinstance(data, PurePath):  # a recipe's Path field, read back from Hydra's saved config
        cleaned = redact_text(str(data), secrets)
        return data if cleaned == str(data) else cleaned
    return data


def redact_values(data: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``data`` with secret values replaced wherever they occur in its strings, keys
    included (an alias may be named after one). By value only: what is shown was redacted by
    key when it was written, and a metric named ``loss_per_token`` is not a secret."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return data
    if isinstance(data, dict):
        return {
            redact_text(k, secrets) if isinstance(k, str) else k: redact_values(v, secrets)
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [redact_values(v, secrets) for v in data]
    if isinstance(data, str):
        return redact_text(data, secrets)
    return data


def _leaf(key: str) -> str:
    return key.lstrip("+~").rsplit(".", 1)[-1]


def redact_override(override: str, secrets: list[str] | None = None) -> str:
    """``api_key=abc`` -> ``api_key=***REDACTED***``; known secret values anywhere are redacted."""
    key, sep, value = override.partition("=")
    if sep and value and is_secret_name(_leaf(key)) and not value.startswith("${"):
        return f"{key}={REDACTED}"
    return redact_text(override, secrets)


def secret_overrides_by_reference(args: list[str], environ: Any = None) -> list[str]:
    """Command-line overrides of secret keys, rewritten to ``${oc.env:NAME}`` references.

    Each value moves into ``environ`` (``os.environ`` by default) under
    ``NEMOTRON_KIT_SECRET_<n>``; everything else is returned unchanged.
    """
    env = os.environ if environ is None else environ
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        is_override = sep and not arg.startswith("-") and "/" not in key.split("@")[0]
        # A value that is already a reference (also as Hydra escapes it: $\{...\}) stays.
        reference = value.replace("\\", "").startswith("${")
        if is_override and value and is_secret_name(_leaf(key)) and not reference:
            name = f"{SECRET_ENV_PREFIX}{uuid.uuid4().hex[:12].upper()}"
            env[name] = value
            out.append(f"{key}=${{oc.env:{name}}}")
        else:
            out.append(arg)
    return out
