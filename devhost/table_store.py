"""Instance state in the Durable Task Azure Storage provider's tables.

Layout (durable-host-protocol.md section 5, DurableTask.AzureStorage's
`AzureTableTrackingStore`), so Storage Explorer and tools written for the real
extension read it unchanged:

* `{hub}Instances`: PartitionKey = instance id escaped as `KeySanitation` does, RowKey "";
  Name, Version, Input, Output, CustomStatus, CreatedTime, LastUpdatedTime,
  CompletedTime, RuntimeStatus (name), ExecutionId, Generation, TaskHubName. A value
  too large for a column holds the URL of its blob instead, as the real provider writes it.
* `{hub}History`: same PartitionKey, RowKey = the event's position in its execution as
  16 hex digits; one column per event field, `EventType` and `OrchestrationStatus` as
  names, the event time as `_Timestamp`, nested objects as JSON, and `ExecutionId`.
  A value too large for a column goes to a blob: the column is left empty and
  `<Property>BlobName` names the blob.
* RowKey `sentinel` holds the current ExecutionId (rows of earlier executions stay behind
  and are filtered out by it), `IsCheckpointComplete` and `CheckpointCompletedTimestamp`.
  Every history transaction carries it with an ETag condition, so two writers cannot
  interleave.
* Blobs: gzip-compressed UTF-8 in `{hub-lower}-largemessages`, named under `{PartitionKey}/`.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import json
import random
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, UpdateMode

from .history import Event, EventType, format_time, parse_time
from .store import InstanceQuery, InstanceRecord
from .transport import QUEUE_API_VERSION, local_transport

SENTINEL = "sentinel"
CACHE_SIZE = 2000
# A table property holds 64 KiB of UTF-16; the real provider moves anything over 60 KiB to a blob.
MAX_PROPERTY_BYTES = 60 * 1024
# An entity-group transaction takes 100 operations and 4 MiB; one operation is the sentinel's.
MAX_BATCH_EVENTS = 99
MAX_BATCH_BYTES = 2 * 1024 * 1024
_OPERATION_OVERHEAD = 512  # multipart headers and OData annotations per operation

_ESCAPE = "^"
_ESCAPED = {"^": "^", "/": "0", "\\": "1", "#": "2", "?": "3"}
_UNESCAPED = {code: char for char, code in _ESCAPED.items()}
_CONTROL_OFFSET = 0xC0  # 'À': control characters are shifted up by it after the escape

_JSON_FIELDS = frozenset({"OrchestrationInstance", "ParentInstance", "FailureDetails", "Tags", "Correlation"})
_TIME_FIELDS = frozenset({"FireAt", "ScheduledStartTime"})
_SERVICE_COLUMNS = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag"})
_ROW_COLUMNS = frozenset({"ExecutionId", "_Timestamp", "EventType", "EventId", "IsPlayed"})
_BLOB_SUFFIX = "BlobName"

# Fields the engine writes even when they are None. A table has no null, so None is not
# stored; reading puts these keys back so an event comes back exactly as it was written.
_NULLABLE: dict[EventType, tuple[str, ...]] = {
    EventType.ExecutionStarted: ("ParentInstance", "Input", "Tags", "ScheduledStartTime"),
    EventType.ExecutionCompleted: ("Result",),
    EventType.ExecutionTerminated: ("Input",),
    EventType.TaskScheduled: ("Name", "Input"),
    EventType.TaskCompleted: ("Result",),
    EventType.TaskFailed: ("Reason", "Details"),
    EventType.SubOrchestrationInstanceCreated: ("Name", "InstanceId", "Input"),
    EventType.SubOrchestrationInstanceCompleted: ("Result",),
    EventType.SubOrchestrationInstanceFailed: ("Reason", "Details"),
    EventType.EventRaised: ("Name", "Input"),
    EventType.ExecutionSuspended: ("Reason",),
    EventType.ExecutionResumed: ("Reason",),
}


class ConcurrentUpdateError(RuntimeError):
    """Another writer changed the instance's history since this store read or wrote it."""


