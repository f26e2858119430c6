"""Queue messages in DurableTask.AzureStorage's own format, so the real extension can process them.

`MessageManager` serializes a `MessageData` with Newtonsoft, `TypeNameHandling.Objects` and a binder that
leaves out the assembly (`TypeNameSerializationHelper.BindToName`): every object carries a `$type` first, as
`DurableTask.AzureStorage.MessageData`, `DurableTask.Core.TaskMessage`, `DurableTask.Core.History.<Event>`.
The reader needs it: `TaskMessage.Event` is the abstract `HistoryEvent`. Members come in the order Newtonsoft
reflects them: `ActivityId, TaskMessage, CompressedBlobName, SequenceNumber, Episode (left out when null),
Sender (no $type), SerializableTraceContext`; an event's fields first (ExecutionStarted's
OrchestrationInstance), then its properties from `EventType` on, then HistoryEvent's `EventId, IsPlayed,
Timestamp`. The body is plain UTF-8 JSON (QueueClientMessageEncoding.UTF8, the default).

A message over 45 KiB of UTF-8 goes to `{hub}-largemessages/{instanceId}/message-{activityId:N}-{EventType}.json.gz`
(the whole MessageData, gzip) and the queue gets a MessageData holding only `CompressedBlobName`.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from .history import Event, EventType, format_time, parse_time

LARGE_MESSAGE_BYTES = 45 * 1024  # MessageManager.MaxStorageQueuePayloadSizeInBytes
MESSAGE_DATA = "DurableTask.AzureStorage.MessageData"
_CORE = "DurableTask.Core"
_EVENT_CLASSES = {
    EventType.ExecutionStarted: "ExecutionStartedEvent",
    EventType.ExecutionCompleted: "ExecutionCompletedEvent",
    EventType.ExecutionTerminated: "ExecutionTerminatedEvent",
    EventType.TaskScheduled: "TaskScheduledEvent",
    EventType.TaskCompleted: "TaskCompletedEvent",
    EventType.TaskFailed: "TaskFailedEvent",
    EventType.SubOrchestrationInstanceCreated: "SubOrchestrationInstanceCreatedEvent",
    EventType.SubOrchestrationInstanceCompleted: "SubOrchestrationInstanceCompletedEvent",
    EventType.SubOrchestrationInstanceFailed: "SubOrchestrationInstanceFailedEvent",
    EventType.TimerCreated: "TimerCreatedEvent",
    EventType.TimerFired: "TimerFiredEvent",
    EventType.OrchestratorStarted: "OrchestratorStartedEvent",
    EventType.OrchestratorCompleted: "OrchestratorCompletedEvent",
    EventType.EventRaised: "EventRaisedEvent",
    EventType.ExecutionSuspended: "ExecutionSuspendedEvent",
    EventType.ExecutionResumed: "ExecutionResumedEvent",
}
# DurableTask.Core's OrchestrationStatus enum; Newtonsoft writes enums as numbers.
_STATUSES = ("Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending", "Suspended")
_HISTORY_EVENT = ("EventId", "IsPlayed", "Timestamp")
_TIME_FIELDS = ("Timestamp", "FireAt", "ScheduledStartTime")
_sequence = itertools.count(1)  # TaskHubQueue's per-process messageSequenceNumber


def newtonsoft_time(text: str) -> str:
    """A UTC time as Newtonsoft writes a DateTime: seven fraction digits, trailing zeros dropped."""
    moment = parse_time(text)
    fraction = f"{moment.microsecond:06d}0".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _instance(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"$type": f"{_CORE}.OrchestrationInstance", "InstanceId": value.get("InstanceId"),
            "ExecutionId": value.get("ExecutionId")}


def _typed_event(item: Event) -> dict[str, Any]:
    kind = EventType(item["EventType"])
    typed: dict[str, Any] = {"$type": f"{_CORE}.History.{_EVENT_CLASSES[kind]}"}
    if kind == EventType.ExecutionStarted:
        typed["OrchestrationInstance"] = _instance(item.get("OrchestrationInstance"))  # a field, written first
    typed["EventType"] = int(kind)
    for name, value in item.items():
        if name in ("EventType", "OrchestrationInstance", *_HISTORY_EVENT):
            continue
        if name == "ParentInstance" and value is not None:
            value = {"$type": f"{_CORE}.ParentInstance", **{k: v for k, v in value.items()
                                                            if k != "OrchestrationInstance"},
                     "OrchestrationInstance": _instance(value.get("OrchestrationInstance"))}
        elif name == "OrchestrationStatus" and isinstance(value, str):
            value = _STATUSES.index(value)
        elif name in _TIME_FIELDS and isinstance(value, str):
            value = newtonsoft_time(value)
        typed[name] = value
    typed["EventId"] = item.get("EventId", -1)
    typed["IsPlayed"] = bool(item.get("IsPlayed", False))
    typed["Timestamp"] = newtonsoft_time(item["Timestamp"])
    return typed


def encode(instance_id: str, execution_id: str | None, item: Event) -> dict[str, Any]:
    """The MessageData of one TaskMessage, as MessageManager serializes it."""
    return {
        "$type": MESSAGE_DATA,
        "ActivityId": str(uuid.uuid4()),
        "TaskMessage": {
            "$type": f"{_CORE}.TaskMessage",
            "Event": _typed_event(item),
            "SequenceNumber": 0,
            "OrchestrationInstance": _instance({"InstanceId": instance_id, "ExecutionId": execution_id}),
            "OrchestrationExecutionContext": None,
        },
        "CompressedBlobName": None,
        "SequenceNumber": next(_sequence),
        "Sender": {"InstanceId": "", "ExecutionId": ""},
        "SerializableTraceContext": None,
    }


def blob_name(data: dict[str, Any]) -> str:
    """MessageManager.GetNewLargeMessageBlobName: `{instanceId}/message-{activityId:N}-{EventType}.json.gz`."""
    task = data["TaskMessage"]
    kind = EventType(task["Event"]["EventType"]).name
    return f"{task['OrchestrationInstance']['InstanceId']}/message-{uuid.UUID(data['ActivityId']).hex}-{kind}.json.gz"


def pointer(name: str) -> dict[str, Any]:
    """The queue message that stands for a large message kept in a blob."""
    return {"$type": MESSAGE_DATA, "ActivityId": str(uuid.uuid4()), "TaskMessage": None, "CompressedBlobName": name,
            "SequenceNumber": next(_sequence), "SerializableTraceContext": None}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "$type"}
    return value


def decode_task_message(task: dict[str, Any]) -> tuple[str, str | None, Event]:
    """Instance id, execution id and the event (in the host's own shape) of a TaskMessage."""
    raw = _plain(task["Event"])
    item: Event = {"EventType": int(raw["EventType"]), "EventId": raw.get("EventId", -1),
                   "IsPlayed": bool(raw.get("IsPlayed", False))}
    for name, value in raw.items():
        if name in ("EventType", "EventId", "IsPlayed"):
            continue
        if name in _TIME_FIELDS and isinstance(value, str):
            value = format_time(parse_time(value))
        elif name == "OrchestrationStatus" and isinstance(value, int):
            value = _STATUSES[value]
        item[name] = value
    instance = task["OrchestrationInstance"]
    return instance["InstanceId"], instance.get("ExecutionId"), item
