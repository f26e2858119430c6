"""Durable Entities as the task hub keeps them for Python apps (the extension's legacy entity scheduler).

An entity is an orchestration instance whose id and name are `@{name lower-cased}@{key}`. Its
`{hub}Instances` row is always Running; the Input column holds the scheduler state
(`{"exists":true,"state":"<json text>","queue":[...],"lockedBy":"..."}`, defaults left out) and the
CustomStatus column the entity status (`{"entityExists":true,"queueSize":3,"lockedBy":"..."}`,
`{}` for an entity that does not exist or was deleted). Nothing here fails on odd values: a value
that does not parse shows as unknown rather than hiding the rest of the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.entity_state import REQUEST_EVENT, InvalidEntityId, is_entity_id, parse_scheduler_id
from dfctl.taskhub import Instance


def entity_id(instance_id: str | None) -> tuple[str, str] | None:
    """(name, key) of an entity's instance id, None for an orchestration's."""
    if not instance_id or not is_entity_id(instance_id):
        return None
    try:
        return parse_scheduler_id(instance_id)
    except InvalidEntityId:
        return None


def json_object(text: str | None) -> dict[str, Any] | None:
    """A JSON object from a column or event field; None when it is absent, not JSON or not an object."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class EntityStatus:
    """The entity status in an entity row's CustomStatus column (what the instances list shows)."""

    exists: bool = False
    queue_size: int = 0
    locked_by: str | None = None

    @classmethod
    def from_custom_status(cls, text: str | None) -> EntityStatus:
        body = json_object(text) or {}
        size = body.get("queueSize")
        locked = body.get("lockedBy")
        return cls(exists=bool(body.get("entityExists")), queue_size=size if isinstance(size, int) else 0,
                   locked_by=str(locked) if locked is not None else None)

    def describe(self) -> str:
        """One line for a table: exists or not, the queue, the lock."""
        text = "exists" if self.exists else "does not exist"
        if self.queue_size:
            text += f", {self.queue_size} queued"
        if self.locked_by:
            text += f", locked by {self.locked_by}"
        return text


def list_json(row: Instance) -> dict[str, Any] | None:
    """The `entity` member of an entity row in `inspect --json`; None for an orchestration's row."""
    found = entity_id(row.instance_id)
    if found is None:
        return None
    status = EntityStatus.from_custom_status(row.custom_status)
    return {"name": found[0], "key": found[1], "exists": status.exists, "queueSize": status.queue_size,
            "lockedBy": status.locked_by}


@dataclass
class EntityView:
    """One entity as `dfctl inspect @name@key` shows it, from its row's scheduler state."""

    instance_id: str
    name: str
    key: str
    exists: bool = False
    state: Any = None  # the state, parsed from its JSON text (the text itself when it is not JSON)
    state_known: bool = True  # False when the scheduler state could not be read
    queue: list[dict[str, Any]] = field(default_factory=list)
    locked_by: str | None = None
    last_operation: datetime | None = None
    found: bool = True  # False: no row in {hub}Instances (the entity was never used)

    @property
    def queue_size(self) -> int:
        return len(self.queue)

    @classmethod
    def from_row(cls, instance_id: str, row: Instance | None) -> EntityView:
        name, key = entity_id(instance_id) or ("", "")
        view = cls(instance_id, name, key)
        if row is None:
            view.found = False
            return view
        view.last_operation = row.last_updated
        scheduler = json_object(row.input)
        if scheduler is None:  # no state yet (a fresh scheduler), or a value that could not be read
            view.state_known = not row.input
            return view
        view.exists = bool(scheduler.get("exists"))
        view.queue = [m for m in scheduler.get("queue") or [] if isinstance(m, dict)]
        locked = scheduler.get("lockedBy")
        view.locked_by = str(locked) if locked is not None else None
        view.state = _parsed(scheduler.get("state")) if view.exists else None
        return view

    def to_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id, "entity": {"name": self.name, "key": self.key},
            "exists": self.exists, "state": self.state, "queueSize": self.queue_size,
            "queue": [queued_operation(m) for m in self.queue], "lockedBy": self.locked_by,
            "lastOperationTime": self.last_operation.isoformat().replace("+00:00", "Z")
            if self.last_operation else None,
            "rowFound": self.found,
        }


def queued_operation(message: dict[str, Any]) -> dict[str, Any]:
    """A queued request message, reduced to what an operator asks: which operation, from whom, call or signal."""
    return {"operation": message.get("op"), "signal": bool(message.get("signal")), "id": message.get("id"),
            "parent": message.get("parent"), "input": value_of(message.get("input"))}


def _parsed(text: Any) -> Any:
    """JSON text as its value; anything else as it is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def value_of(text: Any) -> Any:
    """An operation's input or result as the entity and the orchestration see it. The Python SDK JSON-encodes
    inputs before the extension does, so a request's input is JSON text of JSON text (`"\\"5\\""`): a string
    that is itself JSON is decoded once more."""
    value = _parsed(text)
    return _parsed(value) if isinstance(value, str) and value != text else value


@dataclass
class EntityRequest:
    """An orchestration's request to an entity, from its EventSent: the operation, call or signal."""

    entity_id: str
    operation: str | None
    request_id: str | None
    signal: bool
    input: str | None  # JSON text, as the message carries it

    @classmethod
    def from_event(cls, instance_id: str | None, name: str | None, input_text: str | None) -> EntityRequest | None:
        """The request an EventSent carries; None when the event is not a request to an entity."""
        if name != REQUEST_EVENT or entity_id(instance_id) is None:
            return None
        message = json_object(input_text)
        if message is None:
            return None
        return cls(entity_id=str(instance_id), operation=message.get("op"), request_id=message.get("id"),
                   signal=bool(message.get("signal")), input=_text(message.get("input")))


def response_of(input_text: str | None) -> tuple[bool, str | None] | None:
    """(failed, result as JSON text) of an entity's ResponseMessage (an EventRaised named by the request id);
    None when the event is not one."""
    message = json_object(input_text)
    if message is None or ("result" not in message and "exceptionType" not in message):
        return None
    return message.get("exceptionType") is not None, _text(message.get("result"))


def compact(text: str | None, limit: int = 60) -> str | None:
    """An operation's input or result on one short line (`value_of`); None when there is none (or null)."""
    value = value_of(text)
    if value is None:
        return None
    shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else json.dumps(value)
