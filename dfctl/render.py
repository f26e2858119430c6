"""Terminal output: tables with rich, plain lines when the output is not a terminal."""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dfctl.entities import EntityStatus, EntityView, compact, entity_id, queued_operation
from dfctl.taskhub import Instance
from dfctl.timeline import ACTIVITY, ENTITY_CALL, RETRY_TIMER, SUB_ORCHESTRATION, Mark, Span, Timeline

STATUS_STYLE = {"Completed": "green", "Failed": "red", "Terminated": "magenta", "Running": "cyan",
                "Pending": "cyan", "Suspended": "yellow", "Fired": "dim", "ContinuedAsNew": "blue"}


def console(stderr: bool = False) -> Console:
    """A console; when not writing to a terminal, wide enough that ids and names are never cut."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream, stderr=stderr, soft_wrap=True, highlight=False, emoji=False)
    width = int(os.environ.get("COLUMNS") or 0) or 200
    return Console(file=stream, width=max(width, 120), no_color=True, highlight=False, soft_wrap=True, emoji=False)


def esc(value: Any) -> str:
    """Data shown as text: never read as rich markup (`[...]`)."""
    return escape(str(value)) if value is not None else ""


def when(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return "-"
    if isinstance(moment, str):
        return moment.replace("T", " ")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + "Z"


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def short_json(text: Any, limit: int = 80) -> str:
    """A value on one line, shortened; JSON text is shown compact, a JSON string without its quotes."""
    if text is None:
        return ""
    if isinstance(text, str):
        try:
            text = json.loads(text)
        except ValueError:
            pass
    if not isinstance(text, str):
        text = json.dumps(text, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_of(custom_status: Any) -> str:
    """The `step` (and batch progress) of the app's custom statuses, else the status itself, shortened."""
    value = custom_status
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return short_json(value, 40)
    if isinstance(value, dict):
        step = str(value.get("step") or "")
        if isinstance(value.get("processed"), int) and isinstance(value.get("total"), int):
            step += f" {value['processed']}/{value['total']}"
        return step.strip() or short_json(value, 40)
    return short_json(value, 40)


# -- management API listings ---------------------------------------------------------------------


