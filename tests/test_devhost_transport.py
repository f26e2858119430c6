"""The Azure Storage queue transport against Azurite: the real provider's queues and message lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from azure.storage.queue import QueueServiceClient

from devhost.clock import Clock
from devhost.history import EventType, event
from devhost.transport import QUEUE_API_VERSION, AzureQueueTransport, Delivery, Message, fnv1a_32


@contextlib.asynccontextmanager
async def opened(connection: str, **kwargs: Any) -> AsyncIterator[AzureQueueTransport]:
    """A transport on a task hub of its own, open for the block."""
    t = AzureQueueTransport(connection, f"T{uuid.uuid4().hex[:8]}", Clock(), **kwargs)
    await t.open()
    try:
        yield t
    finally:
        await t.close()


def raised(instance_id: str, payload: str = '"x"') -> Message:
    return Message(instance_id, event(EventType.EventRaised, Clock().now(), Name="E", Input=payload), "exec-1")


async def visible_again(t: AzureQueueTransport, client: Any, timeout: float = 10) -> list[Delivery]:
    """Poll a queue (bounded) until a message in it is visible again, and receive what is there."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await t._poll(client, 32)
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message became visible again in {client.queue_name} within {timeout} s")


async def leases_taken_so_far_ran_out(t: AzureQueueTransport, timeout: float = 10) -> None:
    """Wait (bounded) until every lease taken before this call has run out: a probe sent now, invisible
    for one visibility timeout, has become visible (on the storage service's clock, like the leases)."""
    probe = t._queues.get_queue_client(f"{t.hub.lower()}-probe")
    await probe.create_queue()
    try:
        await probe.send_message("probe", visibility_timeout=t.visibility_timeout)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if await probe.peek_messages():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the probe did not become visible within {timeout} s")
    finally:
        await probe.delete_queue()
        await probe.close()


def test_fnv1a_matches_the_reference_vectors() -> None:
    # FNV-1a 32-bit of the empty input is the offset basis.
    assert fnv1a_32("") == 0x811C9DC5
    assert fnv1a_32("a") != fnv1a_32("b")


async def test_queues_are_named_like_the_real_provider(storage_connection: str) -> None:
    async with opened(storage_connection, partition_count=4) as t:
        names = {q.name for q in QueueServiceClient.from_connection_string(
            storage_connection, api_version=QUEUE_API_VERSION).list_queues()}
        prefix = t.hub.lower()
        assert {f"{prefix}-control-0{i}" for i in range(4)} | {f"{prefix}-workitems"} <= names


async def test_message_round_trip_and_ack(storage_connection: str) -> None:
    async with opened(storage_connection) as t:
        await t.send([raised("order-1")])
        [delivery] = await asyncio.wait_for(t.receive(32), 10)
        assert delivery.message.instance_id == "order-1"
        assert delivery.message.execution_id == "exec-1"
        assert delivery.message.event["Name"] == "E"
        await t.ack([delivery])
        assert await t._poll(t._control[t.partition_of("order-1")], 32) == []


async def test_unacknowledged_message_comes_back_after_visibility_timeout(storage_connection: str) -> None:
    async with opened(storage_connection, visibility_timeout=1) as t:
        await t.send([raised("crash-1")])
        [first] = await asyncio.wait_for(t.receive(32), 10)
        # Simulate a host that died before acknowledging: the message reappears.
        [again] = await asyncio.wait_for(t.receive(32), 10)
        assert again.message.event == first.message.event
        assert again.extra["id"] == first.extra["id"]
        await t.ack([again])


async def test_large_messages_go_through_blob_storage(storage_connection: str) -> None:
    async with opened(storage_connection) as t:
        big = '"' + "x" * 200_000 + '"'
        await t.send([raised("big-1", big)])
        [delivery] = await asyncio.wait_for(t.receive(32), 10)
        assert delivery.message.event["Input"] == big
        assert delivery.extra["blob"]
        await t.ack([delivery])
        blobs = t._blobs.get_container_client(t.large_container)
        assert [b async for b in blobs.list_blobs()] == []


async def test_timer_messages_stay_invisible_until_due(storage_connection: str) -> None:
    async with opened(storage_connection) as t:
        due = Clock().now() + timedelta(seconds=2)
        await t.send([raised("timer-1")], visible_at=due)
        assert await t._poll(t._control[t.partition_of("timer-1")], 32) == []
        [delivery] = await asyncio.wait_for(t.receive(32), 10)
        assert Clock().now() >= due - timedelta(milliseconds=50)
        await t.ack([delivery])


async def test_activity_work_items(storage_connection: str) -> None:
    async with opened(storage_connection) as t:
        scheduled = event(EventType.TaskScheduled, Clock().now(), 3, Name="Hello", Input='"x"')
        await t.send_activity([Message("order-9", scheduled, "exec-9")])
        delivery = await asyncio.wait_for(t.receive_activity(), 10)
        assert delivery.message.event["Name"] == "Hello" and delivery.message.event["EventId"] == 3
        await t.renew([delivery])
        await t.ack([delivery])


