"""Where the app's functions run: in Azure's Python worker, or in the host's own process.

The Azure Functions host keeps queues, tables and the Durable replay shim in its own (.NET)
process and sends every invocation to a separate Python worker over the Functions worker protocol.
`python -m devhost` does the same (`devhost.rpc.functions.WorkerFunctions`): the worker process
runs Azure's own worker library, `azure-functions-runtime`, which indexes the app, converts every
binding and invokes the functions, so an app that loads and runs here loads and runs in Azure's
worker. `InProcessFunctions` calls the same functions in the host's process through the
`azure-functions` converters: for unit tests, debuggers (`--in-process`) and benchmarks only.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from .app_loader import Function, FunctionIndex
from .console import REASON_DURABLE, executing
from .invoker import (
    ActivityResult,
    HttpCall,
    HttpReply,
    OrchestratorReply,
    TimerCall,
    invoke_activity,
    invoke_entity,
    invoke_http,
    invoke_orchestrator,
    invoke_timer,
)


class Functions(Protocol):
    """Runs the app's functions for the engine, the HTTP triggers and the timer triggers."""

    async def start(self) -> FunctionIndex:
        """Load the app (idempotent); returns its functions as the host indexed them."""
        ...

    async def activity(self, name: str, input_json: str | None) -> ActivityResult: ...

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        """One episode; returns the SDK's reply and the seconds the episode took."""
        ...

    async def entity(self, name: str, context_json: str) -> str:
        """One batch of an entity function (`name` is its function name); returns the SDK's EntityState JSON
        and raises FunctionFailed if the invocation failed."""
        ...

    async def http(self, fn: Function, call: HttpCall, invocation_id: str) -> HttpReply:
        """Run an HTTP-triggered function; raises if the function failed."""
        ...

    async def timer(self, fn: Function, call: TimerCall, invocation_id: str) -> None:
        """Run a timer-triggered function; raises if the function failed."""
        ...

    async def close(self) -> None: ...


def _timed_invoke(fn: Any, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
    """Run one orchestrator episode on this thread and measure its CPU time (the SDK's replay)."""
    started = time.thread_time()
    reply = invoke_orchestrator(fn, payload)
    return reply, time.thread_time() - started


class InProcessFunctions:
    """The app's functions in this process: a thread pool each for activities, orchestrators and triggers."""

    def __init__(self, index: FunctionIndex, max_activities: int, max_orchestrators: int, max_triggers: int = 8):
        self.index = index
        self._activity_pool = ThreadPoolExecutor(max_activities, "activity")
        self._orchestrator_pool = ThreadPoolExecutor(max_orchestrators, "orchestrator")
        self._trigger_pool = ThreadPoolExecutor(max_triggers, "trigger")

    async def start(self) -> FunctionIndex:
        return self.index

    async def activity(self, name: str, input_json: str | None) -> ActivityResult:
        fn = self.index.activities[name]
        with executing(fn.name, REASON_DURABLE) as invocation:
            result = await invoke_activity(fn, name, input_json, self._activity_pool)
            invocation.failed = result.failed
        return result

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        fn = self.index.orchestrators[name]
        with executing(fn.name, REASON_DURABLE) as invocation:
            reply, cpu = await asyncio.get_running_loop().run_in_executor(
                self._orchestrator_pool, _timed_invoke, fn, payload)
            invocation.failed = reply.error is not None
        return reply, cpu

    async def entity(self, name: str, context_json: str) -> str:
        fn = self.index.named(name)
        assert fn is not None
        with executing(fn.name, REASON_DURABLE) as invocation:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self._orchestrator_pool, invoke_entity, fn, context_json)
            except Exception:
                invocation.failed = True
                raise

    async def http(self, fn: Function, call: HttpCall, invocation_id: str) -> HttpReply:
        return await invoke_http(fn, call, self._trigger_pool, invocation_id)

    async def timer(self, fn: Function, call: TimerCall, invocation_id: str) -> None:
        await invoke_timer(fn, call, self._trigger_pool, invocation_id)

    async def close(self) -> None:
        for pool in (self._activity_pool, self._orchestrator_pool, self._trigger_pool):
            pool.shutdown(wait=False, cancel_futures=True)
