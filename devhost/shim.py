"""The .NET half of an orchestration episode, replayed in Python.

The Python SDK only replays the user's generator and returns the actions it
wants. The Durable extension's out-of-process shim then replays those actions
against DurableTask.Core, which numbers each scheduled task, timer and
sub-orchestration, checks them against history (non-determinism), runs retries
host-side and decides whether the instance may complete. This module does the
same for one episode so that the local host produces the history the real one
would. See durable-host-protocol.md sections 2-3.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from .entity_state import (
    REQUEST_EVENT,
    InvalidEntityId,
    MessageSorter,
    parse_scheduler_id,
    request_guid,
    request_message,
)
from .history import Event, EventType, event, parse_time, to_json


class ActionType(IntEnum):
    """The SDK's action types (models/actions/ActionType.py)."""

    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    ScheduledSignalEntity = 10
    WhenAny = 11
    WhenAll = 12


UNSUPPORTED = {
    ActionType.ScheduledSignalEntity: "Scheduled entity signals",  # the Python SDK never sends this action
    ActionType.CallHttp: "call_http (durable HTTP)",
}

# The SDK's calls of functions, by the kind of function they call.
_CALLS = {
    ActionType.CallActivity: "activity",
    ActionType.CallActivityWithRetry: "activity",
    ActionType.CallSubOrchestrator: "suborchestration",
    ActionType.CallSubOrchestratorWithRetry: "suborchestration",
}

class NonDeterminismError(Exception):
    """Replayed actions no longer match the recorded history."""


class UnsupportedActionError(Exception):
    """The orchestrator used an API the local host does not implement."""


@dataclass(eq=False)
class _Task:
    kind: str  # activity | suborchestration | timer | event | entity | all | any | retry | done
    parent: _Task | None = None
    children: list[_Task] = field(default_factory=list)
    seq: int | None = None
    name: str | None = None
    done: bool = False
    failed: bool = False
    cancelled: bool = False
    # retry state
    action: dict[str, Any] | None = None
    attempts: int = 0
    waiting_on_timer: bool = False


@dataclass
class EpisodeDecision:
    """What the .NET side concludes from one episode's actions."""

    new_events: list[Event]
    open_blocking: int
    continue_as_new: dict[str, Any] | None
    all_actions_done: bool
    # EventRaised events processed after ContinueAsNew: they open the next generation (the Azure Storage
    # provider's default EventBehaviourForContinueAsNew is Carryover; TaskOrchestrationContext.HandleEventRaisedEvent).
    carryover: list[Event] = field(default_factory=list)
    # Calls of activities or orchestrators the app does not define (their tasks faulted and were swallowed).
    unknown_functions: list[str] = field(default_factory=list)


