"""Call the app's functions the way the Python worker does.

Inputs and outputs go through the `azure-functions` library's own converters so
that the app sees exactly the values the real worker would give it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .app_loader import Function
from .failure_details import activity_failure_details
from .shim import parse_reply

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class OrchestratorReply:
    """What one orchestrator invocation returned: the SDK's state and its error, if any."""

    state: dict[str, Any]
    error: str | None


class FunctionFailed(RuntimeError):
    """The worker reported an invocation as failed: its RpcException's message and stack trace."""

    def __init__(self, message: str, stack_trace: str):
        super().__init__(message)
        self.stack_trace = stack_trace

    @classmethod
    def from_exception(cls, exc: BaseException) -> FunctionFailed:
        """An exception raised in-process, reported as the worker library would (`<Type>: <message>`)."""
        return cls(exception_message(exc), "".join(traceback.format_exception(exc)))


@dataclass
class HttpCall:
    """An HTTP request for an HTTP-triggered function, as the host hands it to the worker (RpcHttp)."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    route_params: dict[str, str]
    body: bytes
    client_inputs: dict[str, str] = field(default_factory=dict)  # durableClient binding name -> its JSON


@dataclass
class HttpReply:
    """What an HTTP-triggered function answered (status, headers, body bytes)."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class TimerCall:
    """A timer trigger's firing: the TimerInfo the host passes, and the durableClient inputs."""

    past_due: bool
    client_inputs: dict[str, str] = field(default_factory=dict)

    def timer_info_json(self) -> str:
        """The TimerInfo JSON the Functions host sends a timerTrigger; devhost keeps no schedule monitor
        state, so ScheduleStatus is null (see devhost/README.md, timer triggers)."""
        return json.dumps({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": self.past_due})


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
        reply = _callable(fn)(**{fn.trigger["name"]: context})
    except Exception as exc:  # the SDK reports orchestrator failures as exceptions
        return orchestrator_failure(exception_message(exc))
    if not isinstance(reply, str):
        reply = json.dumps(reply)
    return OrchestratorReply(parse_reply(reply), None)


def invoke_entity(fn: Function, context_json: str) -> str:
    """Run one batch of an entity function (synchronously, like an orchestrator episode): the trigger value goes
    through the worker's EnitityTriggerConverter, the SDK's reply is the EntityState JSON text. Operation errors
    are in that reply; anything raised here is the invocation's failure."""
    from azure.functions.durable_functions import EnitityTriggerConverter

    context = EnitityTriggerConverter.decode(meta.Datum(type="string", value=context_json), trigger_metadata=None)
    try:
        reply = _callable(fn)(**{fn.trigger["name"]: context})
    except Exception as exc:
        raise FunctionFailed.from_exception(exc) from exc
    value = EnitityTriggerConverter.encode(reply, expected_type=None).value
    return value if isinstance(value, str) else json.dumps(value)


def exception_message(exc: BaseException) -> str:
    """An exception as the worker library reports it in RpcException.message: `<Type>: <message>`."""
    return f"{type(exc).__name__}: {exc}"


def orchestrator_failure(message: str) -> OrchestratorReply:
    """An orchestrator invocation that raised: the SDK appends its state after `$OutOfProcData$:`."""
    if OUT_OF_PROC_MARKER in message:
        head, _, data = message.partition(OUT_OF_PROC_MARKER)
        state = parse_reply(data)
        return OrchestratorReply(state, state.get("error") or head)
    return OrchestratorReply({"actions": [], "isDone": False}, message)


def rpc_exception_text(message: str, stack_trace: str, status: str = "Failure") -> str:
    """The message of the host's RpcException for a failed invocation (azure-functions-host,
    `src/WebJobs.Script/Workers/Rpc/RpcException.cs`): `Result: ...\nException: ...\nStack: ...`."""
    return f"Result: {status}\nException: {message}\nStack: {stack_trace}"


def friendly_message(rpc_message: str) -> str | None:
    """What the Durable extension reports of an out-of-process failure (OutOfProcExceptionHelpers.
    TryGetExceptionWithFriendlyMessage): the text between "\nException:" and "\nStack:", cut before
    "\n\n$OutOfProcData$:". The label has no trailing space, so the text keeps the host's leading one."""
    if not (rpc_message.startswith("Result:") and "\nException:" in rpc_message and "\nStack:" in rpc_message):
        return None
    start = rpc_message.index("\nException:") + len("\nException:")
    message = rpc_message[start:rpc_message.index("\nStack:")]
    return message.split(OUT_OF_PROC_MARKER, 1)[0]


def activity_failure(name: str, message: str, stack_trace: str) -> ActivityResult:
    """A failed activity as the extension's TaskActivityShim reports it: TaskFailed with the reason
    `Activity function '<name>' failed: <friendly message>` (so `failed:  ValueError: ...`, two spaces)
    and the serialized exception as Details."""
    rpc_message = rpc_exception_text(message, stack_trace)
    friendly = friendly_message(rpc_message) or message
    return ActivityResult(failure_reason=f"Activity function '{name}' failed: {friendly}",
                          failure_details=activity_failure_details(friendly, rpc_message))


async def invoke_activity(fn: Function, name: str, input_json: str | None, pool: Executor) -> ActivityResult:
    """Run an activity: sync functions in the thread pool, async ones on the event loop."""
    datum = meta.Datum(type="json", value=input_json if input_json is not None else "null")
    try:
        value = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
        kwargs = {fn.trigger["name"]: value}
        call = _callable(fn)
        if inspect.iscoroutinefunction(call):
            result = await call(**kwargs)
        else:
            result = await asyncio.get_running_loop().run_in_executor(pool, lambda: call(**kwargs))
        encoded = ActivityTriggerConverter.encode(result, expected_type=None)
        return ActivityResult(result_json=encoded.value)
    except Exception as exc:
        failed = FunctionFailed.from_exception(exc)
        return activity_failure(name, str(failed), failed.stack_trace)


@dataclass
class _Context:
    """The subset of `azure.functions.Context` apps use."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


async def _call(fn: Function, kwargs: dict[str, Any], pool: Executor, invocation_id: str) -> Any:
    """Call a user function as the worker does: async on the loop, sync on the thread pool."""
    call = _callable(fn)
    if "context" in inspect.signature(call).parameters:
        kwargs["context"] = _Context(invocation_id, fn.name, "")
    if inspect.iscoroutinefunction(call):
        return await call(**kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, lambda: call(**kwargs))


def _callable(fn: Function) -> Callable[..., Any]:
    """The function's Python callable; only in-process hosts have one (the worker imports the app itself)."""
    if fn.callable is None:
        raise RuntimeError(f"Function {fn.name} has no callable here: it runs in the worker.")
    return fn.callable


def _inputs(fn: Function, trigger_value: Any, client_inputs: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {fn.trigger["name"]: trigger_value}
    for binding in fn.bindings:
        if binding.get("type") == "durableClient" and binding["name"] in client_inputs:
            kwargs[binding["name"]] = client_inputs[binding["name"]]
    return kwargs


async def invoke_http(fn: Function, call: HttpCall, pool: Executor, invocation_id: str) -> HttpReply:
    """Run an HTTP-triggered function on an `azure.functions.HttpRequest`; exceptions propagate."""
    request = func.HttpRequest(method=call.method, url=call.url, headers=call.headers, params=call.query,
                               route_params=call.route_params, body=call.body)
    return http_reply(await _call(fn, _inputs(fn, request, call.client_inputs), pool, invocation_id))


async def invoke_timer(fn: Function, call: TimerCall, pool: Executor, invocation_id: str) -> None:
    """Run a timer-triggered function on a `TimerRequest`; exceptions propagate."""
    from azure.functions.timer import TimerRequest

    await _call(fn, _inputs(fn, TimerRequest(past_due=call.past_due), call.client_inputs), pool, invocation_id)


def http_reply(result: Any) -> HttpReply:
    """An HTTP function's return value as the host answers it (HttpResponse, None, bytes, str or JSON)."""
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("Content-Type") or result.mimetype or "text/plain"
        if "charset" not in content_type and result.charset:
            content_type = f"{content_type}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return HttpReply(result.status_code, headers, result.get_body())
    if result is None:
        return HttpReply(204, {}, b"")
    if isinstance(result, (bytes, bytearray)):
        return HttpReply(200, {"Content-Type": "application/octet-stream"}, bytes(result))
    if isinstance(result, str):
        return HttpReply(200, {"Content-Type": "text/plain; charset=utf-8"}, result.encode())
    return HttpReply(200, {"Content-Type": "application/json"}, json.dumps(result).encode())
