"""Serve the app's HTTP-triggered functions at `/{routePrefix}/{route}`.

Each request becomes an `HttpCall` (the RpcHttp the host sends the worker) and the function's
answer an `HttpReply`; the runner (the real worker, or in-process) does the conversion to and from
`azure.functions.HttpRequest`/`HttpResponse`. A `durableClient` binding gets the JSON string the
Durable extension would pass. Function keys are not required, as with `func start`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .app_loader import Function
from .console import REASON_HOST_CALL, executing
from .invoker import FunctionFailed, HttpCall, rpc_exception_text
from .routes import RouteTemplate, compile_route
from .worker import Functions

log = logging.getLogger("devhost.http")
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass
class HttpRoute:
    function: Function
    template: RouteTemplate
    methods: frozenset[str]


class HttpTriggers:
    """Routes requests to HTTP-triggered functions."""

    def __init__(self, functions: list[Function], client_json: Any, runner: Functions, route_prefix: str = "api",
                 disabled: frozenset[str] = frozenset()):
        self.routes = [
            HttpRoute(
                fn,
                compile_route(fn.trigger.get("route") or fn.name),
                frozenset(m.upper() for m in (fn.trigger.get("methods") or ALL_METHODS)),
            )
            for fn in functions
            if fn.name.lower() not in disabled  # no listener: its route answers 404, as in the host
        ]
        # Literal routes win over templated ones, as in ASP.NET routing.
        self.routes.sort(key=lambda r: len(r.template.params))
        self.client_json = client_json
        self.runner = runner
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
        fn = route.function
        call = HttpCall(
            method=request.method, url=str(request.url), headers=_headers(request), query=dict(request.query),
            route_params=params, body=await request.read(),
            client_inputs={binding["name"]: self.client_json(request, binding) for binding in fn.bindings
                           if binding.get("type") == "durableClient"},
        )
        with executing(fn.name, REASON_HOST_CALL) as invocation:
            try:
                reply = await self.runner.http(fn, call, invocation.id)
            except Exception as exc:
                invocation.failed = True
                log_failure(fn.name, exc)
                return web.Response(status=500)
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _headers(request: web.Request) -> dict[str, str]:
    """Request headers, a repeated one joined with commas as ASP.NET Core hands them on."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def log_failure(function_name: str, exc: BaseException) -> None:
    """The host's error line for a failed invocation: the RpcException text, with the worker's stack."""
    failed = exc if isinstance(exc, FunctionFailed) else FunctionFailed.from_exception(exc)
    logging.getLogger(f"Function.{function_name}").error(
        "Exception while executing function: Functions.%s\n%s", function_name,
        rpc_exception_text(str(failed), failed.stack_trace))
