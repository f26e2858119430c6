"""Instance state in the Durable Task Azure Storage provider's tables.

Layout (durable-host-protocol.md section 5), so Storage Explorer and tools
written for the real extension read it unchanged:

* `{hub}Instances`: PartitionKey = instance id (KeySanitation-escaped), RowKey "";
  Name, Version, Input, Output, CustomStatus, CreatedTime, LastUpdatedTime,
  CompletedTime, RuntimeStatus, ExecutionId, Generation, TaskHubName.
* `{hub}History`: same PartitionKey, RowKey = the event's position in its
  execution as 16 hex digits; one column per event field, `EventType` as its
  name, the event time as `_Timestamp`, and `ExecutionId`. RowKey `sentinel`
  holds the current ExecutionId; rows of earlier executions stay behind and are
  filtered out by it. Its ETag guards against two writers.
* String values too large for a table property go gzip-compressed to the
  `{hub}-largemessages` container, the row keeping `<Property>BlobName`.
"""

from __future__ import annotations

import collections
import gzip
import json
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from .history import Event, EventType, format_time, parse_time
from .store import InstanceQuery, InstanceRecord
from .transport import QUEUE_API_VERSION, local_transport

SENTINEL = "sentinel"
CACHE_SIZE = 2000
MAX_INLINE_CHARS = 30_000  # a table property holds 64 KiB of UTF-16
BATCH_LIMIT = 99  # entity-group transactions take 100 operations; one is kept for the sentinel
_JSON_FIELDS = ("OrchestrationInstance", "ParentInstance", "FailureDetails", "Tags")
_TIME_FIELDS = ("FireAt", "ScheduledStartTime")
_RESERVED = {"PartitionKey", "RowKey", "Timestamp", "etag", "ExecutionId", "_Timestamp"}


class ConcurrentUpdateError(RuntimeError):
    """Another writer changed the instance's history since it was read."""


def sanitize_key(value: str) -> str:
    """Escape characters that table keys forbid (and the escape character), as KeySanitation does."""
    out = []
    for char in value:
        if char in "/\\#?^" or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"^{ord(char):02X}")
        else:
            out.append(char)
    return "".join(out)


