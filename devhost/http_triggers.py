"""Serve the app's HTTP-triggered functions at `/{routePrefix}/{route}`.

Requests become `azure.functions.HttpRequest` objects and responses come back
from `HttpResponse`, as with the Python worker. A `durableClient` binding gets
the JSON string the Durable extension would pass. Function keys are not
required, as with `func start`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import traceback
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web

from .app_loader import Function
from .routes import RouteTemplate, compile_route

log = logging.getLogger("devhost.http")
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass
class HttpRoute:
    function: Function
    template: RouteTemplate
    methods: frozenset[str]


@dataclass
class _Context:
    """The subset of `azure.functions.Context` apps use."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


class HttpTriggers:
    """Routes requests to HTTP-triggered functions."""

    def __init__(self, functions: list[Function], client_json: Any, pool: Executor, route_prefix: str = "api"):
        self.routes = [
            HttpRoute(
                fn,
                compile_route(fn.trigger.get("route") or fn.name),
                frozenset(m.upper() for m in (fn.trigger.get("methods") or ALL_METHODS)),
            )
            for fn in functions
        ]
        # Literal routes win over templated ones, as in ASP.NET routing.
        self.routes.sort(key=lambda r: len(r.template.params))
        self.client_json = client_json
        self.pool = pool
        self.prefix = route_prefix.strip("/")

    def urls(self, origin: str) -> list[tuple[str, str, str]]:
        """(function name, methods, URL) for the start-up banner."""
        base = f"{origin}/{self.prefix}" if self.prefix else origin
        return [(r.function.name, ",".join(sorted(r.methods)), f"{base}/{r.template.template}") for r in self.routes]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info.get("path", "")
        matched_path = False
        for route in self.routes:
            params = route.template.match(path)
            if params is None:
                continue
            matched_path = True
            if request.method.upper() not in route.methods:
                continue
            return await self._invoke(route, params, request)
        if matched_path:
            return web.Response(status=405)
        return web.Response(status=404)

    async def _invoke(self, route: HttpRoute, params: dict[str, str], request: web.Request) -> web.StreamResponse:
        body = await request.read()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=params,
            body=body,
        )
        fn = route.function
        kwargs: dict[str, Any] = {}
        for binding in fn.bindings:
            if binding.get("direction", "").upper() != "IN":
                continue
            if binding["type"] == "httpTrigger":
                kwargs[binding["name"]] = http_request
            elif binding["type"] == "durableClient":
                kwargs[binding["name"]] = self.client_json(request, binding)
        if "context" in inspect.signature(fn.callable).parameters:
            kwargs["context"] = _Context(str(uuid.uuid4()), fn.name, "")
        try:
            if inspect.iscoroutinefunction(fn.callable):
                result = await fn.callable(**kwargs)
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn.callable(**kwargs))
        except Exception as exc:
            log.error("Executed 'Functions.%s' (Failed): %s", fn.name, "".join(traceback.format_exception(exc)))
            return web.Response(status=500)
        return _to_response(result)


def _to_response(result: Any) -> web.Response:
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("Content-Type") or result.mimetype or "text/plain"
        if "charset" not in content_type and result.charset:
            content_type = f"{content_type}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, (bytes, bytearray)):
        return web.Response(status=200, body=bytes(result))
    if isinstance(result, str):
        return web.Response(status=200, text=result)
    return web.Response(status=200, text=json.dumps(result), content_type="application/json")
