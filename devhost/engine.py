"""The orchestration runtime: messages in, episodes, history and work out.

It follows DurableTask.Core's dispatchers. Every change to an instance arrives
as a message (start, task result, timer, event, terminate...). The orchestration
dispatcher takes up to `controlQueueBatchSize` messages of one instance, runs
one episode (one SDK replay) and then, in DurableTask.AzureStorage's order,
(1) sends the work the episode produced (activities, timers, sub-orchestration
starts, the result to a parent), (2) checkpoints history and status, (3) deletes
the messages it consumed. A crash between any two steps is repaired on
redelivery: duplicate results are recognised against history and dropped, so
activities run at least once and each execution completes exactly once.
An instance is never run by two episodes at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .app_loader import FunctionIndex
from .clock import Clock
from .config import DurableSettings
from .entities import EntityScheduler, invalid_entity_function_message
from .entity_state import (
    REQUEST_EVENT,
    InvalidEntityId,
    is_entity_id,
    request_message,
    scheduler_id,
    state_exists,
    validate_entity_id,
    validate_signal_key,
)
from .history import Event, EventType, event, execution_started, format_time, parse_time, to_json
from .shim import NonDeterminismError, ShimReplay, UnsupportedActionError
from .store import RUNNING_STATES, TERMINAL_STATES, InstanceQuery, InstanceRecord, InstanceStore, MemoryStore
from .transport import Delivery, MemoryTransport, Message, Transport
from .worker import Functions, InProcessFunctions

log = logging.getLogger("devhost.engine")

_CONTROL_EVENTS = (EventType.ExecutionTerminated, EventType.ExecutionSuspended, EventType.ExecutionResumed)
_INVALID_ID_CHARS = set("/\\#?")
_SCHEDULING_EVENTS = (EventType.TaskScheduled, EventType.TimerCreated, EventType.SubOrchestrationInstanceCreated)
OUT_OF_ORDER_DELAY = timedelta(seconds=1)
MAX_START_DEFERRALS = 10
BUFFER_FULL_PAUSE = 1.0  # ControlQueue.GetMessagesAsync: Task.Delay(1 s) while the buffer is full
_RESULT_KEYS = {
    EventType.TaskCompleted: "TaskScheduledId",
    EventType.TaskFailed: "TaskScheduledId",
    EventType.SubOrchestrationInstanceCompleted: "TaskScheduledId",
    EventType.SubOrchestrationInstanceFailed: "TaskScheduledId",
    EventType.TimerFired: "TimerId",
}


class InstanceNotFound(Exception):
    """No instance with that id exists."""


class InstanceGone(Exception):
    """The instance has finished (Completed, Failed or Terminated)."""


class InvalidRequest(ValueError):
    """A client request the real host refuses with 400 (an ArgumentException in HttpApiHandler)."""


class InstanceExists(Exception):
    """DurableTask.AzureStorage's OrchestrationAlreadyExistsException: a start or same-id restart over an
    instance in a dedupe status (Running, Pending, Suspended, ContinuedAsNew). The HTTP API answers 500."""


class InvalidOperation(Exception):
    """The extension's InvalidOperationException (suspend or resume in the wrong state): HTTP 500."""


@dataclass
class EngineStats:
    """Counters for benchmarks and diagnostics."""

    episodes: int = 0
    orchestrator_cpu_seconds: float = 0.0
    activities: int = 0


@dataclass
class _Episode:
    """What one run of the orchestrator decided, as the shim and DurableTask.Core read its reply."""

    at: datetime  # when the reply was processed: the time of every event it adds
    state: dict[str, Any] = field(default_factory=dict)
    scheduled: list[Event] = field(default_factory=list)
    custom_status: str | None = None
    failure: str | None = None
    done: bool = False
    continued_as_new: bool = False
    next_input: str | None = None  # the next generation's input (JSON text) when it continued as new
    carryover: list[Event] = field(default_factory=list)


@dataclass
class _Outbox:
    """What one episode sends, in the order it must be sent."""

    activities: list[Message]
    control: list[Message]
    timers: list[tuple[datetime, Message]]


def validate_instance_id(instance_id: str) -> None:
    """Apply the extension's instance-id rules (length and reserved characters)."""
    if not instance_id or not instance_id.strip():
        raise InvalidRequest("Instance ID must not be empty.")
    if len(instance_id) > 100:
        raise InvalidRequest(f"Instance ID '{instance_id[:20]}...' exceeds the maximum length of 100 characters.")
    if any(ch in _INVALID_ID_CHARS or ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in instance_id):
        raise InvalidRequest(f"Instance ID '{instance_id}' contains invalid characters.")


