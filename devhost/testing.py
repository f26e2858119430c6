"""Run an app's workflows without HTTP, for fast deterministic tests.

    async with LocalDurableHost(app_dir, virtual_clock=True) as host:   # real_worker=True: in Azure's worker
        instance_id = await host.start("MyOrchestrator", {"x": 1})
        record = await host.wait(instance_id)        # a 72-hour timer fires at once

Time skipping (with the virtual clock, as Temporal's time-skipping test environment
does): while `wait()` waits for an instance and the engine is idle (no message,
episode or activity in flight), it moves the clock to the next durable timer that is
due for an unfinished instance and lets it fire, again and again until the instance
finishes. With no such timer left, time stands still and `wait()` waits for outside
input (`raise_event`, resume...) until `timeout`, which bounds the wall time as before.
So an instance that waits for an event with a 72-hour deadline sees the deadline
pass if the test awaits it before raising the event. To stop in between, move time
by hand with `advance()` (it fires what became due and returns once the engine is
idle) and look at the instance; `wait(..., skip_time=False)` or
`LocalDurableHost(..., skip_time=False)` waits without moving the clock.

Inputs and events are serialized exactly as the SDK's client sends them, so the
orchestrator sees what it would see behind the real host.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps

from .app_loader import FunctionIndex, index_functions, load_app
from .clock import Clock, VirtualClock
from .config import DurableSettings
from .engine import Engine, InstanceNotFound
from .history import parse_json_or_text
from .rpc.functions import WorkerFunctions
from .server import LocalHost
from .spawn import free_port
from .store import InstanceRecord
from .worker import Functions

IDLE_RECHECK_SECONDS = 0.01  # how often wait() looks for new timers while nothing is due


class LocalDurableHost:
    """An engine for one app plus helpers that tests need."""

    def __init__(
        self,
        app_dir: Path | None = None,
        *,
        app: Any = None,
        virtual_clock: bool = False,
        settings: DurableSettings | None = None,
        serve_http: bool = False,
        real_worker: bool = False,
        skip_time: bool = True,
    ):
        """`real_worker=True` runs the functions in Azure's Python worker library, as `python -m devhost`
        does (it needs `app_dir`: the worker imports the app itself); otherwise they run in-process.
        `skip_time` (virtual clock only) is `wait()`'s default: skip to due timers while waiting."""
        self.skip_time = skip_time
        self.settings = settings or (DurableSettings.from_host_json(app_dir) if app_dir else DurableSettings())
        self.clock: Clock = VirtualClock() if virtual_clock else Clock()
        self.server: LocalHost | None = None
        self._serve_http = serve_http
        self._worker: WorkerFunctions | None = None
        if real_worker:
            if app_dir is None:
                raise ValueError("real_worker=True needs app_dir: the worker imports the app itself.")
            self._worker = WorkerFunctions(app_dir)
            return  # the index comes from the worker when the host starts
        if app is None:
            if app_dir is None:
                raise ValueError("Pass app_dir or app.")
            app = load_app(app_dir)
        self._assemble(index_functions(app), None)

    def _assemble(self, index: FunctionIndex, functions: Functions | None) -> None:
        self.index: FunctionIndex = index
        self.engine = Engine(self.index, self.settings, clock=self.clock, functions=functions)
        if self._serve_http:
            # HTTP triggers, the management API and timer triggers, on a free port: needed when
            # functions use the durableClient binding (the SDK client talks HTTP to the host).
            self.server = LocalHost(self.index, self.settings, self.engine, free_port())

    @property
    def base_url(self) -> str:
        """Where HTTP triggers and the management API answer (serve_http=True)."""
        if self.server is None:
            raise RuntimeError("Create the host with serve_http=True to call it over HTTP.")
        return f"http://127.0.0.1:{self.server.port}"

    async def __aenter__(self) -> LocalDurableHost:
        if self._worker is not None:
            try:
                self._assemble(await self._worker.start(), self._worker)
            except BaseException:
                await self._worker.close()
                raise
        if self.server is not None:
            await self.server.start()
        else:
            await self.engine.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            await self.server.stop()
        else:
            await self.engine.stop()

    async def start(self, orchestrator: str, input_value: Any = None, instance_id: str | None = None) -> str:
        """Start an instance as `DurableOrchestrationClient.start_new` would."""
        body = None if input_value is None else json.dumps(df_dumps(input_value))
        return await self.engine.start_instance(orchestrator, instance_id, body)

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise an event as `DurableOrchestrationClient.raise_event` would (double-encoded, SDK #295)."""
        await self.engine.raise_event(instance_id, name, json.dumps(json.dumps(data)))

    async def signal_entity(self, name: str, key: str, operation: str, input_value: Any = None) -> None:
        """Signal an entity as `DurableOrchestrationClient.signal_entity` does: the input JSON-encoded twice,
        and a falsy input (None, 0, "", [], {}) not sent at all (the SDK's `if input` test)."""
        input_json = json.dumps(json.dumps(input_value)) if input_value else None
        await self.engine.signal_entity(name, key, operation, input_json)

    async def entity_state(self, name: str, key: str) -> tuple[bool, Any]:
        """(exists, state) as `DurableOrchestrationClient.read_entity_state` reads them."""
        exists, state = await self.engine.read_entity(name, key)
        return exists, parse_json_or_text(state)

    async def wait(self, instance_id: str, timeout: float | None = 30.0, *,
                   skip_time: bool | None = None) -> InstanceRecord:
        """Wait for the instance to finish and return its record; TimeoutError after `timeout` seconds.

        With the virtual clock and `skip_time` (default: the host's), time skips to the next due timer
        whenever the engine is idle (see the module docstring)."""
        skip = self.skip_time if skip_time is None else skip_time
        if not skip or not isinstance(self.clock, VirtualClock):
            return await self.engine.wait_for_completion(instance_id, timeout)
        async with asyncio.timeout(timeout):
            return await self._wait_skipping_time(instance_id)

    async def _wait_skipping_time(self, instance_id: str) -> InstanceRecord:
        if await self.engine.get(instance_id, history=False) is None:
            raise InstanceNotFound(instance_id)
        finished = asyncio.ensure_future(self.engine.wait_for_completion(instance_id))
        try:
            while not finished.done():
                idle = asyncio.ensure_future(self.idle())
                try:
                    await asyncio.wait({finished, idle}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    idle.cancel()
                if finished.done():
                    break
                if await self.skip_to_next_timer() is None:
                    # Nothing will come due by itself: wait for the instance, or for outside input (an
                    # event raised meanwhile, which may create timers of its own), looking again now and then.
                    await asyncio.wait({finished}, timeout=IDLE_RECHECK_SECONDS)
            return finished.result()
        finally:
            finished.cancel()

    async def skip_to_next_timer(self) -> datetime | None:
        """Once the engine is idle, move the virtual clock to the earliest durable timer of an unfinished
        instance and let everything due by then run. Returns the new time, or None when no such timer is
        pending (the clock stays). Timers of finished instances (cancelled ones) are no reason to move."""
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError("skip_to_next_timer() needs virtual_clock=True")
        await self.idle()
        due = await self._next_due_timer()
        if due is None:
            return None
        await self.advance(max(due - self.clock.now(), timedelta(0)))
        return self.clock.now()

    async def _next_due_timer(self) -> datetime | None:
        """When the next pending timer (or delayed message) of an unfinished instance is due."""
        finished: dict[str, bool] = {}
        for due, instance_id in self.engine.transport.pending_timers():
            if instance_id not in finished:
                record = await self.engine.get(instance_id, history=False)
                finished[instance_id] = record is not None and record.is_terminal
            if not finished[instance_id]:
                return due
        return None

    async def idle(self) -> None:
        """Wait until nothing is left to do but future timers."""
        await self.engine.wait_for_idle()

    async def advance(self, delta: timedelta) -> None:
        """Move the virtual clock forward and let everything that became due run."""
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError("advance() needs virtual_clock=True")
        await self.idle()
        self.clock.advance(delta)
        self.engine.transport.fire_due_timers()
        if self.server is not None:
            self.server.timers.poke()
        await self.idle()

    async def status(self, instance_id: str) -> InstanceRecord | None:
        return await self.engine.get(instance_id)

    @staticmethod
    def output(record: InstanceRecord) -> Any:
        """The instance's output as the status API shows it: a JSON value, or the raw text of a failure."""
        return parse_json_or_text(record.output)
