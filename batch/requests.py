"""What a batch request may ask for, checked before anything starts (no storage here).

Accepted bodies of `POST /api/BatchProcessing_Client`:

    ["file1.txt", "file2.txt"]                        blob names in the input container
    {"files": ["file1.txt", ...], "batchId": "..."}   the same; batchId optional
    {"prefix": "incoming/", "batchId": "..."}         every blob whose name starts with the prefix

Blob names: strings of 1-1024 characters, no control characters or backslashes, no
leading `/`, no empty, `.` or `..` path segments (no path traversal), not ending in `/`
or `.`, no unpaired surrogates; after decoding %-escapes (`%2e%2e/`) still no control
characters, backslashes, leading `/` or `.`/`..` segments. A prefix follows the same
rules except that it may end with `/`. Duplicates are dropped (first occurrence kept).
`batchId`: 1-64 letters, digits, `-` and `_`, starting with a letter or digit; the
instance id is `batch-{batchId}`, so naming a batch makes its start idempotent. Errors
are `RequestError`s naming the field (`files[3]`, `prefix`...).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from common.http import RequestError

MAX_NAME_LENGTH = 1024
MAX_SEGMENTS = 254
_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHAPE = 'a JSON array of blob names, {"files": [...]} or {"prefix": "..."}'
_KEYS = {"files", "prefix", "batchId"}


@dataclass(frozen=True)
class BatchRequest:
    """A checked request: explicit files (deduplicated, in order) or a prefix to list."""

    batch_id: str
    files: tuple[str, ...] | None = None
    prefix: str | None = None


def batch_instance_id(batch_id: str) -> str:
    """The orchestration instance id of a batch."""
    return f"batch-{batch_id}"


def new_batch_id() -> str:
    return uuid.uuid4().hex


def parse_batch_request(body: Any) -> BatchRequest:
    """Check the request body; RequestError (400) naming the field when it is wrong."""
    if body is None:
        raise RequestError(f"The request body must be {_SHAPE}.", "body")
    if isinstance(body, list):
        return BatchRequest(new_batch_id(), files=parse_file_list(body, "files"))
    if not isinstance(body, dict):
        raise RequestError(f"The request body must be {_SHAPE}.", "body")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise RequestError(f"Unknown field {unknown[0]!r}; the body must be {_SHAPE}.", unknown[0])
    batch_id = validate_batch_id(body["batchId"]) if "batchId" in body else new_batch_id()
    if ("files" in body) == ("prefix" in body):
        raise RequestError('Give either "files" or "prefix", not both and not neither.',
                           "files" if "files" not in body else "prefix")
    if "files" in body:
        return BatchRequest(batch_id, files=parse_file_list(body["files"], "files"))
    return BatchRequest(batch_id, prefix=validate_prefix(body["prefix"]))


def is_batch_id(value: Any) -> bool:
    """Whether `value` is a batch id as the starter accepts it (so it is safe inside blob names)."""
    return isinstance(value, str) and _BATCH_ID.fullmatch(value) is not None


def validate_batch_id(value: Any) -> str:
    if not is_batch_id(value):
        raise RequestError("batchId must be 1-64 letters, digits, '-' or '_', starting with a letter or digit.",
                           "batchId")
    return value


def parse_file_list(value: Any, field: str) -> tuple[str, ...]:
    """A non-empty list of valid blob names, duplicates dropped (first kept)."""
    if not isinstance(value, list):
        raise RequestError(f"{field} must be a JSON array of blob names.", field)
    if not value:
        raise RequestError(f"{field} is empty: name at least one file.", field)
    for index, name in enumerate(value):
        problem = blob_name_problem(name)
        if problem:
            raise RequestError(f"{field}[{index}]: {problem}", f"{field}[{index}]")
    return tuple(dict.fromkeys(value))


def validate_prefix(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise RequestError("prefix must be a non-empty string such as \"incoming/\".", "prefix")
    problem = blob_name_problem(value.removesuffix("/") if len(value) > 1 else value)
    if problem:
        raise RequestError(f"prefix: {problem}", "prefix")
    return value


def blob_name_problem(name: Any) -> str | None:
    """Why `name` is not an acceptable blob name, or None when it is."""
    if not isinstance(name, str):
        return f"a blob name must be a string, got {type(name).__name__ if name is not None else 'null'}."
    if not name or not name.strip():
        return "a blob name must not be empty."
    if len(name) > MAX_NAME_LENGTH:
        return f"a blob name must be at most {MAX_NAME_LENGTH} characters, got {len(name)}."
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        return f"{name!r} contains an unpaired surrogate (not Unicode text)."
    problem = _path_problem(name)
    if problem:
        return f"{name!r} {problem}"
    decoded = unquote(name)
    problem = _path_problem(decoded) if decoded != name else None
    if problem:
        return f"{name!r} decodes (%-escapes) to {decoded!r}, which {problem}"
    segments = name.split("/")
    if any(segment == "" for segment in segments):
        return f"{name!r} contains an empty path segment ('//' or a trailing '/')."
    if name.endswith("."):
        return f"{name!r} ends with '.'."
    if len(segments) > MAX_SEGMENTS:
        return f"{name!r} has more than {MAX_SEGMENTS} path segments."
    return None


def _path_problem(name: str) -> str | None:
    """What makes `name` unsafe as a path: control characters, a backslash, a leading '/', '.' or '..'."""
    if any(ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in name):
        return "contains control characters."
    if "\\" in name:
        return "contains a backslash; use '/' between folders."
    if name.startswith("/"):
        return "starts with '/'; blob names are relative to the input container."
    if any(segment in (".", "..") for segment in name.split("/")):
        return "contains a '.' or '..' path segment (path traversal is not allowed)."
    return None
