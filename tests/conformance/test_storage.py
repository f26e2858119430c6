"""DurableTask.AzureStorage's storage layout (Azure/durabletask, src/DurableTask.AzureStorage)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost import message_data
from devhost.clock import Clock
from devhost.history import EventType, event, execution_started, parse_time
from devhost.store import InstanceRecord
from devhost.table_store import TableInstanceStore, row_key, sanitize_key
from devhost.transport import QUEUE_API_VERSION, AzureQueueTransport, Message, fnv1a_32


def test_control_queue_partition_hashes_the_instance_ids_utf8_bytes() -> None:
    """Fnv1aHashHelper.ComputeHash: 32-bit FNV-1a over `(encoding ?? Encoding.UTF8).GetBytes(value)`, and
    AzureStorageOrchestrationService.GetControlQueueAsync takes it modulo the partition count."""
    assert fnv1a_32("a") == 0xE40C292C  # the published FNV-1a 32-bit test vectors
    assert fnv1a_32("foobar") == 0xBF9CF968
    expected = 0x811C9DC5
    for byte in "café-1".encode():
        expected = ((expected ^ byte) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a_32("café-1") == expected


# MessageManagerTests.GetMessage (Azure/durabletask, test/DurableTask.AzureStorage.Tests): a message as the
# real provider serializes it, with {dictionaryType} filled in as Newtonsoft writes it on .NET.
PROVIDER_MESSAGE = (
    '{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":"5406d369-4369-4673-afae-6671a2fa1e57",'
    '"TaskMessage":{"$type":"DurableTask.Core.TaskMessage","Event":{"$type":"DurableTask.Core.History.'
    'ExecutionStartedEvent","OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance",'
    '"InstanceId":"2.2-34a2c9d4","ExecutionId":"aae324dcc8f943e490b37ec5e5bbf9da"},"EventType":0,'
    '"ParentInstance":null,"Name":"OrchestrationName","Version":"2.0","Input":"input","Tags":{"$type":'
    '"System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],[System.String, '
    'System.Private.CoreLib]]","tag1":"tagValue"},"Correlation":null,"ScheduledStartTime":null,"Generation":0,'
    '"EventId":-1,"IsPlayed":false,"Timestamp":"2023-03-24T20:53:05.9093518Z"},"SequenceNumber":0,'
    '"OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":"2.2-34a2c9d4",'
    '"ExecutionId":"aae324dcc8f943e490b37ec5e5bbf9da"}},"CompressedBlobName":null,"SequenceNumber":40,'
    '"Sender":{"InstanceId":"","ExecutionId":""},"SerializableTraceContext":null}'
)


@contextlib.asynccontextmanager
async def hub(connection: str) -> AsyncIterator[AzureQueueTransport]:
    """A task hub of its own whose activity work items all go through the queue (none handed over in memory)."""
    transport = AzureQueueTransport(connection, f"C{uuid.uuid4().hex[:8]}", Clock(), local_activity_limit=0)
    await transport.open()
    try:
        yield transport
    finally:
        await transport.close()


def peek(connection: str, queue: str) -> list[str]:
    client = QueueServiceClient.from_connection_string(connection, api_version=QUEUE_API_VERSION)
    return [m.content for m in client.get_queue_client(queue).peek_messages(max_messages=32)]


async def test_queue_messages_are_the_providers_message_data(storage_connection: str) -> None:
    """MessageManager serializes MessageData with TypeNameHandling.Objects and a binder without assembly names
    (TypeNameSerializationHelper.BindToName), members in Newtonsoft's order, Event typed as the abstract
    HistoryEvent (so `$type` must come first); TaskHubQueue.AddMessageAsync fills ActivityId and SequenceNumber;
    the body is plain UTF-8 JSON (QueueClientMessageEncoding.UTF8)."""
    started = execution_started(datetime(2026, 12, 5, 10, 0, 0, 120000, tzinfo=UTC), instance_id="order-7",
                                execution_id="e7", name="Orch", input_json='"in"')
    scheduled = event(EventType.TaskScheduled, datetime(2026, 12, 5, 10, 0, 1, tzinfo=UTC), 0, Name="Act",
                      Version="", Input='"x"')
    async with hub(storage_connection) as transport:
        await transport.send_activity([Message("order-7", scheduled, "e7")])
        [text] = peek(storage_connection, transport.workitems_name)
    body = json.loads(text)
    assert list(body) == ["$type", "ActivityId", "TaskMessage", "CompressedBlobName", "SequenceNumber", "Sender",
                          "SerializableTraceContext"]
    assert body["$type"] == "DurableTask.AzureStorage.MessageData" and body["Sender"] == {"InstanceId": "",
                                                                                         "ExecutionId": ""}
    task = body["TaskMessage"]
    assert list(task) == ["$type", "Event", "SequenceNumber", "OrchestrationInstance", "OrchestrationExecutionContext"]
    assert task["OrchestrationInstance"] == {"$type": "DurableTask.Core.OrchestrationInstance",
                                             "InstanceId": "order-7", "ExecutionId": "e7"}
    assert task["Event"] == {"$type": "DurableTask.Core.History.TaskScheduledEvent", "EventType": 4, "Name": "Act",
                             "Version": "", "Input": '"x"', "EventId": 0, "IsPlayed": False,
                             "Timestamp": "2026-12-05T10:00:01Z"}
    typed = message_data.encode("order-7", "e7", started)["TaskMessage"]["Event"]
    assert list(typed)[:3] == ["$type", "OrchestrationInstance", "EventType"]  # a field before the properties
    assert list(typed)[-3:] == ["EventId", "IsPlayed", "Timestamp"] and typed["Timestamp"] == "2026-12-05T10:00:00.12Z"


async def test_a_message_the_real_provider_wrote_is_received(storage_connection: str) -> None:
    """MessageManager.DeserializeQueueMessageAsync: plain JSON (or base64), types from `$type`; the local host
    reads the provider's own messages, so a task hub can move between the two at rest or in flight."""
    async with hub(storage_connection) as transport:
        queue = transport._control[transport.partition_of("2.2-34a2c9d4")]
        await queue.send_message(PROVIDER_MESSAGE)
        [delivery] = await asyncio.wait_for(transport.receive(32), 10)
        await transport.ack([delivery])
    message = delivery.message
    assert (message.instance_id, message.execution_id) == ("2.2-34a2c9d4", "aae324dcc8f943e490b37ec5e5bbf9da")
    assert message.event["EventType"] == EventType.ExecutionStarted and message.event["Input"] == "input"
    assert message.event["Tags"] == {"tag1": "tagValue"}
    assert message.event["OrchestrationInstance"] == {"InstanceId": "2.2-34a2c9d4",
                                                      "ExecutionId": "aae324dcc8f943e490b37ec5e5bbf9da"}
    assert parse_time(message.event["Timestamp"]) == datetime(2023, 3, 24, 20, 53, 5, 909351, tzinfo=UTC)


