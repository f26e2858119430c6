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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dfctl.taskhub import HistoryEvent, Instance

ACTIVITY = "activity"
SUB_ORCHESTRATION = "sub-orchestration"
TIMER = "timer"
RETRY_TIMER = "retry timer"


@dataclass
class Span:
    """Something that took time: an activity attempt, a sub-orchestration or a timer."""

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
    instance_id: str | None = None  # sub-orchestrations
    reason: str | None = None
    fire_at: datetime | None = None
    input: str | None = None
    key: tuple[str, str | None] | None = None

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
    """The timeline of one execution's events (in history order)."""
    started = next((e for e in events if e.kind == "ExecutionStarted"), None)
    timeline = Timeline(
        instance_id=instance_id,
        name=(row.name if row else None) or (started.name if started else "") or "",
        status=row.runtime_status if row else "Unknown",
        started=(started.time if started else None) or (row.created if row else None),
        ended=None, event_count=len(events), output=row.output if row else None,
    )
    open_tasks: dict[int, Span] = {}
    open_timers: dict[int, Span] = {}
    attempts: dict[tuple[str, str | None], list[Span]] = {}
    unclaimed_timers: list[Span] = []  # timers not yet known as a retry's wait

    for e in events:
        kind = e.kind
        if kind in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            span_kind = ACTIVITY if kind == "TaskScheduled" else SUB_ORCHESTRATION
            key = (f"{span_kind}:{e.name}", e.instance_id if span_kind == SUB_ORCHESTRATION else _input_key(e.input))
            span = Span(span_kind, e.name or "?", e.time, e.event_id, e.sequence, instance_id=e.instance_id, key=key,
                        input=e.input)
            previous = attempts.setdefault(key, [])
            if previous and previous[-1].failed:
                span.attempt = previous[-1].attempt + 1
                waited = [t for t in unclaimed_timers
                          if t.sequence > (previous[-1].end_sequence or previous[-1].sequence)]
                if waited:
                    timer = waited[0]
                    unclaimed_timers.remove(timer)
                    timer.kind, timer.name, span.retry = RETRY_TIMER, f"{span.name} (retry wait)", True
            previous.append(span)
            open_tasks[e.event_id] = span
            timeline.spans.append(span)
        elif kind in ("TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCompleted",
                      "SubOrchestrationInstanceFailed"):
            ended = open_tasks.pop(e.task_id, None) if e.task_id is not None else None
            if ended is None:
                continue
            ended.end, ended.end_sequence = e.time, e.sequence
            ended.outcome = "Failed" if kind.endswith("Failed") else "Completed"
            if ended.failed:
                ended.reason = _first_line(e.reason) or _first_line(e.details)
        elif kind == "TimerCreated":
            span = Span(TIMER, "timer", e.time, e.event_id, e.sequence, fire_at=e.fire_at)
            open_timers[e.event_id] = span
            unclaimed_timers.append(span)
            timeline.spans.append(span)
        elif kind == "TimerFired":
            fired = open_timers.pop(e.task_id, None) if e.task_id is not None else None
            if fired is not None:
                fired.end, fired.end_sequence, fired.outcome = e.time, e.sequence, "Fired"
        elif kind == "ExecutionStarted":
            timeline.marks.append(Mark("started", e.time, e.sequence, f"{e.name or timeline.name} started"))
        elif kind == "ExecutionCompleted":
            status = e.status or "Completed"
            timeline.ended = e.time
            text = status if status != "Failed" else f"Failed: {_first_line(e.reason) or _first_line(e.result)}"
            timeline.marks.append(Mark("ended", e.time, e.sequence, text))
        elif kind == "ExecutionTerminated":
            timeline.ended = e.time
            timeline.marks.append(Mark("ended", e.time, e.sequence, f"Terminated: {_first_line(e.input) or ''}"))
        elif kind == "EventRaised":
            timeline.marks.append(Mark("event", e.time, e.sequence, f"event {e.name} received"))
        elif kind == "EventSent":
            timeline.marks.append(Mark("event", e.time, e.sequence, f"event {e.name} sent to {e.instance_id}"))
        elif kind in ("ExecutionSuspended", "ExecutionResumed", "ContinueAsNew", "ExecutionRewound"):
            text = kind.removeprefix("Execution")
            timeline.marks.append(Mark("control", e.time, e.sequence, f"{text}: {_first_line(e.reason) or ''}"))
    if timeline.ended is None and row is not None and row.finished:
        timeline.ended = row.completed or row.last_updated
    return timeline


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

    return {
        "instanceId": timeline.instance_id, "name": timeline.name, "runtimeStatus": timeline.status,
        "started": iso(timeline.started), "ended": iso(timeline.ended), "durationSeconds": seconds(timeline.duration),
        "historyEvents": timeline.event_count, "summary": timeline.summary(),
        "spans": [{
            "kind": s.kind, "name": s.name, "start": iso(s.start), "end": iso(s.end),
            "durationSeconds": seconds(s.duration), "outcome": s.outcome, "attempt": s.attempt, "retry": s.retry,
            "instanceId": s.instance_id, "reason": s.reason, "fireAt": iso(s.fire_at),
        } for s in timeline.spans],
        "marks": [{"kind": m.kind, "time": iso(m.time), "text": m.text} for m in timeline.marks],
        "children": [to_json(child) for child in timeline.children.values()],
    }
