"""Keep credentials out of logs, summaries, reports and error messages.

Secrets reach us through storage options (config) and the environment (AWS_SECRET_ACCESS_KEY ...).
Everything user-visible that may embed them (exception text, URLs with user:password@, dumped
configs) passes through ``scrub``/``redact`` first.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

# A key is secret-looking when one of its words (split at _, -, . and camelCase) is one of these:
# "aws_session_token", "secretAccessKey", "api_key" are; "max_input_tokens", "key_column" are not.
_SECRET_WORDS = frozenset({"secret", "password", "passwd", "token", "credential", "credentials",
                           "private", "session", "key", "apikey", "secretkey"})
_NON_SECRET_KEYS = {"key_column", "id_column", "text_column", "key_prefix"}
_KEY_WORD_RE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_ENV_SECRET_NAMES = (
    "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING", "HF_TOKEN", "LABEL_STUDIO_API_KEY",
)
_URL_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+:[^/@\s]+@")
REDACTED = "***"

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so ``scrub`` removes it wherever it appears later."""
    if value and len(value) >= 4:
        _registered.add(value)


def register_storage_options(options: Mapping[str, Any] | None) -> None:
    for key, value in _walk(options or {}):
        if _is_secret_key(key) and isinstance(value, str):
            register_secret(value)


def _walk(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.extend(_walk(v, str(k)))
    else:
        out.append((prefix, obj))
    return out


def _is_secret_key(key: str) -> bool:
    if key in _NON_SECRET_KEYS:
        return False
    return any(word.lower() in _SECRET_WORDS for word in _KEY_WORD_RE.findall(key))


def _secrets() -> set[str]:
    found = set(_registered)
    for name in _ENV_SECRET_NAMES:
        v = os.environ.get(name)
        if v and len(v) >= 4:
            found.add(v)
    return found


def scrub(text: str) -> str:
    """Remove every known secret value and any URL user:password from ``text``."""
    text = _URL_USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", str(text))
    for secret in sorted(_secrets(), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact(obj: Any) -> Any:
    """A copy of a config-like structure with secret-looking keys' values replaced."""
    if isinstance(obj, Mapping):
        return {k: (REDACTED if _is_secret_key(str(k)) and v not in (None, "") and not isinstance(v, Mapping)
                    else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return scrub(obj)
    return obj
