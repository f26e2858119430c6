"""How messages travel between the host's dispatchers.

Two transports with one interface:

* `MemoryTransport` keeps messages in process memory and fires timers from the
  engine's clock, so a virtual clock drives them (fast in-process tests).
* `AzureQueueTransport` uses the real Azure Storage provider's queues:
  `{hub}-control-NN` (one per partition, instance -> partition by FNV-1a hash)
  for orchestration messages and `{hub}-workitems` for activities. A message is
  deleted only after the work it caused has been checkpointed, so a host killed
  at any moment finds it again once its visibility timeout expires. Messages this
  process sends for immediate work are sent invisible and handed over in memory
  (it already holds their pop receipts), which saves a receive and the polling
  delay; should the process die, they become visible and are received as usual.

A received message is a `Delivery`; the engine acks it when done with it.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import gzip
import heapq
import itertools
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import message_data
from .clock import Clock
from .history import Event, to_json

log = logging.getLogger("devhost.transport")

MAX_VISIBILITY_DELAY = timedelta(days=7) - timedelta(minutes=1)
RENEW_CONCURRENCY = 64  # lease renewals in flight at once
QUEUE_API_VERSION = "2025-11-05"  # Azurite 3.35 rejects newer service versions without --skipApiVersionCheck


@dataclass
class Message:
    """A message to one orchestration instance (DurableTask's TaskMessage)."""

    instance_id: str
    event: Event
    execution_id: str | None = None


@dataclass(eq=False)
class Delivery:
    """A received message and the handle needed to delete or renew it."""

    message: Message
    receipt: Any = None
    queue: Any = None
    received_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Transport(Protocol):
    """What the engine needs from a message transport."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, messages: list[Message], visible_at: datetime | None = None) -> None:
        """Send orchestration messages, optionally invisible until `visible_at` (timers)."""

    async def send_activity(self, messages: list[Message]) -> None:
        """Send activity work items (TaskScheduled events addressed to their instance)."""

    async def send_result(self, result: Message, work_item: Delivery) -> None:
        """Hand an activity's result to its orchestration; acknowledging it acknowledges `work_item`."""

    async def receive(self, max_messages: int) -> list[Delivery]:
        """Wait for orchestration messages."""

    async def receive_activity(self) -> Delivery:
        """Wait for one activity work item."""

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Delete messages whose work is done (checkpointed)."""

    async def renew(self, deliveries: list[Delivery]) -> None:
        """Extend the leases of messages still being worked on."""

    def pending(self) -> int:
        """Messages sent but not yet received (0 when unknown); timers not yet due are excluded."""

    def local_backlog(self) -> list[Delivery]:
        """Messages this process holds but no dispatcher has taken yet (their leases are renewed too)."""

    def fire_due_timers(self) -> int:
        """Release timers that are due now (meaningful for a virtual clock)."""

    def pending_timers(self) -> list[tuple[datetime, str]]:
        """(due, instance id) of every timer not yet released, earliest first (empty when unknown)."""


# -- in memory ---------------------------------------------------------------------------


class MemoryTransport:
    """Messages in process memory; lost when the process stops."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._control: asyncio.Queue[Message] = asyncio.Queue()
        self._activities: asyncio.Queue[Message] = asyncio.Queue()
        self._timers: list[tuple[datetime, int, Message]] = []
        self._counter = itertools.count()
        self._timer_wake = asyncio.Event()
        self._timer_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._timer_task = asyncio.create_task(self._timer_loop())

    async def close(self) -> None:
        if self._timer_task:
            self._timer_task.cancel()
            await asyncio.gather(self._timer_task, return_exceptions=True)

    async def send(self, messages: list[Message], visible_at: datetime | None = None) -> None:
        for message in messages:
            if visible_at is not None and visible_at > self.clock.now():
                heapq.heappush(self._timers, (visible_at, next(self._counter), message))
                self._timer_wake.set()
            else:
                self._control.put_nowait(message)

    async def send_activity(self, messages: list[Message]) -> None:
        for message in messages:
            self._activities.put_nowait(message)

    async def send_result(self, result: Message, work_item: Delivery) -> None:
        await self.send([result])

    async def receive(self, max_messages: int) -> list[Delivery]:
        batch = [Delivery(await self._control.get())]
        while len(batch) < max_messages and not self._control.empty():
            batch.append(Delivery(self._control.get_nowait()))
        return batch

    async def receive_activity(self) -> Delivery:
        return Delivery(await self._activities.get())

    async def ack(self, deliveries: list[Delivery]) -> None:
        return None

    async def renew(self, deliveries: list[Delivery]) -> None:
        return None

    def local_backlog(self) -> list[Delivery]:
        return []

    def pending(self) -> int:
        return self._control.qsize() + self._activities.qsize()

    def fire_due_timers(self) -> int:
        fired = 0
        while self._timers and self._timers[0][0] <= self.clock.now():
            _, _, message = heapq.heappop(self._timers)
            self._control.put_nowait(message)
            fired += 1
        return fired

    def next_timer_due(self) -> datetime | None:
        return self._timers[0][0] if self._timers else None

    def pending_timers(self) -> list[tuple[datetime, str]]:
        return [(due, message.instance_id) for due, _, message in sorted(self._timers, key=lambda item: item[:2])]

    async def _timer_loop(self) -> None:
        while True:
            if self.fire_due_timers():
                continue
            self._timer_wake.clear()
            if not self._timers:
                await self._timer_wake.wait()
                continue
            await self.clock.sleep_until(self._timers[0][0], self._timer_wake)


# -- Azure Storage queues ---------------------------------------------------------------------


def local_transport() -> Any:
    """An HTTP transport that does not read proxy and netrc settings on every request.

    The default reads them per call, which costs more CPU than the local request itself."""
    from azure.core.pipeline.transport import AioHttpTransport

    return AioHttpTransport(use_env_settings=False)


def fnv1a_32(text: str) -> int:
    """FNV-1a over the UTF-8 bytes of `text`, as DurableTask.AzureStorage hashes instance ids
    (Fnv1aHashHelper.ComputeHash: `(encoding ?? Encoding.UTF8).GetBytes(value)`)."""
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def queue_prefix(hub: str) -> str:
    """Queue and container names use the lower-case hub name."""
    return hub.lower()


class PollSchedule:
    """When to poll a queue next: at once while it has messages, backing off while it is empty.

    The schedule survives between receives, so handing messages over in memory (which wakes the
    receiver without a poll) does not reset the back-off: an idle queue is polled at most every
    `longest` seconds, however busy the host is. Senders pull the next poll forward when they know
    a message is waiting there (an overflow message, a timer that becomes visible).
    """

    def __init__(self, first: float, longest: float):
        self.first, self.longest = first, max(first, longest)
        self.interval, self.due = first, 0.0

    def is_due(self, now: float) -> bool:
        return now >= self.due

    def polled(self, now: float, found: bool) -> None:
        self.interval = self.first if found else min(self.longest, self.interval * 2)
        self.due = now + self.interval

    def expect_by(self, when: float) -> None:
        self.due = min(self.due, when)

    def wait_time(self, now: float) -> float:
        return max(0.0, self.due - now)


def _error_code(error: Exception) -> str:
    """The storage service's error code (azure-storage sets it on the exceptions it raises, as a str enum)."""
    code = getattr(error, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _lease(delivery: Delivery) -> asyncio.Lock:
    """The lock that keeps a delivery's renewal and its delete apart (each changes or needs its pop receipt)."""
    lock = delivery.extra.get("lease")
    if lock is None:
        lock = delivery.extra["lease"] = asyncio.Lock()
    return lock


class AzureQueueTransport:
    """Control and work-item queues in Azure Storage (Azurite locally)."""

    def __init__(
        self,
        connection_string: str,
        hub: str,
        clock: Clock,
        *,
        partition_count: int = 4,
        visibility_timeout: int = 30,
        max_poll_interval: float = 1.0,
        local_activity_limit: int = 32,
    ):
        from azure.storage.blob.aio import BlobServiceClient
        from azure.storage.queue.aio import QueueServiceClient

        self.clock = clock
        self.hub = hub
        self.partition_count = partition_count
        self.visibility_timeout = max(1, int(visibility_timeout))
        self.max_poll_interval = max_poll_interval
        self._queues = QueueServiceClient.from_connection_string(
            connection_string, api_version=QUEUE_API_VERSION, transport=local_transport())
        self._blobs = BlobServiceClient.from_connection_string(
            connection_string, api_version=QUEUE_API_VERSION, transport=local_transport())
        prefix = queue_prefix(hub)
        self.control_names = [f"{prefix}-control-{i:02d}" for i in range(partition_count)]
        self.workitems_name = f"{prefix}-workitems"
        self.large_container = f"{prefix}-largemessages"
        self._control = [self._queues.get_queue_client(name) for name in self.control_names]
        self._workitems = self._queues.get_queue_client(self.workitems_name)
        self._control_wake = asyncio.Event()
        self._activity_wake = asyncio.Event()
        self._local_control: collections.deque[Delivery] = collections.deque()
        self._local_activities: collections.deque[Delivery] = collections.deque()
        self.local_activity_limit = local_activity_limit
        self._activity_poll = asyncio.Lock()
        self._next_partition = 0
        self._control_polls = PollSchedule(0.02, max_poll_interval)
        self._activity_polls = PollSchedule(0.02, max_poll_interval)

    async def open(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in [*self._control, self._workitems]:
            try:
                await client.create_queue()
            except ResourceExistsError:
                pass
        try:
            await self._blobs.create_container(self.large_container)
        except ResourceExistsError:
            pass

    async def close(self) -> None:
        for client in [*self._control, self._workitems]:
            await client.close()
        await self._queues.close()
        await self._blobs.close()

    def partition_of(self, instance_id: str) -> int:
        return fnv1a_32(instance_id) % self.partition_count

    # -- encoding -----------------------------------------------------------------------------

    async def _encode(self, message: Message) -> tuple[str, str | None]:
        """The message as DurableTask.AzureStorage writes it (message_data); a large one goes to a blob."""
        data = message_data.encode(message.instance_id, message.execution_id, message.event)
        text = to_json(data)
        if len(text.encode()) <= message_data.LARGE_MESSAGE_BYTES:
            return text, None
        blob_name = message_data.blob_name(data)
        await self._blobs.get_blob_client(self.large_container, blob_name).upload_blob(
            gzip.compress(text.encode()), overwrite=True,
        )
        return to_json(message_data.pointer(blob_name)), blob_name

    async def _decode(self, text: str) -> tuple[Message, str | None]:
        """A queue message in the provider's format (plain JSON, or base64 as its reader also accepts)."""
        if not text.lstrip().startswith("{"):
            text = base64.b64decode(text).decode("utf-8")
        body = json.loads(text)
        blob_name = body.get("CompressedBlobName")
        task = body.get("TaskMessage")
        if blob_name:
            downloader = await self._blobs.get_blob_client(self.large_container, blob_name).download_blob()
            task = json.loads(gzip.decompress(await downloader.readall()))["TaskMessage"]
        instance_id, execution_id, item = message_data.decode_task_message(task)
        return Message(instance_id, item, execution_id), blob_name

    # -- sending ------------------------------------------------------------------------------

    async def send(self, messages: list[Message], visible_at: datetime | None = None) -> None:
        delay = 0
        if visible_at is not None:
            remaining = min(visible_at - self.clock.now(), MAX_VISIBILITY_DELAY)
            delay = max(0, math.ceil(remaining.total_seconds()))
        if delay:
            async def send_later(message: Message) -> None:
                text, _ = await self._encode(message)
                await self._control[self.partition_of(message.instance_id)].send_message(
                    text, visibility_timeout=delay,
                )

            await asyncio.gather(*[send_later(m) for m in messages])
            self._control_polls.expect_by(asyncio.get_running_loop().time() + delay)
            return
        owned = await asyncio.gather(*[
            self._send_owned(self._control[self.partition_of(m.instance_id)], m) for m in messages
        ])
        self._local_control.extend(owned)
        self._control_wake.set()

    async def send_activity(self, messages: list[Message]) -> None:
        local = max(0, self.local_activity_limit - len(self._local_activities))
        owned = await asyncio.gather(*[self._send_owned(self._workitems, m) for m in messages[:local]])
        self._local_activities.extend(owned)

        async def send_visible(message: Message) -> None:
            text, _ = await self._encode(message)
            await self._workitems.send_message(text)

        await asyncio.gather(*[send_visible(m) for m in messages[local:]])
        if len(messages) > local:
            self._activity_polls.expect_by(0.0)
        self._activity_wake.set()

    async def send_result(self, result: Message, work_item: Delivery) -> None:
        """The result rides on its work item: no message of its own, the work item stays invisible
        (renewed) until the orchestration has checkpointed the result, and is deleted then. A crash
        before that brings the work item back and the activity runs again (at least once, as always);
        a result already in history is recognised and dropped. Saves two queue requests per activity."""
        if work_item.queue is None:
            await self.send([result])
            return
        self._local_control.append(Delivery(result, work_item.receipt, work_item.queue, work_item.received_at,
                                            work_item.extra))
        self._control_wake.set()

    async def _send_owned(self, client: Any, message: Message) -> Delivery:
        """Send a message invisible for one visibility timeout and keep the right to delete it."""
        text, blob_name = await self._encode(message)
        sent = await client.send_message(text, visibility_timeout=self.visibility_timeout)
        return Delivery(message, sent.pop_receipt, client, asyncio.get_running_loop().time(),
                        {"id": sent.id, "blob": blob_name})

    def local_backlog(self) -> list[Delivery]:
        """Owned messages handed over in memory but not yet taken by a dispatcher (to renew)."""
        return [*self._local_control, *self._local_activities]

    # -- receiving ----------------------------------------------------------------------------

    async def _poll(self, client: Any, max_messages: int) -> list[Delivery]:
        deliveries = []
        pager = client.receive_messages(max_messages=max_messages, visibility_timeout=self.visibility_timeout)
        async for item in pager:
            try:
                message, blob_name = await self._decode(item.content)
            except Exception:
                log.exception("Discarding unreadable message %s in %s", item.id, client.queue_name)
                await client.delete_message(item.id, item.pop_receipt)
                continue
            deliveries.append(Delivery(message, item.pop_receipt, client, asyncio.get_running_loop().time(),
                                       {"id": item.id, "blob": blob_name}))
            if len(deliveries) >= max_messages:
                break
        return deliveries

    async def _wait(self, wake: asyncio.Event, interval: float) -> None:
        try:
            await asyncio.wait_for(wake.wait(), timeout=interval)
        except TimeoutError:
            pass
        wake.clear()

    async def receive(self, max_messages: int) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        while True:
            if self._local_control:
                count = min(max_messages, len(self._local_control))
                return [self._local_control.popleft() for _ in range(count)]
            if self._control_polls.is_due(loop.time()):
                self._control_wake.clear()
                found: list[Delivery] = []
                for _ in range(self.partition_count):
                    client = self._control[self._next_partition]
                    self._next_partition = (self._next_partition + 1) % self.partition_count
                    found = await self._poll(client, min(32, max_messages))
                    if found:
                        break
                self._control_polls.polled(loop.time(), bool(found))
                if found:
                    return found
            await self._wait(self._control_wake, self._control_polls.wait_time(loop.time()))

    async def receive_activity(self) -> Delivery:
        loop = asyncio.get_running_loop()
        while True:
            if self._local_activities:
                return self._local_activities.popleft()
            if self._activity_poll.locked() or not self._activity_polls.is_due(loop.time()):
                # Another worker is polling (it hands surplus messages over through the deque),
                # or the queue was empty a moment ago.
                await self._wait(self._activity_wake, self._activity_polls.wait_time(loop.time()) or 0.02)
                continue
            async with self._activity_poll:
                self._activity_wake.clear()
                found = await self._poll(self._workitems, 16)
                self._activity_polls.polled(loop.time(), bool(found))
            if found:
                self._local_activities.extend(found[1:])
                if len(found) > 1:
                    self._activity_wake.set()
                return found[0]

    async def ack(self, deliveries: list[Delivery]) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        async def delete(delivery: Delivery) -> None:
            # After a renewal that is on its way: the delete needs the pop receipt that renewal returns
            # (with the old one it fails, and the message comes back: an event would reach history twice).
            try:
                async with _lease(delivery):
                    delivery.extra["acked"] = True  # renewals from now on leave it alone
                    await delivery.queue.delete_message(delivery.extra["id"], delivery.receipt)
            except ResourceNotFoundError:
                log.warning("Message %s was already gone (visibility timeout expired?)", delivery.extra["id"])
            except HttpResponseError as error:
                if _error_code(error) != "PopReceiptMismatch":
                    raise
                # Its visibility timeout ran out and it was received again (a busy host): the new
                # receiver handles it, and its result is dropped as a duplicate.
                log.warning("Message %s was received again before it was deleted", delivery.extra["id"])
                return
            if delivery.extra.get("blob"):
                try:
                    await self._blobs.get_blob_client(self.large_container, delivery.extra["blob"]).delete_blob()
                except ResourceNotFoundError:
                    pass

        await asyncio.gather(*[delete(d) for d in deliveries if d.queue is not None])

    async def renew(self, deliveries: list[Delivery]) -> None:
        """Extend every delivery's lease, RENEW_CONCURRENCY requests at a time: one after another, a few
        thousand messages take longer than their visibility timeout and come back while still in work."""
        gate = asyncio.Semaphore(RENEW_CONCURRENCY)

        async def renew(delivery: Delivery) -> None:
            async with gate:
                await self._renew_one(delivery)

        await asyncio.gather(*(renew(d) for d in deliveries if d.queue is not None and not d.extra.get("acked")))

    async def _renew_one(self, delivery: Delivery) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            async with _lease(delivery):  # never at the same time as its delete (see ack)
                if delivery.extra.get("acked"):
                    return
                updated = await delivery.queue.update_message(
                    delivery.extra["id"], delivery.receipt, visibility_timeout=self.visibility_timeout,
                )
                delivery.receipt = updated.pop_receipt
                delivery.received_at = asyncio.get_running_loop().time()
        except ResourceNotFoundError:
            if not delivery.extra.get("acked"):  # deleted by its ack while this renewal was on its way: fine
                log.warning("Message %s was gone before its renewal (visibility timeout expired?)",
                            delivery.extra.get("id"))
        except HttpResponseError as error:
            if _error_code(error) != "PopReceiptMismatch":
                log.warning("Could not renew message %s", delivery.extra.get("id"), exc_info=True)
            elif not delivery.extra.get("acked"):
                log.warning("Message %s was received again before its renewal; the new receiver handles it",
                            delivery.extra.get("id"))
        except Exception:
            log.warning("Could not renew message %s", delivery.extra.get("id"), exc_info=True)

    def pending(self) -> int:
        return 0

    def fire_due_timers(self) -> int:
        return 0

    def pending_timers(self) -> list[tuple[datetime, str]]:
        return []  # timers are invisible queue messages: no virtual time to skip
