"""dfctl's task hub reader and timeline on tables in the Durable extension's own layout.

The local host writes the Azure Storage provider's layout, but `dfctl inspect` must read what the
real extension writes in Azure too. These rows are written by hand the way DurableTask.AzureStorage
does (durable-host-protocol.md section 5): escaped PartitionKeys, 16-hex-digit RowKeys, EventType
as names, `_Timestamp`, a `sentinel` row naming the current execution with rows of an earlier
execution left behind, event types dfctl does not draw, and large values in gzip blobs named by
`<Field>BlobName`. Plus: a 1,000-activity batch renders as a PNG in reasonable time.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from dfctl.cli import load_timeline, main
from dfctl.gantt import render_png
from dfctl.settings import StorageTarget
from dfctl.taskhub import TaskHub, sanitize_key, unsanitize_key
from dfctl.timeline import ACTIVITY, RETRY_TIMER, SUB_ORCHESTRATION, Span, Timeline, build

T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
PARENT = "orders/42#big"  # '/' and '#' are escaped in the PartitionKey
CHILD = "orders/42#big:child"
LONG_REASON = "Payment gateway said no. " + "x" * 70_000


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history_rows(instance_id: str, execution_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = sanitize_key(instance_id)
    return [{"PartitionKey": key, "RowKey": f"{i:016X}", "ExecutionId": execution_id, "IsPlayed": False, **e}
            for i, e in enumerate(events)]


@pytest.fixture(scope="module")
def real_hub(storage_connection: str) -> str:
    """A task hub written in the extension's layout; returns its name."""
    hub = f"RealLayout{uuid.uuid4().hex[:6]}"
    tables = TableServiceClient.from_connection_string(storage_connection)
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    container = blobs.create_container(f"{hub.lower()}-largemessages")
    container.upload_blob(f"{sanitize_key(PARENT)}/history-0000000000000011-TaskFailed-Reason.json.gz",
                          gzip.compress(LONG_REASON.encode()))
    instances = tables.create_table(f"{hub}Instances")
    history = tables.create_table(f"{hub}History")
    for instance_id, name, status, created, done, execution in (
        (PARENT, "OrderProcessing_Orchestrator", "Completed", at(0), at(30), "exec-2"),
        (CHILD, "Child", "Completed", at(20), at(25), "child-exec"),
        ("orders/43", "OrderProcessing_Orchestrator", "Running", at(40), at(41), "exec-x"),
    ):
        instances.create_entity({
            "PartitionKey": sanitize_key(instance_id), "RowKey": "", "Name": name, "Version": "",
            "Input": '{"orderId": "42"}', "Output": '"done"' if status == "Completed" else None,
            "CustomStatus": json.dumps({"step": "Completed" if status == "Completed" else "ProcessPayment"}),
            "CreatedTime": created, "LastUpdatedTime": done, "CompletedTime": done if status == "Completed" else None,
            "RuntimeStatus": status, "ExecutionId": execution, "Generation": 1, "TaskHubName": hub,
        })
    # An earlier execution (before continue-as-new) whose rows stay behind, and must not show.
    old = history_rows(PARENT, "exec-1", [
        {"EventType": "OrchestratorStarted", "EventId": -1, "_Timestamp": at(-100)},
        {"EventType": "ExecutionStarted", "EventId": -1, "_Timestamp": at(-100), "Name": "OldName"},
        {"EventType": "TaskScheduled", "EventId": 0, "_Timestamp": at(-100), "Name": "OldActivity"},
        {"EventType": "ContinueAsNew", "EventId": 1, "_Timestamp": at(-99), "Result": "{}"},
    ])
    old += [dict(row, RowKey=f"{int(row['RowKey'], 16) + 0x100:016X}") for row in old]  # more leftovers
    current = history_rows(PARENT, "exec-2", [
        {"EventType": "OrchestratorStarted", "EventId": -1, "_Timestamp": at(0)},
        {"EventType": "ExecutionStarted", "EventId": -1, "_Timestamp": at(0), "Name": "OrderProcessing_Orchestrator",
         "OrchestrationInstance": json.dumps({"InstanceId": PARENT, "ExecutionId": "exec-2"}), "Input": "{}"},
        {"EventType": "TaskScheduled", "EventId": 0, "_Timestamp": at(0), "Name": "CheckInventory",
         "Input": '{"orderId": "42"}'},
        {"EventType": "OrchestratorCompleted", "EventId": -1, "_Timestamp": at(0.01)},
        {"EventType": "OrchestratorStarted", "EventId": -1, "_Timestamp": at(2)},
        {"EventType": "TaskFailed", "EventId": -1, "_Timestamp": at(1.5), "TaskScheduledId": 0,
         "Reason": "Activity function 'CheckInventory' failed: TimeoutError", "Details": "Traceback ..."},
        {"EventType": "TimerCreated", "EventId": 1, "_Timestamp": at(2), "FireAt": at(4)},
        {"EventType": "OrchestratorCompleted", "EventId": -1, "_Timestamp": at(2)},
        {"EventType": "OrchestratorStarted", "EventId": -1, "_Timestamp": at(4)},
        {"EventType": "TimerFired", "EventId": -1, "_Timestamp": at(4), "TimerId": 1, "FireAt": at(4)},
        {"EventType": "TaskScheduled", "EventId": 2, "_Timestamp": at(4), "Name": "CheckInventory",
         "Input": '{"orderId": "42"}'},
        {"EventType": "GenericEvent", "EventId": -1, "_Timestamp": at(4), "Data": "something dfctl ignores"},
        {"EventType": "TaskCompleted", "EventId": -1, "_Timestamp": at(5), "TaskScheduledId": 2,
         "Result": '{"available": true}'},
        {"EventType": "TaskScheduled", "EventId": 3, "_Timestamp": at(5), "Name": "ProcessPayment",
         "Input": "", "InputBlobName": "orders^042^2big/history-000000000000000D-TaskScheduled-Input.json.gz"},
        {"EventType": "EventRaised", "EventId": -1, "_Timestamp": at(8), "Name": "PaymentCallback", "Input": "{}"},
        {"EventType": "OrchestratorStarted", "EventId": -1, "_Timestamp": at(9)},
        {"EventType": "TaskFailed", "EventId": -1, "_Timestamp": at(9), "TaskScheduledId": 3, "Reason": "",
         "ReasonBlobName": f"{sanitize_key(PARENT)}/history-0000000000000011-TaskFailed-Reason.json.gz"},
        {"EventType": "SubOrchestrationInstanceCreated", "EventId": 4, "_Timestamp": at(20), "Name": "Child",
         "InstanceId": CHILD, "Input": "{}"},
        {"EventType": "SubOrchestrationInstanceCompleted", "EventId": -1, "_Timestamp": at(25), "TaskScheduledId": 4,
         "Result": "{}"},
        {"EventType": "ExecutionCompleted", "EventId": -1, "_Timestamp": at(30), "OrchestrationStatus": "Completed",
         "Result": '"done"'},
    ])
    child = history_rows(CHILD, "child-exec", [
        {"EventType": "ExecutionStarted", "EventId": -1, "_Timestamp": at(20), "Name": "Child"},
        {"EventType": "TaskScheduled", "EventId": 0, "_Timestamp": at(20), "Name": "Leaf", "Input": "1"},
        {"EventType": "TaskCompleted", "EventId": -1, "_Timestamp": at(24), "TaskScheduledId": 0, "Result": "1"},
        {"EventType": "ExecutionCompleted", "EventId": -1, "_Timestamp": at(25), "OrchestrationStatus": "Completed"},
    ])
    for row in old + current + child:
        history.upsert_entity(row)
    for instance_id, execution in ((PARENT, "exec-2"), (CHILD, "child-exec")):
        history.upsert_entity({"PartitionKey": sanitize_key(instance_id), "RowKey": "sentinel",
                               "ExecutionId": execution, "IsCheckpointComplete": True,
                               "CheckpointCompletedTimestamp": at(31)})
    return hub


