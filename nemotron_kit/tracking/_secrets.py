"""Keep secrets out of everything nemotron-kit writes: records, configs, W&B, logs.

A secret is the value of an environment variable whose name looks secret (API keys, tokens,
passwords, credentials), or a config value under a key that looks secret. Redaction replaces
both wherever they occur, also inside longer strings (a URL with a token in it).
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "***REDACTED***"
SECRET_NAME = re.compile(
    r"(api[_-]?key|apikey|token|secret|passw(or)?d|passphrase|credential|private[_-]?key|auth)",
    re.IGNORECASE,
)
# Too short to redact safely inside other text (would mangle ordinary words).
_MIN_SECRET_LEN = 6


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact(data: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``data`` (dicts, lists, scalars) with secret keys and values replaced."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if (
                SECRET_NAME.search(str(key))
                and isinstance(value, (str, int, float))
                and value != ""
            ):
                out[key] = REDACTED
            else:
                out[key] = redact(value, secrets)
        return out
    if isinstance(data, (list, tuple)):
        return [redact(v, secrets) for v in data]
    if isinstance(data, str):
        return redact_text(data, secrets)
    return data


def redact_override(override: str, secrets: list[str] | None = None) -> str:
    """``api_key=abc`` -> ``api_key=***REDACTED***``; known secret values anywhere are redacted."""
    key, sep, value = override.partition("=")
    if sep and value and SECRET_NAME.search(key.rsplit(".", 1)[-1]) and not value.startswith("${"):
        return f"{key}={REDACTED}"
    return redact_text(override, secrets)
