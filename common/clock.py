"""Wall-clock timestamps for business records (never used by orchestrators)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_iso() -> str:
    """The current UTC time as ISO 8601 with a `Z`, the form every record stores."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
