"""An instance's timeline from its history: activities, sub-orchestrations, timers, retries, failures.

* An activity is a `TaskScheduled` (its EventId) and the `TaskCompleted`/`TaskFailed` whose
  `TaskScheduledId` is that EventId; its duration runs from scheduling to the result, so it
  includes the time the work item waited in the queue.
* Sub-orchestrations likewise: `SubOrchestrationInstanceCreated` -> `...Completed`/`...Failed`,
  with the child's InstanceId.
* Timers: `TimerCreated` (EventId, FireAt) -> `TimerFired` (TimerId).
* Retries: a call of the same activity (same name and input) scheduled again after a failed
  attempt is attempt 2, 3, ...; it is a retry when a timer was created between the failure and
  the new attempt (how `call_activity_with_retry` waits), and that timer is shown as a retry timer.
* Entities: an `EventSent` named "op" to an entity (`@name@key`) carries a request message. A call
  (`call_entity`) runs until the `EventRaised` named by the request's id brings the response (failed when
  it has an `exceptionType`); a signal (`signal_entity`) is a moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dfctl.entities import EntityRequest, compact, response_of, value_of
from dfctl.taskhub import HistoryEvent, Instance

ACTIVITY = "activity"
SUB_ORCHESTRATION = "sub-orchestration"
TIMER = "timer"
RETRY_TIMER = "retry timer"
ENTITY_CALL = "entity call"
ENTITY_SIGNAL = "entity signal"  # a Mark's kind


@dataclass
class Span:
    """Something that took time: an activity attempt, a sub-orchestration, a timer or an entity call."""

    kind: str
    name: str
    start: datetime | None
    event_id: int
    sequence: int
    end: datetime | None = None
    end_sequence: int | None = None
    outcome: str = "Running"  # Completed, Failed, Fired; Running while no result is recorded
    attempt: int = 1
    retry: bool = False  # scheduled again after a failure and a retry timer
    instance_id: str | None = None  # sub-orchestrations; the entity of an entity call
    reason: str | None = None
    fire_at: datetime | None = None
    input: str | None = None
    key: tuple[str, str | None] | None = None
    result: str | None = None  # an entity call's result (JSON text)

    @property
    def duration(self) -> timedelta | None:
        return self.end - self.start if self.end and self.start else None

    @property
    def failed(self) -> bool:
        return self.outcome == "Failed"


@dataclass
class Mark:
    """Something that happened at one moment: start, end, an external event, suspension..."""

    kind: str
    time: datetime | None
    sequence: int
    text: str
    target: str | None = None  # an entity signal's entity


@dataclass
class Timeline:
    """One instance's current execution, with the timelines of the sub-orchestrations it started."""

    instance_id: str
    name: str
    status: str
    started: datetime | None
    ended: datetime | None
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    children: dict[str, Timeline] = field(default_factory=dict)
    event_count: int = 0
    output: str | None = None

    @property
    def duration(self) -> timedelta | None:
        return self.ended - self.started if self.ended and self.started else None

    def of_kind(self, *kinds: str) -> list[Span]:
        return [s for s in self.spans if s.kind in kinds]

    def all_activities(self) -> list[Span]:
        """Activity attempts of this instance and of every sub-orchestration below it."""
        found = self.of_kind(ACTIVITY)
        for child in self.children.values():
            found += child.all_activities()
        return found

    def entity_summary(self) -> dict[str, int]:
        """This instance's requests to entities: calls (failed, waiting), signals, and how many entities."""
        calls = self.of_kind(ENTITY_CALL)
        signals = [m for m in self.marks if m.kind == ENTITY_SIGNAL]
        return {
            "calls": len(calls), "failed": sum(1 for s in calls if s.failed),
            "running": sum(1 for s in calls if s.outcome == "Running"), "signals": len(signals),
            "entities": len({s.instance_id for s in calls} | {m.target for m in signals}),
        }

    def summary(self) -> dict[str, int]:
        activities = self.all_activities()
        return {
            "activities": len(activities),
            "failed": sum(1 for s in activities if s.failed),
            "retries": sum(1 for s in activities if s.retry),
            "running": sum(1 for s in activities if s.outcome == "Running"),
            "subOrchestrations": len(self.of_kind(SUB_ORCHESTRATION)),
        }


def build(instance_id: str, events: list[HistoryEvent], row: Instance | None = None) -> Timeline:
    """The timeline of one execution's events (in history order).

    Each event kind has its handler in `_HANDLERS`; kinds without one (orchestrator turns, generic events)
    add nothing to a timeline.
    """
    walk = _HistoryWalk(_new_timeline(instance_id, events, row))
    for event in events:
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(walk, event)
    timeline = walk.timeline
    if timeline.ended is None and row is not None and row.finished:
        timeline.ended = row.completed or row.last_updated
    return timeline


