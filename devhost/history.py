"""History events in the shape the Durable extension sends to the Python SDK.

Keys are PascalCase, `EventType` is DurableTask.Core's integer, and every event
carries `EventId`, `IsPlayed` and `Timestamp` (see durable-host-protocol.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """DurableTask.Core's `EventType` enum (the values the SDK switches on)."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


def format_time(moment: datetime) -> str:
    """UTC timestamp in the format the SDK parses (microseconds, trailing Z)."""
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_time(text: str) -> datetime:
    """Inverse of `format_time`; also accepts ISO strings with offsets or fewer digits."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_json(value: Any) -> str:
    """JSON text as Newtonsoft writes it for the extension and DurableTask (no spaces, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json_or_text(text: str | None) -> Any:
    """A stored value as the status API shows it (DurableClient.ParseToJToken): trimmed, parsed as JSON,
    and the raw text when it is not JSON (a failed or terminated instance's Output)."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> Event:
    """One history event; `fields` are the event's own PascalCase properties."""
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": format_time(at), **fields}


def execution_started(
    at: datetime,
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    input_json: str | None,
    parent: dict[str, Any] | None = None,
    version: str = "",
    generation: int | None = 0,
) -> Event:
    """The event that opens an execution; `input_json` is the raw JSON text of the input."""
    return event(
        EventType.ExecutionStarted,
        at,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version=version,
        Input=input_json,
        Tags=None,
        Generation=generation,
        ScheduledStartTime=None,
    )


def is_completion(kind: int) -> bool:
    """Whether an event resolves a task the orchestrator scheduled."""
    return kind in (
        EventType.TaskCompleted,
        EventType.TaskFailed,
        EventType.SubOrchestrationInstanceCompleted,
        EventType.SubOrchestrationInstanceFailed,
        EventType.TimerFired,
    )
