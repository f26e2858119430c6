"""The local host's state in the real Azure Storage provider's table layout, against Azurite."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobClient, BlobServiceClient

from devhost.engine import Engine
from devhost.history import EventType, event, execution_started
from devhost.store import InstanceQuery, InstanceRecord
from devhost.table_store import (
    ConcurrentUpdateError,
    TableInstanceStore,
    row_key,
    sanitize_key,
    too_large,
    unsanitize_key,
)
from devhost.testing import LocalDurableHost
from devhost.transport import QUEUE_API_VERSION, AzureQueueTransport

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PARENT = {"Name": "P", "Version": "", "TaskScheduleId": 3,
          "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pe"}}


@pytest.fixture()
async def store(storage_connection: str):
    hub = f"T{uuid.uuid4().hex[:10]}"
    opened = TableInstanceStore(storage_connection, hub)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture()
async def reader(store: TableInstanceStore, storage_connection: str):
    """A second store on the same hub with nothing cached: reads what the tables really hold."""
    opened = TableInstanceStore(storage_connection, store.hub)
    yield opened
    await opened.close()


def raw_rows(connection: str, table: str) -> list[dict[str, Any]]:
    client = TableServiceClient.from_connection_string(connection).get_table_client(table)
    return list(client.list_entities())


def raw_history(connection: str, store: TableInstanceStore) -> dict[str, dict[str, Any]]:
    return {r["RowKey"]: r for r in raw_rows(connection, store.history_table)}


def blob_names(connection: str, store: TableInstanceStore) -> list[str]:
    service = BlobServiceClient.from_connection_string(connection, api_version=QUEUE_API_VERSION)
    return sorted(b.name for b in service.get_container_client(store.container).list_blobs())


def record(instance_id: str = "order-1", execution_id: str = "e1", status: str = "Pending") -> InstanceRecord:
    return InstanceRecord(instance_id=instance_id, name="Orch", execution_id=execution_id, runtime_status=status,
                          created_time=T0, last_updated_time=T0, input='"{\\"a\\": 1}"')


def every_kind_of_event(execution_id: str = "e1") -> list[dict]:
    """Each event as devhost.engine / devhost.shim build it, None-valued fields included."""
    t1 = T0 + timedelta(seconds=1, microseconds=7)
    return [
        event(EventType.OrchestratorStarted, T0),
        execution_started(T0, instance_id="order-1", execution_id=execution_id, name="Orch", input_json='"x"',
                          parent=PARENT),
        event(EventType.TaskScheduled, T0, 0, Name="Act", Version="", Input='{"orderId": "1"}'),
        event(EventType.TaskScheduled, T0, 1, Name="NoInput", Version="", Input=None),
        event(EventType.TimerCreated, T0, 2, FireAt="2026-03-01T12:05:00.654321Z"),
        event(EventType.SubOrchestrationInstanceCreated, T0, 3, Name="Child", Version="", InstanceId="c-1",
              Input='"y"'),
        event(EventType.OrchestratorCompleted, T0),
        event(EventType.OrchestratorStarted, t1),
        event(EventType.TaskCompleted, t1, TaskScheduledId=0, Result='{"ok": true}'),
        event(EventType.TaskCompleted, t1, TaskScheduledId=1, Result=None),
        event(EventType.TaskFailed, t1, TaskScheduledId=0, Reason="Activity function 'Act' failed: boom",
              Details="Traceback (most recent call last):\n  ..."),
        event(EventType.TaskFailed, t1, TaskScheduledId=1, Reason="no such function", Details=None),
        event(EventType.TimerFired, t1, TimerId=2, FireAt="2026-03-01T12:05:00.654321Z"),
        event(EventType.EventRaised, t1, Name="Go", Input='"\\"yes\\""'),
        event(EventType.EventRaised, t1, Name="Empty", Input=None),
        event(EventType.SubOrchestrationInstanceCompleted, t1, TaskScheduledId=3, Result='"done"'),
        event(EventType.SubOrchestrationInstanceFailed, t1, TaskScheduledId=3, Reason="terminated", Details=None),
        event(EventType.ExecutionSuspended, t1, Reason=None),
        event(EventType.ExecutionResumed, t1, Reason="go on"),
        event(EventType.ExecutionTerminated, t1, Input=None),
        event(EventType.ExecutionCompleted, t1, OrchestrationStatus="Terminated", Result=None),
        event(EventType.ExecutionCompleted, t1, OrchestrationStatus="ContinuedAsNew", Result='{"n": 2}'),
        event(EventType.ExecutionCompleted, t1, OrchestrationStatus="Completed", Result='"ok"'),
        event(EventType.ExecutionCompleted, t1, OrchestrationStatus="Failed", Result='"bad"',
              FailureDetails={"ErrorType": "OrchestrationFailureException", "ErrorMessage": "bad"}),
        event(EventType.OrchestratorCompleted, t1),
    ]


def test_event_fixture_covers_every_kind_the_engine_writes() -> None:
    written = {EventType(e["EventType"]) for e in every_kind_of_event()}
    unused = {EventType.EventSent, EventType.ContinueAsNew, EventType.GenericEvent, EventType.HistoryState,
              EventType.ExecutionFailed}
    assert written == set(EventType) - unused


async def test_every_event_kind_round_trips_exactly(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    created.history = every_kind_of_event()
    created.runtime_status = "Failed"
    created.output = '"bad"'
    created.completed_time = T0 + timedelta(seconds=1)
    await store.save(created, 0)
    loaded = await reader.get("order-1")
    assert loaded is not None
    assert loaded.history == created.history  # None fields, int EventType, time strings, nested dicts
    assert [type(e["EventId"]) for e in loaded.history] == [int] * len(created.history)
    assert loaded.parent == PARENT
    assert (loaded.runtime_status, loaded.input, loaded.output) == ("Failed", created.input, '"bad"')
    assert (loaded.created_time, loaded.completed_time) == (T0, T0 + timedelta(seconds=1))
    assert loaded.execution_id == "e1" and loaded.name == "Orch"


async def test_rows_use_the_real_providers_layout(store: TableInstanceStore, storage_connection: str) -> None:
    created = record(status="Running")
    await store.create(created)
    created.history = every_kind_of_event()
    await store.save(created, 0)
    rows = raw_history(storage_connection, store)
    assert set(rows) == {"sentinel"} | {row_key(i) for i in range(len(created.history))}
    sentinel = rows["sentinel"]
    assert sentinel["ExecutionId"] == "e1" and sentinel["IsCheckpointComplete"] is True
    assert isinstance(sentinel["CheckpointCompletedTimestamp"], datetime)
    started, scheduled, timer = rows[row_key(1)], rows[row_key(2)], rows[row_key(4)]
    assert started["EventType"] == "ExecutionStarted" and started["ExecutionId"] == "e1"
    assert json.loads(started["OrchestrationInstance"]) == {"InstanceId": "order-1", "ExecutionId": "e1"}
    assert json.loads(started["ParentInstance"]) == PARENT
    assert "Tags" not in started and "ScheduledStartTime" not in started  # None is not stored
    assert (scheduled["EventType"], scheduled["Name"], scheduled["EventId"]) == ("TaskScheduled", "Act", 0)
    assert scheduled["IsPlayed"] is False and isinstance(scheduled["_Timestamp"], datetime)
    assert "Timestamp" not in scheduled  # the service's own column, not the event's
    assert isinstance(timer["FireAt"], datetime)
    failed = rows[row_key(len(created.history) - 2)]
    assert (failed["EventType"], failed["OrchestrationStatus"]) == ("ExecutionCompleted", "Failed")
    [instance] = raw_rows(storage_connection, store.instances_table)
    assert (instance["PartitionKey"], instance["RowKey"]) == ("order-1", "")
    assert instance["RuntimeStatus"] == "Running" and instance["Name"] == "Orch"
    assert instance["ExecutionId"] == "e1" and instance["TaskHubName"] == store.hub
    assert isinstance(instance["CreatedTime"], datetime) and isinstance(instance["LastUpdatedTime"], datetime)
    assert instance["Input"] == created.input and instance["Generation"] == 0


async def test_appends_continue_the_row_keys(store: TableInstanceStore, reader: TableInstanceStore,
                                             storage_connection: str) -> None:
    created = record()
    await store.create(created)
    events = every_kind_of_event()
    for start, end in ((0, 7), (7, 8), (8, 16), (16, len(events))):
        current = await store.get("order-1")
        assert len(current.history) == start
        current.history += events[start:end]
        await store.save(current, start)
    assert (await reader.get("order-1")).history == events
    keys = sorted(k for k in raw_history(storage_connection, store) if k != "sentinel")
    assert keys == [row_key(i) for i in range(len(events))]


async def test_continue_as_new_shows_only_the_current_execution(store: TableInstanceStore, reader: TableInstanceStore,
                                                                storage_connection: str) -> None:
    first = record()
    await store.create(first)
    first.history = every_kind_of_event()
    first.history[-2] = event(EventType.ExecutionCompleted, T0, OrchestrationStatus="ContinuedAsNew",
                              Result="3" * 70_000)  # in a blob, deleted with its execution
    await store.save(first, 0)
    assert len(blob_names(storage_connection, store)) == 1
    second = record(execution_id="e2", status="Running")
    await store.create(second)
    second.history = every_kind_of_event("e2")[:2]
    await store.save(second, 0)
    loaded = await reader.get("order-1")
    assert loaded.execution_id == "e2" and loaded.history == second.history
    rows = raw_history(storage_connection, store)
    assert rows["sentinel"]["ExecutionId"] == "e2"
    assert {k for k, r in rows.items() if r["ExecutionId"] == "e2" and k != "sentinel"} == {row_key(0), row_key(1)}
    stale = [k for k, r in rows.items() if r["ExecutionId"] == "e1"]
    assert len(stale) == len(first.history) - 2  # rows of the earlier execution beyond the new ones stay
    assert blob_names(storage_connection, store) == []


async def test_large_values_go_to_blobs(store: TableInstanceStore, reader: TableInstanceStore,
                                        storage_connection: str) -> None:
    big = '"' + "z" * 200_000 + '"'
    wide = '"' + "\U0001f600" * 15_400 + '"'  # 15,402 characters, but 61,604 bytes of UTF-16
    failure = {"ErrorType": "X", "ErrorMessage": "m" * 40_000}
    created = record()
    created.input = big
    await store.create(created)
    created.history = [
        event(EventType.OrchestratorStarted, T0),
        execution_started(T0, instance_id="order-1", execution_id="e1", name="Orch", input_json=big),
        event(EventType.TaskCompleted, T0, TaskScheduledId=0, Result=wide),
        event(EventType.ExecutionCompleted, T0, OrchestrationStatus="Failed", Result=big, FailureDetails=failure),
    ]
    created.output = big
    await store.save(created, 0)
    loaded = await reader.get("order-1")
    assert loaded.input == big and loaded.output == big
    assert loaded.history == created.history

    rows = raw_history(storage_connection, store)
    started, completed, finished = rows[row_key(1)], rows[row_key(2)], rows[row_key(3)]
    assert started["Input"] == ""
    assert re.fullmatch(r"order-1/history-0000000000000001-ExecutionStarted-[0-9A-F]{8}-Input\.json\.gz",
                        started["InputBlobName"])
    assert completed["Result"] == "" and "ResultBlobName" in completed
    assert finished["FailureDetails"] == "" and "FailureDetailsBlobName" in finished
    service = BlobServiceClient.from_connection_string(storage_connection, api_version=QUEUE_API_VERSION)
    stored = service.get_blob_client(store.container, started["InputBlobName"]).download_blob().readall()
    assert gzip.decompress(stored).decode("utf-8") == big

    # As the real provider writes it: the Instances row holds the blob's URL, which tools download.
    [instance] = raw_rows(storage_connection, store.instances_table)
    assert instance["Output"].startswith("http") and "OutputBlobName" not in instance
    blob = BlobClient.from_blob_url(instance["Output"], credential=service.credential,
                                    api_version=QUEUE_API_VERSION)
    assert gzip.decompress(blob.download_blob().readall()).decode("utf-8") == big
    assert (await reader.get("order-1", history=False)).output == big

    assert await store.delete("order-1")
    assert blob_names(storage_connection, store) == []


def test_size_limit_counts_utf16_bytes() -> None:
    assert not too_large("a" * 30_000)
    assert too_large("a" * 31_000)
    assert not too_large("\U0001f600" * 15_000)  # 4 bytes each in UTF-16: 60,000 bytes
    assert too_large("\U0001f600" * 15_500)


def test_keys_are_escaped_as_keysanitation_does() -> None:
    assert sanitize_key("a^b") == "a^^b"
    assert sanitize_key("a/b\\c#d?e") == "a^0b^1c^2d^3e"
    assert sanitize_key("tab\there\x7f") == "tab^\u00c9here^\u013f"
    assert sanitize_key("plain-id:1") == "plain-id:1"
    for value in ("a^b", "^^/", "x\x00y\x9f", "a/b\\c#d?e", "ünïcödé\U0001f600", "^0"):
        assert unsanitize_key(sanitize_key(value)) == value


async def test_odd_instance_ids_round_trip(store: TableInstanceStore, reader: TableInstanceStore,
                                          storage_connection: str) -> None:
    odd = "odd^id/with#all?of\\them"
    created = record(odd)
    await store.create(created)
    created.history = every_kind_of_event()[:2]
    await store.save(created, 0)
    loaded = await reader.get(odd)
    assert loaded is not None and loaded.instance_id == odd and loaded.history == created.history
    [instance] = raw_rows(storage_connection, store.instances_table)
    assert instance["PartitionKey"] == "odd^^id^0with^2all^3of^1them"
    [found] = await reader.query(InstanceQuery(instance_id_prefix="odd^"))
    assert found.instance_id == odd
    assert await reader.query(InstanceQuery(instance_id_prefix="odd^^")) == []
    assert await reader.delete(odd)
    assert raw_rows(storage_connection, store.history_table) == []


async def test_query_by_status_time_and_prefix(store: TableInstanceStore) -> None:
    for i, status in enumerate(["Running", "Completed", "Failed"]):
        item = record(f"q-{i}", status=status)
        item.created_time = T0 + timedelta(hours=i)
        await store.create(item)
    other = record("other-1", status="Running")
    other.created_time = T0 + timedelta(hours=5)
    await store.create(other)
    running = await store.query(InstanceQuery(runtime_status=frozenset({"Running"})))
    assert [r.instance_id for r in running] == ["q-0", "other-1"]
    assert all(r.history == [] for r in running)
    late = await store.query(InstanceQuery(created_from=T0 + timedelta(minutes=30), instance_id_prefix="q-"))
    assert [r.instance_id for r in late] == ["q-1", "q-2"]
    early = await store.query(InstanceQuery(created_to=T0 + timedelta(hours=1)))
    assert [r.instance_id for r in early] == ["q-0", "q-1"]
    done = await store.query(InstanceQuery(runtime_status=frozenset({"Completed", "Failed"})))
    assert [r.instance_id for r in done] == ["q-1", "q-2"]
    assert [r.instance_id for r in await store.query(InstanceQuery(instance_id_prefix="q"))] == ["q-0", "q-1", "q-2"]
    assert [r.instance_id for r in await store.query(InstanceQuery())] == ["q-0", "q-1", "q-2", "other-1"]


async def test_delete_removes_instance_history_and_blobs(store: TableInstanceStore, storage_connection: str) -> None:
    for instance_id in ("order-1", "order-10"):  # "order-1" must not take "order-10" along
        created = record(instance_id)
        created.output = '"' + "o" * 70_000 + '"'
        await store.create(created)
        created.history = every_kind_of_event()
        created.history[2] = event(EventType.TaskScheduled, T0, 0, Name="Act", Version="", Input="i" * 70_000)
        await store.save(created, 0)
    again = record(execution_id="e2")  # a second execution: its rows and the first one's remain
    await store.create(again)
    again.history = every_kind_of_event("e2")[:3]
    await store.save(again, 0)
    assert await store.delete("order-1") is True
    assert await store.get("order-1") is None
    assert await store.delete("order-1") is False
    assert {r["PartitionKey"] for r in raw_rows(storage_connection, store.history_table)} == {"order-10"}
    assert [r["PartitionKey"] for r in raw_rows(storage_connection, store.instances_table)] == ["order-10"]
    assert blob_names(storage_connection, store) and all(
        n.startswith("order-10/") for n in blob_names(storage_connection, store))


async def test_two_writers_cannot_interleave(store: TableInstanceStore, storage_connection: str) -> None:
    created = record()
    await store.create(created)
    other = TableInstanceStore(storage_connection, store.hub)
    try:
        mine = await store.get("order-1")
        theirs = await other.get("order-1")
        theirs.history = every_kind_of_event()[:2]
        await other.save(theirs, 0)
        mine.history = every_kind_of_event()[:3]
        with pytest.raises(ConcurrentUpdateError):
            await store.save(mine, 0)
        history = raw_history(storage_connection, store)
        assert sorted(history) == [row_key(0), row_key(1), "sentinel"]  # the losing write left nothing behind
        fresh = await store.get("order-1")  # re-read after the conflict: sees the other write
        assert fresh.history == theirs.history
        fresh.history += every_kind_of_event()[2:4]
        await store.save(fresh, 2)
        theirs.history.append(event(EventType.OrchestratorCompleted, T0))
        with pytest.raises(ConcurrentUpdateError):  # now the other writer is behind
            await other.save(theirs, 2)
    finally:
        await other.close()


async def test_writer_that_never_saw_the_sentinel_cannot_overwrite(store: TableInstanceStore,
                                                                   storage_connection: str) -> None:
    created = record()
    await store.create(created)
    stranger = TableInstanceStore(storage_connection, store.hub)
    try:
        blind = record()
        blind.history = every_kind_of_event()[:2]
        with pytest.raises(ConcurrentUpdateError):
            await stranger.save(blind, 0)
    finally:
        await stranger.close()


async def test_many_events_in_one_save(store: TableInstanceStore, reader: TableInstanceStore,
                                       storage_connection: str) -> None:
    created = record()
    await store.create(created)
    created.history = [event(EventType.OrchestratorStarted, T0)] + [
        event(EventType.TaskScheduled, T0, i, Name="Act", Version="", Input=str(i)) for i in range(250)
    ]
    batches = record_transactions(store)
    await store.save(created, 0)
    assert [len(b) for b in batches] == [100, 100, 54]  # 99 events + the sentinel per transaction
    assert all(b[-1][1]["RowKey"] == "sentinel" for b in batches)
    loaded = await reader.get("order-1")
    assert loaded.history == created.history
    keys = sorted(k for k in raw_history(storage_connection, store) if k != "sentinel")
    assert keys == [row_key(i) for i in range(251)]
    assert raw_history(storage_connection, store)["sentinel"]["IsCheckpointComplete"] is True


async def test_transactions_stay_well_under_four_megabytes(store: TableInstanceStore,
                                                           reader: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    wide = "\u00e9" * 28_000  # kept inline (56,000 UTF-16 bytes) but 168,000 bytes as escaped JSON
    created.history = [event(EventType.EventRaised, T0, Name=f"e{i}", Input=wide) for i in range(40)]
    batches = record_transactions(store)
    await store.save(created, 0)
    assert len(batches) > 1
    for operations in batches:
        body = sum(len(json.dumps({k: str(v) for k, v in op[1].items()})) for op in operations)
        assert body < 3 * 1024 * 1024
    assert (await reader.get("order-1")).history == created.history


def record_transactions(store: TableInstanceStore) -> list[list[Any]]:
    """Spy on the store's history transactions: the operations of each, in order."""
    seen: list[list[Any]] = []
    submit = store._history.submit_transaction

    async def spy(operations: list[Any], **kwargs: Any) -> Any:
        seen.append(list(operations))
        return await submit(operations, **kwargs)

    store._history.submit_transaction = spy  # type: ignore[method-assign]
    return seen