async def test_a_large_message_goes_to_a_blob_under_the_providers_name(storage_connection: str) -> None:
    """MessageManager: over MaxStorageQueuePayloadSizeInBytes (45 KiB of UTF-8) the whole MessageData goes
    gzip-compressed to `{hub}-largemessages/{instanceId}/message-{ActivityId:N}-{EventType}.json.gz` and the
    queue holds a MessageData with only CompressedBlobName."""
    big = event(EventType.TaskScheduled, Clock().now(), 0, Name="Act", Version="", Input='"' + "x" * 60_000 + '"')
    async with hub(storage_connection) as transport:
        await transport.send_activity([Message("big-1", big, "e1")])
        [text] = peek(storage_connection, transport.workitems_name)
        pointer = json.loads(text)
        container = BlobServiceClient.from_connection_string(
            storage_connection, api_version=QUEUE_API_VERSION).get_container_client(transport.large_container)
        stored = json.loads(gzip.decompress(container.download_blob(pointer["CompressedBlobName"]).readall()))
        delivery = await asyncio.wait_for(transport.receive_activity(), 10)
        await transport.ack([delivery])
    assert pointer["TaskMessage"] is None
    assert re.fullmatch(r"big-1/message-[0-9a-f]{32}-TaskScheduled\.json\.gz", pointer["CompressedBlobName"])
    assert stored["$type"] == "DurableTask.AzureStorage.MessageData" and stored["CompressedBlobName"] is None
    assert stored["TaskMessage"]["Event"]["Input"] == big["Input"] == delivery.message.event["Input"]


def instances_row(connection: str, store: TableInstanceStore, instance_id: str) -> dict[str, Any]:
    client = TableServiceClient.from_connection_string(connection).get_table_client(store.instances_table)
    return dict(client.get_entity(sanitize_key(instance_id), ""))


def add_tags(connection: str, store: TableInstanceStore, instance_id: str) -> None:
    """Columns this host never writes, as the real client's SetNewExecutionAsync does for tags and a scheduled start."""
    client = TableServiceClient.from_connection_string(connection).get_table_client(store.instances_table)
    client.update_entity({"PartitionKey": sanitize_key(instance_id), "RowKey": "", "Tags": '{"team":"orders"}',
                          "ScheduledStartTime": T0}, mode=UpdateMode.MERGE)


