"""Read a task hub's `{hub}Instances` and `{hub}History` tables directly (read-only).

Written against the Azure Storage provider's documented layout (DurableTask.AzureStorage
`AzureTableTrackingStore`; durable-host-protocol.md section 5), so it reads tables written by
the real Durable extension as well as by this project's local host:

* `{hub}Instances`: PartitionKey = the instance id escaped by `KeySanitation` (`^` escapes),
  RowKey "". Columns Name, RuntimeStatus (a name), CreatedTime, LastUpdatedTime, CompletedTime,
  ExecutionId, Input/Output/CustomStatus (a large value is the URL of a blob, or `<Column>BlobName`).
* `{hub}History`: the same PartitionKey, RowKey = the event's sequence number as 16 hex digits,
  one column per event field with `EventType` (and `OrchestrationStatus`) as names and the event
  time in `_Timestamp`. The row `sentinel` names the current ExecutionId: rows of earlier
  executions (before continue-as-new or a restart) stay behind and are filtered out by it.
  A large field is empty, with `<Field>BlobName` naming its blob.
* Large values: gzip-compressed UTF-8 blobs in `{hub-lower}-largemessages`.

Nothing here writes: the reader never repairs, creates or deletes anything.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from devhost.table_store import sanitize_key, unsanitize_key  # the provider's KeySanitation
from dfctl.errors import NOT_FOUND, CliError
from dfctl.settings import StorageTarget
from dfctl.storage import storage_errors

SENTINEL = "sentinel"
READ_THREADS = 8
# DurableTask.Core's EventType values, for a table that holds numbers instead of names.
EVENT_TYPES = (
    "ExecutionStarted", "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "TaskScheduled",
    "TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCreated", "SubOrchestrationInstanceCompleted",
    "SubOrchestrationInstanceFailed", "TimerCreated", "TimerFired", "OrchestratorStarted", "OrchestratorCompleted",
    "EventSent", "EventRaised", "ContinueAsNew", "GenericEvent", "HistoryState", "ExecutionSuspended",
    "ExecutionResumed", "ExecutionRewound",
)

def utc(value: Any) -> datetime | None:
    """A table datetime (or ISO text) as an aware UTC datetime; None for none or the .NET minimum."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None if value.year <= 1601 else value  # DateTime.MinValue / FILETIME zero mean "not set"


def _plain(value: Any) -> Any:
    return getattr(value, "value", value) if type(value).__name__ == "EntityProperty" else value


@dataclass
class Instance:
    """One row of `{hub}Instances`."""

    instance_id: str
    name: str
    runtime_status: str
    created: datetime | None
    last_updated: datetime | None
    completed: datetime | None
    execution_id: str | None
    custom_status: str | None = None
    output: str | None = None
    input: str | None = None

    @property
    def finished(self) -> bool:
        return self.runtime_status in ("Completed", "Failed", "Terminated", "Canceled")


