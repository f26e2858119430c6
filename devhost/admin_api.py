"""The host's admin API, the part `func start` users and test harnesses call.

- `GET /admin/host/status`: the host's state (`HostStatus` in Azure/azure-functions-host,
  `src/WebJobs.Script.WebHost/Models/HostStatus.cs`, served by `HostController.GetHostStatus`);
  harnesses poll it until `state` is `Running`.
- `POST /admin/functions/{name}` with `{"input": "..."}`: run a function that is not HTTP-triggered
  now (`FunctionsController.Invoke`): 202 Accepted and the invocation runs in the background, 400
  without a body, 404 for no such function (disabled ones run: the host looks them up too). Core
  Tools users run timer functions such as `HistoryCleanup` this way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .app_loader import Function
from .console import REASON_HOST_CALL, executing
from .rpc.channel import HOST_VERSION

if TYPE_CHECKING:
    from .server import LocalHost


class AdminApi:
    """`/admin/...` routes of one LocalHost."""

    def __init__(self, host: LocalHost):
        self.host = host
        self.instance_id = uuid.uuid4().hex
        self._started = time.monotonic()
        self._background: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin/host/status", self.host_status),
            web.post("/admin/functions/{name}", self.invoke),
        ]

    async def host_status(self, request: web.Request) -> web.Response:
        """HostStatus; empty values are left out, as its Newtonsoft settings (DefaultValueHandling.Ignore) do."""
        body = {
            "id": socket.gethostname().lower(),
            "state": "Running" if self.host.running else "Default",
            "version": HOST_VERSION,
            "versionDetails": f"{HOST_VERSION} (devhost: this project's local host, not the Functions host)",
            "instanceId": self.instance_id,
            "computerName": socket.gethostname(),
            "processUptime": int((time.monotonic() - self._started) * 1000),
            "functionAppContentEditingState": "Unknown",
        }
        return web.json_response(body)

    async def invoke(self, request: web.Request) -> web.Response:
        """FunctionsController.Invoke: 400 without a body, 404 for no such function, else 202 and run it."""
        try:
            body: Any = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": 'The body must be a JSON object: {"input": "<text>"}.'}, status=400)
        fn = self.host.index.named(request.match_info["name"])  # disabled functions included, as in the host
        if fn is None:
            return web.Response(status=404)
        task = asyncio.get_running_loop().create_task(self._run(fn))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.Response(status=202)

    async def _run(self, fn: Function) -> None:
        if fn.trigger_type == "timerTrigger":  # the input is ignored: the binding makes a fresh TimerInfo
            await self.host.timers.run_now(fn, REASON_HOST_CALL)
            return
        # The host binds the input string to the trigger parameter; an httpTrigger refuses it
        # (HttpTriggerBinding: "An HttpRequest is required"), and devhost runs no other trigger kind this way.
        reason = ("An HttpRequest is required" if fn.trigger_type == "httpTrigger" else
                  f"devhost runs only timer-triggered functions from the admin API, not a {fn.trigger_type}")
        with executing(fn.name, REASON_HOST_CALL) as invocation:
            invocation.failed = True
            logging.getLogger(f"Function.{fn.name}").error(
                "Exception binding parameter '%s': %s", fn.trigger.get("name"), reason)