T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


async def test_instances_rows_are_merged_with_the_providers_columns(storage_connection: str) -> None:
    """AzureTableTrackingStore.UpdateStateAsync writes the Instances row with InsertOrMerge (Tags and
    ScheduledStartTime stay), `CustomStatus = newRuntimeState.Status ?? "null"` at every checkpoint and Output
    raw for a failure (`FailureDetails?.ToString() ?? Result`); SetNewExecutionAsync (a start) writes no
    CustomStatus and carries Generation."""
    store = TableInstanceStore(storage_connection, f"C{uuid.uuid4().hex[:8]}")
    await store.open()
    try:
        record = InstanceRecord("order-9", "Orch", "e1", "Pending", T0, T0, input='"in"', generation=2)
        await store.create(record)
        pending = instances_row(storage_connection, store, "order-9")
        add_tags(storage_connection, store, "order-9")
        record.runtime_status = "Running"
        record.history = [event(EventType.OrchestratorStarted, T0),
                          execution_started(T0, instance_id="order-9", execution_id="e1", name="Orch",
                                            input_json='"in"', generation=2),
                          event(EventType.OrchestratorCompleted, T0)]
        await store.save(record, 0)
        running = instances_row(storage_connection, store, "order-9")
        message = "Orchestrator function 'Orch' failed: no stock"
        record.runtime_status, record.output, record.completed_time = "Failed", message, T0
        record.history.append(event(EventType.ExecutionCompleted, T0, OrchestrationStatus="Failed", Result=message))
        await store.save(record, 3)
        failed = instances_row(storage_connection, store, "order-9")
    finally:
        await store.close()
    assert "CustomStatus" not in pending and pending["Generation"] == 2
    assert running["CustomStatus"] == "null" and running["Tags"] == '{"team":"orders"}'
    assert running["ScheduledStartTime"] == T0
    assert failed["Output"] == message and failed["RuntimeStatus"] == "Failed" and failed["Tags"] == '{"team":"orders"}'
    assert "FailureDetails" not in failed


async def test_continue_as_new_writes_the_next_generation_over_the_first_rows(storage_connection: str) -> None:
    """UpdateStateAsync after ContinueAsNew: the new generation's events from RowKey 0 (UpsertReplace; rows of
    the old generation past its end stay, skipped by their ExecutionId), the sentinel on the new ExecutionId,
    the Instances row merged: CreatedTime from the new ExecutionStarted, Generation and Tags kept."""
    store = TableInstanceStore(storage_connection, f"C{uuid.uuid4().hex[:8]}")
    await store.open()
    try:
        old = InstanceRecord("loop-1", "Orch", "e1", "Pending", T0, T0, input="0", generation=1)
        await store.create(old)
        add_tags(storage_connection, store, "loop-1")
        old.runtime_status = "Running"
        old.history = [event(EventType.OrchestratorStarted, T0), *(
            event(EventType.TimerCreated, T0, i, FireAt="2026-12-05T09:00:00.000000Z") for i in range(5)),
            event(EventType.OrchestratorCompleted, T0)]
        await store.save(old, 0)
        later = T0 + timedelta(minutes=3)
        new = dataclasses.replace(old, execution_id="e2", created_time=later, input="1", history=[
            event(EventType.OrchestratorStarted, later),
            execution_started(later, instance_id="loop-1", execution_id="e2", name="Orch", input_json="1",
                              generation=None),
            event(EventType.OrchestratorCompleted, later)])
        await store.continue_as_new(new)
        row = instances_row(storage_connection, store, "loop-1")
        history = {r["RowKey"]: r for r in TableServiceClient.from_connection_string(storage_connection)
                   .get_table_client(store.history_table).list_entities()}
        reread = TableInstanceStore(storage_connection, store.hub)
        current = await reread.get("loop-1")
        await reread.close()
    finally:
        await store.close()
    assert history["sentinel"]["ExecutionId"] == "e2"
    assert [history[row_key(i)]["ExecutionId"] for i in range(7)] == ["e2"] * 3 + ["e1"] * 4
    assert row["ExecutionId"] == "e2" and row["CreatedTime"] == later and row["Input"] == "1"
    assert row["Generation"] == 1 and row["Tags"] == '{"team":"orders"}'
    assert current is not None and [e["EventType"] for e in current.history] == [
        EventType.OrchestratorStarted, EventType.ExecutionStarted, EventType.OrchestratorCompleted]
