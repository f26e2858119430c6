"""`dfctl inspect` on Durable Entities: the instances list, one entity, and entity calls in a timeline.

The task hub data is real: the entities test app (tests/apps/entities) runs on the local host with
the table store on Azurite, which writes entities the way the extension does for Python apps (the
legacy entity scheduler: instance `@name@key`, always Running, the scheduler state in Input, the
entity status in CustomStatus). Only a queue and a lock, which are gone by the time a test could
look, are written by hand into one more row of the same layout.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devhost.table_store import TableInstanceStore
from devhost.testing import LocalDurableHost
from dfctl import errors
from dfctl.cli import main
from dfctl.taskhub import HistoryEvent, sanitize_key
from dfctl.timeline import ENTITY_CALL, ENTITY_SIGNAL, build, to_json

APP = Path(__file__).resolve().parent / "apps" / "entities"
T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
LOCKED = "@counter@busy"  # the hand-written row: two operations queued behind a lock


async def _run_app(connection: str, hub: str) -> None:
    host = LocalDurableHost(APP)
    host.engine.store = TableInstanceStore(connection, hub)
    async with host:
        for orchestrator, value, instance_id in (("UseCounter", "k1", "use-k1"), ("CallInParallel", ["a", "bb"], "par"),
                                                 ("AppendInOrder", "log1", "append-log1")):
            record = await host.wait(await host.start(orchestrator, value, instance_id=instance_id), timeout=60)
            assert record.runtime_status == "Completed", record
        await host.signal_entity("Counter", "gone", "add", 3)
        await host.idle()
        await host.signal_entity("Counter", "gone", "delete")
        await host.signal_entity("Counter", "x@y", "add", 4)  # a key with '@': the name ends at the second '@'
        await host.idle()


def _write_locked_entity(connection: str, hub: str) -> None:
    queue = [
        {"op": "add", "signal": True, "input": '"5"', "id": str(uuid.uuid4()), "parent": "orch-1",
         "Timestamp": "2026-05-04T10:00:00Z", "Predecessor": "0001-01-01T00:00:00"},
        {"op": "get", "input": '"null"', "id": str(uuid.uuid4()), "parent": "orch-2",
         "Timestamp": "2026-05-04T10:00:01Z", "Predecessor": "0001-01-01T00:00:00"},
    ]
    scheduler = {"exists": True, "state": '{"total": 12, "by": ["a", "b"]}', "queue": queue, "lockedBy": "orch-1",
                 "sorter": {}}
    tables = TableServiceClient.from_connection_string(connection)
    tables.get_table_client(f"{hub}Instances").upsert_entity({
        "PartitionKey": sanitize_key(LOCKED), "RowKey": "", "Name": LOCKED, "Version": "", "RuntimeStatus": "Running",
        "CreatedTime": T0, "LastUpdatedTime": T0, "ExecutionId": uuid.uuid4().hex, "Generation": 0,
        "TaskHubName": hub, "Input": json.dumps(scheduler),
        "CustomStatus": json.dumps({"entityExists": True, "queueSize": 2, "lockedBy": "orch-1"}),
    })


@pytest.fixture(scope="module")
def hub(storage_connection: str) -> str:
    """A task hub the entities app ran in; returns its name."""
    name = f"Ent{uuid.uuid4().hex[:8]}"
    asyncio.run(_run_app(storage_connection, name))
    _write_locked_entity(storage_connection, name)
    return name


@pytest.fixture()
def dfctl(storage_connection: str, hub: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `dfctl ARGS --hub <hub>` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection)
    monkeypatch.setenv("COLUMNS", "220")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, "--hub", hub])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _row(text: str, instance_id: str) -> str:
    """The table row whose first cell is `instance_id`."""
    return next(line for line in text.splitlines() if re.match(rf"│ {re.escape(instance_id)} +│", line))


def test_instances_list_shows_entity_rows_as_entities(dfctl: Any) -> None:
    """The instances table names entity rows `entity <name>@<key>` with exists/queue/lock from the custom status,
    while orchestration rows keep their name, status and duration; the footer counts the entities."""
    code, out, _ = dfctl("inspect")
    assert code == errors.OK
    k1 = _row(out, "@counter@k1")
    assert "entity counter@k1" in k1 and "Running" in k1 and "│ exists " in k1
    assert "does not exist" in _row(out, "@counter@gone")
    assert "entity counter@x@y" in _row(out, "@counter@x@y")
    assert "entity orderlog@log1" in _row(out, "@orderlog@log1")
    assert "exists, 2 queued, locked by orch-1" in _row(out, LOCKED)
    use = _row(out, "use-k1")
    assert "UseCounter" in use and "Completed" in use and "entity" not in use
    assert re.search(r"│ (\d+ ms|\d+\.\d\d s) +│", use)
    assert "10 instance(s) shown" in out and "7 of them entities" in out


def test_instances_list_json_has_an_entity_member_for_entities_only(dfctl: Any) -> None:
    """`inspect --json`: each entity row has `entity` {name, key, exists, queueSize, lockedBy} besides the usual
    fields; an orchestration's row has exactly the fields it had before."""
    code, out, _ = dfctl("inspect", "--json")
    assert code == errors.OK
    rows = {r["instanceId"]: r for r in json.loads(out)}
    assert rows["@counter@k1"]["entity"] == {"name": "counter", "key": "k1", "exists": True, "queueSize": 0,
                                             "lockedBy": None}
    assert rows["@counter@k1"]["runtimeStatus"] == "Running" and rows["@counter@k1"]["name"] == "@counter@k1"
    assert rows["@counter@x@y"]["entity"]["key"] == "x@y"
    assert rows["@counter@gone"]["entity"]["exists"] is False
    assert rows[LOCKED]["entity"] == {"name": "counter", "key": "busy", "exists": True, "queueSize": 2,
                                      "lockedBy": "orch-1"}
    assert set(rows["use-k1"]) == {"instanceId", "name", "runtimeStatus", "createdTime", "lastUpdatedTime",
                                   "completedTime", "customStatus"}
    assert {i for i, r in rows.items() if "entity" in r} == {
        "@counter@k1", "@counter@a", "@counter@bb", "@counter@gone", "@counter@x@y", "@orderlog@log1", LOCKED}