def completed(instance_id: str) -> Message:
    return Message(instance_id, event(EventType.TaskCompleted, Clock().now(), TaskScheduledId=0, Result="1"), "exec-1")


async def test_a_result_rides_on_its_work_item_until_acknowledged(storage_connection: str) -> None:
    async with opened(storage_connection, visibility_timeout=1) as t:
        scheduled = Message("order-1", event(EventType.TaskScheduled, Clock().now(), EventId=0, Name="A"), "exec-1")
        await t.send_activity([scheduled])
        work_item = await asyncio.wait_for(t.receive_activity(), 10)
        await t.send_result(completed("order-1"), work_item)
        [result] = await asyncio.wait_for(t.receive(32), 10)
        assert result.message.event["EventType"] == EventType.TaskCompleted
        assert await t._poll(t._control[t.partition_of("order-1")], 32) == []  # no message of its own
        await t.ack([result])
        await leases_taken_so_far_ran_out(t)  # past the visibility timeout: the work item is gone with the result
        assert await t._poll(t._workitems, 32) == []


async def test_an_unacknowledged_result_brings_its_work_item_back(storage_connection: str) -> None:
    async with opened(storage_connection, visibility_timeout=1) as t:
        scheduled = Message("order-2", event(EventType.TaskScheduled, Clock().now(), EventId=0, Name="A"), "exec-1")
        await t.send_activity([scheduled])
        work_item = await asyncio.wait_for(t.receive_activity(), 10)
        await t.send_result(completed("order-2"), work_item)
        await asyncio.wait_for(t.receive(32), 10)  # taken, never acknowledged (the host "crashed")
        [again] = await visible_again(t, t._workitems)
        assert again.message.event["EventType"] == EventType.TaskScheduled  # the activity will run again


async def test_acknowledging_a_message_received_again_meanwhile_is_not_an_error(storage_connection: str) -> None:
    async with opened(storage_connection, visibility_timeout=1) as t:
        await t.send([raised("order-3")])
        [first] = await asyncio.wait_for(t.receive(32), 10)
        # its visibility timeout runs out (a host too busy to renew it)
        [again] = await visible_again(t, t._control[t.partition_of("order-3")])
        await t.ack([first])  # stale pop receipt: a warning, not an exception
        await t.ack([again])
        assert await t._poll(t._control[t.partition_of("order-3")], 32) == []


async def test_renewing_a_message_deleted_or_taken_meanwhile_is_quiet(storage_connection: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The renewal loop works on a snapshot: a message acknowledged meanwhile is no warning, one whose
    lease ran out and was received again is one line (no traceback), and neither raises."""
    async with opened(storage_connection, visibility_timeout=1) as t:
        await t.send([raised("order-4")])
        [done] = await asyncio.wait_for(t.receive(32), 10)
        await t.ack([done])
        with caplog.at_level(logging.WARNING, logger="devhost"):
            await t.renew([done])
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []

        await t.send([raised("order-5")])
        [first] = await asyncio.wait_for(t.receive(32), 10)
        [again] = await visible_again(t, t._control[t.partition_of("order-5")])  # its lease ran out
        with caplog.at_level(logging.WARNING, logger="devhost"):
            await t.renew([first])
        [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert "received again" in warning.getMessage() and warning.exc_info is None
        await t.ack([again])


async def test_leases_are_renewed_many_at_a_time(storage_connection: str, caplog: pytest.LogCaptureFixture) -> None:
    """Under load the host holds thousands of messages; renewed one request after another they outlive their
    visibility timeout and come back while still in work (an event then reached history twice). Renewals go
    out concurrently, and every lease is extended.

    "Extended" is read from the service's answers, not from a changed pop receipt: Azurite's receipt is the
    current second plus 16 random bits (queue/utils/utils.js getPopReceipt), so a renewal within the second
    of the send returns the same receipt once in 65,536 times (it failed CI once, with 200 messages)."""
    async with opened(storage_connection, visibility_timeout=30) as t:
        await t.send([raised(f"flood-{i}") for i in range(200)])
        held: list[Any] = []
        while len(held) < 200:
            held += await asyncio.wait_for(t.receive(32), 10)
        in_flight = most = 0
        answered: dict[str, str] = {}  # message id -> the pop receipt its renewal returned

        def counted(update: Any) -> Any:
            async def call(message_id: str, *args: Any, **kwargs: Any) -> Any:
                nonlocal in_flight, most
                in_flight += 1
                most = max(most, in_flight)
                try:
                    updated = await update(message_id, *args, **kwargs)
                    answered[message_id] = updated.pop_receipt
                    return updated
                finally:
                    in_flight -= 1
            return call

        for client in t._control:
            client.update_message = counted(client.update_message)
        with caplog.at_level(logging.WARNING, logger="devhost"):
            await t.renew(held)
        assert most > 1
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert {d.extra["id"]: d.receipt for d in held} == answered  # every lease was extended, and kept
        await t.ack(held)