async def test_a_row_that_missed_the_end_is_repaired_from_history(store: TableInstanceStore,
                                                                 storage_connection: str) -> None:
    created = record(status="Running")
    await store.create(created)
    created.history = every_kind_of_event()  # ends with ExecutionCompleted (Failed)
    await store.save(created, 0)  # the row still says Running, as after a crash before the row update
    restarted = TableInstanceStore(storage_connection, store.hub)  # a new process: nothing cached
    try:
        loaded = await restarted.get("order-1")
        assert loaded.runtime_status == "Failed" and loaded.output == '"bad"'
        assert (await restarted.get("order-1", history=False)).runtime_status == "Failed"  # row repaired
    finally:
        await restarted.close()


async def test_episodes_read_what_this_process_wrote_without_a_round_trip(store: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    created.history = every_kind_of_event()[:3]
    await store.save(created, 0)
    history_table, store._history = store._history, None  # any history read would now fail
    try:
        loaded = await store.get("order-1")
    finally:
        store._history = history_table
    assert loaded.history == created.history


async def test_open_is_idempotent_and_unknown_instances_are_none(store: TableInstanceStore) -> None:
    await store.open()
    assert await store.get("nobody") is None
    assert await store.get("nobody", history=False) is None
    assert await store.delete("nobody") is False


async def test_a_child_row_left_without_its_parent_by_a_crash_still_reports_to_the_parent(
        storage_connection: str) -> None:
    """A host that died after writing a sub-orchestration's first row and before its first checkpoint
    leaves a row without history, so without its parent; the redelivered start message carries the link."""
    host = LocalDurableHost(SAMPLE_APP)
    hub = f"Orphan{uuid.uuid4().hex[:8]}"
    store = TableInstanceStore(storage_connection, hub)
    host.engine = Engine(host.index, host.settings, clock=host.clock, store=store, renew_interval=1.0,
                         transport=AzureQueueTransport(storage_connection, hub, host.clock, visibility_timeout=2))
    write_row = store.create
    crashed: list[str] = []

    async def dies_after_a_parentless_child_row(record: InstanceRecord) -> None:
        if record.parent and not crashed:
            crashed.append(record.instance_id)
            await write_row(dataclasses.replace(record, parent=None))  # what reading that row back yields
            raise ConnectionError("the host died before the child's first checkpoint")
        await write_row(record)

    store.create = dies_after_a_parentless_child_row  # type: ignore[method-assign]
    async with host:
        instance_id = await host.start("Parent", instance_id="crashed-parent")
        record = await host.wait(instance_id, timeout=30)  # the child's start comes back after 2 s
        child = await store.get("crashed-parent-child")
    assert crashed == ["crashed-parent-child"]
    assert child is not None and child.runtime_status == "Completed"
    assert child.parent["OrchestrationInstance"]["InstanceId"] == "crashed-parent"
    assert record.runtime_status == "Completed" and host.output(record) == "Hello Hello sub"
