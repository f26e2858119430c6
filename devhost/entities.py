"""The entity scheduler: one batch of operations per work item, as the Durable extension runs entities
for out-of-process apps (DurableTaskExtension.EntityMiddleware and TaskEntityShim).

A work item takes the messages of one entity instance (`@name@key`), puts their requests through the
message sorter into the scheduler's queue, and runs up to `maxEntityOperationBatchSize` of them in ONE
invocation of the entity function (the worker gets `{self, exists, state, batch}` and answers
`{entityExists, entityState, results, signals}`). Then, in DurableTask's order, it sends the responses
to calling orchestrations and the entity's own signals, and commits the new state as a continue-as-new
of the instance: the Instances row stays Running, its Input is the scheduler state and its custom status
the EntityStatus. A worker failure or an answer that cannot be read aborts the work item: nothing is
committed or sent and the messages come back (EntityContext.AbortOnInternalError).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .app_loader import Function, FunctionIndex
from .entity_state import (
    CONTINUE_EVENT,
    RELEASE_EVENT,
    REQUEST_EVENT,
    SUSPENSION_LIMIT,
    SchedulerState,
    parse_scheduler_id,
    request_message,
    response_message,
    scheduler_id,
)
from .history import EventType, event, execution_started, to_json
from .store import InstanceRecord
from .transport import Delivery, Message

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("devhost.entities")
app_log = logging.getLogger("Host.Triggers.DurableTask")


class EntityBatchError(RuntimeError):
    """The entity function's answer cannot be applied (TaskEntityShim: "Out of proc orchestrators must return
    a valid JSON schema", or fewer results than operations): the work item is aborted and retried."""


def entity_function(index: FunctionIndex, name: str) -> Function | None:
    """The app's entity function of that (lower-cased) name: the host's lookup ignores case; a disabled
    function does not exist for it."""
    for registered, fn in index.entities.items():
        if registered.lower() == name.lower() and not index.is_disabled(fn):
            return fn
    return None


def invalid_entity_function_message(name: str, index: FunctionIndex) -> str:
    """DurableTaskExtension.GetInvalidEntityFunctionMessage, with its quirk: whether the known entity functions
    are listed depends on whether any *orchestrator* function is known."""
    message = f"The function '{name}' doesn't exist, is disabled, or is not an entity function. Additional info: "
    if not [fn for fn in index.orchestrators.values() if not index.is_disabled(fn)]:
        return message + "No entity functions are currently registered!"
    known = [registered for registered, fn in index.entities.items() if not index.is_disabled(fn)]
    return message + "The following are the known entity functions: '" + "', '".join(known) + "'."


