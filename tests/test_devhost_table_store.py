"""The local host's state in the real Azure Storage provider's table layout, against Azurite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from devhost.history import EventType, event, execution_started
from devhost.store import InstanceQuery, InstanceRecord
from devhost.table_store import ConcurrentUpdateError, TableInstanceStore, row_key, sanitize_key

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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


def record(instance_id: str = "order-1", execution_id: str = "e1", status: str = "Pending") -> InstanceRecord:
    return InstanceRecord(instance_id=instance_id, name="Orch", execution_id=execution_id, runtime_status=status,
                          created_time=T0, last_updated_time=T0, input='"{\\"a\\": 1}"')


def every_kind_of_event(execution_id: str = "e1") -> list[dict]:
    parent = {"Name": "P", "Version": "", "TaskScheduleId": 3,
              "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pe"}}
    return [
        event(EventType.OrchestratorStarted, T0),
        execution_started(T0, instance_id="order-1", execution_id=execution_id, name="Orch", input_json='"x"',
                          parent=parent),
        event(EventType.TaskScheduled, T0, 0, Name="Act", Version="", Input='{"orderId": "1"}'),
        event(EventType.TimerCreated, T0, 1, FireAt="2026-03-01T12:05:00.000000Z"),
        event(EventType.SubOrchestrationInstanceCreated, T0, 2, Name="Child", Version="", InstanceId="c-1",
              Input='"y"'),
        event(EventType.OrchestratorCompleted, T0),
        event(EventType.OrchestratorStarted, T0 + timedelta(seconds=1)),
        event(EventType.TaskCompleted, T0, TaskScheduledId=0, Result='{"ok": true}'),
        event(EventType.TaskFailed, T0, TaskScheduledId=0, Reason="Activity function 'Act' failed: boom",
              Details="Traceback"),
        event(EventType.TimerFired, T0, TimerId=1, FireAt="2026-03-01T12:05:00.000000Z"),
        event(EventType.EventRaised, T0, Name="Go", Input='"\\"yes\\""'),
        event(EventType.SubOrchestrationInstanceCompleted, T0, TaskScheduledId=2, Result='"done"'),
        event(EventType.ExecutionCompleted, T0, OrchestrationStatus="Failed", Result='"bad"',
              FailureDetails={"ErrorType": "X", "ErrorMessage": "bad"}),
        event(EventType.OrchestratorCompleted, T0 + timedelta(seconds=1)),
    ]


def without_nones(item: dict) -> dict:
    return {k: v for k, v in item.items() if v is not None}


async def test_every_event_kind_round_trips(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    created.history = every_kind_of_event()
    created.runtime_status = "Failed"
    await store.save(created, 0)
    loaded = await reader.get("order-1")
    assert loaded is not None
    assert [without_nones(e) for e in loaded.history] == [without_nones(e) for e in created.history]
    assert loaded.parent == created.history[1]["ParentInstance"]
    assert (loaded.runtime_status, loaded.input, loaded.created_time) == ("Failed", created.input, T0)


async def test_rows_use_the_real_providers_layout(store: TableInstanceStore, storage_connection: str) -> None:
    created = record()
    await store.create(created)
    created.history = every_kind_of_event()[:3]
    await store.save(created, 0)
    service = TableServiceClient.from_connection_string(storage_connection)
    rows = {r["RowKey"]: r for r in service.get_table_client(f"{store.hub}History").list_entities()}
    assert set(rows) == {"sentinel", row_key(0), row_key(1), row_key(2)}
    assert rows["sentinel"]["ExecutionId"] == "e1"
    assert rows["0000000000000002"]["EventType"] == "TaskScheduled"
    assert rows["0000000000000002"]["Name"] == "Act" and rows["0000000000000002"]["EventId"] == 0
    assert isinstance(rows["0000000000000002"]["_Timestamp"], datetime)
    instance = service.get_table_client(f"{store.hub}Instances").get_entity("order-1", "")
    assert instance["RuntimeStatus"] == "Pending" and instance["Name"] == "Orch"
    assert instance["ExecutionId"] == "e1" and instance["TaskHubName"] == store.hub


async def test_appends_continue_the_row_keys(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    events = every_kind_of_event()
    created.history = events[:6]
    await store.save(created, 0)
    again = await store.get("order-1")
    again.history += events[6:]
    await store.save(again, 6)
    assert [e["EventType"] for e in (await reader.get("order-1")).history] == [e["EventType"] for e in events]


async def test_continue_as_new_shows_only_the_current_execution(store: TableInstanceStore, reader: TableInstanceStore,
                                                                storage_connection: str) -> None:
    first = record()
    await store.create(first)
    first.history = every_kind_of_event()
    await store.save(first, 0)
    second = record(execution_id="e2", status="Running")
    await store.create(second)
    second.history = every_kind_of_event("e2")[:2]
    await store.save(second, 0)
    loaded = await reader.get("order-1")
    assert loaded.execution_id == "e2" and len(loaded.history) == 2
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"{store.hub}History")
    stale = [r for r in raw.list_entities() if r.get("ExecutionId") == "e1" and r["RowKey"] != "sentinel"]
    assert len(stale) == len(first.history) - 2  # earlier execution's rows beyond the new ones stay behind


async def test_large_values_go_to_blobs(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    big = '"' + "z" * 200_000 + '"'
    created = record()
    created.input = big
    await store.create(created)
    created.history = [event(EventType.OrchestratorStarted, T0),
                       execution_started(T0, instance_id="order-1", execution_id="e1", name="Orch", input_json=big)]
    created.output = big
    await store.save(created, 0)
    loaded = await reader.get("order-1")
    assert loaded.input == big and loaded.output == big and loaded.history[1]["Input"] == big
    assert await store.delete("order-1")
    container = store._blob_service.get_container_client(store.container)
    assert [b async for b in container.list_blobs()] == []


async def test_keys_are_sanitized_and_restored(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    assert sanitize_key("a^b") == "a^5Eb"
    created = record("odd^id")
    await store.create(created)
    loaded = await reader.get("odd^id")
    assert loaded is not None and loaded.instance_id == "odd^id"
    [found] = await store.query(InstanceQuery(instance_id_prefix="odd^"))
    assert found.instance_id == "odd^id"


async def test_query_by_status_time_and_prefix(store: TableInstanceStore) -> None:
    for i, status in enumerate(["Running", "Completed", "Failed"]):
        item = record(f"q-{i}", status=status)
        item.created_time = T0 + timedelta(hours=i)
        await store.create(item)
    await store.create(record("other-1", status="Running"))
    running = await store.query(InstanceQuery(runtime_status=frozenset({"Running"})))
    assert {r.instance_id for r in running} == {"q-0", "other-1"}
    late = await store.query(InstanceQuery(created_from=T0 + timedelta(minutes=30), instance_id_prefix="q-"))
    assert [r.instance_id for r in late] == ["q-1", "q-2"]
    done = await store.query(InstanceQuery(runtime_status=frozenset({"Completed", "Failed"})))
    assert [r.instance_id for r in done] == ["q-1", "q-2"]


async def test_delete_removes_instance_and_history(store: TableInstanceStore, storage_connection: str) -> None:
    created = record()
    await store.create(created)
    created.history = every_kind_of_event()
    await store.save(created, 0)
    assert await store.delete("order-1") is True
    assert await store.get("order-1") is None
    assert await store.delete("order-1") is False
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"{store.hub}History")
    assert list(raw.list_entities()) == []


async def test_two_writers_cannot_interleave(store: TableInstanceStore, storage_connection: str) -> None:
    created = record()
    await store.create(created)
    other = TableInstanceStore(storage_connection, store.hub)
    await other.open()
    try:
        mine = await store.get("order-1")
        theirs = await other.get("order-1")
        theirs.history = every_kind_of_event()[:2]
        await other.save(theirs, 0)
        mine.history = every_kind_of_event()[:3]
        with pytest.raises(ConcurrentUpdateError):
            await store.save(mine, 0)
    finally:
        await other.close()


async def test_many_events_in_one_save(store: TableInstanceStore, reader: TableInstanceStore) -> None:
    created = record()
    await store.create(created)
    created.history = [event(EventType.OrchestratorStarted, T0)] + [
        event(EventType.TaskScheduled, T0, i, Name="Act", Input=str(i)) for i in range(250)
    ]
    await store.save(created, 0)
    loaded = await reader.get("order-1")
    assert [e["EventId"] for e in loaded.history[1:]] == list(range(250))


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
    assert len(loaded.history) == 3
