"""Call the app's functions the way the Python worker does.

Inputs and outputs go through the `azure-functions` library's own converters so
that the app sees exactly the values the real worker would give it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .app_loader import Function
from .shim import parse_reply

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class OrchestratorReply:
    """What one orchestrator invocation returned: the SDK's state and its error, if any."""

    state: dict[str, Any]
    error: str | None


@dataclass
class ActivityResult:
    """An activity's JSON result, or the reason and details of its failure."""

    result_json: str | None = None
    failure_reason: str | None = None
    failure_details: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure_reason is not None


def invoke_orchestrator(fn: Function, payload: dict[str, Any]) -> OrchestratorReply:
    """Run one replay episode of an orchestrator (synchronously: it is CPU-bound Python)."""
    context = func.OrchestrationContext(json.dumps(payload))
    try:
        reply = fn.callable(**{fn.trigger["name"]: context})
    except Exception as exc:  # the SDK reports orchestrator failures as exceptions
        message = str(exc)
        if OUT_OF_PROC_MARKER in message:
            head, _, data = message.partition(OUT_OF_PROC_MARKER)
            state = parse_reply(data)
            return OrchestratorReply(state, state.get("error") or head)
        return OrchestratorReply({"actions": [], "isDone": False}, message or type(exc).__name__)
    if not isinstance(reply, str):
        reply = json.dumps(reply)
    return OrchestratorReply(parse_reply(reply), None)


async def invoke_activity(fn: Function, name: str, input_json: str | None, pool: Executor) -> ActivityResult:
    """Run an activity: sync functions in the thread pool, async ones on the event loop."""
    datum = meta.Datum(type="json", value=input_json if input_json is not None else "null")
    try:
        value = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
        kwargs = {fn.trigger["name"]: value}
        if inspect.iscoroutinefunction(fn.callable):
            result = await fn.callable(**kwargs)
        else:
            result = await asyncio.get_running_loop().run_in_executor(pool, lambda: fn.callable(**kwargs))
        encoded = ActivityTriggerConverter.encode(result, expected_type=None)
        return ActivityResult(result_json=encoded.value)
    except Exception as exc:
        return ActivityResult(
            failure_reason=f"Activity function '{name}' failed: {type(exc).__name__}: {exc}",
            failure_details="".join(traceback.format_exception(exc)),
        )