class Engine:
    """Runs the app's orchestrations and activities against a store, a transport and a clock."""

    def __init__(
        self,
        index: FunctionIndex,
        settings: DurableSettings,
        *,
        clock: Clock | None = None,
        store: InstanceStore | None = None,
        transport: Transport | None = None,
        renew_interval: float | None = None,
        functions: Functions | None = None,
    ):
        self.index = index
        self.settings = settings
        self.clock = clock or Clock()
        self.store: InstanceStore = store or MemoryStore()
        self.transport: Transport = transport or MemoryTransport(self.clock)
        self._renew_interval = renew_interval
        self.stats = EngineStats()
        self._activity_names = frozenset(index.activities)
        self._orchestrator_names = frozenset(index.orchestrators)
        self._inbox: dict[str, list[Delivery]] = defaultdict(list)
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._creating: Counter[str] = Counter()  # client starts of an id still writing their row
        self._start_deferrals: Counter[str] = Counter()  # top-level start messages seen without their row
        self._owned: set[Delivery] = set()
        self._control_pending: set[Delivery] = set()  # orchestration messages received and not yet done
        self._held: dict[str, list[Delivery]] = defaultdict(list)
        self._completion_waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._workers: list[asyncio.Task[None]] = []
        self.functions: Functions = functions or InProcessFunctions(
            index, settings.max_concurrent_activities, settings.max_concurrent_orchestrators)
        self._entity_names = frozenset(name.lower() for name, fn in index.entities.items() if not index.is_disabled(fn))
        self.entities = EntityScheduler(self)

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Open storage and start the dispatchers (orchestrations, activities, renewals)."""
        await self.store.open()
        await self.transport.open()
        await self.functions.start()
        self._workers.append(asyncio.create_task(self._control_receiver()))
        for _ in range(self.settings.max_concurrent_orchestrators):
            self._workers.append(asyncio.create_task(self._orchestration_worker()))
        for _ in range(self.settings.max_concurrent_activities):
            self._workers.append(asyncio.create_task(self._activity_worker()))
        if self._renew_interval:
            self._workers.append(asyncio.create_task(self._renewal_loop(self._renew_interval)))

    async def stop(self) -> None:
        """Stop the dispatchers; unacknowledged messages stay queued for the next start."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        await self.transport.close()
        await self.store.close()
        await self.functions.close()

    # -- client operations (the HTTP management API and the test API use these) --

    async def start_instance(self, name: str, instance_id: str | None = None, input_json: str | None = None) -> str:
        """Create an instance (Pending) and send its ExecutionStarted message."""
        orchestrator = self.index.orchestrators.get(name)
        if orchestrator is None or self.index.is_disabled(orchestrator):
            raise InvalidRequest(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
        instance_id = instance_id if instance_id is not None else uuid.uuid4().hex
        if is_entity_id(instance_id):
            # DurableClient.StartNewAsync: ArgumentException(nameof(instanceId), message), arguments swapped.
            raise InvalidRequest("instanceId (Parameter 'Orchestration instance ids must not start with @.')")
        validate_instance_id(instance_id)
        existing = await self.store.get(instance_id, history=False)
        if existing and existing.runtime_status in RUNNING_STATES and self.settings.overridable_states != "AnyState":
            raise InstanceExists(f"An Orchestration instance with the status {existing.runtime_status} already exists.")
        await self._create(instance_id, name, input_json, existing)
        return instance_id

    async def raise_event(self, instance_id: str, name: str, input_json: str | None) -> None:
        """Deliver an external event; unknown instances and finished ones are refused."""
        await self._require_active(instance_id)
        await self.transport.send([Message(instance_id, event(EventType.EventRaised, self.clock.now(), Name=name,
                                                              Input=input_json))])

    # -- entities (DurableClient's entity operations, as the HTTP API and the test API call them) --

    async def signal_entity(self, name: str, key: str | None, operation: str, input_json: str | None) -> None:
        """DurableClient.SignalEntityAsyncInternal: the key's characters checked, the entity function looked up
        (ThrowIfFunctionDoesNotExist, by the lower-cased name), then a RequestMessage without parent (the sorter
        passes it through) sent as event "op"; the entity's instance starts with its first message.
        Refusals are InvalidRequest (ArgumentException: HTTP 400)."""
        try:
            validate_entity_id(name, key)
            assert key is not None
            validate_signal_key(key)
        except InvalidEntityId as exc:
            raise InvalidRequest(str(exc)) from exc
        if name.lower() not in self._entity_names:
            raise InvalidRequest(invalid_entity_function_message(name.lower(), self.index))
        message = request_message(operation, input_json, str(uuid.uuid4()), signal=True)
        await self.transport.send([Message(scheduler_id(name, key), event(
            EventType.EventRaised, self.clock.now(), Name=REQUEST_EVENT, Input=to_json(message)))])

    async def read_entity(self, name: str, key: str) -> tuple[bool, str | None]:
        """DurableClient.ReadEntityStateAsync on its native path: (exists, state JSON text); no function lookup."""
        try:
            validate_entity_id(name, key)
        except InvalidEntityId as exc:
            raise InvalidRequest(str(exc)) from exc
        record = await self.store.get(scheduler_id(name, key), history=False)
        return state_exists(record.input if record else None)

    async def query_entities(
        self, name: str | None, include_state: bool, last_from: datetime | None, last_to: datetime | None,
    ) -> list[tuple[InstanceRecord, str | None]]:
        """EntityTrackingStoreQueries.QueryEntitiesAsync without transient entities: rows whose custom status
        names `entityExists` (with state: whose scheduler state holds one), as (row, state JSON text)."""
        prefix = scheduler_id(name, "") if name else "@"
        records = await self.store.query(InstanceQuery(created_from=last_from, created_to=last_to,
                                                       instance_id_prefix=prefix))
        found = []
        for record in records:
            if include_state:
                exists, state = state_exists(record.input)
                if exists:
                    found.append((record, state))
            elif "entityExists" in (record.custom_status or ""):
                found.append((record, None))
        return found

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        await self._require_active(instance_id)
        await self.transport.send([Message(instance_id, event(EventType.ExecutionTerminated, self.clock.now(),
                                                              Input=reason))])

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        """DurableClient.SuspendAsync: only a Running, Pending or ContinuedAsNew instance is suspended."""
        record = await self._require_active(instance_id)
        self._refuse_control(record, "suspend", allowed=("Running", "Pending", "ContinuedAsNew"))
        await self.transport.send([Message(instance_id, event(EventType.ExecutionSuspended, self.clock.now(),
                                                              Reason=reason))])

    async def resume(self, instance_id: str, reason: str | None) -> None:
        """DurableClient.ResumeAsync: only a Suspended instance is resumed."""
        record = await self._require_active(instance_id)
        self._refuse_control(record, "resume", allowed=("Suspended",))
        await self.transport.send([Message(instance_id, event(EventType.ExecutionResumed, self.clock.now(),
                                                              Reason=reason))])

    @staticmethod
    def _refuse_control(record: InstanceRecord, verb: str, *, allowed: tuple[str, ...]) -> None:
        """The extension's warning (category Host.Triggers.DurableTask, its format adds ". InstanceId: ..."
        after the message's own period), then the InvalidOperationException the HTTP API answers 500 for."""
        if record.runtime_status in allowed:
            return
        state = record.runtime_status
        logging.getLogger("Host.Triggers.DurableTask").warning(
            "Cannot %s orchestration instance in the %s state.. InstanceId: %s. Function: %s.",
            verb, state, record.instance_id, record.name)
        raise InvalidOperation(
            f"Cannot {verb} the orchestration instance {record.instance_id} because instance is in the {state} state.")

    async def restart(self, instance_id: str, new_instance_id: bool = True) -> str:
        """Start the same orchestrator with the same input, under a new id or the same one."""
        record = await self._require(instance_id)
        target = uuid.uuid4().hex if new_instance_id else instance_id
        if not new_instance_id and record.runtime_status in RUNNING_STATES:
            raise InstanceExists(f"An Orchestration instance with the status {record.runtime_status} already exists.")
        await self._create(target, record.name, record.input, record if target == instance_id else None)
        return target

    async def get(self, instance_id: str, history: bool = True) -> InstanceRecord | None:
        return await self.store.get(instance_id, history)

    async def query(self, query: InstanceQuery) -> list[InstanceRecord]:
        return await self.store.query(query)

    async def purge(self, instance_id: str) -> int:
        """Delete an instance's row, history and blobs: 1, or 0 when there is none.

        Like DurableTask.AzureStorage (AzureTableTrackingStore.PurgeInstanceHistoryAsync), this checks no
        status: the refusal of unfinished instances is the HTTP API's (HttpApiHandler, 412)."""
        return int(await self.store.delete(instance_id))

    async def purge_by(self, created_from: datetime, created_to: datetime | None,
                       statuses: frozenset[str] | None) -> int:
        """Purge every instance created in [created_from, created_to] whose status is one of `statuses`.

        AzureTableTrackingStore.PurgeInstanceHistoryAsync keeps only the terminal statuses of the list, and
        an empty list means no status condition at all: every instance in the range goes, running ones too."""
        terminal = frozenset(s for s in statuses or () if s in TERMINAL_STATES)
        query = InstanceQuery(runtime_status=terminal or None, created_from=created_from, created_to=created_to)
        deleted = 0
        for record in await self.store.query(query):
            if await self.store.delete(record.instance_id):
                deleted += 1
        return deleted

    async def wait_for_completion(self, instance_id: str, timeout: float | None = None) -> InstanceRecord:
        """Wait until the instance is Completed, Failed or Terminated."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._completion_waiters[instance_id].append(future)
        record = await self._require(instance_id)
        if not record.is_terminal:
            await asyncio.wait_for(future, timeout)
        return await self._require(instance_id)

    async def wait_for_idle(self) -> None:
        """Wait until no message, activity or episode is pending (future timers excepted)."""
        while True:
            held = sum(len(v) for v in self._held.values())
            if not (self.transport.pending() or self._queued or len(self._owned) > held):
                return
            await asyncio.sleep(0.001)

    # -- internals -------------------------------------------------------------

    async def _require(self, instance_id: str) -> InstanceRecord:
        record = await self.store.get(instance_id, history=False)
        if record is None:
            raise InstanceNotFound(instance_id)
        return record

    async def _require_active(self, instance_id: str) -> InstanceRecord:
        record = await self._require(instance_id)
        if record.is_terminal:
            raise InstanceGone(instance_id)
        return record

    async def _create(self, instance_id: str, name: str, input_json: str | None,
                      existing: InstanceRecord | None) -> None:
        """Client start: the start message first, then the Pending row, as DurableTask.AzureStorage's
        CreateTaskOrchestrationAsync does. The row is inserted, or replaces the one read with its ETag, so of
        concurrent starts of one id exactly one writes it; the others' messages are dropped by the dispatcher
        (`_dedupe_starts`), as they are in Azure, and their callers still get 202, as in Azure. A host killed
        between message and row leaves a message that is dropped after a few tries; the caller, who got no
        answer, starts again. Until the row is written, this process runs no episode of the instance."""
        now = self.clock.now()
        execution_id = uuid.uuid4().hex
        # AzureStorageOrchestrationService.CreateTaskOrchestrationAsync: Generation = the existing one's + 1.
        generation = existing.generation + 1 if existing is not None else 0
        record = InstanceRecord(
            instance_id=instance_id, name=name, execution_id=execution_id, runtime_status="Pending",
            created_time=now, last_updated_time=now, input=input_json, generation=generation,
        )
        started = execution_started(
            now, instance_id=instance_id, execution_id=execution_id, name=name, input_json=input_json,
            generation=generation,
        )
        self._creating[instance_id] += 1
        try:
            await self.transport.send([Message(instance_id, started, execution_id)])
            if not await self.store.start_execution(record, existing.etag if existing else None):
                log.info("A concurrent start of %s wrote its row first; execution %s will not run",
                         instance_id, execution_id)
        finally:
            self._creating[instance_id] -= 1
            if not self._creating[instance_id]:
                del self._creating[instance_id]
            if self._inbox.get(instance_id):
                self._mark_ready(instance_id)

    async def _control_receiver(self) -> None:
        """Receive orchestration messages, up to `controlQueueBufferThreshold` held at once: ControlQueue.
        GetMessagesAsync pauses (1 s at a time) while that many are locked and not yet done, so a flood is
        taken in as fast as it is worked off and every held message can be renewed in time."""
        while True:
            if len(self._control_pending) >= self.settings.control_queue_buffer_threshold:
                await asyncio.sleep(BUFFER_FULL_PAUSE)
                continue
            try:
                deliveries = await self.transport.receive(self.settings.control_queue_batch_size)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Receiving orchestration messages failed; retrying")
                await asyncio.sleep(1)
                continue
            for delivery in deliveries:
                self._owned.add(delivery)
                self._control_pending.add(delivery)
                self._inbox[delivery.message.instance_id].append(delivery)
            for instance_id in {d.message.instance_id for d in deliveries}:
                self._mark_ready(instance_id)

    def _mark_ready(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._ready.put_nowait(instance_id)

    async def _ack(self, deliveries: list[Delivery]) -> None:
        await self.transport.ack(deliveries)
        self._owned.difference_update(deliveries)
        self._control_pending.difference_update(deliveries)

    async def _renewal_loop(self, interval: float) -> None:
        """Keep messages that are still being worked on invisible (long episodes and activities). Each tick
        renews every message held for half an interval or more, so a renewal starts at the latest 1.5
        intervals after the last one (half the visibility timeout) and has the other half to arrive."""
        while True:
            await asyncio.sleep(interval)
            threshold = asyncio.get_running_loop().time() - interval / 2
            owned = [*self._owned, *self.transport.local_backlog()]
            stale = [d for d in owned if d.received_at and d.received_at < threshold]
            if stale:
                await self.transport.renew(stale)

    # -- activities ---------------------------------------------------------------

    async def _activity_worker(self) -> None:
        while True:
            delivery = await self.transport.receive_activity()
            self._owned.add(delivery)
            try:
                result = await self._run_activity(delivery.message)
                await self.transport.send_result(result, delivery)  # acknowledged with the result
            except asyncio.CancelledError:
                raise
            except Exception:  # storage trouble: leave the message for redelivery
                log.exception("Activity dispatch failed for %s", delivery.message.event.get("Name"))
            self._owned.discard(delivery)

    async def _run_activity(self, message: Message) -> Message:
        """Run one work item; returns the result message for its orchestration."""
        scheduled = message.event
        name = scheduled["Name"]
        fn = self.index.activities.get(name)
        if fn is not None and self.index.is_disabled(fn):
            # The extension since PR #3472 (TaskNonexistentActivityShim with isDisabled): fail the task.
            log.warning("Activity function '%s' was scheduled but is disabled. Failing the activity.", name)
            reason = f"Activity function '{name}' failed: Activity function '{name}' is disabled."
            completion = event(EventType.TaskFailed, self.clock.now(), TaskScheduledId=scheduled["EventId"],
                               Reason=reason, Details=None)
        elif fn is None:
            # TaskNonexistentActivityShim: a work item for a function this app no longer has.
            reason = f"Activity function '{name}' failed: Activity function '{name}' does not exist."
            completion = event(EventType.TaskFailed, self.clock.now(), TaskScheduledId=scheduled["EventId"],
                               Reason=reason, Details=None)
        else:
            outcome = await self.functions.activity(name, scheduled.get("Input"))
            self.stats.activities += 1
            if outcome.failed:
                completion = event(
                    EventType.TaskFailed, self.clock.now(), TaskScheduledId=scheduled["EventId"],
                    Reason=outcome.failure_reason, Details=outcome.failure_details,
                )
            else:
                completion = event(EventType.TaskCompleted, self.clock.now(), TaskScheduledId=scheduled["EventId"],
                                   Result=outcome.result_json)
        return Message(message.instance_id, completion, message.execution_id)

    # -- orchestrations -------------------------------------------------------------

    async def _orchestration_worker(self) -> None:
        while True:
            instance_id = await self._ready.get()
            if instance_id in self._creating:
                self._queued.discard(instance_id)  # _create marks it ready again once its row is written
                continue
            try:
                batch = self._take_batch(instance_id)
                if batch:
                    await self._ack(await self._run_episode(instance_id, batch))
            except asyncio.CancelledError:
                raise
            except Exception:
                # Leave the messages unacknowledged: the transport redelivers them later.
                log.exception("Episode failed for instance %s; its messages will be redelivered", instance_id)
                self._owned.difference_update(batch)
                self._control_pending.difference_update(batch)
            finally:
                self._queued.discard(instance_id)
                if self._inbox.get(instance_id):
                    self._mark_ready(instance_id)

    def _take_batch(self, instance_id: str) -> list[Delivery]:
        pending = self._inbox.get(instance_id) or []
        size = self.settings.control_queue_batch_size
        batch, rest = pending[:size], pending[size:]
        if rest:
            self._inbox[instance_id] = rest
        else:
            self._inbox.pop(instance_id, None)
        return batch

    async def _run_episode(self, instance_id: str, batch: list[Delivery]) -> list[Delivery]:
        """Apply a batch of messages; returns the deliveries that may now be deleted."""
        if is_entity_id(instance_id):
            return await self.entities.run(instance_id, batch)  # EntityMiddleware, not the orchestration path
        record = await self.store.get(instance_id)
        kept = await self._dedupe_starts(record, batch)
        record = await self._accept_start(record, [d.message for d in kept])
        if record is None:
            log.warning("Dropping %d message(s) for unknown instance %s", len(batch), instance_id)
            return batch
        current = self._current(record, kept)
        current = await self._defer_out_of_order(record, current)
        if record.is_terminal or not current:
            if current:
                log.info("Dropping %d message(s) for finished instance %s", len(current), instance_id)
            return batch
        now = max(self.clock.now(), _last_time(record))
        current = await self._defer_early_timers(current, now)
        terminate = next((d for d in current if d.message.event["EventType"] == EventType.ExecutionTerminated), None)
        if terminate is not None:
            await self._terminate_now(record, terminate.message.event.get("Input"), now)
            return batch + self._held.pop(instance_id, [])
        first_new = len(record.history)
        work: list[Delivery] = []
        for delivery in current:
            kind = delivery.message.event["EventType"]
            if kind in (EventType.ExecutionSuspended, EventType.ExecutionResumed):
                # DurableTask records these itself; the SDK ignores them.
                record.history += [event(EventType.OrchestratorStarted, now), dict(delivery.message.event),
                                   event(EventType.OrchestratorCompleted, now)]
                record.runtime_status = "Suspended" if kind == EventType.ExecutionSuspended else "Running"
                # AzureTableTrackingStore.UpdateStateAsync: the Output column holds the reason meanwhile.
                record.output = delivery.message.event.get("Reason")
                record.last_updated_time = now
            else:
                work.append(delivery)
        released: list[Delivery] = []
        if record.runtime_status == "Suspended":
            # Held unacknowledged (and renewed) until resume; a crash redelivers them.
            self._held[instance_id].extend(work)
            if len(record.history) > first_new:
                await self.store.save(record, first_new)
            return [d for d in batch if d not in work]
        released = self._held.pop(instance_id, [])
        work = released + work
        if work:
            await self._replay(record, [d.message.event for d in work], now, first_new)
        elif len(record.history) > first_new:
            await self.store.save(record, first_new)
        return batch + released

    async def _dedupe_starts(self, record: InstanceRecord | None, batch: list[Delivery]) -> list[Delivery]:
        """OrchestrationSessionManager.DedupeExecutionStartedMessagesAsync: a top-level start runs only when
        the Instances row names its execution. One whose row names another execution of the same or a later
        generation lost a race (or was sent by a start that crashed) and is dropped; one without its row yet is
        deferred, and dropped after MAX_START_DEFERRALS tries, as the provider does at DequeueCount 10."""
        kept: list[Delivery] = []
        for delivery in batch:
            message = delivery.message
            if message.event["EventType"] != EventType.ExecutionStarted or message.event.get("ParentInstance"):
                kept.append(delivery)
                continue
            execution_id = message.execution_id or message.event["OrchestrationInstance"]["ExecutionId"]
            if record is not None and record.execution_id == execution_id:
                self._start_deferrals.pop(execution_id, None)
                kept.append(delivery)
            elif record is not None and record.generation >= (message.event.get("Generation") or 0):
                log.info("Dropping start message of %s (execution %s): the instance's row names execution %s",
                         message.instance_id, execution_id, record.execution_id)
            elif self._start_deferrals[execution_id] < MAX_START_DEFERRALS:
                self._start_deferrals[execution_id] += 1
                await self.transport.send([message], visible_at=self.clock.now() + OUT_OF_ORDER_DELAY)
            else:
                del self._start_deferrals[execution_id]
                log.warning("Dropping start message of %s (execution %s): no row names it after %d tries",
                            message.instance_id, execution_id, MAX_START_DEFERRALS)
        return kept

    async def _accept_start(self, record: InstanceRecord | None, messages: list[Message]) -> InstanceRecord | None:
        """Turn an ExecutionStarted message into the execution it starts (client starts and sub-orchestrations;
        continue-as-new starts its next generation in the same work item and sends no message)."""
        started = next((m for m in messages if m.event["EventType"] == EventType.ExecutionStarted), None)
        if started is None:
            return record
        execution_id = started.execution_id or started.event["OrchestrationInstance"]["ExecutionId"]
        if record is not None and record.execution_id == execution_id:
            # A client start (its Pending row exists), or a sub-orchestration whose row a killed host
            # created before its first checkpoint: that row lacks the parent, the start message has it.
            record.parent = record.parent or started.event.get("ParentInstance")
            return record
        if record is not None and record.runtime_status in RUNNING_STATES:
            return record  # a stale start for an execution that was replaced
        now = self.clock.now()
        new = InstanceRecord(
            instance_id=started.instance_id, name=started.event["Name"], execution_id=execution_id,
            runtime_status="Pending", created_time=record.created_time if record else now, last_updated_time=now,
            input=started.event.get("Input"), parent=started.event.get("ParentInstance"),
        )
        await self.store.create(new)
        return new

    @staticmethod
    def _current(record: InstanceRecord, deliveries: list[Delivery]) -> list[Delivery]:
        """Drop messages for other executions and duplicates of what history already holds."""
        history = record.history
        started = any(e["EventType"] == EventType.ExecutionStarted for e in history)
        seen: dict[EventType, set[Any]] = defaultdict(set)
        for item in history:
            key = _RESULT_KEYS.get(item["EventType"])
            if key:
                seen[_result_family(item["EventType"])].add(item.get(key))
        kept: list[Delivery] = []
        for delivery in deliveries:
            message = delivery.message
            if message.execution_id not in (None, record.execution_id):
                continue
            kind = message.event["EventType"]
            if kind == EventType.ExecutionStarted:
                if started:
                    continue
                started = True
            key = _RESULT_KEYS.get(kind)
            if key:
                family = _result_family(kind)
                if message.event.get(key) in seen[family]:
                    continue
                seen[family].add(message.event.get(key))
            kept.append(delivery)
        return kept

    async def _defer_out_of_order(self, record: InstanceRecord, deliveries: list[Delivery]) -> list[Delivery]:
        """A result whose scheduling event is not in history yet (a crash between sending work and
        checkpointing) waits: it is sent again shortly, as DurableTask.AzureStorage does."""
        scheduled = {e["EventId"] for e in record.history if e["EventType"] in _SCHEDULING_EVENTS}
        kept = []
        for delivery in deliveries:
            message = delivery.message
            key = _RESULT_KEYS.get(message.event["EventType"])
            if key and not record.is_terminal and message.event.get(key) not in scheduled:
                log.info("Deferring out-of-order %s for %s", EventType(message.event["EventType"]).name,
                         record.instance_id)
                await self.transport.send([message], visible_at=self.clock.now() + OUT_OF_ORDER_DELAY)
            else:
                kept.append(delivery)
        return kept

    async def _defer_early_timers(self, deliveries: list[Delivery], now: datetime) -> list[Delivery]:
        """Timers longer than a queue's maximum delay arrive early: send them again."""
        kept = []
        for delivery in deliveries:
            message = delivery.message
            if message.event["EventType"] == EventType.TimerFired and parse_time(message.event["FireAt"]) > now:
                await self.transport.send([message], visible_at=parse_time(message.event["FireAt"]))
            else:
                kept.append(delivery)
        return kept

    async def _terminate_now(self, record: InstanceRecord, reason: str | None, now: datetime) -> None:
        first_new = len(record.history)
        output = reason  # the Output column and the ExecutionCompleted's Result hold the reason as the client sent it
        record.history += [
            event(EventType.OrchestratorStarted, now),
            event(EventType.ExecutionTerminated, now, Input=reason),
            event(EventType.ExecutionCompleted, now, OrchestrationStatus="Terminated", Result=output),
            event(EventType.OrchestratorCompleted, now),
        ]
        self._finish(record, "Terminated", output, now)
        outbox = _Outbox([], self._parent_notice(record, failed=True,
                                                 reason=f"Orchestration '{record.instance_id}' was terminated."), [])
        await self._send(outbox)
        await self.store.save(record, first_new)
        self._notify_completion(record.instance_id)

    def _payload(self, record: InstanceRecord, history: list[Event]) -> dict[str, Any]:
        started = next((e for e in history if e["EventType"] == EventType.ExecutionStarted), None)
        input_json = started.get("Input") if started else record.input
        parent = (record.parent or {}).get("OrchestrationInstance") or {}
        return {
            "history": history,
            "input": json.loads(input_json) if input_json not in (None, "") else None,
            "instanceId": record.instance_id,
            "isReplaying": any(e.get("IsPlayed") for e in history),
            "parentInstanceId": parent.get("InstanceId"),
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }

    async def _replay(self, record: InstanceRecord, incoming: list[Event], now: datetime, first_new: int) -> None:
        """One SDK episode over past history plus the incoming events, then send, then checkpoint.

        An episode that continues as new runs the next generation's first episode at once, in the same
        work item (TaskOrchestrationDispatcher.OnProcessWorkItemAsync's do-while loop); only the last
        generation's history is written, so no ExecutionCompleted(ContinuedAsNew) row ever exists."""
        outbox = _Outbox([], [], [])
        new_events = [event(EventType.OrchestratorStarted, now), *incoming]
        continued = False
        carried_status: str | None = None  # TaskOrchestrationDispatcher's carryOverStatus
        while True:
            episode = await self._episode(record, new_events, now)
            record.history += new_events + episode.scheduled
            self._outbox(record, episode.scheduled, outbox)
            if not episode.continued_as_new:
                self._conclude(record, episode, carried_status)
                break
            carried_status = episode.custom_status or carried_status
            record = self._next_generation(record, episode, carried_status)
            new_events, record.history, now = record.history, [], episode.at
            continued = True
        if record.is_terminal:
            outbox.control += self._parent_notice(record, failed=record.runtime_status == "Failed",
                                                  reason=record.output)
        await self._send(outbox)
        if continued:
            await self.store.continue_as_new(record)
        else:
            await self.store.save(record, first_new)
        if record.is_terminal:
            self._notify_completion(record.instance_id)

    async def _episode(self, record: InstanceRecord, new_events: list[Event], now: datetime) -> _Episode:
        """Run the orchestrator over the history plus `new_events` and replay its actions as the shim does."""
        history = [dict(e, IsPlayed=True) for e in record.history] + new_events
        fn = self.index.orchestrators.get(record.name)
        if fn is None or self.index.is_disabled(fn):
            # OrchestrationMiddleware: a warning, then TaskOrchestrationShim fails the instance with it.
            message = self._unknown_orchestrator(record.name)
            logging.getLogger("Host.Triggers.DurableTask").warning(
                "%s. InstanceId: %s. Function: %s.", message, record.instance_id, record.name)
            return _Episode(at=max(self.clock.now(), now), failure=message)
        reply, cpu = await self.functions.orchestrator(record.name, self._payload(record, history))
        # DurableTask.Core stamps every event it builds from the reply with DateTime.UtcNow (HistoryEvent's
        # constructor), after the orchestrator ran: not with this episode's OrchestratorStarted time.
        at = max(self.clock.now(), now)
        self.stats.episodes += 1
        self.stats.orchestrator_cpu_seconds += cpu
        state = reply.state
        episode = _Episode(at=at, state=state)
        # OutOfProcOrchestrationShim.ScheduleDurableTaskEvents: SetCustomStatus only when the SDK sent one.
        if state.get("customStatus") is not None:
            episode.custom_status = to_json(state["customStatus"])
        try:
            decision = ShimReplay(
                state.get("actions") or [], record.execution_id,
                activities=self._activity_names, orchestrators=self._orchestrator_names,
                entities=self._entity_names, instance_id=record.instance_id,
            ).run(history)
        except (NonDeterminismError, UnsupportedActionError) as exc:
            episode.failure = str(exc)
            return episode
        for name in decision.unknown_functions:
            log.warning("%s: the orchestrator called '%s', which this app does not define. The Durable extension "
                        "drops that call without a word and the instance waits for it for good.",
                        record.instance_id, name)
        episode.scheduled = [dict(e, Timestamp=format_time(at)) for e in decision.new_events]
        # The shim awaits every action before it looks at the SDK's error or output
        # (OutOfProcOrchestrationShim.ScheduleDurableTaskEvents after ProcessAsyncActionsV2).
        settled = decision.open_blocking == 0 and decision.all_actions_done
        if settled and reply.error is not None:
            episode.failure = reply.error
        elif settled and state.get("isDone"):
            episode.done = True
            if decision.continue_as_new is not None:
                episode.continued_as_new = True
                episode.next_input = decision.continue_as_new.get("input")
                episode.carryover = decision.carryover
        return episode

    def _unknown_orchestrator(self, name: str) -> str:
        """DurableTaskExtension.GetInvalidOrchestratorFunctionMessage."""
        message = (f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                   "Additional info: ")
        known = [n for n, fn in self.index.orchestrators.items() if not self.index.is_disabled(fn)]
        if known:
            return message + "The following are the known orchestrator functions: '" + "', '".join(known) + "'."
        return message + "No orchestrator functions are currently registered!"

    def _conclude(self, record: InstanceRecord, episode: _Episode, carried_status: str | None) -> None:
        """The episode's end: Failed, Completed or still Running; custom status as the provider writes it."""
        at = episode.at
        record.custom_status = episode.custom_status if episode.custom_status is not None else carried_status
        record.last_updated_time = at
        if episode.failure is not None:
            # TaskOrchestrationShim / OutOfProcOrchestrationShim: "Orchestrator function '<name>' failed: <error>";
            # ExecutionCompleted.Result and the Output column hold it raw. Without ErrorPropagationMode.
            # UseFailureDetails (the extension's default) FailureDetails stays null.
            message = episode.failure
            if not message.startswith("Orchestrator function"):
                message = f"Orchestrator function '{record.name}' failed: {message}"
            record.history.append(event(EventType.ExecutionCompleted, at, OrchestrationStatus="Failed", Result=message))
            self._finish(record, "Failed", message, at)
        elif episode.done:
            output = to_json(episode.state.get("output"))
            record.history.append(event(EventType.ExecutionCompleted, at, OrchestrationStatus="Completed",
                                        Result=output))
            self._finish(record, "Completed", output, at)
        else:
            record.runtime_status = "Running"
        # TaskOrchestrationDispatcher: an OrchestratorCompleted unless the history already ends with one.
        if not record.history or record.history[-1]["EventType"] != EventType.OrchestratorCompleted:
            record.history.append(event(EventType.OrchestratorCompleted, at))

    def _next_generation(self, record: InstanceRecord, episode: _Episode, carried_status: str | None) -> InstanceRecord:
        """TaskOrchestrationDispatcher after ContinueAsNew: a new execution whose history opens with
        OrchestratorStarted, the new ExecutionStarted, the carried-over events and OrchestratorCompleted. The
        custom status carries over until the new generation sets one; CreatedTime is the new start's time;
        Generation counts re-creations of the instance id, not continuations, so it stays."""
        at = episode.at
        execution_id = uuid.uuid4().hex
        started = execution_started(at, instance_id=record.instance_id, execution_id=execution_id, name=record.name,
                                    input_json=episode.next_input, parent=record.parent,
                                    generation=None)
        return dataclasses.replace(
            record, execution_id=execution_id, runtime_status="Running", created_time=at, last_updated_time=at,
            input=episode.next_input, custom_status=carried_status,
            history=[event(EventType.OrchestratorStarted, at), started,
                     *(dict(e, IsPlayed=False) for e in episode.carryover),
                     event(EventType.OrchestratorCompleted, at)],
        )

    def _finish(self, record: InstanceRecord, status: str, output: str | None, now: datetime) -> None:
        record.runtime_status = status
        record.output = output
        record.completed_time = now
        record.last_updated_time = now

    def _outbox(self, record: InstanceRecord, scheduled: list[Event], outbox: _Outbox) -> None:
        """Add the messages for the work an episode scheduled to `outbox`."""
        for item in scheduled:
            kind = item["EventType"]
            if kind == EventType.TaskScheduled:
                outbox.activities.append(Message(record.instance_id, item, record.execution_id))
            elif kind == EventType.TimerCreated:
                fire_at = parse_time(item["FireAt"])
                fired = event(EventType.TimerFired, fire_at, TimerId=item["EventId"], FireAt=item["FireAt"])
                outbox.timers.append((fire_at, Message(record.instance_id, fired, record.execution_id)))
            elif kind == EventType.SubOrchestrationInstanceCreated:
                outbox.control.append(self._child_start(record, item, parse_time(item["Timestamp"])))
            elif kind == EventType.EventSent:
                # TaskOrchestrationDispatcher.ProcessSendEventDecision: an EventRaised to the target instance.
                raised = event(EventType.EventRaised, parse_time(item["Timestamp"]), Name=item.get("Name"),
                               Input=item.get("Input"))
                outbox.control.append(Message(item["InstanceId"], raised))

    def _child_start(self, parent: InstanceRecord, created: Event, now: datetime) -> Message:
        parent_info = {
            "Name": parent.name, "Version": "", "TaskScheduleId": created["EventId"],
            "OrchestrationInstance": {"InstanceId": parent.instance_id, "ExecutionId": parent.execution_id},
        }
        child_id = created["InstanceId"]
        try:
            validate_instance_id(child_id)
        except InvalidRequest as exc:
            failed = event(EventType.SubOrchestrationInstanceFailed, now, TaskScheduledId=created["EventId"],
                           Reason=str(exc), Details=None)
            return Message(parent.instance_id, failed, parent.execution_id)
        execution_id = uuid.uuid4().hex
        started = execution_started(
            now, instance_id=child_id, execution_id=execution_id, name=created["Name"],
            input_json=created.get("Input"), parent=parent_info,
        )
        return Message(child_id, started, execution_id)

    def _parent_notice(self, record: InstanceRecord, *, failed: bool, reason: str | None = None) -> list[Message]:
        if not record.parent:
            return []
        target = record.parent["OrchestrationInstance"]
        task_id = record.parent["TaskScheduleId"]
        now = self.clock.now()
        if failed:
            completion = event(
                EventType.SubOrchestrationInstanceFailed, now, TaskScheduledId=task_id, Reason=reason, Details=None,
            )
        else:
            completion = event(
                EventType.SubOrchestrationInstanceCompleted, now, TaskScheduledId=task_id, Result=record.output,
            )
        return [Message(target["InstanceId"], completion, target["ExecutionId"])]

    async def _send(self, outbox: _Outbox) -> None:
        if outbox.activities:
            await self.transport.send_activity(outbox.activities)
        if outbox.control:
            await self.transport.send(outbox.control)
        for fire_at, message in outbox.timers:
            await self.transport.send([message], visible_at=fire_at)

    def _notify_completion(self, instance_id: str) -> None:
        for future in self._completion_waiters.pop(instance_id, []):
            if not future.done():
                future.set_result(None)


def _result_family(kind: int) -> EventType:
    """Completed and Failed results of one task share an id space."""
    if kind in (EventType.TaskCompleted, EventType.TaskFailed):
        return EventType.TaskCompleted
    if kind in (EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed):
        return EventType.SubOrchestrationInstanceCompleted
    return EventType(kind)


def _last_time(record: InstanceRecord) -> datetime:
    """Episode timestamps never go backwards, even if the wall clock does."""
    if record.history:
        return parse_time(record.history[-1]["Timestamp"])
    return record.created_time


__all__ = ["Engine", "InstanceGone", "InstanceNotFound", "InvalidRequest", "Message", "validate_instance_id"]
