"""Structured, replay-safe logging for orchestrators (and anything else that has business keys).

    log_event(context, log, "order %s: %s", order_id, step, order_id=order_id)

logs `order 12345: CheckInventory | instance_id=order-12345 order_id=12345` once per step:

* **Replay-safe**: an orchestrator function runs again from the start on every episode; the
  line is written only when `context.is_replaying` is False, so each step is logged once.
* **Structured**: the instance id and the business keys go into the record's `extra`
  (`record.instance_id`, `record.order_id`, ...). With the Azure Monitor OpenTelemetry
  distro enabled in the worker (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` and
  `azure-monitor-opentelemetry` installed) these attributes become `customDimensions` in
  Application Insights. The classic worker pipeline forwards only the formatted message,
  its level, category and invocation id, so the same keys are also appended to the message
  as `key=value` pairs: `traces | where message has "instance_id=order-12345"` finds them
  either way, and so does a grep of the local host's console.

**No personal data in logs**: logs go to Application Insights, which more people can read, for
longer, than the tables that hold the data. Identify people by a business key (order id,
request id, employee id) and write e-mail addresses only through `mask_email`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

# Attributes a LogRecord already has: `extra` may not overwrite them (logging raises KeyError).
_RESERVED = frozenset(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {"message", "asctime"}


class _OrchestrationContext(Protocol):
    @property
    def instance_id(self) -> str: ...

    @property
    def is_replaying(self) -> bool: ...


def mask_email(address: str | None) -> str:
    """An e-mail address as a log line may show it: `ann@example.com` -> `a***@example.com`.

    Enough to tell a colleague's domain and initial when reading a trace, not the address itself.
    Anything that is not an address (`system`, None, an empty string) comes back as `***`.
    """
    local, at, domain = (address or "").strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def event_fields(instance_id: str | None, **fields: Any) -> dict[str, Any]:
    """The `extra` of a structured line: the instance id first, then the business keys (None dropped)."""
    extra: dict[str, Any] = {"instance_id": instance_id} if instance_id else {}
    extra.update((name, value) for name, value in fields.items() if value is not None)
    clashes = sorted(set(extra) & _RESERVED)
    if clashes:
        raise ValueError(f"log field names clash with LogRecord attributes: {', '.join(clashes)}")
    return extra


def format_fields(fields: dict[str, Any]) -> str:
    """`key=value` pairs as appended to the message (values without spaces stay greppable)."""
    return " ".join(f"{name}={str(value).replace(' ', '_')}" for name, value in fields.items())


def _with_fields(message: str, extra: dict[str, Any], has_args: bool) -> str:
    suffix = format_fields(extra)
    if not suffix:
        return message
    return f"{message} | {suffix.replace('%', '%%') if has_args else suffix}"  # the pairs are data, not format


def log_fields(logger: logging.Logger, message: str, *args: Any, level: int = logging.INFO,
               instance_id: str | None = None, **fields: Any) -> None:
    """Log one structured line (for clients and activities, which never replay)."""
    if not logger.isEnabledFor(level):
        return
    extra = event_fields(instance_id, **fields)
    logger.log(level, _with_fields(message, extra, bool(args)), *args, extra=extra, stacklevel=2)


def log_event(context: _OrchestrationContext, logger: logging.Logger, message: str, *args: Any,
              level: int = logging.INFO, **fields: Any) -> None:
    """Log from an orchestrator once, not on every replay, with its instance id and business keys."""
    if context.is_replaying or not logger.isEnabledFor(level):
        return
    extra = event_fields(context.instance_id, **fields)
    logger.log(level, _with_fields(message, extra, bool(args)), *args, extra=extra, stacklevel=2)