def row_key(position: int) -> str:
    """History RowKey of the event at `position` in its execution."""
    return f"{position:016X}"


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
        self._sentinel_etags: dict[str, str] = {}
        # The local host is the only writer of its task hub, so what it last wrote is what the
        # tables hold: episodes read it from here instead of re-reading the whole history.
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
        if instance_id not in self._sentinel_etags:  # known from our own last write otherwise
            try:
                sentinel = await self._history.get_entity(key, SENTINEL)
                self._sentinel_etags[instance_id] = sentinel.metadata["etag"]
            except ResourceNotFoundError:
                pass
        rows = self._history.query_entities(
            "PartitionKey eq @pk and ExecutionId eq @execution",
            parameters={"pk": key, "execution": record.execution_id},
        )
        history = sorted([r async for r in rows if r["RowKey"] != SENTINEL], key=lambda r: r["RowKey"])
        record.history = [await self._event(r) for r in history]
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
        await self._instances.upsert_entity(await self._instance_row(record), mode=UpdateMode.REPLACE)

    async def query(self, query: InstanceQuery) -> list[InstanceRecord]:
        clauses: list[str] = []
        parameters: dict[str, Any] = {}
        if query.runtime_status:
            names = sorted(query.runtime_status)
            parameters.update({f"s{i}": name for i, name in enumerate(names)})
            # The SDK's parameter substitution needs whitespace around each @name.
            clauses.append("( " + " or ".join(f"RuntimeStatus eq @s{i}" for i in range(len(names))) + " )")
        if query.created_from:
            clauses.append("CreatedTime ge @created_from")
            parameters["created_from"] = query.created_from
        if query.created_to:
            clauses.append("CreatedTime le @created_to")
            parameters["created_to"] = query.created_to
        if query.instance_id_prefix:
            low = sanitize_key(query.instance_id_prefix)
            clauses.append("PartitionKey ge @low and PartitionKey lt @high")
            parameters.update({"low": low, "high": low[:-1] + chr(ord(low[-1]) + 1)})
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
        key = sanitize_key(record.instance_id)
        entity = {"PartitionKey": key, "RowKey": SENTINEL, "ExecutionId": record.execution_id}
        result = await self._history.upsert_entity(entity, mode=UpdateMode.REPLACE)
        self._sentinel_etags[record.instance_id] = result["etag"]
        self._cache.pop(record.instance_id, None)
        if record.history:
            await self._append(record, 0)
        await self._instances.upsert_entity(await self._instance_row(record), mode=UpdateMode.REPLACE)
        self._remember(record)

    async def save(self, record: InstanceRecord, first_new_event: int = 0) -> None:
        self._cache.pop(record.instance_id, None)  # forgotten unless the whole write succeeds
        if len(record.history) > first_new_event:
            await self._append(record, first_new_event)
        await self._instances.upsert_entity(await self._instance_row(record), mode=UpdateMode.REPLACE)
        self._remember(record)

    async def delete(self, instance_id: str) -> bool:
        key = sanitize_key(instance_id)
        try:
            await self._instances.get_entity(key, "")
        except ResourceNotFoundError:
            return False
        rows = [r async for r in self._history.query_entities("PartitionKey eq @pk", parameters={"pk": key},
                                                               select=["PartitionKey", "RowKey"])]
        for start in range(0, len(rows), 100):
            await self._history.submit_transaction([("delete", r) for r in rows[start : start + 100]])
        await self._instances.delete_entity(key, "")
        container = self._blob_service.get_container_client(self.container)
        async for blob in container.list_blobs(name_starts_with=f"{key}/"):
            await container.delete_blob(blob.name)
        self._sentinel_etags.pop(instance_id, None)
        self._cache.pop(instance_id, None)
        return True

    async def _append(self, record: InstanceRecord, first: int) -> None:
        key = sanitize_key(record.instance_id)
        entities = [await self._event_row(record, key, position, item)
                    for position, item in enumerate(record.history[first:], start=first)]
        for start in range(0, len(entities), BATCH_LIMIT):
            operations: list[Any] = [("upsert", e, {"mode": UpdateMode.REPLACE})
                                     for e in entities[start : start + BATCH_LIMIT]]
            guard = start == 0
            if guard:
                operations.append(self._sentinel_operation(record))
            try:
                results = await self._history.submit_transaction(operations)
            except HttpResponseError as error:
                if error.status_code == 412 or "UpdateConditionNotSatisfied" in str(error):
                    self._sentinel_etags.pop(record.instance_id, None)  # re-read on the next attempt
                    raise ConcurrentUpdateError(
                        f"The history of '{record.instance_id}' was changed by another writer."
                    ) from error
                raise
            if guard:
                self._sentinel_etags[record.instance_id] = results[-1]["etag"]

    def _sentinel_operation(self, record: InstanceRecord) -> Any:
        entity = {"PartitionKey": sanitize_key(record.instance_id), "RowKey": SENTINEL,
                  "ExecutionId": record.execution_id}
        etag = self._sentinel_etags.get(record.instance_id)
        if etag is None:
            return ("upsert", entity, {"mode": UpdateMode.REPLACE})
        return ("update", entity, {"mode": UpdateMode.REPLACE, "etag": etag,
                                   "match_condition": MatchConditions.IfNotModified})

    # -- conversion -----------------------------------------------------------------------

    async def _instance_row(self, record: InstanceRecord) -> dict[str, Any]:
        key = sanitize_key(record.instance_id)
        row: dict[str, Any] = {
            "PartitionKey": key, "RowKey": "", "Name": record.name, "Version": "",
            "CreatedTime": record.created_time, "LastUpdatedTime": record.last_updated_time,
            "RuntimeStatus": record.runtime_status, "ExecutionId": record.execution_id,
            "Generation": 0, "TaskHubName": self.hub,
        }
        if record.completed_time:
            row["CompletedTime"] = record.completed_time
        for column, value in (("Input", record.input), ("Output", record.output),
                              ("CustomStatus", record.custom_status)):
            await self._put_value(row, column, value, f"{key}/instance-{column}.json.gz")
        return row

    async def _record(self, row: Any) -> InstanceRecord:
        values = {}
        for column in ("Input", "Output", "CustomStatus"):
            values[column] = await self._get_value(row, column)
        return InstanceRecord(
            instance_id=_unsanitize(row["PartitionKey"]),
            name=row.get("Name", ""),
            execution_id=row.get("ExecutionId", ""),
            runtime_status=row.get("RuntimeStatus", "Pending"),
            created_time=_utc(row.get("CreatedTime")),
            last_updated_time=_utc(row.get("LastUpdatedTime")),
            completed_time=_utc(row["CompletedTime"]) if row.get("CompletedTime") else None,
            input=values["Input"], output=values["Output"], custom_status=values["CustomStatus"],
        )

    async def _event_row(self, record: InstanceRecord, key: str, position: int, item: Event) -> dict[str, Any]:
        rk = row_key(position)
        row: dict[str, Any] = {
            "PartitionKey": key, "RowKey": rk, "ExecutionId": record.execution_id,
            "EventType": EventType(item["EventType"]).name, "_Timestamp": parse_time(item["Timestamp"]),
        }
        for field, value in item.items():
            if field in ("EventType", "Timestamp") or field in _RESERVED or value is None:
                continue
            if field in _JSON_FIELDS:
                row[field] = json.dumps(value)
            elif field in _TIME_FIELDS and isinstance(value, str):
                row[field] = parse_time(value)
            elif isinstance(value, str):
                await self._put_value(row, field, value, f"{key}/history-{record.execution_id}-{rk}-{field}.json.gz")
            else:
                row[field] = value
        return row

    async def _event(self, row: Any) -> Event:
        item: Event = {"EventType": int(EventType[row["EventType"]]), "EventId": row.get("EventId", -1),
                       "IsPlayed": bool(row.get("IsPlayed", False)), "Timestamp": format_time(_utc(row["_Timestamp"]))}
        for field, value in row.items():
            if field in _RESERVED or field in ("EventType", "EventId", "IsPlayed"):
                continue
            if field.endswith("BlobName"):
                base = field[: -len("BlobName")]
                item[base] = await self._download(value)
            elif field in _JSON_FIELDS:
                item[field] = json.loads(value)
            elif field in _TIME_FIELDS and isinstance(value, datetime):
                item[field] = format_time(_utc(value))
            else:
                item[field] = value
        return item

    async def _put_value(self, row: dict[str, Any], column: str, value: str | None, blob_name: str) -> None:
        if value is None:
            return
        if len(value) <= MAX_INLINE_CHARS:
            row[column] = value
            return
        blob = self._blob_service.get_blob_client(self.container, blob_name)
        await blob.upload_blob(gzip.compress(value.encode("utf-8")), overwrite=True)
        row[f"{column}BlobName"] = blob_name

    async def _get_value(self, row: Any, column: str) -> str | None:
        if row.get(f"{column}BlobName"):
            return await self._download(row[f"{column}BlobName"])
        return row.get(column)

    async def _download(self, blob_name: str) -> str:
        downloader = await self._blob_service.get_blob_client(self.container, blob_name).download_blob()
        return gzip.decompress(await downloader.readall()).decode("utf-8")


def _unsanitize(key: str) -> str:
    out, i = [], 0
    while i < len(key):
        if key[i] == "^" and i + 3 <= len(key):
            out.append(chr(int(key[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(key[i])
            i += 1
    return "".join(out)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        return parse_time(value)
    return parse_time(value.isoformat()) if value is not None else parse_time("1970-01-01T00:00:00Z")


__all__ = ["ConcurrentUpdateError", "TableInstanceStore", "row_key", "sanitize_key"]