def status_table(items: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("instance id", "name", "status", "created", "last updated", "step / custom status"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(esc(item.get("instanceId", "")), esc(item.get("name", "")),
                      styled(item.get("runtimeStatus", "")), when(item.get("createdTime")),
                      when(item.get("lastUpdatedTime")), esc(step_of(item.get("customStatus"))))
    return table


def status_lines(body: dict[str, Any]) -> list[str]:
    lines = [
        f"instance    {esc(body.get('instanceId'))}",
        f"name        {esc(body.get('name'))}",
        f"status      {styled(body.get('runtimeStatus', ''))}",
        f"created     {when(body.get('createdTime'))}",
        f"updated     {when(body.get('lastUpdatedTime'))}",
    ]
    if body.get("customStatus") is not None:
        lines.append(f"custom      {esc(short_json(body['customStatus'], 300))}")
    if body.get("output") is not None:
        lines.append(f"output      {esc(short_json(body['output'], 300))}")
    return lines


# -- task hub tables -----------------------------------------------------------------------------


def instances_table(instances: list[Instance], hub: str) -> Table:
    table = Table(title=f"{hub}Instances")
    for column in ("instance id", "name", "status", "created", "last updated", "duration", "step / custom status"):
        table.add_column(column, overflow="fold")
    for item in instances:
        entity = entity_id(item.instance_id)
        if entity is not None:  # an entity's row: always Running; its custom status is the entity status
            table.add_row(esc(item.instance_id), esc(f"entity {entity[0]}@{entity[1]}"), styled(item.runtime_status),
                          when(item.created), when(item.last_updated), "-",
                          esc(EntityStatus.from_custom_status(item.custom_status).describe()))
            continue
        ended = item.completed or item.last_updated
        took = ended - item.created if item.finished and item.created and ended else None
        table.add_row(esc(item.instance_id), esc(item.name), styled(item.runtime_status), when(item.created),
                      when(item.last_updated), duration(took), esc(step_of(item.custom_status)))
    return table


def entity_lines(view: EntityView, hub: str) -> list[str]:
    """`dfctl inspect @name@key`: the entity's name, key, whether it exists, its state, queue and lock."""
    lines = [
        f"entity      {esc(view.name)}@{esc(view.key)}",
        f"name        {esc(view.name)}",
        f"key         {esc(view.key)}",
        f"instance    {esc(view.instance_id)}",
        f"exists      {'yes' if view.exists else 'no'}"
        + ("" if view.found else f" (no row in {esc(hub)}Instances: never used)"),
        f"queued      {view.queue_size} operation(s)",
        f"locked by   {esc(view.locked_by) if view.locked_by else '-'}",
        f"last op     {when(view.last_operation)}",
    ]
    if not view.state_known:
        lines.append("state       (the scheduler state could not be read)")
    elif view.exists:
        text = json.dumps(view.state, indent=2, ensure_ascii=False)
        first, *rest = text.splitlines()
        lines.append(f"state       {esc(first)}")
        lines += [f"            {esc(line)}" for line in rest]
    for message in view.queue:
        queued = queued_operation(message)
        shown = compact(message.get("input"))
        lines.append(f"  queued    {esc(queued['operation'])} ({'signal' if queued['signal'] else 'call'})"
                     + (f" from {esc(queued['parent'])}" if queued["parent"] else "")
                     + (f", input {esc(shown)}" if shown is not None else ""))
    return lines


def timeline_header(timeline: Timeline, row: Instance | None) -> list[str]:
    summary = timeline.summary()
    execution = f", {row.execution_id}" if row and row.execution_id else ""
    lines = [
        f"instance    {esc(timeline.instance_id)}",
        f"name        {esc(timeline.name)}",
        f"status      {styled(timeline.status)}",
        f"started     {when(timeline.started)}",
        f"ended       {when(timeline.ended)}",
        f"duration    {duration(timeline.duration)}",
        f"history     {timeline.event_count} events (current execution{execution})",
        f"activities  {summary['activities']} attempts"
        + (f" (here and in {summary['subOrchestrations']} sub-orchestrations)" if summary["subOrchestrations"] else "")
        + f", {summary['failed']} failed, {summary['retries']} retries"
        + (f", {summary['running']} running" if summary["running"] else ""),
    ]
    entities = timeline.entity_summary()
    if entities["calls"] or entities["signals"]:
        lines.append(f"entities    {entities['calls']} calls, {entities['failed']} failed"
                     + (f", {entities['running']} waiting" if entities["running"] else "")
                     + f", {entities['signals']} signals, to {entities['entities']} "
                     + ("entity" if entities["entities"] == 1 else "entities"))
    if row is not None and row.custom_status:
        lines.append(f"custom      {esc(short_json(row.custom_status, 300))}")
    if row is not None and row.output:
        lines.append(f"output      {esc(short_json(row.output, 300))}")
    return lines


def timeline_table(timeline: Timeline, max_rows: int = 200) -> tuple[Table, int]:
    """The instance's events in order; returns the table and how many rows were left out."""
    origin = timeline.started
    items: list[tuple[datetime | None, int, Span | Mark]] = [(s.start, s.sequence, s) for s in timeline.spans]
    items += [(m.time, m.sequence, m) for m in timeline.marks]
    items.sort(key=lambda item: (item[1], item[0] or datetime.min))
    table = Table(title=f"timeline of {esc(timeline.instance_id)}")
    for column, justify in (("at", "right"), ("kind", "left"), ("name", "left"), ("attempt", "right"),
                            ("duration", "right"), ("outcome", "left"), ("detail", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    shown = items if not max_rows else items[:max_rows]
    for moment, _, item in shown:
        at = f"+{duration(moment - origin)}" if moment and origin else "-"
        if isinstance(item, Mark):
            table.add_row(at, item.kind, esc(item.text), "", "", "", "")
            continue
        detail = esc(item.reason or (f"input {short_json(item.input, 70)}" if item.input else ""))
        if item.kind == SUB_ORCHESTRATION:
            child = timeline.children.get(item.instance_id or "")
            detail = esc(item.instance_id) + (f": {_child_summary(child)}" if child else "") + (
                f"; {esc(item.reason)}" if item.reason else "")
        elif item.kind == ENTITY_CALL:
            detail = _entity_call_detail(item)
        elif item.kind in (RETRY_TIMER, "timer") and item.fire_at and item.start:
            detail = f"fires at +{duration(item.fire_at - origin)}" if origin else ""
        attempt = str(item.attempt) + (" (retry)" if item.retry else "") if item.kind in (
            ACTIVITY, SUB_ORCHESTRATION) else ""
        table.add_row(at, item.kind, esc(item.name), attempt, duration(item.duration), styled(item.outcome), detail)
    return table, len(items) - len(shown)


def _entity_call_detail(call: Span) -> str:
    """The entity, the call's input, and its result or why it failed."""
    shown_input = compact(call.input)
    text = esc(call.instance_id) + (f" input {esc(shown_input)}" if shown_input is not None else "")
    if call.failed:
        return text + f": {esc(call.reason)}"
    if call.outcome == "Completed":
        result = compact(call.result)
        return text + f" → {esc(result) if result is not None else 'null'}"
    return text


def _child_summary(child: Timeline) -> str:
    s = child.summary()
    text = f"{styled(child.status)}, {s['activities']} activities"
    if s["failed"]:
        text += f", {s['failed']} failed"
    if s["retries"]:
        text += f", {s['retries']} retries"
    return text


def activity_stats(timeline: Timeline) -> Table:
    """Per activity name over the instance and its sub-orchestrations: calls, failures, retries, durations."""
    groups: dict[str, list[Span]] = defaultdict(list)
    for span in timeline.all_activities():
        groups[span.name].append(span)
    table = Table(title="activities (this instance and its sub-orchestrations)")
    for column in ("activity", "attempts", "failed", "retries", "min", "avg", "p95", "max"):
        table.add_column(column, justify="left" if column == "activity" else "right")
    for name, spans in groups.items():
        times = sorted(s.duration.total_seconds() for s in spans if s.duration is not None)
        stats = ["-"] * 4
        if times:
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            stats = [duration(timedelta(seconds=v)) for v in (times[0], sum(times) / len(times), p95, times[-1])]
        table.add_row(esc(name), str(len(spans)), str(sum(1 for s in spans if s.failed)),
                      str(sum(1 for s in spans if s.retry)), *stats)
    return table


def report_table(report: dict[str, Any]) -> Table:
    """A batch report's files: outcome, records and the first problem (or where the output went)."""
    counts = ", ".join(f"{k} {v}" for k, v in (report.get("counts") or {}).items() if v) or "no files"
    table = Table(title=f"batch {esc(report.get('batchId'))}: {report.get('total', 0)} file(s) ({counts})")
    for column in ("file", "outcome", "records", "output / problem"):
        table.add_column(column, overflow="fold")
    for entry in report.get("files") or []:
        detail = entry.get("output") if entry.get("outcome") == "succeeded" else entry.get("message")
        table.add_row(esc(entry.get("file")), styled(entry.get("outcome", "")), str(entry.get("records", "")),
                      esc(detail or ""))
    return table


def error_lines(report: dict[str, Any]) -> list[str]:
    """Each rejected file's problems, as `dfctl report --errors` read them from quarantine."""
    lines = []
    for entry in report.get("files") or []:
        if "errors" not in entry:
            continue
        lines.append(f"{esc(entry.get('file'))} ({entry.get('outcome')}, {entry.get('errorReport')}):")
        for problem in entry["errors"]:
            where = ", ".join(f"{k} {problem[k]}" for k in ("line", "record", "field") if problem.get(k) is not None)
            lines.append(f"  {esc(where) + ': ' if where else ''}{esc(problem.get('message'))}")
    return lines