def _new_timeline(instance_id: str, events: list[HistoryEvent], row: Instance | None) -> Timeline:
    """An empty timeline to fill from the events: the name from the Instances row, else from ExecutionStarted;
    the start from ExecutionStarted, else the row's creation time (a history read without its first event)."""
    started = next((e for e in events if e.kind == "ExecutionStarted"), None)
    return Timeline(
        instance_id=instance_id,
        name=(row.name if row else None) or (started.name if started else "") or "",
        status=row.runtime_status if row else "Unknown",
        started=(started.time if started else None) or (row.created if row else None),
        ended=None, event_count=len(events), output=row.output if row else None,
    )


@dataclass
class _HistoryWalk:
    """What reading a history event by event must remember: the calls and timers still waiting for their
    result, and earlier attempts of each call (to number retries)."""

    timeline: Timeline
    open_tasks: dict[int, Span] = field(default_factory=dict)  # by the EventId their result will name
    open_timers: dict[int, Span] = field(default_factory=dict)
    attempts: dict[tuple[str, str | None], list[Span]] = field(default_factory=dict)
    unclaimed_timers: list[Span] = field(default_factory=list)  # timers not yet known as a retry's wait
    open_entity_calls: dict[str, Span] = field(default_factory=dict)  # by request id (the response's name)

    def add_mark(self, kind: str, event: HistoryEvent, text: str, target: str | None = None) -> None:
        self.timeline.marks.append(Mark(kind, event.time, event.sequence, text, target))


# -- one handler per history event kind ----------------------------------------------------------


def _activity_scheduled(walk: _HistoryWalk, event: HistoryEvent) -> None:
    _call_started(walk, event, ACTIVITY)


def _sub_orchestration_created(walk: _HistoryWalk, event: HistoryEvent) -> None:
    _call_started(walk, event, SUB_ORCHESTRATION)


def _call_started(walk: _HistoryWalk, event: HistoryEvent, span_kind: str) -> None:
    """An activity or sub-orchestration call opens a span until its result; a repeated call is another attempt."""
    key = _call_key(span_kind, event)
    span = Span(span_kind, event.name or "?", event.time, event.event_id, event.sequence,
                instance_id=event.instance_id, key=key, input=event.input)
    previous = walk.attempts.setdefault(key, [])
    if previous and previous[-1].failed:
        _count_as_retry(walk, span, previous[-1])
    previous.append(span)
    walk.open_tasks[event.event_id] = span
    walk.timeline.spans.append(span)


def _call_key(span_kind: str, event: HistoryEvent) -> tuple[str, str | None]:
    """What makes two calls the same call, so a later one counts as another attempt: the function's name,
    and the input (activities) or the child's instance id (sub-orchestrations)."""
    identity = event.instance_id if span_kind == SUB_ORCHESTRATION else _input_key(event.input)
    return f"{span_kind}:{event.name}", identity


def _count_as_retry(walk: _HistoryWalk, span: Span, failed: Span) -> None:
    """A call made again after a failed attempt is the next attempt; it is a retry when a timer was created
    after the failure, since that timer is how `call_activity_with_retry` waits."""
    span.attempt = failed.attempt + 1
    since = failed.end_sequence or failed.sequence
    timer = next((t for t in walk.unclaimed_timers if t.sequence > since), None)
    if timer is not None:
        walk.unclaimed_timers.remove(timer)
        timer.kind, timer.name, span.retry = RETRY_TIMER, f"{span.name} (retry wait)", True