@dataclass
class EntityInvocation:
    """The trigger value the worker gets (EntityTriggerAttributeBindingProvider.EntityContextToString): exactly
    these four members, the Python SDK's DurableEntityContext.from_json refuses any other."""

    name: str
    key: str
    exists: bool
    state: str | None
    operations: list[dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps({
            "self": {"name": self.name, "key": self.key},
            "exists": self.exists,
            "state": self.state,
            "batch": [{"name": op.get("op"), "input": op.get("input"), "isSignal": bool(op.get("signal"))}
                      for op in self.operations],
        }, indent=2)


class EntityScheduler:
    """Runs entity work items for the engine (which guarantees one work item per instance at a time)."""

    def __init__(self, engine: Engine):
        self.engine = engine  # its store, transport and functions are read at each use: tests swap them

    async def run(self, instance_id: str, batch: list[Delivery]) -> list[Delivery]:
        """Process one work item; returns the deliveries that may now be deleted (all of them)."""
        record = await self.engine.store.get(instance_id, history=False)
        state = SchedulerState.from_input(record.input if record else None)
        now = self.engine.clock.now()
        lock_holder: list[dict[str, Any]] = []
        for delivery in batch:
            self._receive(instance_id, state, delivery.message.event, lock_holder)
        state.put_back(lock_holder)
        if state.suspended and record is not None and now - record.created_time > SUSPENSION_LIMIT:
            state.suspended = False
        operations: list[dict[str, Any]] = []
        batch_size = max(1, self.engine.settings.max_entity_operation_batch_size)
        while not state.suspended and state.may_dequeue() and len(operations) < batch_size:
            operations.append(state.queue.pop(0))
        outbox: list[Message] = []
        if operations:
            outbox += await self._execute(instance_id, state, operations, now)
        if state.may_dequeue() and len(operations) >= batch_size:
            # ToBeContinuedWithDelay: the rest waits for the "continue" the scheduler sends itself.
            state.suspended = True
            outbox.append(Message(instance_id, event(EventType.EventRaised, now, Name=CONTINUE_EVENT, Input=None)))
        if outbox:
            await self.engine.transport.send(outbox)
        await self._commit(instance_id, record, state)
        return batch

    def _receive(self, instance_id: str, state: SchedulerState, item: dict[str, Any],
                 lock_holder: list[dict[str, Any]]) -> None:
        """EntityMiddleware's walk over the new events: requests (the lock holder's kept aside, to go first),
        lock releases and continues."""
        if item["EventType"] != EventType.EventRaised:
            log.info("Entity %s ignores a %s message", instance_id, EventType(item["EventType"]).name)
            return
        name = item.get("Name") or ""
        if name.startswith(REQUEST_EVENT):
            for message in state.sorter.receive_in_order(json.loads(item["Input"])):
                if state.locked_by is not None and state.locked_by == message.get("parent"):
                    lock_holder.append(message)
                else:
                    state.enqueue(message)
        elif name == RELEASE_EVENT:
            release = json.loads(item.get("Input") or "{}")
            if state.locked_by is not None and state.locked_by == release.get("parent"):
                state.locked_by = None
        else:  # CONTINUE_EVENT
            state.suspended = False

    async def _execute(self, instance_id: str, state: SchedulerState, operations: list[dict[str, Any]],
                       now: datetime) -> list[Message]:
        """ExecuteOutOfProcBatch: one invocation for the batch, its results applied in batch order."""
        name, key = parse_scheduler_id(instance_id)
        fn = entity_function(self.engine.index, name)
        if fn is None:
            # EntityMiddleware: entityShim.GetFunctionInfo() is null for an entity the app no longer defines, the
            # work item fails before anything is committed, and its messages come back until the function does.
            raise EntityBatchError(invalid_entity_function_message(name, self.engine.index))
        invocation = EntityInvocation(name, key, state.exists, state.state, operations)
        answer = await self.engine.functions.entity(fn.name, invocation.to_json())
        try:
            result = json.loads(answer)
            results, signals = list(result["results"]), list(result.get("signals") or [])
            state.exists, state.state = bool(result.get("entityExists")), result.get("entityState")
        except (ValueError, KeyError, TypeError) as exc:
            raise EntityBatchError("Out of proc orchestrators must return a valid JSON schema.") from exc
        if len(results) < len(operations):
            raise EntityBatchError(f"Entity {instance_id} returned {len(results)} results for "
                                   f"{len(operations)} operations.")
        outbox = []
        for request, outcome in zip(operations, results, strict=False):
            if outcome.get("isError"):
                app_log.warning("%s: operation '%s' failed: %s", instance_id, request.get("op"), outcome.get("result"))
            if not request.get("signal") and request.get("parent"):
                response = response_message(outcome.get("result"), bool(outcome.get("isError")))
                outbox.append(Message(request["parent"], event(EventType.EventRaised, now, Name=request["id"],
                                                               Input=to_json(response)),
                                      request.get("parentExecution")))
        for signal in signals:
            target = scheduler_id(signal["target"]["name"], signal["target"]["key"])
            message = request_message(signal.get("name"), signal.get("input"), str(uuid.uuid4()), signal=True,
                                      parent=instance_id, typed=True)
            state.sorter.label_outgoing(message, target, now)
            outbox.append(Message(target, event(EventType.EventRaised, now, Name=REQUEST_EVENT,
                                                Input=to_json(message))))
        return outbox

    async def _commit(self, instance_id: str, record: InstanceRecord | None, state: SchedulerState) -> None:
        """TaskEntityShim.Execute: ContinueAsNew(State) (Azure Storage has no implicit entity deletion), the
        status as custom status; the new execution's history is its start and nothing else."""
        at = self.engine.clock.now()
        execution_id = uuid.uuid4().hex
        input_json = state.to_json()
        started = execution_started(at, instance_id=instance_id, execution_id=execution_id, name=instance_id,
                                    input_json=input_json, generation=None)
        new = InstanceRecord(
            instance_id=instance_id, name=instance_id, execution_id=execution_id, runtime_status="Running",
            created_time=at, last_updated_time=at, input=input_json, custom_status=state.status(),
            generation=record.generation if record else 0,
            history=[event(EventType.OrchestratorStarted, at), started, event(EventType.OrchestratorCompleted, at)],
        )
        await self.engine.store.continue_as_new(new)  # written as a merge: the first batch creates the row
