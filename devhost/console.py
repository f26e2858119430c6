"""What the Functions host prints per invocation, and how it prints what the worker logs.

Every invocation gets the WebJobs SDK's pair of lines (azure-webjobs-sdk, `FunctionExecutor` /
`Logger.FunctionStarted` and `FunctionCompleted`), in the category `Function.<name>`:

    Executing 'Functions.CheckInventory' (Reason='(null)', Id=0f6b...)
    Executed 'Functions.CheckInventory' (Succeeded, Id=0f6b..., Duration=12ms)

and each `RpcLog` from the worker is printed as `GrpcWorkerChannel.Log` does: the app's logs
(category User) in `Function.<name>.User` while their invocation runs (dropped otherwise), the
worker's and the library's own (System) in `Worker.LanguageWorkerChannel.python.<workerId>`.
host.json's `logging.logLevel` filters all of them by category prefix, as the host's filters do
(`apply_log_levels`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The trigger reasons the host prints (FunctionStartedMessageExtensions.FormatReason): an HTTP request
# and the admin API are host calls; the Durable triggers give no reason, which the logger prints as (null).
REASON_HOST_CALL = "This function was programmatically called via the host APIs."
REASON_DURABLE = "(null)"

_LEVELS = {
    "trace": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO, "warning": logging.WARNING,
    "error": logging.ERROR, "critical": logging.CRITICAL, "none": logging.CRITICAL + 10,
}


@dataclass
class Invocation:
    """One invocation's id and outcome, as the Executed line reports them."""

    function_name: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    failed: bool = False


@contextmanager
def executing(function_name: str, reason: str) -> Iterator[Invocation]:
    """Log Executing/Executed around one invocation; an exception or `failed=True` reports Failed."""
    invocation = Invocation(function_name)
    logger = logging.getLogger(f"Function.{function_name}")
    logger.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function_name, reason, invocation.id)
    started = time.perf_counter()
    try:
        yield invocation
    except BaseException:
        invocation.failed = True
        raise
    finally:
        logger.log(
            logging.ERROR if invocation.failed else logging.INFO,
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)", function_name,
            "Failed" if invocation.failed else "Succeeded", invocation.id, (time.perf_counter() - started) * 1000,
        )


def log_level(name: str) -> int:
    """A host.json level name (Trace, Debug, Information, Warning, Error, Critical, None) as a logging level."""
    return _LEVELS.get(str(name).strip().lower(), logging.INFO)


def apply_log_levels(host_json: dict[str, Any]) -> None:
    """host.json `logging.logLevel`: `default` on the root logger, each category on its logger.

    Python loggers inherit by dotted prefix, as the host's category filters match by prefix, so
    `"Function": "Warning"` quiets every `Function.<name>` and `Function.<name>.User` line.
    """
    levels = ((host_json.get("logging") or {}).get("logLevel")) or {}
    if "default" not in levels:
        # Core Tools' defaults without one (LoggingFilterHelper): Information for user logs, Warning
        # for system logs such as the worker's own (`func start --verbose` shows them).
        logging.getLogger("Worker").setLevel(logging.WARNING)
    for category, level in levels.items():
        target = logging.getLogger() if category == "default" else logging.getLogger(category)
        target.setLevel(log_level(level))


class WorkerLogPrinter:
    """Prints the worker's RpcLog messages in the host's categories."""

    def __init__(self, protos: Any, function_of_invocation: dict[str, str]):
        self.protos = protos
        self.function_of_invocation = function_of_invocation
        self._levels = {
            protos.RpcLog.Trace: logging.DEBUG, protos.RpcLog.Debug: logging.DEBUG,
            protos.RpcLog.Information: logging.INFO, protos.RpcLog.Warning: logging.WARNING,
            protos.RpcLog.Error: logging.ERROR, protos.RpcLog.Critical: logging.CRITICAL,
        }

    def __call__(self, record: Any, worker_id: str) -> None:
        level = self._levels.get(record.level)
        if level is None:  # RpcLog.None
            return
        if record.log_category == self.protos.RpcLog.System:
            category = f"Worker.LanguageWorkerChannel.python.{worker_id}"
        else:
            function = self.function_of_invocation.get(record.invocation_id) if record.invocation_id else None
            if function is None:  # GrpcWorkerChannel drops user logs of no running invocation
                logging.getLogger("devhost.worker").debug(
                    "Ignoring RpcLog from invocation '%s' because there is no matching ScriptInvocationContext.",
                    record.invocation_id)
                return
            category = f"Function.{function}.User"
        logger = logging.getLogger(category)
        if logger.isEnabledFor(level):
            text = record.message
            if record.exception.message:
                text = f"{text}\n{record.exception.message}\n{record.exception.stack_trace}"
            logger.log(level, "%s", text)
