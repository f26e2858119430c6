"""Field rules every scenario applies the same way: identifiers and e-mail addresses (one validation mechanism:
these rules and `RequestError`, building each workflow's frozen request dataclasses).

One rule per kind of value, so an address a customer may order with is also one an employee,
an approver or a batch record may carry. HTTP validators raise `RequestError` naming the field;
data validators (batch records) ask `is_email` and report the problem their own way.
"""

from __future__ import annotations

import re
from typing import Any

from common.http import RequestError

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# A plain address `local@domain.tld`: RFC 5322's dot-atom local part (no quoted strings, no comments),
# a host name of DNS labels and a top-level domain of 2-63 letters.
EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less the angle brackets
MAX_EMAIL_LOCAL_PART = 64


def is_email(address: str) -> bool:
    """Whether `address` (as is, no spaces trimmed) is a plain e-mail address within the length limits."""
    local = address.partition("@")[0]
    return (len(address) <= MAX_EMAIL_LENGTH and len(local) <= MAX_EMAIL_LOCAL_PART
            and EMAIL_PATTERN.fullmatch(address) is not None)


def require_string(value: Any, field: str, *, name: str | None = None, must_be: str = "a string") -> str:
    """`value` when it is a non-empty string; else a RequestError for `field` that says "<name> is required."
    (missing, null or "") or "<name> must be <must_be>." (`name` defaults to the field path)."""
    name = name or field
    if value is None or value == "":
        raise RequestError(f"{name} is required.", field)
    if not isinstance(value, str):
        raise RequestError(f"{name} must be {must_be}.", field)
    return value


def validate_identifier(value: Any, field: str) -> str:
    """1-64 letters, digits, '_' or '-', starting with a letter or digit (a table key and part of an instance id);
    or a RequestError naming `field`."""
    value = require_string(value, field)
    if not ID_PATTERN.fullmatch(value):
        raise RequestError(f"{field} must be 1-64 letters, digits, '_' or '-', starting with a letter or digit.", field)
    return value


def validate_email(value: Any, field: str) -> str:
    """A plain e-mail address (surrounding spaces removed), or a RequestError naming `field`."""
    address = require_string(value, field).strip()
    if not is_email(address):
        raise RequestError(f"{field} is not a valid e-mail address.", field)
    return address