def test_keys_are_escaped_as_the_extension_escapes_them() -> None:
    assert sanitize_key("orders/42#big") == "orders^042^2big"
    assert sanitize_key("a^b\\c?d\n") == "a^^b^1c^3d^\u00ca"
    for value in ("orders/42#big", "a^b\\c?d\n", "plain-id"):
        assert unsanitize_key(sanitize_key(value)) == value


def test_reads_the_current_execution_with_retries_failures_and_large_values(
    storage_connection: str, real_hub: str
) -> None:
    with TaskHub(StorageTarget(connection_string=storage_connection), real_hub) as hub:
        row = hub.instance(PARENT)
        assert row is not None and row.instance_id == PARENT and row.execution_id == "exec-2"
        events = hub.history(PARENT)
        assert {e.sequence for e in events} == set(range(20))  # exec-1's leftovers filtered by the sentinel
        assert "OldActivity" not in {e.name for e in events}
        assert hub.instance("orders/none") is None
        _, timeline = load_timeline(hub, PARENT, depth=2)

    activities = timeline.of_kind(ACTIVITY)
    assert [(s.name, s.attempt, s.retry, s.outcome) for s in activities] == [
        ("CheckInventory", 1, False, "Failed"), ("CheckInventory", 2, True, "Completed"),
        ("ProcessPayment", 1, False, "Failed"),
    ]
    assert activities[0].duration == timedelta(seconds=1.5)
    assert activities[0].reason == "Activity function 'CheckInventory' failed: TimeoutError"
    assert activities[2].reason == LONG_REASON[:300]  # downloaded from its gzip blob
    (wait,) = timeline.of_kind(RETRY_TIMER)
    assert wait.name == "CheckInventory (retry wait)" and wait.duration == timedelta(seconds=2)
    (sub,) = timeline.of_kind(SUB_ORCHESTRATION)
    assert sub.instance_id == CHILD and sub.duration == timedelta(seconds=5)
    child = timeline.children[CHILD]
    assert [(s.name, s.duration) for s in child.of_kind(ACTIVITY)] == [("Leaf", timedelta(seconds=4))]
    assert timeline.summary() == {"activities": 4, "failed": 2, "retries": 1, "running": 0, "subOrchestrations": 1}
    assert timeline.duration == timedelta(seconds=30)
    assert [m.text for m in timeline.marks] == [
        "OrderProcessing_Orchestrator started", "event PaymentCallback received", "Completed"]