def sanitize_key(value: str) -> str:
    """A PartitionKey for `value`, escaped as DurableTask's `KeySanitation.EscapePartitionKey`.

    `^` becomes `^^`; `/`, `\\`, `#`, `?` become `^0`..`^3`; control characters
    (U+0000-001F, U+007F-009F) become `^` followed by the character shifted up by U+00C0."""
    out = []
    for char in value:
        code = ord(char)
        if char in _ESCAPED:
            out.append(_ESCAPE + _ESCAPED[char])
        elif code <= 0x1F or 0x7F <= code <= 0x9F:
            out.append(_ESCAPE + chr(_CONTROL_OFFSET + code))
        else:
            out.append(char)
    return "".join(out)


def unsanitize_key(key: str) -> str:
    """Inverse of `sanitize_key` (`KeySanitation.UnescapePartitionKey`)."""
    out, i = [], 0
    while i < len(key):
        char = key[i]
        if char != _ESCAPE or i + 1 == len(key):
            out.append(char)
            i += 1
            continue
        code = key[i + 1]
        if code in _UNESCAPED:
            out.append(_UNESCAPED[code])
        else:
            out.append(chr(ord(code) - _CONTROL_OFFSET) if ord(code) >= _CONTROL_OFFSET else code)
        i += 2
    return "".join(out)


def row_key(position: int) -> str:
    """History RowKey of the event at `position` in its execution."""
    return f"{position:016X}"


def too_large(value: str) -> bool:
    """Whether a string is over the real provider's limit for a table property (UTF-16 bytes)."""
    if len(value) * 4 <= MAX_PROPERTY_BYTES:  # a code point takes at most 4 bytes of UTF-16
        return False
    return len(value) * 2 > MAX_PROPERTY_BYTES or len(value.encode("utf-16-le")) > MAX_PROPERTY_BYTES