def test_entity_view_shows_state_and_last_operation(dfctl: Any) -> None:
    """`inspect @counter@k1` prints the entity (name, key, exists, state, queue, lock, last operation time from the
    row's LastUpdatedTime) instead of a timeline; --json gives the same as an object."""
    code, out, _ = dfctl("inspect", "@counter@k1")
    assert code == errors.OK
    assert "timeline of" not in out
    for line in ("name        counter", "key         k1", "exists      yes", "queued      0 operation(s)",
                 "locked by   -", "state       1007"):
        assert line in out, out
    listed = {r["instanceId"]: r for r in json.loads(dfctl("inspect", "--json")[1])}
    code, out, _ = dfctl("inspect", "@counter@k1", "--json")
    view = json.loads(out)
    assert view["entity"] == {"name": "counter", "key": "k1"} and view["instanceId"] == "@counter@k1"
    assert view["exists"] is True and view["state"] == 1007
    assert view["queueSize"] == 0 and view["queue"] == [] and view["lockedBy"] is None
    assert view["lastOperationTime"][:19] == listed["@counter@k1"]["lastUpdatedTime"][:19]


def test_entity_view_pretty_prints_structured_state(dfctl: Any) -> None:
    """A list state (OrderLog after twenty ordered appends) is shown as indented JSON, one item per line."""
    code, out, _ = dfctl("inspect", "@orderlog@log1")
    assert code == errors.OK
    assert "state       [" in out and "\n              19\n" in out
    assert json.loads(dfctl("inspect", "@orderlog@log1", "--json")[1])["state"] == list(range(20))


def test_entity_view_of_a_deleted_or_unused_entity_says_it_does_not_exist(dfctl: Any) -> None:
    """A deleted entity (its row stays, with custom status {}) and one never used (no row) both show exists false;
    neither is an error, as the Durable client's read_entity_state says the same."""
    code, out, _ = dfctl("inspect", "@counter@gone")
    assert code == errors.OK and "exists      no" in out and "state" not in out
    gone = json.loads(dfctl("inspect", "@counter@gone", "--json")[1])
    assert gone["exists"] is False and gone["state"] is None and gone["rowFound"] is True
    code, out, _ = dfctl("inspect", "@counter@never")
    assert code == errors.OK and "exists      no (no row in" in out
    never = json.loads(dfctl("inspect", "@counter@never", "--json")[1])
    assert never["exists"] is False and never["rowFound"] is False and never["lastOperationTime"] is None
    weird = json.loads(dfctl("inspect", "@counter@x@y", "--json")[1])
    assert weird["entity"] == {"name": "counter", "key": "x@y"} and weird["state"] == 4


def test_entity_view_lists_queued_operations_and_the_lock(dfctl: Any) -> None:
    """An entity with operations queued behind a lock: the count, the lock holder and each queued operation."""
    code, out, _ = dfctl("inspect", LOCKED)
    assert code == errors.OK
    assert "queued      2 operation(s)" in out and "locked by   orch-1" in out
    assert "queued    add (signal) from orch-1, input 5" in out and "queued    get (call) from orch-2" in out
    view = json.loads(dfctl("inspect", LOCKED, "--json")[1])
    assert view["state"] == {"total": 12, "by": ["a", "b"]} and view["lockedBy"] == "orch-1"
    assert [(q["operation"], q["signal"], q["parent"], q["input"]) for q in view["queue"]] == [
        ("add", True, "orch-1", 5), ("get", False, "orch-2", None)]


def test_entity_view_refuses_png(dfctl: Any, tmp_path: Path) -> None:
    """An entity has no timeline to draw: --png is a usage error, and no file is written."""
    picture = tmp_path / "entity.png"
    code, _, err = dfctl("inspect", "@counter@k1", "--png", str(picture))
    assert code == errors.USAGE and "is an entity" in err and not picture.exists()