def test_inspect_command_on_the_extension_layout(
    storage_connection: str, real_hub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection)
    picture = tmp_path / "real.png"
    assert main(["inspect", PARENT, "--hub", real_hub, "--png", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "4 attempts (here and in 1 sub-orchestrations), 2 failed, 1 retries" in out
    assert "CheckInventory (retry wait)" in out and "2 (retry)" in out
    assert f"{CHILD}: Completed, 1 activities" in out
    assert picture.read_bytes()[:4] == b"\x89PNG"

    assert main(["inspect", "--hub", real_hub, "--status", "Running", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["instanceId"], i["runtimeStatus"]) for i in listed] == [("orders/43", "Running")]
    assert main(["inspect", "--hub", real_hub, "--prefix", "orders/42"]) == 0
    out = capsys.readouterr().out
    assert PARENT in out and CHILD in out and "orders/43" not in out


def synthetic_batch(files: int = 1000, chunk: int = 50) -> Timeline:
    """A batch's timeline as the extension records it: chunk sub-orchestrations of ProcessFile calls."""
    root = Timeline("batch-big", "BatchProcessing_Orchestrator", "Completed", T0, at(120))
    sequence = 0
    for index in range(files // chunk):
        child_id = f"batch-big:chunk-{index:05d}"
        start = at(index * 5)
        root.spans.append(Span(SUB_ORCHESTRATION, "BatchProcessing_Chunk", start, index, index, end=start
                               + timedelta(seconds=20), outcome="Completed", instance_id=child_id))
        child = Timeline(child_id, "BatchProcessing_Chunk", "Completed", start, start + timedelta(seconds=20))
        for n in range(chunk):
            sequence += 1
            begin = start + timedelta(seconds=n % 7)
            child.spans.append(Span(ACTIVITY, "ProcessFile", begin, n, sequence, end=begin + timedelta(seconds=3),
                                    outcome="Failed" if n == 13 else "Completed"))
        root.children[child_id] = child
    root.spans.append(Span(ACTIVITY, "WriteBatchReport", at(118), 99, 99, end=at(119), outcome="Completed"))
    return root


def test_a_thousand_file_batch_renders_quickly(tmp_path: Path) -> None:
    timeline = synthetic_batch()
    assert len(timeline.all_activities()) == 1001
    started = time.perf_counter()
    lanes = render_png(timeline, tmp_path / "batch.png")
    elapsed = time.perf_counter() - started
    assert lanes == 21  # WriteBatchReport + 20 chunks
    assert (tmp_path / "batch.png").stat().st_size > 10_000
    assert elapsed < 10, f"rendering took {elapsed:.1f} s"


def test_timeline_of_an_unfinished_instance() -> None:
    from dfctl.taskhub import HistoryEvent

    events = [
        HistoryEvent(0, "ExecutionStarted", -1, at(0), name="Waits"),
        HistoryEvent(1, "TaskScheduled", 0, at(0), name="Slow"),
        HistoryEvent(2, "TimerCreated", 1, at(0), fire_at=at(3600)),
    ]
    timeline = build("w-1", events)
    slow, timer = timeline.spans
    assert slow.outcome == "Running" and slow.duration is None
    assert timer.kind == "timer" and timer.fire_at == at(3600)
    assert timeline.summary()["running"] == 1 and timeline.ended is None
