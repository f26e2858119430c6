"""Assemble the local host: load the app, start the engine, serve HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from .admin_api import AdminApi
from .app_loader import FunctionIndex, classify, index_functions, load_app
from .client_binding import client_binding_json
from .clock import Clock
from .config import DurableSettings, disabled_functions, load_host_json, load_local_settings, storage_connection_string
from .console import apply_log_levels
from .engine import Engine
from .http_triggers import HttpTriggers
from .management_api import ManagementApi
from .request_guard import quiet_client_errors, request_guard
from .timer_triggers import TimerTriggers
from .worker import Functions, InProcessFunctions

log = logging.getLogger("devhost")

BANNER = """\
==============================================================================
 devhost: this project's local host for Python Durable Functions apps.
 It is NOT the Azure Functions host: the app runs in Azure's own Python worker
 (azure-functions-runtime) over the worker protocol, but the host, the Durable
 extension and the storage provider are this project's Python; devhost/README.md
 lists the known differences. Use `func start` where Core Tools work.
=============================================================================="""


class LocalHost:
    """The running host: an engine plus the HTTP application and timer triggers around it."""

    def __init__(
        self,
        index: FunctionIndex,
        settings: DurableSettings,
        engine: Engine,
        port: int,
        host: str = "127.0.0.1",
        *,
        app_dir: Path | None = None,
        state: str = "azure",
    ):
        self.index = index
        self.settings = settings
        self.engine = engine
        self.port = port
        self.bind = host
        self.app_dir = app_dir
        self.state = state
        self.origin = f"http://localhost:{port}"
        self.runner: Functions = engine.functions
        self.http = HttpTriggers(self.index.http, self._client_json, self.runner, disabled=index.disabled)
        self.api = ManagementApi(self.engine, self.settings.hub_name)
        self.timers = TimerTriggers(
            self.index.timers, self.engine.clock, self.runner, lambda binding: self._client_json(None, binding),
            disabled=index.disabled,
        )
        self.admin = AdminApi(self)
        self.running = False
        self._runner: web.AppRunner | None = None

    @classmethod
    async def for_app(cls, app_dir: Path, port: int, host: str = "127.0.0.1", state: str = "azure",
                      in_process: bool = False) -> LocalHost:
        """Load an app folder as the Functions host does: settings, host.json, then the worker indexes it.

        Raises `WorkerStartError` (with the worker's own message) when the app does not index or load.
        """
        app_dir = app_dir.resolve()
        load_local_settings(app_dir)
        # Core Tools' StartHostAction.GetConfigurationSettings: WEBSITE_HOSTNAME is the host's own authority.
        os.environ.setdefault("WEBSITE_HOSTNAME", f"localhost:{port}")
        apply_log_levels(load_host_json(app_dir))
        settings = DurableSettings.from_host_json(app_dir)
        disabled = disabled_functions()
        functions: Functions
        if in_process:
            index = classify(index_functions(load_app(app_dir)).all(), disabled)
            functions = InProcessFunctions(index, settings.max_concurrent_activities,
                                           settings.max_concurrent_orchestrators)
        else:
            from .rpc.functions import WorkerFunctions

            functions = WorkerFunctions(app_dir, disabled)
            try:
                index = await functions.start()
            except BaseException:  # the app did not index or load: no worker left behind
                await functions.close()
                raise
        for fn in index.all():
            if index.is_disabled(fn):  # HostListenerFactory.IsDisabled
                log.info("Function 'Functions.%s' is disabled", fn.name)
        try:
            engine = build_engine(index, settings, state, functions)
        except BaseException:  # e.g. no storage configured: stop the worker before reporting it
            await functions.close()
            raise
        return cls(index, settings, engine, port, host, app_dir=app_dir, state=state)

    def _client_json(self, request: web.Request | None, binding: dict[str, Any]) -> str:
        hub = binding.get("taskHub") or self.settings.hub_name
        return client_binding_json(self.origin, f"http://127.0.0.1:{self.port}", hub)

    def application(self) -> web.Application:
        quiet_client_errors()
        app = web.Application(client_max_size=100 * 1024 * 1024, middlewares=[request_guard])
        app.add_routes(self.api.routes())
        app.add_routes(self.admin.routes())
        app.add_routes([web.route("*", "/api/{path:.*}", self.http.handle), web.get("/", self._home)])
        return app

    async def _home(self, request: web.Request) -> web.Response:
        return web.Response(text="devhost is running. The app's functions are served under /api/.\n")

    def describe(self) -> str:
        where = ("in memory (lost on exit)" if self.state == "memory" else
                 f"Azure Storage: tables {self.settings.hub_name}Instances/History, "
                 f"queues {self.settings.hub_name.lower()}-control-NN/-workitems")
        lines = [BANNER, f"App: {self.app_dir}", f"Task hub: {self.settings.hub_name} ({where})", "", "Functions:"]
        for name, methods, url in self.http.urls(self.origin):
            lines.append(f"  {name}: [{methods}] {url}")
        durable_kinds = (
            ("orchestrationTrigger", self.index.orchestrators),
            ("activityTrigger", self.index.activities),
            ("entityTrigger", self.index.entities),
        )
        for kind, names in durable_kinds:
            for name in sorted(names):
                lines.append(f"  {name}: {kind}")
        for fn in self.index.timers:
            lines.append(f"  {fn.name}: timerTrigger ({fn.trigger.get('schedule')})")
        lines.append(f"\nDurable HTTP API: {self.origin}/runtime/webhooks/durabletask/")
        return "\n".join(lines)

    async def start(self) -> None:
        await self.engine.start()
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind, self.port, backlog=1024).start()
        self.timers.start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await self.timers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.stop()
        # The SDK client keeps one aiohttp session per process (in-process HTTP functions); close it.
        from azure.durable_functions.models.utils.http_utils import _close_session

        await _close_session()


def build_engine(index: FunctionIndex, settings: DurableSettings, state: str = "azure",
                 functions: Functions | None = None) -> Engine:
    """An engine whose state lives in Azure Storage (the task hub's account) or, on request, in memory."""
    if state == "memory":
        return Engine(index, settings, functions=functions)
    from .table_store import TableInstanceStore
    from .transport import AzureQueueTransport

    connection = storage_connection_string()
    clock = Clock()
    visibility = int(os.environ.get("DEVHOST_VISIBILITY_TIMEOUT_SECONDS") or 30)
    return Engine(
        index, settings, clock=clock,
        store=TableInstanceStore(connection, settings.hub_name),
        transport=AzureQueueTransport(
            connection, settings.hub_name, clock,
            partition_count=settings.partition_count, visibility_timeout=visibility,
        ),
        renew_interval=max(1.0, visibility / 3),
        functions=functions,
    )


async def serve(app_dir: Path, port: int, host: str = "127.0.0.1", state: str = "azure",
                in_process: bool = False) -> None:
    """Run until cancelled (Ctrl-C)."""
    local = await LocalHost.for_app(app_dir, port, host, state, in_process)
    print(local.describe(), flush=True)
    await local.start()
    print(f"\nListening on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await local.stop()