class TableInstanceStore:
    """`InstanceStore` over `{hub}Instances` / `{hub}History` in Azure Table Storage (or Azurite)."""

    def __init__(self, connection_string: str, hub_name: str):
        from azure.data.tables.aio import TableServiceClient
        from azure.storage.blob.aio import BlobServiceClient

        self.hub = hub_name
        self._service = TableServiceClient.from_connection_string(connection_string, transport=local_transport())
        self._blob_service = BlobServiceClient.from_connection_string(
            connection_string, api_version=QUEUE_API_VERSION, transport=local_transport())
        self.instances_table = f"{hub_name}Instances"
        self.history_table = f"{hub_name}History"
        self.container = f"{hub_name.lower()}-largemessages"
        self._instances = self._service.get_table_client(self.instances_table)
        self._history = self._service.get_table_client(self.history_table)
        self._container = self._blob_service.get_container_client(self.container)
        # ETag of each instance's sentinel row as this store last read or wrote it.
        self._sentinel_etags: dict[str, str] = {}
        # Large Instances values already in a blob: instance id -> column -> (value, blob URL).
        self._instance_blobs: dict[str, dict[str, tuple[str, str]]] = {}
        # The local host is normally the only writer of its task hub, so what it last wrote is
        # what the tables hold: episodes read it from here instead of re-reading the history.
        # A second writer is caught by the sentinel's ETag, which drops the cached copy.
        self._cache: collections.OrderedDict[str, InstanceRecord] = collections.OrderedDict()

    async def open(self) -> None:
        for name in (self.instances_table, self.history_table):
            try:
                await self._service.create_table(name)
            except ResourceExistsError:
                pass
        try:
            await self._blob_service.create_container(self.container)
        except ResourceExistsError:
            pass

    async def close(self) -> None:
        await self._instances.close()
        await self._history.close()
        await self._service.close()
        await self._blob_service.close()

    # -- reads ----------------------------------------------------------------------------

    async def get(self, instance_id: str, history: bool = True) -> InstanceRecord | None:
        cached = self._cache.get(instance_id) if history else None
        if cached is not None:
            self._cache.move_to_end(instance_id)
            return cached.copy()
        key = sanitize_key(instance_id)
        try:
            row = await self._instances.get_entity(key, "")
        except ResourceNotFoundError:
            return None
        record = await self._record(row)
        if not history:
            return record
        # The sentinel and the current execution's rows in one query, as the real provider reads them.
        # (The SDK substitutes @names only between single spaces.)
        rows = self._history.query_entities(
            "PartitionKey eq @pk and ( RowKey eq @sentinel or ExecutionId eq @execution )",
            parameters={"pk": key, "sentinel": SENTINEL, "execution": record.execution_id},
        )
        events: list[Any] = []
        self._sentinel_etags.pop(instance_id, None)
        async for entity in rows:
            if entity["RowKey"] == SENTINEL:
                self._sentinel_etags[instance_id] = str(entity.metadata["etag"])
            else:
                events.append(entity)
        events.sort(key=lambda r: r["RowKey"])
        record.history = [await self._event(r) for r in events]
        started = next((e for e in record.history if e["EventType"] == EventType.ExecutionStarted), None)
        record.parent = started.get("ParentInstance") if started else None
        await self._repair_status(record)
        self._remember(record)
        return record

    def _remember(self, record: InstanceRecord) -> None:
        self._cache[record.instance_id] = record.copy()
        self._cache.move_to_end(record.instance_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _forget(self, instance_id: str) -> None:
        self._cache.pop(instance_id, None)
        self._sentinel_etags.pop(instance_id, None)

    async def _repair_status(self, record: InstanceRecord) -> None:
        """History is written before the Instances row: after a crash between the two, the
        row can miss the execution's end. The history is the truth; bring the row in line."""
        completed = next((e for e in reversed(record.history) if e["EventType"] == EventType.ExecutionCompleted), None)
        if completed is None or record.runtime_status == completed.get("OrchestrationStatus"):
            return
        record.runtime_status = completed.get("OrchestrationStatus") or "Failed"
        if record.runtime_status != "ContinuedAsNew":
            record.output = completed.get("Result")
            record.completed_time = parse_time(completed["Timestamp"])
        record.last_updated_time = parse_time(completed["Timestamp"])
        # UpdateInstanceStatusForCompletedOrchestrationAsync: InsertOrMerge.
        await self._instances.upsert_entity(await self._instance_row(record), mode=UpdateMode.MERGE)

    async def query(self, query: InstanceQuery) -> list[InstanceRecord]:
        clauses: list[str] = []
        parameters: dict[str, Any] = {}
        if query.runtime_status:
            names = sorted(query.runtime_status)
            parameters.update({f"s{i}": name for i, name in enumerate(names)})
            clauses.append("( " + " or ".join(f"RuntimeStatus eq @s{i}" for i in range(len(names))) + " )")
        if query.created_from:
            clauses.append("CreatedTime ge @created_from")
            parameters["created_from"] = query.created_from
        if query.created_to:
            clauses.append("CreatedTime le @created_to")
            parameters["created_to"] = query.created_to
        if query.instance_id_prefix:
            # Escaping works character by character, so escaped ids keep the escaped prefix.
            low = sanitize_key(query.instance_id_prefix)
            clauses.append("PartitionKey ge @low")
            parameters["low"] = low
            high = _next_string(low)
            if high is not None:
                clauses.append("PartitionKey lt @high")
                parameters["high"] = high
        if clauses:
            rows = self._instances.query_entities(" and ".join(clauses), parameters=parameters)
        else:
            rows = self._instances.list_entities()
        records = [await self._record(row) async for row in rows]
        records = [r for r in records if query.matches(r)]
        records.sort(key=lambda r: (r.created_time, r.instance_id))
        return records

    # -- writes ---------------------------------------------------------------------------

    async def create(self, record: InstanceRecord) -> None:
        """A sub-orchestration's new execution: the sentinel points at it, the Instances row is replaced
        (client starts go through `start_execution`, continue-as-new through `continue_as_new`).

        Blobs of the execution it replaces are deleted once the new execution is in place
        (rows of that execution stay behind, as with the real provider)."""
        await self._new_execution(record, UpdateMode.REPLACE)

    async def start_execution(self, record: InstanceRecord, etag: str | None) -> bool:
        """SetNewExecutionAsync: only the Instances row, inserted (new id) or replaced with If-Match (an id used
        before), 409 and 412 meaning that a concurrent start won. History and sentinel follow at the first
        checkpoint; blobs of the execution it replaced are deleted once it is in place."""
        key = sanitize_key(record.instance_id)
        self._cache.pop(record.instance_id, None)
        replaced = [] if etag is None else [
            blob.name async for blob in self._container.list_blobs(name_starts_with=f"{key}/history-")]
        row = await self._instance_row(record)
        try:
            if etag is None:
                await self._instances.create_entity(row)
            else:
                await self._instances.update_entity(row, mode=UpdateMode.REPLACE, etag=etag,
                                                    match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as error:
            if error.status_code in (409, 412):
                return False
            raise
        await self._delete_blobs(replaced)
        return True

    async def continue_as_new(self, record: InstanceRecord) -> None:
        """The next generation: written as `UpdateStateAsync` writes it, history rows from 0 (replacing the
        rows of the same keys; the rest of the old generation stays behind under its ExecutionId) and the
        Instances row merged (InsertOrMerge), so Tags, ScheduledStartTime and Generation are kept."""
        await self._new_execution(record, UpdateMode.MERGE)

    async def _new_execution(self, record: InstanceRecord, mode: UpdateMode) -> None:
        key = sanitize_key(record.instance_id)
        self._cache.pop(record.instance_id, None)
        replaced = [blob.name async for blob in self._container.list_blobs(name_starts_with=f"{key}/history-")]
        sentinel = _sentinel(key, record.execution_id, complete=True)
        result = await self._history.upsert_entity(sentinel, mode=UpdateMode.REPLACE)
        self._sentinel_etags[record.instance_id] = result["etag"]
        if record.history:
            await self._append(record, 0)
        await self._instances.upsert_entity(await self._instance_row(record), mode=mode)
        await self._delete_blobs(replaced)
        self._remember(record)

    async def save(self, record: InstanceRecord, first_new_event: int = 0) -> None:
        self._cache.pop(record.instance_id, None)  # forgotten unless the whole write succeeds
        if len(record.history) > first_new_event:
            await self._append(record, first_new_event)
        # UpdateStateAsync: InsertOrMerge, so columns it does not write (Tags, ScheduledStartTime) are kept.
        await self._instances.upsert_entity(await self._instance_row(record), mode=UpdateMode.MERGE)
        self._remember(record)

    async def delete(self, instance_id: str) -> bool:
        key = sanitize_key(instance_id)
        try:
            await self._instances.get_entity(key, "", select=["PartitionKey"])
        except ResourceNotFoundError:
            return False
        rows = [r async for r in self._history.query_entities(
            "PartitionKey eq @pk", parameters={"pk": key}, select=["PartitionKey", "RowKey"])]
        for start in range(0, len(rows), 100):
            await self._history.submit_transaction([("delete", r) for r in rows[start : start + 100]])
        try:
            await self._instances.delete_entity(key, "")
        except ResourceNotFoundError:
            pass
        # The trailing slash keeps instance "a" from taking the blobs of instance "ab" along.
        await self._delete_blobs([b.name async for b in self._container.list_blobs(name_starts_with=f"{key}/")])
        self._forget(instance_id)
        self._instance_blobs.pop(instance_id, None)
        return True

    async def _append(self, record: InstanceRecord, first: int) -> None:
        """Write `record.history[first:]` in entity-group transactions, each with the sentinel.

        The first transaction's sentinel update is conditional on the ETag this store last saw
        (or is an insert when it saw none); each later one on the ETag the previous returned."""
        key = sanitize_key(record.instance_id)
        batches: list[list[dict[str, Any]]] = [[]]
        size = 0
        for position, item in enumerate(record.history[first:], start=first):
            entity = await self._event_row(record.execution_id, key, position, item)
            entity_size = _wire_size(entity)
            if batches[-1] and (len(batches[-1]) == MAX_BATCH_EVENTS or size + entity_size > MAX_BATCH_BYTES):
                batches.append([])
                size = 0
            batches[-1].append(entity)
            size += entity_size
        for number, batch in enumerate(batches):
            final = number == len(batches) - 1
            operations: list[Any] = [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in batch]
            sentinel = _sentinel(key, record.execution_id, complete=final)
            etag = self._sentinel_etags.get(record.instance_id)
            if etag is None:
                operations.append(("create", sentinel))
            else:
                operations.append(("update", sentinel, {"mode": UpdateMode.MERGE, "etag": etag,
                                                        "match_condition": MatchConditions.IfNotModified}))
            try:
                results = await self._history.submit_transaction(operations)
            except HttpResponseError as error:
                if _is_conflict(error):
                    self._forget(record.instance_id)  # read again before the next attempt
                    raise ConcurrentUpdateError(
                        f"The history of instance '{record.instance_id}' was changed by another writer "
                        f"since this host read it; the episode must be run again from fresh state."
                    ) from error
                raise
            self._sentinel_etags[record.instance_id] = results[-1]["etag"]

    # -- conversion -----------------------------------------------------------------------

    async def _instance_row(self, record: InstanceRecord) -> dict[str, Any]:
        key = sanitize_key(record.instance_id)
        row: dict[str, Any] = {
            "PartitionKey": key, "RowKey": "", "Name": record.name, "Version": "",
            "CreatedTime": record.created_time, "LastUpdatedTime": record.last_updated_time,
            "RuntimeStatus": record.runtime_status, "ExecutionId": record.execution_id,
            "Generation": record.generation, "TaskHubName": self.hub,
        }
        if record.completed_time:
            row["CompletedTime"] = record.completed_time
        for column, value in (("Input", record.input), ("Output", record.output)):
            if value is None:
                continue
            row[column] = await self._instance_blob_url(record.instance_id, key, column, value) \
                if too_large(value) else value
        if record.runtime_status != "Pending":
            # UpdateStateAsync writes `newRuntimeState.Status ?? "null"` at every checkpoint, never to a blob;
            # a new execution's row (SetNewExecutionAsync) has no CustomStatus.
            row["CustomStatus"] = record.custom_status if record.custom_status is not None else "null"
        return row

    async def _instance_blob_url(self, instance_id: str, key: str, column: str, value: str) -> str:
        """The real provider keeps a large Instances value as the URL of its blob."""
        known = self._instance_blobs.setdefault(instance_id, {})
        if column in known and known[column][0] == value:
            return known[column][1]
        name = f"{key}/instance-{column}.json.gz"
        await self._upload(name, value)
        url = f"{self._container.url}/{quote(name, safe='/')}"
        known[column] = (value, url)
        return url

    async def _record(self, row: Any) -> InstanceRecord:
        instance_id = unsanitize_key(row["PartitionKey"])
        values = {}
        for column in ("Input", "Output"):
            values[column] = await self._instance_value(instance_id, row, column)
        values["CustomStatus"] = row.get("CustomStatus")
        return InstanceRecord(
            instance_id=instance_id,
            name=row.get("Name", ""),
            execution_id=row.get("ExecutionId", ""),
            runtime_status=row.get("RuntimeStatus", "Pending"),
            created_time=_utc(row.get("CreatedTime")),
            last_updated_time=_utc(row.get("LastUpdatedTime")),
            completed_time=_utc(row["CompletedTime"]) if row.get("CompletedTime") else None,
            input=values["Input"], output=values["Output"],
            custom_status=None if values["CustomStatus"] in (None, "null") else values["CustomStatus"],
            generation=int(_plain(row.get("Generation")) or 0),
            etag=(getattr(row, "metadata", None) or {}).get("etag"),
        )

    async def _instance_value(self, instance_id: str, row: Any, column: str) -> str | None:
        value = row.get(column)
        if row.get(column + _BLOB_SUFFIX):  # how the real client's start writes a large input
            return await self._download(row[column + _BLOB_SUFFIX])
        marker = f"/{self.container}/"
        if isinstance(value, str) and value.startswith(("http://", "https://")) and marker in value:
            # A URL cannot be JSON text, so this is a large value's blob (MessageManager does the same).
            url = value
            value = await self._download(unquote(url.split(marker, 1)[1]))
            self._instance_blobs.setdefault(instance_id, {})[column] = (value, url)
        return value

    async def _event_row(self, execution_id: str, key: str, position: int, item: Event) -> dict[str, Any]:
        rk = row_key(position)
        kind = EventType(item["EventType"])
        row: dict[str, Any] = {
            "PartitionKey": key, "RowKey": rk, "ExecutionId": execution_id, "EventType": kind.name,
            "EventId": _cell(item.get("EventId", -1)), "IsPlayed": bool(item.get("IsPlayed", False)),
            "_Timestamp": parse_time(item["Timestamp"]),
        }
        for field, value in item.items():
            if value is None or field in _ROW_COLUMNS or field in _SERVICE_COLUMNS or field == "Timestamp":
                continue
            if field in _JSON_FIELDS or isinstance(value, dict | list):
                value = json.dumps(value, separators=(",", ":"))
            elif field in _TIME_FIELDS and isinstance(value, str):
                value = parse_time(value)
            if isinstance(value, str) and too_large(value):
                name = f"{key}/history-{rk}-{kind.name}-{random.getrandbits(32):08X}-{field}.json.gz"
                await self._upload(name, value)
                row[field] = ""
                row[field + _BLOB_SUFFIX] = name
            else:
                row[field] = _cell(value)
        return row

    async def _event(self, row: Any) -> Event:
        kind = EventType[row["EventType"]]
        item: Event = {"EventType": int(kind), "EventId": _plain(row.get("EventId", -1)),
                       "IsPlayed": bool(row.get("IsPlayed", False)), "Timestamp": format_time(_utc(row["_Timestamp"]))}
        item.update(dict.fromkeys(_NULLABLE.get(kind, ())))
        for field, value in row.items():
            if field in _ROW_COLUMNS or field in _SERVICE_COLUMNS:
                continue
            if field.endswith(_BLOB_SUFFIX) and isinstance(value, str):
                field, value = field[: -len(_BLOB_SUFFIX)], await self._download(value)
            elif (field + _BLOB_SUFFIX) in row:
                continue  # the empty placeholder of a value kept in a blob
            value = _plain(value)
            if field in _JSON_FIELDS and isinstance(value, str):
                value = json.loads(value)
            elif field in _TIME_FIELDS and isinstance(value, datetime):
                value = format_time(_utc(value))
            item[field] = value
        return item

    # -- blobs ----------------------------------------------------------------------------

    async def _upload(self, name: str, value: str) -> None:
        await self._container.upload_blob(name, gzip.compress(value.encode("utf-8")), overwrite=True)

    async def _download(self, name: str) -> str:
        downloader = await self._container.download_blob(name)
        return gzip.decompress(await downloader.readall()).decode("utf-8")

    async def _delete_blobs(self, names: list[str]) -> None:
        async def delete(name: str) -> None:
            try:
                await self._container.delete_blob(name)
            except ResourceNotFoundError:
                pass

        for start in range(0, len(names), 32):
            await asyncio.gather(*(delete(n) for n in names[start : start + 32]))


def _sentinel(key: str, execution_id: str, *, complete: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": key, "RowKey": SENTINEL, "ExecutionId": execution_id,
                              "IsCheckpointComplete": complete}
    if complete:
        entity["CheckpointCompletedTimestamp"] = datetime.now(UTC)
    return entity


def _is_conflict(error: HttpResponseError) -> bool:
    """412: the sentinel's ETag changed; 409: a sentinel appeared where none was seen."""
    code = str(getattr(error, "error_code", "") or "")
    return error.status_code in (409, 412) or code in ("UpdateConditionNotSatisfied", "EntityAlreadyExists")


def _cell(value: Any) -> Any:
    """Integers beyond Int32 must be marked Int64 for the table service."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**31) <= value < 2**31:
        return EntityProperty(value, EdmType.INT64)
    return value


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, EntityProperty) else value


def _wire_size(entity: dict[str, Any]) -> int:
    """Upper estimate of an entity's bytes in a transaction body (JSON escapes non-ASCII as \\uXXXX)."""
    size = _OPERATION_OVERHEAD
    for name, value in entity.items():
        size += len(name) + 8 + (len(json.dumps(value)) if isinstance(value, str) else 48)
    return size


def _next_string(value: str) -> str | None:
    """The smallest string greater than every string that starts with `value`, if there is one."""
    last = ord(value[-1])
    if last >= 0x10FFFF:
        return None
    following = last + 1 if not 0xD7FF <= last < 0xE000 else 0xE000  # skip the surrogate block
    return value[:-1] + chr(following)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        return parse_time(value)
    if value is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return parse_time(value.isoformat())  # a plain UTC datetime, not the SDK's subclass


__all__ = ["ConcurrentUpdateError", "TableInstanceStore", "row_key", "sanitize_key", "too_large", "unsanitize_key"]
