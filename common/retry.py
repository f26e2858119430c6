"""Activity retries: one policy for every workflow, read by starters and applied by orchestrators.

Orchestrators must not read app settings, so a starter reads the policy (`retry_settings`) and puts it
in the orchestration input as `{"firstRetryIntervalMs", "maxAttempts"}`; the orchestrator turns that
into `df.RetryOptions` (`retry_options`). A missing or partial policy falls back to `DEFAULT_RETRY`.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from common.settings import get_int

DEFAULT_FIRST_RETRY_INTERVAL_MS = 2000
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RETRY: dict[str, int] = {"firstRetryIntervalMs": DEFAULT_FIRST_RETRY_INTERVAL_MS,
                                 "maxAttempts": DEFAULT_MAX_ATTEMPTS}


def read_retry_policy(first_interval_ms: tuple[str, int], max_attempts: tuple[str, int]) -> dict[str, int]:
    """The policy from two app settings, each named with its default as `(setting, default)` (the form that
    tools/infra_check reads, so each scenario's settings module names its own settings literally)."""
    return {"firstRetryIntervalMs": get_int(*first_interval_ms, minimum=1),
            "maxAttempts": get_int(*max_attempts, minimum=1)}


def retry_options(workflow_input: dict[str, Any]) -> df.RetryOptions:
    """The `df.RetryOptions` for the policy under `retry` in an orchestration input (deterministic: no settings)."""
    retry = {**DEFAULT_RETRY, **(workflow_input.get("retry") or {})}
    return df.RetryOptions(first_retry_interval_in_milliseconds=int(retry["firstRetryIntervalMs"]),
                           max_number_of_attempts=int(retry["maxAttempts"]))


def first_line(error: Any, limit: int | None = None) -> str:
    """The first line of an error's text (the SDK appends the .NET details below it), at most `limit` characters;
    the error's type name when it has no text."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
