"""What the Durable extension keeps and sends for an entity, in its JSON shapes.

Python apps run on the extension's own ("legacy") entity scheduler: an entity is a DurableTask
orchestration instance `@{name}@{key}` whose state travels from one batch of operations to the next
as the input of a continue-as-new. The shapes here follow the extension's sources
(src/WebJobs.Extensions.DurableTask/EntityScheduler/: EntityId.cs, RequestMessage.cs,
ResponseMessage.cs, SchedulerState.cs, MessageSorter.cs, EntityStatus.cs) and are serialized with
Newtonsoft's defaults as the extension writes them: docs/entities-upstream-notes.md has the details.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .history import to_json

ENTITY_PREFIX = "@"
# DurableTaskExtension: MessageReorderWindow = 30 minutes unless the provider guarantees ordered delivery
# (Azure Storage does not).
REORDER_WINDOW = timedelta(minutes=30)
# EntityMiddleware: a suspended scheduler (batch limit reached) resumes by itself after 10 s.
SUSPENSION_LIMIT = timedelta(seconds=10)
# Newtonsoft's TypeNameHandling.Objects of DurableTask's JsonDataConverter.Default, which the extension's
# orchestration and entity contexts use for SendEvent payloads.
REQUEST_TYPE = ("Microsoft.Azure.WebJobs.Extensions.DurableTask.RequestMessage, "
                "Microsoft.Azure.WebJobs.Extensions.DurableTask")
RESPONSE_TYPE = ("Microsoft.Azure.WebJobs.Extensions.DurableTask.ResponseMessage, "
                 "Microsoft.Azure.WebJobs.Extensions.DurableTask")
# GuidManager.UrlNamespaceValue: DurableOrchestrationContext.NewGuid names request ids in it.
_GUID_NAMESPACE = uuid.UUID("9e952959-5e33-4daf-827f-2fa12937b875")
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_TICKS_PER_SECOND = 10_000_000
_INVALID_KEY_CHARS = set("/\\#?")

# Event names (EntityMessageEventNames.cs).
REQUEST_EVENT = "op"
RELEASE_EVENT = "release"
CONTINUE_EVENT = "continue"


class InvalidEntityId(ValueError):
    """An entity name or key the extension refuses (EntityId's ArgumentException: HTTP 400)."""


def is_entity_id(instance_id: str) -> bool:
    """Entity scheduler ids start with '@'; orchestration ids may not (StartNewAsync refuses them)."""
    return instance_id.startswith(ENTITY_PREFIX)


def scheduler_id(name: str, key: str) -> str:
    """EntityId.GetSchedulerIdFromEntityId: `@{name}@{key}`, the name lower-cased by EntityId's constructor."""
    return f"{ENTITY_PREFIX}{name.lower()}{ENTITY_PREFIX}{key}"


def parse_scheduler_id(instance_id: str) -> tuple[str, str]:
    """EntityId.GetEntityIdFromSchedulerId: the name runs to the second '@', so keys may contain '@'."""
    cut = instance_id.find(ENTITY_PREFIX, 1)
    if not is_entity_id(instance_id) or cut < 0:
        raise InvalidEntityId(f"'{instance_id}' is not an entity instance id.")
    return instance_id[1:cut], instance_id[cut + 1:]


def validate_entity_id(name: str, key: str | None) -> None:
    """EntityId's constructor: ArgumentNullException for an empty name or a null key (.NET's message format)."""
    if not name:
        raise InvalidEntityId("Invalid entity id: entity name must not be a null or empty string. "
                              "(Parameter 'entityName')")
    if key is None:
        raise InvalidEntityId("Invalid entity id: entity key must not be null. (Parameter 'entityKey')")


def validate_signal_key(key: str) -> None:
    """DurableClient.SignalEntityAsyncInternal: no / \\ # ? or control character (IsInvalidCharacter) in the key of
    a signal; its ArgumentException has message and parameter name swapped, as .NET then formats it."""
    if any(ch in _INVALID_KEY_CHARS or ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in key):
        raise InvalidEntityId(
            "entityKey (Parameter 'Entity keys must not contain /, \\, #, ?, or control characters.')")


def request_guid(instance_id: str, now: datetime, counter: int) -> str:
    """DurableOrchestrationContext.NewGuid: a name-based (SHA-1, RFC 4122 v5) id of
    `{InstanceId}_{CurrentUtcDateTime:o}_{counter}`, the same on every replay."""
    return str(uuid.uuid5(_GUID_NAMESPACE, f"{instance_id}_{round_trip(now)}_{counter}"))


# -- .NET DateTime, as ticks ----------------------------------------------------------------------


def ticks(moment: datetime) -> int:
    """A UTC time as .NET ticks (100 ns since 0001-01-01), the unit MessageSorter compares."""
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 10


def round_trip(moment: datetime) -> str:
    """DateTime.ToString("o") of a UTC time: seven fraction digits and Z."""
    value = ticks(moment)
    whole = _EPOCH + timedelta(seconds=value // _TICKS_PER_SECOND)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{value % _TICKS_PER_SECOND:07d}Z"


def ticks_json(value: int) -> str:
    """A DateTime as Newtonsoft writes it: DateTime.MinValue (unspecified kind) bare, a UTC time with its
    fraction's trailing zeros cut and Z."""
    if value == 0:
        return "0001-01-01T00:00:00"
    whole = _EPOCH + timedelta(seconds=value // _TICKS_PER_SECOND)
    fraction = f"{value % _TICKS_PER_SECOND:07d}".rstrip("0")
    return f"{whole:%Y-%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "") + "Z"


def parse_ticks(text: str | None) -> int:
    """Inverse of `ticks_json` (seven fraction digits kept); None and MinValue are 0."""
    if not text:
        return 0
    body = text.strip().removesuffix("Z").split("+")[0]
    whole, _, fraction = body.partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return (seconds - _EPOCH) // timedelta(seconds=1) * _TICKS_PER_SECOND + int((fraction + "0000000")[:7])


def moment_of(value: int) -> datetime:
    """Ticks back to a UTC datetime (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=value // 10)


# -- messages ----------------------------------------------------------------------------------------


def request_message(
    operation: str | None, input_json: str | None, request_id: str, *, signal: bool,
    parent: str | None = None, parent_execution: str | None = None, typed: bool = False,
) -> dict[str, Any]:
    """RequestMessage as JSON, members in declaration order, defaults left out (op, signal, input, id, parent,
    parentExecution; Timestamp and Predecessor always, PascalCase). `typed`: sent by an orchestration or
    entity context, whose converter writes `$type` first; client signals carry none."""
    message: dict[str, Any] = {"$type": REQUEST_TYPE} if typed else {}
    message["op"] = operation
    if signal:
        message["signal"] = True
    if input_json is not None:
        message["input"] = input_json
    message["id"] = request_id
    if parent is not None:
        message["parent"] = parent
    if parent_execution is not None:
        message["parentExecution"] = parent_execution
    message["Timestamp"] = ticks_json(0)
    message["Predecessor"] = ticks_json(0)
    return message


def response_message(result: str | None, is_error: bool) -> dict[str, Any]:
    """ResponseMessage sent to the calling orchestration: `exceptionType` "Error" for an out-of-process
    failure (TaskEntityShim.ExecuteOutOfProcBatch), omitted otherwise."""
    message: dict[str, Any] = {"$type": RESPONSE_TYPE, "result": result}
    if is_error:
        message["exceptionType"] = "Error"
    return message


# -- ordering and deduplication ------------------------------------------------------------------------

_COLLECTION_INTERVAL = 10 * _TICKS_PER_SECOND  # MessageSorter.MinIntervalBetweenCollections


def _find(table: dict[str, Any], key: str) -> str | None:
    """The key of `table` equal to `key` ignoring case (the sorter's dictionaries are OrdinalIgnoreCase)."""
    if key in table:
        return key
    return next((k for k in table if k.lower() == key.lower()), None)


@dataclass
class MessageSorter:
    """MessageSorter.cs: the sender labels each request with a timestamp and its predecessor to the same
    destination; the receiver delivers each sender's requests in that order, once, within the window."""

    last_sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # sender -> {"Last": ticks, "Buffered": {}}
    receive_horizon: int = 0
    send_horizon: int = 0

    def label_outgoing(self, message: dict[str, Any], destination: str, now: datetime,
                       window: timedelta = REORDER_WINDOW) -> None:
        """LabelOutgoingMessage: Timestamp (monotonic per destination) and Predecessor."""
        window_ticks = window // timedelta(microseconds=1) * 10
        timestamp = ticks(now)
        if self.send_horizon + window_ticks + _COLLECTION_INTERVAL < timestamp:
            self.send_horizon = timestamp - window_ticks
            self.last_sent = {k: v for k, v in self.last_sent.items() if v >= self.send_horizon}
        known = _find(self.last_sent, destination)
        if known is not None:
            last = self.last_sent[known]
            message["Predecessor"] = ticks_json(last)
            timestamp = max(timestamp, last + 1)
        message["Timestamp"] = ticks_json(timestamp)
        self.last_sent[known or destination] = timestamp

    def receive_in_order(self, message: dict[str, Any], window: timedelta = REORDER_WINDOW) -> list[dict[str, Any]]:
        """ReceiveInOrder: client signals pass through; a sender's duplicates are dropped and early messages
        wait for their predecessor (at most one window)."""
        parent = message.get("parent")
        if parent is None or (message.get("pos") or 0) > 0:
            return [message]
        window_ticks = window // timedelta(microseconds=1) * 10
        timestamp = parse_ticks(message.get("Timestamp"))
        delivered: list[dict[str, Any]] = []
        if self.receive_horizon + window_ticks + _COLLECTION_INTERVAL < timestamp:
            self.receive_horizon = timestamp - window_ticks
            for sender in list(self.received):
                buffer = self.received[sender]
                if buffer["Last"] < self.receive_horizon:
                    buffer["Last"] = 0
                delivered += self._deliver_buffered(buffer)
                if buffer["Last"] == 0 and not buffer.get("Buffered"):
                    del self.received[sender]
        if timestamp < self.receive_horizon:
            return [*delivered, message]
        key = _find(self.received, parent)
        buffer = self.received.setdefault(key or parent, {"Last": 0})
        if timestamp <= buffer["Last"]:
            return delivered  # already delivered: a duplicate
        predecessor = parse_ticks(message.get("Predecessor"))
        if predecessor > buffer["Last"] and predecessor >= self.receive_horizon:
            buffer.setdefault("Buffered", {})[timestamp] = message
            return delivered
        delivered.append(message)
        buffer["Last"] = timestamp if timestamp >= self.receive_horizon else 0
        return delivered + self._deliver_buffered(buffer)

    def _deliver_buffered(self, buffer: dict[str, Any]) -> list[dict[str, Any]]:
        """TryDeliverNextMessage, repeated: the earliest buffered message whose predecessor was delivered."""
        delivered = []
        waiting: dict[int, dict[str, Any]] = buffer.get("Buffered") or {}
        while waiting:
            first = min(waiting)
            predecessor = parse_ticks(waiting[first].get("Predecessor"))
            if not (predecessor <= buffer["Last"] or predecessor < self.receive_horizon):
                break
            message = waiting.pop(first)
            buffer["Last"] = first if first >= self.receive_horizon else 0
            delivered.append(message)
        if not waiting:
            buffer.pop("Buffered", None)
        return delivered

    def to_json(self) -> dict[str, Any]:
        """PascalCase members, defaults left out (DefaultValueHandling.Ignore); a buffer's Last always."""
        body: dict[str, Any] = {}
        if self.last_sent:
            body["LastSentToInstance"] = {k: ticks_json(v) for k, v in self.last_sent.items()}
        if self.received:
            received: dict[str, Any] = {}
            for sender, buffer in self.received.items():
                entry: dict[str, Any] = {"Last": ticks_json(buffer["Last"])}
                if buffer.get("Buffered"):
                    entry["Buffered"] = {ticks_json(t): m for t, m in sorted(buffer["Buffered"].items())}
                received[sender] = entry
            body["ReceivedFromInstance"] = received
        if self.receive_horizon:
            body["ReceiveHorizon"] = ticks_json(self.receive_horizon)
        if self.send_horizon:
            body["SendHorizon"] = ticks_json(self.send_horizon)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> MessageSorter:
        body = body or {}
        received = {}
        for sender, entry in (body.get("ReceivedFromInstance") or {}).items():
            buffer: dict[str, Any] = {"Last": parse_ticks(entry.get("Last"))}
            if entry.get("Buffered"):
                buffer["Buffered"] = {parse_ticks(t): m for t, m in entry["Buffered"].items()}
            received[sender] = buffer
        return cls(
            last_sent={k: parse_ticks(v) for k, v in (body.get("LastSentToInstance") or {}).items()},
            received=received,
            receive_horizon=parse_ticks(body.get("ReceiveHorizon")),
            send_horizon=parse_ticks(body.get("SendHorizon")),
        )


# -- the scheduler's state -------------------------------------------------------------------------


@dataclass
class SchedulerState:
    """SchedulerState.cs: whether the entity exists, its state (JSON text), the operations waiting, the
    lock holder, whether it is suspended, and the message sorter."""

    exists: bool = False
    state: str | None = None
    queue: list[dict[str, Any]] = field(default_factory=list)
    locked_by: str | None = None
    suspended: bool = False
    sorter: MessageSorter = field(default_factory=MessageSorter)

    @classmethod
    def from_input(cls, text: str | None) -> SchedulerState:
        """TaskEntityShim.Rehydrate: a null input is a fresh scheduler."""
        if not text:
            return cls()
        body = json.loads(text)
        return cls(
            exists=bool(body.get("exists")), state=body.get("state"), queue=list(body.get("queue") or []),
            locked_by=body.get("lockedBy"), suspended=bool(body.get("suspended")),
            sorter=MessageSorter.from_json(body.get("sorter")),
        )

    def to_json(self) -> str:
        """JToken.FromObject(State): members with default values left out, `sorter` always."""
        body: dict[str, Any] = {}
        if self.exists:
            body["exists"] = True
        if self.state is not None:
            body["state"] = self.state
        if self.queue:
            body["queue"] = self.queue
        if self.locked_by is not None:
            body["lockedBy"] = self.locked_by
        if self.suspended:
            body["suspended"] = True
        body["sorter"] = self.sorter.to_json()
        return to_json(body)

    def enqueue(self, message: dict[str, Any]) -> None:
        self.queue.append(message)

    def put_back(self, messages: list[dict[str, Any]]) -> None:
        """SchedulerState.PutBack: the lock holder's requests go before everything already queued."""
        self.queue[:0] = messages

    def may_dequeue(self) -> bool:
        return bool(self.queue) and (self.locked_by is None or self.locked_by == self.queue[0].get("parent"))

    def status(self) -> str:
        """TaskEntityShim.GetStatus, the instance's custom status: EntityStatus with defaults left out."""
        body: dict[str, Any] = {}
        if self.exists:
            body["entityExists"] = True
        if self.queue:
            body["queueSize"] = len(self.queue)
        if self.locked_by is not None:
            body["lockedBy"] = self.locked_by
        return to_json(body)


def state_exists(input_json: str | None) -> tuple[bool, str | None]:
    """ClientEntityHelpers.GetEntityState (the native read of DurableTask.AzureStorage ≥ 1.17, which the
    extension uses for Azure Storage): an entity exists when its scheduler state holds a state, even the
    text "null" a Python entity leaves after `destruct_on_exit()`."""
    if not input_json:
        return False, None
    state = json.loads(input_json).get("state")
    return state is not None, state
