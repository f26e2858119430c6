"""The order workflow's app settings (all optional), read by its starter and activities.

| setting                          | default | what                                       |
|----------------------------------|---------|--------------------------------------------|
| `ORDER_RETRY_FIRST_INTERVAL_MS`  | `2000`  | activity retries: first interval           |
| `ORDER_RETRY_MAX_ATTEMPTS`       | `3`     | activity retries: attempts in all          |

`PAYMENT_LIMIT` belongs to the payment service (`orders.payments`).
"""

from __future__ import annotations

from common.retry import DEFAULT_FIRST_RETRY_INTERVAL_MS, DEFAULT_MAX_ATTEMPTS, read_retry_policy

RETRY_FIRST_INTERVAL_MS = ("ORDER_RETRY_FIRST_INTERVAL_MS", DEFAULT_FIRST_RETRY_INTERVAL_MS)
RETRY_MAX_ATTEMPTS = ("ORDER_RETRY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def retry_settings() -> dict[str, int]:
    """The orchestrator's retry options for activities, read here because orchestrators must not read settings."""
    return read_retry_policy(RETRY_FIRST_INTERVAL_MS, RETRY_MAX_ATTEMPTS)