class ShimReplay:
    """Replays one episode's action list against the full history."""

    def __init__(
        self,
        actions: list[dict[str, Any]],
        execution_id: str,
        *,
        activities: frozenset[str] | set[str],
        orchestrators: frozenset[str] | set[str],
        entities: frozenset[str] | set[str] = frozenset(),
        instance_id: str = "",
    ):
        """`entities`: the app's entity names, lower-cased (the extension's lookup ignores case)."""
        self._actions = actions
        self._known = {"activity": activities, "suborchestration": orchestrators,
                       "entity": {name.lower() for name in entities}}
        self._execution_id = execution_id
        self._instance_id = instance_id
        self._guid_counter = 0  # DurableOrchestrationContext.newGuidCounter
        self._sorter = MessageSorter()  # the orchestration's sending side: rebuilt by every replay, never stored
        self._entity_calls: dict[int, _Task] = {}  # sequence number -> call waiting for its response
        self._next_action = 0
        self._current: _Task | None = None
        self._seq = 0
        self._now: datetime | None = None
        self._by_seq: dict[int, _Task] = {}
        self._unconfirmed: dict[int, Event] = {}
        self._waiters: dict[str, deque[_Task]] = defaultdict(deque)
        self._buffered: dict[str, int] = defaultdict(int)
        self._continue_as_new: dict[str, Any] | None = None
        self._carryover: list[Event] = []
        self._unknown: list[str] = []

    # -- public -------------------------------------------------------------

    def run(self, history: list[Event]) -> EpisodeDecision:
        """Process every history event in order, as DurableTask.Core replays them."""
        for item in history:
            self._process(item)
        new_events = [self._unconfirmed[seq] for seq in sorted(self._unconfirmed)]
        open_blocking = sum(
            1 for task in self._by_seq.values()
            if not task.done and task.kind in ("activity", "suborchestration", "timer")
        )
        all_done = self._next_action >= len(self._actions) and (self._current is None or self._current.done)
        return EpisodeDecision(new_events, open_blocking, self._continue_as_new, all_done,
                               self._carryover, self._unknown)

    # -- history ------------------------------------------------------------

    def _process(self, item: Event) -> None:
        kind = item["EventType"]
        if kind == EventType.OrchestratorStarted:
            self._now = parse_time(item["Timestamp"])
        elif kind == EventType.ExecutionStarted:
            self._advance()
        elif kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated, EventType.TimerCreated,
                      EventType.EventSent):
            self._confirm(item)
        elif kind in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
            self._complete(item.get("TaskScheduledId"), failed=False)
        elif kind in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
            self._complete(item.get("TaskScheduledId"), failed=True)
        elif kind == EventType.TimerFired:
            self._complete(item.get("TimerId"), failed=False)
        elif kind == EventType.EventRaised:
            if self._continue_as_new is not None:
                self._carryover.append(item)
            else:
                self._raise(item.get("Name") or "")

    def _confirm(self, item: Event) -> None:
        seq = item["EventId"]
        expected = self._unconfirmed.pop(seq, None)
        if expected is None:
            raise NonDeterminismError(
                f"Non-deterministic workflow detected: {EventType(item['EventType']).name} with "
                f"EventId {seq} ({item.get('Name') or 'timer'}) is in history, but the orchestrator "
                "did not schedule it when replayed."
            )
        if expected["EventType"] != item["EventType"] or expected.get("Name") != item.get("Name"):
            raise NonDeterminismError(
                f"Non-deterministic workflow detected: history has {EventType(item['EventType']).name} "
                f"'{item.get('Name')}' with EventId {seq}, but the replayed orchestrator scheduled "
                f"{EventType(expected['EventType']).name} '{expected.get('Name')}'."
            )
        call = self._entity_calls.get(seq)
        if call is not None:
            self._rekey(call, item)

    def _rekey(self, call: _Task, sent: Event) -> None:
        """The response is named by the request id recorded in history, as the SDK matches it
        (TaskOrchestrationExecutor re-keys a CallEntityAction by EventSent.Input["id"])."""
        recorded = json.loads(sent.get("Input") or "{}").get("id")
        if not recorded or recorded == call.name or call.done:
            return
        waiters = self._waiters.get(call.name or "")
        if waiters and call in waiters:
            waiters.remove(call)
        call.name = recorded
        if self._await_event(call).done:
            self._finish(call, failed=False)

    def _complete(self, seq: int | None, *, failed: bool) -> None:
        task = self._by_seq.get(seq) if seq is not None else None
        if task is None or task.done:
            return  # DurableTask.Core ignores completions it has no open task for
        self._finish(task, failed=failed)

    def _raise(self, name: str) -> None:
        waiters = self._waiters.get(name)
        if waiters:
            # DurableOrchestrationContext.WaitForExternalEvent keeps a stack: the newest waiter gets it.
            self._finish(waiters.pop(), failed=False)
        else:
            self._buffered[name] += 1

    # -- actions ------------------------------------------------------------

    def _advance(self) -> None:
        """Invoke top-level actions one after another while each completes at once."""
        while (self._current is None or self._current.done) and self._next_action < len(self._actions):
            action = self._actions[self._next_action]
            self._next_action += 1
            self._current = self._invoke(action, None)

    def _invoke(self, action: dict[str, Any], parent: _Task | None) -> _Task:
        kind = ActionType(action["actionType"])
        if kind in UNSUPPORTED:
            raise UnsupportedActionError(
                f"{UNSUPPORTED[kind]} are not supported by the local host (devhost); "
                "run this app with the Azure Functions host (`func start`)."
            )
        if kind in _CALLS:
            inner = _CALLS[kind]
            if (action.get("functionName") or "") not in self._known[inner]:
                return self._faulted(inner, action, parent)
            if kind in (ActionType.CallActivity, ActionType.CallSubOrchestrator):
                return self._schedule(inner, action, parent)
            wrapper = _Task("retry", parent=parent, action=action, attempts=1)
            wrapper.name = inner
            wrapper.children.append(self._schedule(inner, action, wrapper))
            return wrapper
        if kind in (ActionType.CallEntity, ActionType.SignalEntity):
            return self._entity_request(action, parent, signal=kind == ActionType.SignalEntity)
        if kind == ActionType.CreateTimer:
            timer = self._timer(parse_time(action["fireAt"]), parent)
            if action.get("isCanceled"):
                timer.cancelled = True
                self._finish(timer, failed=False)
            return timer
        if kind == ActionType.WaitForExternalEvent:
            name = action.get("externalEventName") or ""
            return self._await_event(_Task("event", parent=parent, name=name))
        if kind == ActionType.ContinueAsNew:
            self._continue_as_new = {"input": _as_object_input(action.get("input"))}
            return _Task("done", parent=parent, done=True)
        # WhenAll / WhenAny
        compound = _Task("all" if kind == ActionType.WhenAll else "any", parent=parent)
        for child_action in action.get("compoundActions") or []:
            compound.children.append(self._invoke(child_action, compound))
        if self._compound_done(compound) and not compound.done:
            compound.done = True
        return compound

    def _faulted(self, kind: str, action: dict[str, Any], parent: _Task | None) -> _Task:
        """A call of a function the app does not define. DurableOrchestrationContext.CallDurableTaskFunctionAsync
        throws ArgumentException from ThrowIfFunctionDoesNotExist before it schedules anything (no sequence
        number is used), inside an async method: the task is faulted. OutOfProcOrchestrationShim.
        ProcessAsyncActionsV2 awaits it in a try/catch that "silently ignores exceptions thrown by user code"
        and goes on with the next action; no failure reaches history, so the SDK waits for it for good."""
        self._unknown.append(action.get("functionName") or "")
        return _Task(kind, parent=parent, name=action.get("functionName"), done=True, failed=True)

    def _entity_request(self, action: dict[str, Any], parent: _Task | None, *, signal: bool) -> _Task:
        """OutOfProcOrchestrationShim's CallEntity / SignalEntity, i.e. DurableOrchestrationContext.
        CallDurableTaskFunctionAsync for an entity: an unknown entity faults the task before anything is sent
        (ThrowIfFunctionDoesNotExist); otherwise a RequestMessage with a deterministic id (NewGuid, no sequence
        number), labelled by the message sorter and sent as event "op" (SendEvent: one sequence number). The
        action's input, JSON text already, is serialized once more (RequestMessage.SetInput). A call then
        waits for the event named by the request id (WaitForEntityResponse); a signal is done at once."""
        target = action.get("instanceId") or ""
        try:
            name, _ = parse_scheduler_id(target)
        except InvalidEntityId:
            name = ""
        if name.lower() not in self._known["entity"]:
            self._unknown.append(name or target)
            return _Task("entity", parent=parent, name=name, done=True, failed=True)
        assert self._now is not None
        request_id = request_guid(self._instance_id, self._now, self._guid_counter)
        self._guid_counter += 1
        input_value = action.get("input")
        message = request_message(
            action.get("operation"), None if input_value is None else json.dumps(input_value), request_id,
            signal=signal, parent=self._instance_id, parent_execution=self._execution_id, typed=True,
        )
        self._sorter.label_outgoing(message, target, self._now)
        seq = self._take_seq()
        self._unconfirmed[seq] = event(EventType.EventSent, self._now, seq, InstanceId=target, Name=REQUEST_EVENT,
                                       Input=to_json(message))
        if signal:
            return _Task("done", parent=parent, seq=seq, done=True)
        call = _Task("entity", parent=parent, seq=seq, name=request_id)
        self._entity_calls[seq] = call
        return self._await_event(call)

    def _await_event(self, waiter: _Task) -> _Task:
        """A task completed by the event named `waiter.name`: at once by one that came before, else when it comes."""
        name = waiter.name or ""
        if self._buffered.get(name):
            self._buffered[name] -= 1
            waiter.done = True
        else:
            self._waiters[name].append(waiter)
        return waiter

    def _schedule(self, kind: str, action: dict[str, Any], parent: _Task | None) -> _Task:
        seq = self._take_seq()
        task = _Task(kind, parent=parent, seq=seq, name=action.get("functionName"))
        self._by_seq[seq] = task
        at = self._now
        assert at is not None
        if kind == "activity":
            self._unconfirmed[seq] = event(
                EventType.TaskScheduled, at, seq, Name=action.get("functionName"), Version="",
                Input=action.get("input"),
            )
        else:
            instance_id = action.get("instanceId") or f"{self._execution_id}:{seq}"
            self._unconfirmed[seq] = event(
                EventType.SubOrchestrationInstanceCreated, at, seq, Name=action.get("functionName"),
                Version="", InstanceId=instance_id, Input=_as_object_input(action.get("input")),
            )
        return task

    def _timer(self, fire_at: datetime, parent: _Task | None) -> _Task:
        seq = self._take_seq()
        task = _Task("timer", parent=parent, seq=seq)
        self._by_seq[seq] = task
        assert self._now is not None
        self._unconfirmed[seq] = event(EventType.TimerCreated, self._now, seq, FireAt=_iso(fire_at))
        return task

    def _take_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    # -- completion propagation ----------------------------------------------

    def _finish(self, task: _Task, *, failed: bool) -> None:
        task.done = True
        task.failed = failed
        parent = task.parent
        if parent is None:
            if task is self._current:
                self._advance()
            return
        if parent.kind == "retry":
            self._retry_step(parent, task)
        elif not parent.done and self._compound_done(parent):
            self._finish(parent, failed=False)

    @staticmethod
    def _compound_done(compound: _Task) -> bool:
        if compound.kind == "all":
            return all(child.done for child in compound.children)
        return any(child.done for child in compound.children)

    def _retry_step(self, wrapper: _Task, child: _Task) -> None:
        """DurableTask.Core's RetryInterceptor: a timer after every failure, then retry or give up."""
        if wrapper.done:
            return
        options = wrapper.action.get("retryOptions") or {} if wrapper.action else {}
        max_attempts = int(options.get("maxNumberOfAttempts") or 1)
        if wrapper.waiting_on_timer:
            wrapper.waiting_on_timer = False
            if wrapper.attempts >= max_attempts:
                self._finish(wrapper, failed=True)
            else:
                wrapper.attempts += 1
                assert wrapper.action is not None and wrapper.name is not None
                wrapper.children.append(self._schedule(wrapper.name, wrapper.action, wrapper))
            return
        if not child.failed:
            self._finish(wrapper, failed=False)
            return
        assert self._now is not None
        # RetryInterceptor.Invoke: after a failed attempt that may be retried, a timer of the next delay
        # (the Python SDK's options have no backoff: always the first interval); after the last attempt,
        # a timer at CurrentUtcDateTime ("Dummy timer for back-compat"), then the task fails.
        if wrapper.attempts >= max_attempts:
            delay = timedelta(0)
        else:
            delay = timedelta(milliseconds=int(options.get("firstRetryIntervalInMilliseconds") or 0))
        wrapper.waiting_on_timer = True
        wrapper.children.append(self._timer(self._now + delay, wrapper))


def _as_object_input(value: Any) -> str | None:
    """The extension passes an action's input (already JSON text) on as an object, so
    DurableTask serializes it once more: the new execution's input is a JSON string."""
    return None if value is None else json.dumps(value)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_reply(reply: str) -> dict[str, Any]:
    """The SDK's OrchestratorState JSON, with the V3 action list flattened to one list."""
    state = json.loads(reply)
    actions = state.get("actions") or []
    if actions and isinstance(actions[0], list):
        flat: list[dict[str, Any]] = []
        for group in actions:
            flat.extend(group)
        actions = flat
    state["actions"] = actions
    return state
