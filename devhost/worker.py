"""Where the app's activities and orchestrator episodes run: in a worker process, or in-process.

The Azure Functions host keeps queues, tables and the Durable replay shim in its own (.NET)
process and sends each invocation to a separate Python language worker process. `python -m
devhost` does the same by default (`WorkerProcess`): the app runs in a child process with its own
interpreter and GIL, synchronous functions on a thread pool and async ones on an event loop,
so the host's storage traffic and the app's code do not queue for one GIL. `InProcessFunctions`
runs the same code in the host's process: the test host uses it, and so does `--in-process`
(breakpoints in one process).
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from .app_loader import FunctionIndex, index_functions, load_app
from .invoker import ActivityResult, OrchestratorReply, invoke_activity, invoke_orchestrator

log = logging.getLogger("devhost.worker")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Functions(Protocol):
    """Runs the app's durable functions for the engine."""

    async def start(self) -> None: ...

    async def activity(self, name: str, input_json: str | None) -> ActivityResult: ...

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        """One episode; returns the SDK's reply and the CPU seconds the episode took."""
        ...

    async def close(self) -> None: ...


class WorkerDied(RuntimeError):
    """The worker process exited while invocations were in flight (they are redelivered)."""


def _timed_invoke(fn: Any, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
    """Run one orchestrator episode on this thread and measure its CPU time (the SDK's replay)."""
    started = time.thread_time()
    reply = invoke_orchestrator(fn, payload)
    return reply, time.thread_time() - started


class InProcessFunctions:
    """The app's functions in this process: a thread pool each for activities and orchestrators."""

    def __init__(self, index: FunctionIndex, max_activities: int, max_orchestrators: int):
        self.index = index
        self._activity_pool = ThreadPoolExecutor(max_activities, "activity")
        self._orchestrator_pool = ThreadPoolExecutor(max_orchestrators, "orchestrator")

    async def start(self) -> None:
        return None

    async def activity(self, name: str, input_json: str | None) -> ActivityResult:
        return await invoke_activity(self.index.activities[name], name, input_json, self._activity_pool)

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        fn = self.index.orchestrators[name]
        return await asyncio.get_running_loop().run_in_executor(self._orchestrator_pool, _timed_invoke, fn, payload)

    async def close(self) -> None:
        self._activity_pool.shutdown(wait=False, cancel_futures=True)
        self._orchestrator_pool.shutdown(wait=False, cancel_futures=True)


class WorkerProcess:
    """The app's functions in a child process, reached over a pipe; restarted if it dies."""

    def __init__(self, app_dir: Path, max_activities: int, max_orchestrators: int):
        self.app_dir = app_dir
        self.max_activities = max_activities
        self.max_orchestrators = max_orchestrators
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._process: Any = None
        self._conn: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._spawn()

    async def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=worker_main, name="devhost-worker", daemon=True,
            args=(theirs, str(self.app_dir), self.max_activities, self.max_orchestrators),
        )
        process.start()
        theirs.close()
        assert self._loop is not None
        ready = await self._loop.run_in_executor(None, _receive_or_none, ours)
        if ready != "ready":
            process.join(5)
            raise WorkerDied(f"the worker process could not load the app (exit code {process.exitcode})")
        self._process, self._conn = process, ours
        threading.Thread(target=self._read, args=(ours,), name="worker-reader", daemon=True).start()

    def _read(self, conn: Connection) -> None:
        """Hand each reply to the event loop; when the pipe breaks, fail what is still in flight."""
        assert self._loop is not None
        while True:
            reply = _receive_or_none(conn)
            if reply is None:
                self._loop.call_soon_threadsafe(self._worker_gone, conn)
                return
            self._loop.call_soon_threadsafe(self._resolve, *reply)

    def _resolve(self, call_id: int, ok: bool, value: Any) -> None:
        future = self._pending.pop(call_id, None)
        if future is not None and not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"worker process error:\n{value}"))

    def _worker_gone(self, conn: Connection) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerDied("the worker process exited"))
        self._pending.clear()
        if not self._closing:
            log.error("The worker process exited unexpectedly; starting a new one")

    async def _call(self, kind: str, name: str, payload: Any) -> Any:
        if self._conn is None:
            await self._spawn()
        assert self._conn is not None and self._loop is not None
        call_id = next(self._ids)
        future = self._loop.create_future()
        self._pending[call_id] = future
        try:
            self._conn.send((call_id, kind, name, payload))
        except (BrokenPipeError, OSError) as error:
            self._pending.pop(call_id, None)
            raise WorkerDied("the worker process is gone") from error
        return await future

    async def activity(self, name: str, input_json: str | None) -> ActivityResult:
        return await self._call("activity", name, input_json)

    async def orchestrator(self, name: str, payload: dict[str, Any]) -> tuple[OrchestratorReply, float]:
        return await self._call("orchestrator", name, payload)

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(3)
            if self._process.is_alive():
                self._process.kill()


def _receive_or_none(conn: Connection) -> Any:
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the host dies, even by SIGKILL, as the real worker dies with its host."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def worker_main(conn: Connection, app_dir: str, max_activities: int, max_orchestrators: int) -> None:
    """Entry point of the worker process: load the app, then serve invocations until the pipe closes."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        index = index_functions(load_app(Path(app_dir)))
    except Exception:
        traceback.print_exc()
        conn.close()
        return
    functions = InProcessFunctions(index, max_activities, max_orchestrators)
    conn.send("ready")
    asyncio.run(_serve(conn, functions))
    os._exit(0)  # threads of unfinished activities must not keep an orphan alive


async def _serve(conn: Connection, functions: InProcessFunctions) -> None:
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    running: set[asyncio.Task[None]] = set()

    async def handle(call_id: int, kind: str, name: str, payload: Any) -> None:
        try:
            if kind == "activity":
                value: Any = await functions.activity(name, payload)
            else:
                value = await functions.orchestrator(name, payload)
            reply = (call_id, True, value)
        except Exception:
            reply = (call_id, False, traceback.format_exc())
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            closed.set()

    def dispatch(request: tuple[int, str, str, Any]) -> None:
        task = loop.create_task(handle(*request))
        running.add(task)
        task.add_done_callback(running.discard)

    def read() -> None:
        while (request := _receive_or_none(conn)) is not None:
            loop.call_soon_threadsafe(dispatch, request)
        loop.call_soon_threadsafe(closed.set)

    threading.Thread(target=read, name="host-reader", daemon=True).start()
    await closed.wait()
