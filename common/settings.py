"""Typed access to app settings.

The Functions host (and the project's local host) puts app settings into the
process environment, environment variables winning over `local.settings.json`.
So app code reads `os.environ` and nothing else. Orchestrators must never call
these functions: settings can change between replays; read them in the HTTP
starter or in an activity and pass the values in.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation


class SettingError(ValueError):
    """An app setting is present but not usable."""


def get_str(name: str, default: str) -> str:
    """Return a setting, or `default` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or default


def get_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return an integer setting; a malformed value is a configuration error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingError(f"App setting {name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise SettingError(f"App setting {name} must be at least {minimum}, got {value}")
    return value


def get_decimal(name: str, default: str) -> Decimal:
    """Return a decimal setting (money); a malformed value is a configuration error."""
    raw = get_str(name, default)
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise SettingError(f"App setting {name} must be a decimal number, got {raw!r}") from exc
