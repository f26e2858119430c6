"""The Durable Functions HTTP management API (`/runtime/webhooks/durabletask/...`).

Status codes, headers and bodies follow the extension's HttpApiHandler as
summarised in durable-host-protocol.md section 4. The same routes are served at
the client binding's `rpcBaseUrl` (`/durabletask/`), which the SDK client calls.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from .client_binding import RPC_PATH, WEBHOOK_PATH, management_urls
from .engine import Engine, InstanceExists, InstanceGone, InstanceNotFound, InvalidOperation, InvalidRequest
from .entity_state import parse_scheduler_id, ticks, ticks_json
from .history import EventType, parse_json_or_text, parse_time, to_json
from .store import InstanceQuery, InstanceRecord

PAGE_SIZE = 100
STATUS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_HIDDEN_EVENTS = {
    EventType.OrchestratorStarted, EventType.OrchestratorCompleted,
    EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated,
}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


# HttpApiHandler.HandleRequestAsync: an ArgumentException answers 400 with this message, anything else 500.
ARGUMENTS_INCORRECT = "One or more of the arguments submitted is incorrect"
SOMETHING_WENT_WRONG = "Something went wrong while processing your request"
INVALID_JSON = "Invalid JSON content"
RUNTIME_STATUSES = frozenset({"Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated",
                              "Pending", "Suspended"})


def _error(status: int, message: str, exception_message: str | None = None) -> web.Response:
    """The body of HttpRequestMessage.CreateErrorResponse: Message, and the exception's own message."""
    return _json(status, {"Message": message, "ExceptionMessage": exception_message or message})


def _seconds(request: web.Request, name: str) -> float | None:
    """A `timeout` / `pollingInterval` query value in seconds (double.TryParse: anything else is absent)."""
    try:
        value = float(request.query.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _time(moment: datetime | None) -> str | None:
    return moment.strftime(STATUS_TIME_FORMAT) if moment else None


def history_events(record: InstanceRecord, show_output: bool, show_input: bool) -> list[dict[str, Any]]:
    """History as the status API shows it: scheduling merged into completions, names as strings."""
    scheduled = {e["EventId"]: e for e in record.history
                 if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)}
    shown: list[dict[str, Any]] = []
    for item in record.history:
        kind = EventType(item["EventType"])
        if kind in _HIDDEN_EVENTS:
            continue
        entry: dict[str, Any] = {"EventType": kind.name, "Timestamp": item["Timestamp"]}
        if kind == EventType.ExecutionStarted:
            entry["FunctionName"] = item.get("Name")
            if show_input:
                entry["Input"] = parse_json_or_text(item.get("Input"))
        elif kind in (EventType.TaskCompleted, EventType.TaskFailed,
                      EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed):
            origin = scheduled.get(item.get("TaskScheduledId"), {})
            entry["FunctionName"] = origin.get("Name")
            entry["ScheduledTime"] = origin.get("Timestamp")
            if origin.get("InstanceId"):
                entry["InstanceId"] = origin["InstanceId"]
            if kind in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
                entry["Reason"] = item.get("Reason")
                entry["Details"] = item.get("Details")
            elif show_output:
                entry["Result"] = parse_json_or_text(item.get("Result"))
        elif kind in (EventType.TimerCreated, EventType.TimerFired):
            entry["FireAt"] = item.get("FireAt")
        elif kind == EventType.EventRaised:
            entry["Name"] = item.get("Name")
            if show_input:
                entry["Input"] = parse_json_or_text(item.get("Input"))
        elif kind == EventType.ExecutionCompleted:
            entry["OrchestrationStatus"] = item.get("OrchestrationStatus")
            if show_output:
                entry["Result"] = parse_json_or_text(item.get("Result"))
        elif kind in (EventType.ExecutionTerminated,):
            entry["Input"] = parse_json_or_text(item.get("Input"))
        elif kind in (EventType.ExecutionSuspended, EventType.ExecutionResumed):
            entry["Reason"] = item.get("Reason")
        shown.append(entry)
    return shown


def status_body(record: InstanceRecord, *, show_input: bool = True, show_history: bool = False,
                show_history_output: bool = False) -> dict[str, Any]:
    """One instance's status JSON."""
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status,
        "input": parse_json_or_text(record.input) if show_input else None,
        "customStatus": parse_json_or_text(record.custom_status),
        "output": parse_json_or_text(record.output),
        "createdTime": _time(record.created_time),
        "lastUpdatedTime": _time(record.last_updated_time),
    }
    if show_history:
        body["historyEvents"] = history_events(record, show_history_output, show_input)
    return body