@dataclass
class HistoryEvent:
    """One row of `{hub}History` (the fields dfctl uses)."""

    sequence: int
    kind: str
    event_id: int
    time: datetime | None
    name: str | None = None
    task_id: int | None = None  # TaskScheduledId of completions, TimerId of TimerFired
    instance_id: str | None = None  # SubOrchestrationInstanceCreated
    input: str | None = None
    fire_at: datetime | None = None
    reason: str | None = None
    details: str | None = None
    status: str | None = None  # ExecutionCompleted's OrchestrationStatus
    result: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class TaskHub:
    """Read access to one task hub's tables (synchronous; one instance per command)."""

    def __init__(self, target: StorageTarget, hub: str):
        self.target = target
        self.hub = hub
        self.instances_table = f"{hub}Instances"
        self.history_table = f"{hub}History"
        self.container = f"{hub.lower()}-largemessages"
        self._service = target.table_service()
        self._instances = self._service.get_table_client(self.instances_table)
        self._history = self._service.get_table_client(self.history_table)
        self._blobs: Any = None

    def close(self) -> None:
        self._instances.close()
        self._history.close()
        self._service.close()
        if self._blobs is not None:
            self._blobs.close()

    def __enter__(self) -> TaskHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- instances --------------------------------------------------------------------------

    def instances(self, *, statuses: list[str] | None = None, prefix: str | None = None,
                  created_from: datetime | None = None, created_to: datetime | None = None,
                  top: int | None = None) -> list[Instance]:
        """Instances matching the filters, newest first (at most `top`)."""
        clauses: list[str] = ["RowKey eq @empty"]
        parameters: dict[str, Any] = {"empty": ""}
        if statuses:
            parameters.update({f"s{i}": s for i, s in enumerate(statuses)})
            clauses.append("( " + " or ".join(f"RuntimeStatus eq @s{i}" for i in range(len(statuses))) + " )")
        if created_from:
            clauses.append("CreatedTime ge @created_from")
            parameters["created_from"] = created_from
        if created_to:
            clauses.append("CreatedTime le @created_to")
            parameters["created_to"] = created_to
        if prefix:
            low = sanitize_key(prefix)
            clauses.append("PartitionKey ge @low and PartitionKey lt @high")
            parameters.update(low=low, high=low[:-1] + chr(ord(low[-1]) + 1))
        with self._errors():
            rows = list(self._instances.query_entities(" and ".join(clauses), parameters=parameters))
        found = [self._instance(row, values=False) for row in rows]
        found.sort(key=lambda i: (i.created or datetime.min.replace(tzinfo=UTC), i.instance_id), reverse=True)
        return found[:top] if top else found

    def instance(self, instance_id: str) -> Instance | None:
        """The instance's row, or None when there is no such instance."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with self._errors():
                row = self._instances.get_entity(sanitize_key(instance_id), "")
        except ResourceNotFoundError:
            return None
        return self._instance(row, values=True)

    def _instance(self, row: Any, *, values: bool) -> Instance:
        return Instance(
            instance_id=unsanitize_key(row["PartitionKey"]),
            name=row.get("Name") or "",
            runtime_status=row.get("RuntimeStatus") or "Unknown",
            created=utc(row.get("CreatedTime")),
            last_updated=utc(row.get("LastUpdatedTime")),
            completed=utc(row.get("CompletedTime")),
            execution_id=row.get("ExecutionId"),
            custom_status=self._value(row, "CustomStatus", fetch=True),
            output=self._value(row, "Output", fetch=values),
            input=self._value(row, "Input", fetch=values),
        )

    # -- history ----------------------------------------------------------------------------

    def history(self, instance_id: str, execution_id: str | None = None) -> list[HistoryEvent]:
        """The current execution's events in order (the sentinel's ExecutionId, else `execution_id`)."""
        with self._errors():
            rows = list(self._history.query_entities("PartitionKey eq @pk",
                                                     parameters={"pk": sanitize_key(instance_id)}))
        sentinel = next((r for r in rows if r["RowKey"] == SENTINEL), None)
        events = [r for r in rows if r["RowKey"] != SENTINEL]
        current = (sentinel.get("ExecutionId") if sentinel is not None else None) or execution_id
        if current is None and events:  # no sentinel and no instance row: the latest execution
            started = [r for r in events if _kind(r.get("EventType")) == "ExecutionStarted"]
            current = max(started, key=lambda r: r["RowKey"]).get("ExecutionId") if started else None
        if current is not None:
            events = [r for r in events if r.get("ExecutionId") in (current, None)]
        events.sort(key=lambda r: r["RowKey"])
        return [self._event(r) for r in events]

    def histories(self, instances: list[tuple[str, str | None]]) -> dict[str, list[HistoryEvent]]:
        """Several instances' histories, read in parallel: {instance id: events}."""
        with ThreadPoolExecutor(READ_THREADS) as pool:
            results = pool.map(lambda item: (item[0], self.history(*item)), instances)
            return dict(results)

    def instances_by_id(self, instance_ids: list[str]) -> dict[str, Instance | None]:
        with ThreadPoolExecutor(READ_THREADS) as pool:
            return dict(zip(instance_ids, pool.map(self.instance, instance_ids), strict=True))

    def _event(self, row: Any) -> HistoryEvent:
        known = {"PartitionKey", "RowKey", "Timestamp", "ExecutionId", "EventType", "EventId", "_Timestamp",
                 "IsPlayed", "Name", "TaskScheduledId", "TimerId", "InstanceId", "Input", "FireAt", "Reason",
                 "Details", "OrchestrationStatus", "Result"}
        task_id = row.get("TaskScheduledId", row.get("TimerId"))
        return HistoryEvent(
            sequence=int(row["RowKey"], 16) if _is_hex(row["RowKey"]) else 0,
            kind=_kind(row.get("EventType")),
            event_id=int(_plain(row.get("EventId", -1)) if row.get("EventId") is not None else -1),
            time=utc(row.get("_Timestamp")) or utc(row.get("Timestamp")),
            name=row.get("Name"),
            task_id=int(_plain(task_id)) if task_id is not None else None,
            instance_id=row.get("InstanceId"),
            input=self._value(row, "Input", fetch=False),
            fire_at=utc(row.get("FireAt")),
            reason=self._value(row, "Reason", fetch=True),
            details=self._value(row, "Details", fetch=False),
            status=row.get("OrchestrationStatus"),
            result=self._value(row, "Result", fetch=False),
            extra={k: _plain(v) for k, v in row.items() if k not in known and not k.endswith("BlobName")},
        )

    # -- large values -----------------------------------------------------------------------

    def _value(self, row: Any, column: str, *, fetch: bool) -> str | None:
        """A column's text; a value kept in a blob is downloaded when `fetch`, else described."""
        blob = row.get(column + "BlobName")
        value = row.get(column)
        marker = f"/{self.container}/"
        if not blob and isinstance(value, str) and value.startswith(("http://", "https://")) and marker in value:
            blob = unquote(value.split(marker, 1)[1])
        if not blob:
            return value
        if not fetch:
            return f"<large value in blob {self.container}/{blob}>"
        return self._download(blob)

    def _download(self, name: str) -> str:
        if self._blobs is None:
            self._blobs = self.target.blob_service()
        try:
            with storage_errors(self.target):
                data = self._blobs.get_blob_client(self.container, name).download_blob().readall()
        except Exception as error:  # a missing blob must not hide the rest of the timeline
            return f"<large value in blob {self.container}/{name}: {type(error).__name__}>"
        try:
            data = gzip.decompress(data)
        except OSError:
            pass
        return data.decode("utf-8", errors="replace")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Storage errors as CliError; a missing table means the task hub does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with storage_errors(self.target):
                yield
        except ResourceNotFoundError as error:
            if "TableNotFound" not in f"{getattr(error, 'error_code', '')} {error}":
                raise
            raise CliError(f"Task hub {self.hub} not found in {self.target.description} "
                           f"(no table {self.instances_table}).", NOT_FOUND, hint=self.hint_hubs()) from error

    def hint_hubs(self) -> str:
        """Which task hubs the account has (tables ending in Instances), for error messages."""
        try:
            names = [t.name for t in self._service.list_tables()]
        except Exception:
            return "Pass the task hub with --hub or TASKHUB_NAME."
        hubs = sorted(n[: -len("Instances")] for n in names
                      if n.endswith("Instances") and f"{n[: -len('Instances')]}History" in names)
        if not hubs:
            return "This storage account has no task hub tables yet."
        return "Task hubs in this account: " + ", ".join(hubs) + " (pass one with --hub)."


def _kind(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, int) and 0 <= value < len(EVENT_TYPES):
        return EVENT_TYPES[value]
    return str(value) if value is not None else "Unknown"


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