def test_orchestration_timeline_shows_entity_calls_and_signals(dfctl: Any, tmp_path: Path) -> None:
    """UseCounter's timeline: each signal is a point row, each call a row from the request to the response with
    the operation, the entity, the result or the failure; the header counts them; --json has them as spans and
    marks; --png draws a lane for the entity."""
    picture = tmp_path / "use.png"
    code, out, _ = dfctl("inspect", "use-k1", "--png", str(picture))
    assert code == errors.OK
    assert "entities    4 calls, 1 failed, 2 signals, to 1 entity" in out
    signals = [line for line in out.splitlines() if "entity signal" in line]
    assert len(signals) == 2 and "signal add to @counter@k1 (input 5)" in signals[0]
    assert "signal add to @counter@k1 (input 2)" in signals[1]
    calls = [line for line in out.splitlines() if "entity call" in line]
    assert len(calls) == 4
    for line, operation, outcome, detail in zip(calls, ("get", "get", "fail", "get"),
                                                ("Completed", "Completed", "Failed", "Completed"),
                                                ("@counter@k1 → 5", "@counter@k1 → 7",
                                                 "@counter@k1: counter refuses at 7", "@counter@k1 → 1007"),
                                                strict=True):
        pattern = rf"│ entity call +│ {operation} +│ +│ +(\d+ ms|\d+\.\d\d s) │ {outcome} +│ {detail} "
        assert re.search(pattern, line), line
    assert picture.read_bytes()[:4] == b"\x89PNG"

    timeline = json.loads(dfctl("inspect", "use-k1", "--json")[1])
    assert timeline["entitySummary"] == {"calls": 4, "failed": 1, "running": 0, "signals": 2, "entities": 1}
    spans = [s for s in timeline["spans"] if s["kind"] == ENTITY_CALL]
    assert [(s["name"], s["outcome"], s["result"], s["reason"]) for s in spans] == [
        ("get", "Completed", 5, None), ("get", "Completed", 7, None), ("fail", "Failed", None, "counter refuses at 7"),
        ("get", "Completed", 1007, None)]
    assert all(s["instanceId"] == "@counter@k1" and s["durationSeconds"] >= 0 for s in spans)
    marks = [m for m in timeline["marks"] if m["kind"] == ENTITY_SIGNAL]
    assert [m["entityId"] for m in marks] == ["@counter@k1", "@counter@k1"]


def test_parallel_calls_to_several_entities(dfctl: Any) -> None:
    """CallInParallel: two calls open at once, to two entities, each closed by its own response."""
    timeline = json.loads(dfctl("inspect", "par", "--json")[1])
    spans = [s for s in timeline["spans"] if s["kind"] == ENTITY_CALL]
    assert sorted((s["instanceId"], s["result"]) for s in spans) == [("@counter@a", 1), ("@counter@bb", 2)]
    assert timeline["entitySummary"]["entities"] == 2


def _event(sequence: int, kind: str, **fields: Any) -> HistoryEvent:
    return HistoryEvent(sequence=sequence, kind=kind, event_id=fields.pop("event_id", -1), time=T0, **fields)


def test_odd_entity_events_do_not_break_the_timeline() -> None:
    """Events that look half like entity traffic fall back to plain event marks, a call without its response stays
    Running, and event kinds dfctl does not know are skipped: none of them raises."""
    request = json.dumps({"op": "get", "id": "req-1", "input": '"null"'})
    events = [
        _event(0, "ExecutionStarted", name="Odd"),
        _event(1, "EventSent", event_id=0, name="op", instance_id="@counter@k1", input="not json"),
        _event(2, "EventSent", event_id=1, name="op", instance_id="plain-orchestration", input=request),
        _event(3, "EventSent", event_id=2, name="op", instance_id="@nokey", input=request),
        _event(4, "EventSent", event_id=3, name="op", instance_id="@counter@k1", input=request),
        _event(5, "EventRaised", name="req-1", input="<large value in blob x/y>"),  # not a response: a mark
        _event(6, "EventRaised", name="someone-else", input="{}"),
        _event(7, "EventSent", event_id=4, name="op", instance_id="@counter@k1", input=json.dumps({"id": "lock-1"})),
        _event(8, "EventSent", event_id=5, name="op", instance_id="@counter@k1",
               input=json.dumps({"op": "add", "signal": True})),
        _event(9, "SomethingNew", name="op"),
        _event(10, "EntityOperationCalled"),
    ]
    timeline = build("odd", events)
    call, lock = timeline.of_kind(ENTITY_CALL)
    assert call.name == "get" and call.outcome == "Running" and call.instance_id == "@counter@k1"
    assert lock.name == "(lock)" and lock.outcome == "Running"  # a request without an operation: a lock request
    assert [m.text for m in timeline.marks if m.kind == "event"] == [
        "event op sent to @counter@k1", "event op sent to plain-orchestration", "event op sent to @nokey",
        "event req-1 received", "event someone-else received"]
    assert [m.text for m in timeline.marks if m.kind == ENTITY_SIGNAL] == ["signal add to @counter@k1"]
    assert timeline.entity_summary() == {"calls": 2, "failed": 0, "running": 2, "signals": 1, "entities": 1}
    assert to_json(timeline)["spans"][0]["result"] is None
