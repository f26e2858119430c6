"""The app's functions, run in the real Python worker: each binding as the host puts it on the wire.

What the host sends (InvocationRequest.input_data, one ParameterBinding per input binding):

| binding | TypedData |
|---|---|
| orchestrationTrigger | `string`: the JSON the extension builds (history, input, instanceId, isReplaying...) |
| activityTrigger | `json`: the JSON text of TaskScheduled.Input |
| entityTrigger | `string`: the batch the extension builds (`{self, exists, state, batch}`, entities.py) |
| httpTrigger | `http`: RpcHttp (method, url, headers, query, route params, body bytes) |
| timerTrigger | `json`: TimerInfo (`{"Schedule": ..., "ScheduleStatus": ..., "IsPastDue": ...}`) |
| durableClient | `string`: the client binding JSON (task hub, creation and management URLs) |

and what comes back: `return_value` (the SDK's orchestrator state as JSON, an activity's JSON
result, an RpcHttp response), or a Failure whose RpcException carries `<Type>: <message>` and the
stack trace, which become TaskFailed, a failed orchestration or a 500 as in the host.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ..app_loader import Function, FunctionIndex, classify
from ..console import REASON_DURABLE, WorkerLogPrinter, executing
from ..invoker import (
    ActivityResult,
    FunctionFailed,
    HttpCall,
    HttpReply,
    OrchestratorReply,
    TimerCall,
    activity_failure,
    orchestrator_failure,
)
from ..shim import parse_reply
from .channel import WorkerChannel

log = logging.getLogger("devhost.worker")


class WorkerFunctions:
    """The Functions interface over a WorkerChannel: the index comes from the worker's metadata."""

    def __init__(self, app_dir: Path, disabled: frozenset[str] = frozenset()):
        self.channel = WorkerChannel(app_dir)
        self.disabled = disabled
        self.protos = self.channel.protos
        self._function_of_invocation: dict[str, str] = {}
        self.channel.on_log = WorkerLogPrinter(self.protos, self._function_of_invocation)
        self.index: FunctionIndex | None = None

    async def start(self) -> FunctionIndex:
        if self.index is None:
            metadata = await self.channel.start()
            self.index = classify((Function(item.name, {}, item.bindings, None, item.function_id) for item in metadata),
                                  self.disabled)
        return self.index

    async def close(self) -> None:
        await self.channel.close()

    async def _invoke(self, fn: Function, invocation_id: str, input_data: list[Any]) -> Any:
        self._function_of_invocation[invocation_id] = fn.name
        try:
            response = await self.channel.invoke(fn.name, invocation_id, input_data)
        finally:
            self._function_of_invocation.pop(invocation_id, None)
        if response.result.status == self.protos.StatusResult.Failure:
            raise FunctionFailed(response.result.exception.message, response.result.exception.stack_trace)
        return response

    def _binding(self, name: str, **data: Any) -> Any:
        return self.protos.ParameterBinding(name=name, data=self.protos.TypedData(**data))

    def _clients(self, fn: Function, client_inputs: dict[str, str]) -> list[Any]:
        return [self._binding(binding["name"], string=client_inputs[binding["name"]]) for binding in fn.bindings
                if binding.get("type") == "durableClient" and binding["name"] in client_inputs]

    async def activity(self, name: str, input_json: str | None) -> ActivityResult:
        assert self.index is not None
        fn = self.index.activities[name]
        with executing(fn.name, REASON_DURABLE) as invocation:
            data = self._binding(fn.trigger["name"], json=input_json if input_json is not None else "null")
            try:
                response = await self._invoke(fn, invocation.id, [data])
            except FunctionFailed as failed:
                invocation.failed = True
                return activity_failure(name, str(failed), failed.stack_trace)
            return ActivityResult(result_json=typed_text(response.return_value) or "null")

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        """One episode; the float is its round-trip time (the worker's CPU time is not reported)."""
        assert self.index is not None
        fn = self.index.orchestrators[name]
        started = time.perf_counter()
        with executing(fn.name, REASON_DURABLE) as invocation:
            data = self._binding(fn.trigger["name"], string=json.dumps(payload))
            try:
                response = await self._invoke(fn, invocation.id, [data])
            except FunctionFailed as failed:
                invocation.failed = True
                return orchestrator_failure(str(failed)), time.perf_counter() - started
            reply = OrchestratorReply(parse_reply(typed_text(response.return_value) or "{}"), None)
        return reply, time.perf_counter() - started

    async def entity(self, name: str, context_json: str) -> str:
        """One batch; the reply is the `$return` value (EntityState JSON), a Failure raises FunctionFailed."""
        assert self.index is not None
        fn = self.index.named(name)
        assert fn is not None
        with executing(fn.name, REASON_DURABLE) as invocation:
            data = self._binding(fn.trigger["name"], string=context_json)
            try:
                response = await self._invoke(fn, invocation.id, [data])
            except FunctionFailed:
                invocation.failed = True
                raise
        return typed_text(response.return_value) or ""

    async def http(self, fn: Function, call: HttpCall, invocation_id: str) -> HttpReply:
        protos = self.protos
        request = protos.RpcHttp(method=call.method, url=call.url, headers=call.headers, query=call.query,
                                 params=call.route_params, body=protos.TypedData(bytes=call.body))
        inputs = [self._binding(fn.trigger["name"], http=request), *self._clients(fn, call.client_inputs)]
        response = await self._invoke(fn, invocation_id, inputs)
        value = response.return_value
        if value.WhichOneof("data") != "http":
            text = typed_text(value)
            return HttpReply(204, {}, b"") if text is None else HttpReply(200, {}, text.encode())
        status = int(value.http.status_code or 200)
        return HttpReply(status, dict(value.http.headers), typed_bytes(value.http.body))

    async def timer(self, fn: Function, call: TimerCall, invocation_id: str) -> None:
        timer_info = self._binding(fn.trigger["name"], json=call.timer_info_json())
        inputs = [timer_info, *self._clients(fn, call.client_inputs)]
        await self._invoke(fn, invocation_id, inputs)


def typed_text(value: Any) -> str | None:
    """A TypedData's text: json and string as they are, bytes decoded; None when it carries nothing."""
    kind = value.WhichOneof("data") if value is not None else None
    if kind in ("json", "string"):
        return getattr(value, kind)
    if kind == "bytes":
        return value.bytes.decode("utf-8")
    if kind in ("int", "double"):
        return json.dumps(getattr(value, kind))
    return None


def typed_bytes(value: Any) -> bytes:
    """An HTTP body TypedData as bytes (the worker sends bytes, or a string for text bodies)."""
    kind = value.WhichOneof("data")
    if kind == "bytes":
        return value.bytes
    text = typed_text(value)
    return b"" if text is None else text.encode("utf-8")
