"""Optimistic concurrency on a storage row: read it, decide, write under its ETag, and on a lost race do it again.

Every read-modify-write of a row two requests can race for (stock, a payment, a leave request) runs
through `read_modify_write`: one attempt reads the row and writes with `If-Match: <etag>`; when
another writer got there first (412, or 409/404 for rows created or deleted meanwhile), the attempt
raises `Changed` and the whole attempt runs again on the new state, after a short jittered pause so two
losers do not collide on the same beat. One policy for the app: `MAX_ATTEMPTS` losses in a row mean
heavy contention, and the caller's error says so (retrying later is safe).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

MAX_ATTEMPTS = 25
MAX_PAUSE_SECONDS = 0.2


class Changed(Exception):  # noqa: N818 - a signal between one attempt and the loop, not an error
    """Raised by an attempt whose conditional write lost to another writer: read again and decide again."""


class ContentionError(RuntimeError):
    """A row kept changing under us for `MAX_ATTEMPTS` attempts in a row; retrying later is safe."""


def read_modify_write[T](attempt: Callable[[], T], exhausted: Callable[[], Exception]) -> T:
    """The result of the first `attempt()` that does not raise `Changed`; `exhausted()` is raised after
    `MAX_ATTEMPTS` lost races (make it a `ContentionError` that names the row)."""
    for number in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except Changed:
            if number + 1 < MAX_ATTEMPTS:
                time.sleep(random.uniform(0, min(MAX_PAUSE_SECONDS, 0.01 * (number + 1))))
    raise exhausted()