def _call_ended(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """A call's result (TaskScheduledId) closes its span; a result whose call is not among the events is
    ignored."""
    ended = walk.open_tasks.pop(event.task_id, None) if event.task_id is not None else None
    if ended is None:
        return
    ended.end, ended.end_sequence = event.time, event.sequence
    ended.outcome = "Failed" if event.kind.endswith("Failed") else "Completed"
    if ended.failed:
        ended.reason = _first_line(event.reason) or _first_line(event.details)


def _timer_created(walk: _HistoryWalk, event: HistoryEvent) -> None:
    span = Span(TIMER, "timer", event.time, event.event_id, event.sequence, fire_at=event.fire_at)
    walk.open_timers[event.event_id] = span
    walk.unclaimed_timers.append(span)
    walk.timeline.spans.append(span)


def _timer_fired(walk: _HistoryWalk, event: HistoryEvent) -> None:
    fired = walk.open_timers.pop(event.task_id, None) if event.task_id is not None else None
    if fired is not None:
        fired.end, fired.end_sequence, fired.outcome = event.time, event.sequence, "Fired"


def _execution_started(walk: _HistoryWalk, event: HistoryEvent) -> None:
    walk.add_mark("started", event, f"{event.name or walk.timeline.name} started")


def _execution_completed(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """ExecutionCompleted also records failures: its status says which, and a failure shows its reason."""
    status = event.status or "Completed"
    walk.timeline.ended = event.time
    text = status if status != "Failed" else f"Failed: {_first_line(event.reason) or _first_line(event.result)}"
    walk.add_mark("ended", event, text)


def _execution_terminated(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """A termination's reason is kept in the event's Input."""
    walk.timeline.ended = event.time
    walk.add_mark("ended", event, f"Terminated: {_first_line(event.input) or ''}")


def _event_raised(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """An external event; or the response to an entity call, which closes the call's span."""
    call = walk.open_entity_calls.get(event.name or "")
    response = response_of(event.input) if call is not None else None
    if call is None or response is None:
        walk.add_mark("event", event, f"event {event.name} received")
        return
    del walk.open_entity_calls[event.name or ""]
    failed, result = response
    call.end, call.end_sequence = event.time, event.sequence
    call.outcome = "Failed" if failed else "Completed"
    if failed:
        call.reason = _first_line(result) or "failed"
    else:
        call.result = result


def _event_sent(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """An event sent to another instance; a request to an entity is a call (a span until its response) or a
    signal (a moment)."""
    request = EntityRequest.from_event(event.instance_id, event.name, event.input)
    if request is None:
        walk.add_mark("event", event, f"event {event.name} sent to {event.instance_id}")
        return
    operation = request.operation if request.operation is not None else "(lock)"
    if request.signal or not request.request_id:
        shown = compact(request.input)
        walk.add_mark(ENTITY_SIGNAL, event, f"signal {operation} to {request.entity_id}"
                      + (f" (input {shown})" if shown is not None else ""), target=request.entity_id)
        return
    span = Span(ENTITY_CALL, operation, event.time, event.event_id, event.sequence,
                instance_id=request.entity_id, input=request.input)
    walk.open_entity_calls[request.request_id] = span
    walk.timeline.spans.append(span)


def _control(walk: _HistoryWalk, event: HistoryEvent) -> None:
    """Suspend, resume, continue-as-new and rewind: marks named after the event, with their reason."""
    text = event.kind.removeprefix("Execution")
    walk.add_mark("control", event, f"{text}: {_first_line(event.reason) or ''}")


_HANDLERS: dict[str, Callable[[_HistoryWalk, HistoryEvent], None]] = {
    "TaskScheduled": _activity_scheduled,
    "SubOrchestrationInstanceCreated": _sub_orchestration_created,
    "TaskCompleted": _call_ended,
    "TaskFailed": _call_ended,
    "SubOrchestrationInstanceCompleted": _call_ended,
    "SubOrchestrationInstanceFailed": _call_ended,
    "TimerCreated": _timer_created,
    "TimerFired": _timer_fired,
    "ExecutionStarted": _execution_started,
    "ExecutionCompleted": _execution_completed,
    "ExecutionTerminated": _execution_terminated,
    "EventRaised": _event_raised,
    "EventSent": _event_sent,
    "ExecutionSuspended": _control,
    "ExecutionResumed": _control,
    "ContinueAsNew": _control,
    "ExecutionRewound": _control,
}


def _input_key(value: str | None) -> str | None:
    """Inputs identify a call; a value kept in a blob cannot be compared, so it does not count."""
    if value is None or value.startswith("<large value in blob"):
        return None
    return value


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    text = str(text).strip().strip('"')
    return text.splitlines()[0][:300] if text else None


def to_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline as plain JSON (times ISO 8601, durations in seconds)."""

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    def seconds(delta: timedelta | None) -> float | None:
        return round(delta.total_seconds(), 6) if delta is not None else None

    entities = timeline.entity_summary()
    return {
        "instanceId": timeline.instance_id, "name": timeline.name, "runtimeStatus": timeline.status,
        "started": iso(timeline.started), "ended": iso(timeline.ended), "durationSeconds": seconds(timeline.duration),
        "historyEvents": timeline.event_count, "summary": timeline.summary(),
        **({"entitySummary": entities} if entities["calls"] or entities["signals"] else {}),
        "spans": [{
            "kind": s.kind, "name": s.name, "start": iso(s.start), "end": iso(s.end),
            "durationSeconds": seconds(s.duration), "outcome": s.outcome, "attempt": s.attempt, "retry": s.retry,
            "instanceId": s.instance_id, "reason": s.reason, "fireAt": iso(s.fire_at),
        } | ({"result": value_of(s.result)} if s.kind == ENTITY_CALL else {}) for s in timeline.spans],
        "marks": [{"kind": m.kind, "time": iso(m.time), "text": m.text}
                  | ({"entityId": m.target} if m.kind == ENTITY_SIGNAL else {}) for m in timeline.marks],
        "children": [to_json(child) for child in timeline.children.values()],
    }