class ManagementApi:
    """aiohttp handlers for the management API, bound to one engine and task hub."""

    def __init__(self, engine: Engine, hub: str):
        self.engine = engine
        self.hub = hub

    def routes(self) -> list[web.RouteDef]:
        """The same handlers under the public webhook path and the SDK's rpcBaseUrl path."""
        table: list[web.RouteDef] = []
        for prefix in (WEBHOOK_PATH, RPC_PATH.rstrip("/")):
            table += [
                web.post(prefix + "/orchestrators/{name}", self.start),
                web.post(prefix + "/orchestrators/{name}/{instance_id}", self.start),
                web.get(prefix + "/instances", self.query),
                web.get(prefix + "/instances/", self.query),
                web.delete(prefix + "/instances", self.purge_by),
                web.delete(prefix + "/instances/", self.purge_by),
                web.get(prefix + "/instances/{instance_id}", self.status),
                web.delete(prefix + "/instances/{instance_id}", self.purge),
                web.post(prefix + "/instances/{instance_id}/raiseEvent/{event}", self.raise_event),
                web.post(prefix + "/instances/{instance_id}/terminate", self.terminate),
                web.post(prefix + "/instances/{instance_id}/suspend", self.suspend),
                web.post(prefix + "/instances/{instance_id}/resume", self.resume),
                web.post(prefix + "/instances/{instance_id}/restart", self.restart),
                web.post(prefix + "/instances/{instance_id}/rewind", self.unsupported),
                web.route("*", prefix + "/entities", self.entities),
                web.route("*", prefix + "/entities/{tail:.*}", self.entities),
            ]
        return table

    def _origin(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def _check_status(self, request: web.Request, instance_id: str) -> web.Response:
        urls = management_urls(self._origin(request), self.hub, instance_id)
        return _json(202, urls, {"Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    async def start(self, request: web.Request) -> web.Response:
        """HandleStartOrchestratorRequestAsync: a body that is not JSON is refused before anything starts."""
        text = await request.text()
        if text:
            try:
                json.loads(text)
            except ValueError:
                return _error(400, INVALID_JSON)
        try:
            instance_id = await self.engine.start_instance(
                request.match_info["name"], request.match_info.get("instance_id"), text or None,
            )
        except InstanceExists as exc:
            return _error(500, SOMETHING_WENT_WRONG, str(exc))
        except InvalidRequest as exc:
            return _error(400, ARGUMENTS_INCORRECT, str(exc))
        return await self._wait_or_check_status(request, instance_id)

    async def _wait_or_check_status(self, request: web.Request, instance_id: str) -> web.Response:
        """WaitForCompletionOrCreateCheckStatusResponseAsync, used only when both `timeout` and
        `pollingInterval` are given (Azure Storage has no poll-free wait): Completed in time gives 200 with
        the output alone, Failed/Terminated/Canceled 200 with the status, otherwise the 202 check status."""
        timeout, interval = _seconds(request, "timeout"), _seconds(request, "pollingInterval")
        if timeout is None or interval is None:
            return self._check_status(request, instance_id)
        if interval > timeout:
            return _error(400, ARGUMENTS_INCORRECT,
                          f"Total timeout {timeout:g} should be bigger than retry timeout {interval:g}")
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            record = await self.engine.get(instance_id, history=False)
            if record is not None and record.runtime_status == "Completed":
                return _json(200, parse_json_or_text(record.output))
            if record is not None and record.runtime_status in ("Failed", "Terminated", "Canceled"):
                return _json(200, status_body(record))
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return self._check_status(request, instance_id)
            await asyncio.sleep(min(max(interval, 0.01), remaining))

    async def status(self, request: web.Request) -> web.Response:
        show_history = _flag(request, "showHistory")
        record = await self.engine.get(request.match_info["instance_id"], history=show_history)
        if record is None:
            return web.Response(status=404)
        body = status_body(
            record,
            show_input=_flag(request, "showInput", True),
            show_history=show_history,
            show_history_output=_flag(request, "showHistoryOutput"),
        )
        if record.is_terminal:
            failed_500 = record.runtime_status == "Failed" and _flag(request, "returnInternalServerErrorOnFailure")
            return _json(500 if failed_500 else 200, body)
        location = management_urls(self._origin(request), self.hub, record.instance_id)["statusQueryGetUri"]
        return _json(202, body, {"Location": location, "Retry-After": "5"})

    def _filter(self, request: web.Request, *, lenient: bool = False) -> InstanceQuery:
        """The instance filter of a query string. `lenient` (the query API): a value that does not parse
        is ignored, as HttpApiHandler's TryParse calls do; runtime statuses are matched case-sensitively."""
        statuses = request.query.get("runtimeStatus")
        wanted = [s.strip() for s in statuses.split(",") if s.strip()] if statuses else []
        if lenient:
            wanted = [s for s in wanted if s in RUNTIME_STATUSES]
        try:
            return InstanceQuery(
                runtime_status=frozenset(wanted) if wanted else None,
                created_from=self._time_filter(request, "createdTimeFrom", lenient),
                created_to=self._time_filter(request, "createdTimeTo", lenient),
                instance_id_prefix=request.query.get("instanceIdPrefix") or None,
            )
        except ValueError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"Message": str(exc)}), content_type="application/json") from exc

    @staticmethod
    def _time_filter(request: web.Request, name: str, lenient: bool) -> datetime | None:
        text = request.query.get(name)
        if not text:
            return None
        try:
            return parse_time(text)
        except ValueError:
            if lenient:
                return None
            raise

    async def query(self, request: web.Request) -> web.Response:
        """HandleGetStatusRequestAsync over a filter: bad values are ignored, never a 400; showInput
        defaults to true; pages of 100 with the x-ms-continuation-token header."""
        records = await self.engine.query(self._filter(request, lenient=True))
        show_input = _flag(request, "showInput", True)
        return _paged(request, records, lambda r: status_body(r, show_input=show_input))

    async def purge(self, request: web.Request) -> web.Response:
        """HandleDeleteHistoryByIdRequestAsync (with the status check of extension PR #3311): 404 for an
        unknown id, 412 with a JSON string for an instance that has not finished, else 200 with the count.
        Ids starting with '@' (entities) skip both checks and answer 200 with 0 or 1."""
        instance_id = request.match_info["instance_id"]
        if not instance_id.startswith("@"):
            record = await self.engine.get(instance_id, history=False)
            if record is None:
                return web.Response(status=404)
            if not record.is_terminal:
                return _json(412, "Only orchestrations in a terminal state can be purged, but the orchestration "
                                  f"with instance ID {instance_id} has status {record.runtime_status}")
        return _json(200, {"instancesDeleted": await self.engine.purge(instance_id)})

    async def purge_by(self, request: web.Request) -> web.Response:
        """HandleDeleteHistoryWithFiltersRequestAsync: createdTimeFrom is required (400 with a JSON string),
        createdTimeTo defaults to now, runtimeStatus values are parsed case-sensitively and unknown ones dropped,
        instanceIdPrefix is not read; 404 when nothing was deleted."""
        query = self._filter(request, lenient=True)  # the query API's parsing; its instanceIdPrefix goes unused
        if query.created_from is None:
            return _json(400, "Please provide value for 'createdTimeFrom' parameter.")
        deleted = await self.engine.purge_by(query.created_from, query.created_to or self.engine.clock.now(),
                                             query.runtime_status)
        if not deleted:
            return web.Response(status=404)
        return _json(200, {"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.Response:
        """HandleRaiseEventRequestAsync, its checks in order: 404 unknown, 410 finished, 400 for a media type
        other than application/json, 400 for a body that is not JSON, then 202."""
        instance_id = request.match_info["instance_id"]
        record = await self.engine.get(instance_id, history=False)
        if record is None:
            return web.Response(status=404)
        if record.is_terminal:
            return web.Response(status=410)
        if (request.content_type or "").lower() != "application/json" or "Content-Type" not in request.headers:
            return _error(400, "Only application/json request content is supported")
        text = await request.text()
        try:
            json.loads(text)
        except ValueError:
            return _error(400, INVALID_JSON)
        try:
            await self.engine.raise_event(instance_id, request.match_info["event"], text)
        except InstanceNotFound:
            return web.Response(status=404)
        except InstanceGone:
            return web.Response(status=410)
        return web.Response(status=202)

    async def _control(self, request: web.Request, operation: Any) -> web.Response:
        try:
            await operation(request.match_info["instance_id"], request.query.get("reason"))
        except InstanceNotFound:
            return web.Response(status=404)
        except InstanceGone:
            return web.Response(status=410)
        except InvalidOperation as exc:  # suspend/resume in the wrong state: the generic 500
            return _error(500, SOMETHING_WENT_WRONG, str(exc))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.terminate)

    async def suspend(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.suspend)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._control(request, self.engine.resume)

    async def restart(self, request: web.Request) -> web.Response:
        """HandleRestartInstanceRequestAsync: an unknown id is an ArgumentException (400 with the handler's
        own message); a same-id restart over a running instance fails like a start over it (500)."""
        try:
            new_id = await self.engine.restart(
                request.match_info["instance_id"], _flag(request, "restartWithNewInstanceId", True),
            )
        except InstanceNotFound:
            return _error(400, "InstanceId does not match a valid orchestration instance.")
        except InstanceExists as exc:
            return _error(500, SOMETHING_WENT_WRONG, str(exc))
        except InvalidRequest as exc:
            return _error(400, ARGUMENTS_INCORRECT, str(exc))
        return await self._wait_or_check_status(request, new_id)

    async def unsupported(self, request: web.Request) -> web.Response:
        return _error(501, "This operation (rewind) is not supported by the local host (devhost).")

    # -- entities (HttpApiHandler's entities/{entityName?}/{entityKey?} route) --

    async def entities(self, request: web.Request) -> web.Response:
        """HttpApiHandler.HandleRequestAsync's entity branch: GET with a key reads, GET without lists, POST and
        DELETE signal, any other method is 404; an ArgumentException (EntityId's checks, an unknown entity
        function) is 400 with `{"Message": ...}` (CreateErrorResponse with a message only)."""
        segments = [s for s in request.match_info.get("tail", "").split("/")]
        if segments and segments[-1] == "":
            segments.pop()
        if len(segments) > 2:
            return web.Response(status=404)
        name, key = (segments + [None, None])[:2]
        try:
            if request.method == "GET":
                if key:
                    return await self.read_entity(request, name or "", key)
                return await self.list_entities(request, name)
            if request.method in ("POST", "DELETE"):
                return await self.signal_entity(request, name or "", key)
        except InvalidRequest as exc:
            return _json(400, {"Message": str(exc)})
        return web.Response(status=404)

    async def read_entity(self, request: web.Request, name: str, key: str) -> web.Response:
        """HandleGetEntityRequestAsync: the key "$" stands for the empty key; 404 with no body when the entity
        does not exist, else 200 with its state."""
        exists, state = await self.engine.read_entity(name, "" if key == "$" else key)
        if not exists:
            return web.Response(status=404)
        return web.Response(status=200, text=state or "null", content_type="application/json")

    async def signal_entity(self, request: web.Request, name: str, key: str | None) -> web.Response:
        """HandlePostEntityOperationRequestAsync: POST signals `op` (missing: ""), DELETE signals "delete". No body
        (or Content-Length 0): no input; application/json: the parsed body (400 if it does not parse); any other
        content: the text as a JSON string. 202 with no body."""
        operation = "delete" if request.method == "DELETE" else request.query.get("op", "")
        text = await request.text()
        input_json: str | None = None
        if text:
            if (request.content_type or "").lower() == "application/json":
                try:
                    input_json = to_json(json.loads(text))
                except ValueError as exc:
                    return _json(400, {"Message": f"Could not parse JSON content: {exc}"})
            else:
                input_json = to_json(text)
        await self.engine.signal_entity(name, key, operation, input_json)
        return web.Response(status=202)

    async def list_entities(self, request: web.Request, name: str | None) -> web.Response:
        """HandleListEntitiesRequestAsync on the native query: entities that exist, optionally of one name, last
        operated on between lastOperationTimeFrom and lastOperationTimeTo (values that do not parse are ignored,
        as its TryGet... calls do), with their state when fetchState=true; pages of `top` (100) with the
        x-ms-continuation-token header (empty on the last page)."""
        last_from = self._time_filter(request, "lastOperationTimeFrom", lenient=True)
        last_to = self._time_filter(request, "lastOperationTimeTo", lenient=True) or self.engine.clock.now()
        fetch_state = _flag(request, "fetchState")
        found = await self.engine.query_entities(name, fetch_state, last_from, last_to)

        def entry(item: tuple[InstanceRecord, str | None]) -> dict[str, Any]:
            record, state = item
            entity_name, entity_key = parse_scheduler_id(record.instance_id)
            return {"entityId": {"name": entity_name, "key": entity_key},
                    "lastOperationTime": ticks_json(ticks(record.last_updated_time)),
                    "state": parse_json_or_text(state) if fetch_state else None}

        return _paged(request, found, entry, always_token=True)


def _paged(request: web.Request, items: list[Any], render: Callable[[Any], Any], *,
           always_token: bool = False) -> web.Response:
    """One page of `items` (`top`, default 100) from the x-ms-continuation-token offset; the header carries the
    next page's token (an empty one at the end when `always_token`, as the entity list answers)."""
    try:
        top = int(request.query.get("top") or PAGE_SIZE)
    except ValueError:
        top = PAGE_SIZE
    token = request.headers.get("x-ms-continuation-token")
    try:
        start = max(0, int(base64.b64decode(token, validate=True).decode())) if token else 0
    except (ValueError, UnicodeDecodeError):
        return _error(400, "The continuation token is not valid.")
    page = items[start : start + max(1, top)]
    headers = {}
    if start + len(page) < len(items):
        headers["x-ms-continuation-token"] = base64.b64encode(str(start + len(page)).encode()).decode()
    elif always_token:
        headers["x-ms-continuation-token"] = ""
    return _json(200, [render(item) for item in page], headers)
