"""BatchProcessing_Orchestrator and BatchProcessing_Chunk driven through the real SDK replay.

The orchestrators are the production blueprint; the activities are scripted stand-ins
(ProcessFile decides by file name; the report activities keep their blobs in a dict), run
as whole instances in the in-process host with a virtual clock so retry timers cost nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.history import EventType
from devhost.testing import LocalDurableHost
from orchestrators.batch_orchestrator import CHUNK_ORCHESTRATOR, ORCHESTRATOR, chunk_instance_id
from orchestrators.batch_orchestrator import bp as batch_orchestrator

RETRY = {"firstRetryIntervalMs": 1000, "maxAttempts": 3}
OUTCOMES = ("succeeded", "invalid", "empty", "missing", "failed")


class Script:
    """Scripted activities. ProcessFile by name prefix: `bad-` invalid, `gone-` missing, `empty-` empty,
    `boom-` always raises, `flaky-` raises once; anything else succeeds."""

    def __init__(self, *, chunk_report_failures: set[int] | None = None, batch_report_fails: bool = False):
        self.blobs: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.gates: dict[str, threading.Event] = {}
        self.chunk_report_failures = chunk_report_failures or set()
        self.batch_report_fails = batch_report_fails

    def process_file(self, payload: dict[str, Any]) -> dict[str, Any]:
        name = payload["file"]
        with self.lock:
            self.calls[name] += 1
            attempt = self.calls[name]
        gate = self.gates.get(name)
        if gate is not None:
            assert gate.wait(10), f"gate for {name} never opened"
        if name.startswith("boom-"):
            raise ConnectionError(f"storage unreachable for {name}")
        if name.startswith("flaky-") and attempt == 1:
            raise TimeoutError("read timed out")
        if name.startswith("bad-"):
            return {"file": name, "outcome": "invalid", "errors": 1, "message": "line 2: quantity must be > 0",
                    "quarantine": name, "errorReport": f"{name}.errors.json"}
        if name.startswith("gone-"):
            return {"file": name, "outcome": "missing", "message": "No blob"}
        if name.startswith("empty-"):
            return {"file": name, "outcome": "empty", "errors": 1, "message": "The file has no records."}
        return {"file": name, "outcome": "succeeded", "records": 3, "output": f"{name}.jsonl"}

    def write_chunk_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["chunk"] in self.chunk_report_failures:
            raise ConnectionError("reports container unavailable")
        name = f"{payload['batchId']}/chunks/{payload['run']}/chunk-{payload['chunk']:05d}.json"
        self.blobs[name] = payload
        return {"blobName": name}

    def write_batch_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.batch_report_fails:
            raise ConnectionError("reports container unavailable")
        sections = [(self.blobs[p]["offset"], self.blobs[p]["files"]) for p in payload["parts"]]
        sections += [(f["offset"], [{"file": n, "outcome": "failed", "message": f["error"]} for n in f["files"]])
                     for f in payload["failedChunks"]]
        files = [entry for _, entries in sorted(sections, key=lambda s: s[0]) for entry in entries]
        name = f"{payload['batchId']}/report.json"
        self.blobs[name] = {**payload, "files": files}
        return {"container": "batch-reports", "blobName": name}


def build_app(script: Script) -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(batch_orchestrator)
    for name, method in (("ProcessFile", script.process_file), ("WriteChunkReport", script.write_chunk_report),
                         ("WriteBatchReport", script.write_batch_report)):
        def activity(payload: dict[str, Any], _method: Any = method) -> Any:
            return _method(payload)
        activity.__name__ = name
        app.function_name(name)(app.activity_trigger(input_name="payload")(activity))
    return app


def batch_input(files: list[str], *, chunk_size: int = 100, parallel: int = 10, batch_id: str = "t1") -> dict:
    return {"batchId": batch_id, "files": files, "chunkSize": chunk_size, "maxParallelChunks": parallel,
            "retry": RETRY}


async def run_batch(script: Script, files: list[str], **options: Any) -> tuple[LocalDurableHost, Any, Any]:
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, batch_input(files, **options), instance_id="batch-t1")
        for _ in range(10):  # retry timers (1 s, then 2 s)
            await host.advance(timedelta(seconds=2))
        record = await host.wait(instance_id, timeout=30)
        return host, record, {cid: await host.status(cid) for cid in _chunk_ids(record)}


def _decoded(value: Any) -> Any:
    while isinstance(value, str):  # history keeps inputs as JSON text (the SDK's client encodes twice)
        value = json.loads(value)
    return value


def _chunk_ids(record: Any) -> list[str]:
    return [e["InstanceId"] for e in record.history if e["EventType"] == EventType.SubOrchestrationInstanceCreated]


async def test_250_files_in_chunks_of_100_run_as_three_sub_orchestrations_with_explicit_ids() -> None:
    script = Script()
    files = [f"file-{i:03d}.csv" for i in range(250)]
    host, record, chunks = await run_batch(script, files, chunk_size=100)
    assert record.runtime_status == "Completed", host.output(record)
    run = _decoded(next(e for e in record.history if e["EventType"] == EventType.SubOrchestrationInstanceCreated)[
        "Input"])["run"]
    assert re.fullmatch("[0-9a-f]{8}", run)
    assert list(chunks) == [f"batch-t1:chunk-{run}-0000{i}" for i in range(3)]
    assert [chunk_instance_id("batch-t1", run, i) for i in range(3)] == list(chunks)
    created = [e for e in record.history if e["EventType"] == EventType.SubOrchestrationInstanceCreated]
    assert {e["Name"] for e in created} == {CHUNK_ORCHESTRATOR}
    inputs = [_decoded(e["Input"]) for e in created]
    assert [len(i["files"]) for i in inputs] == [100, 100, 50]
    assert [i["offset"] for i in inputs] == [0, 100, 200]
    assert all(chunk.runtime_status == "Completed" and chunk.parent for chunk in chunks.values())
    assert script.calls == Counter(dict.fromkeys(files, 1))  # every file once
    output = host.output(record)
    assert output == {"batchId": "t1", "total": 250,
                      "counts": {"succeeded": 250, "invalid": 0, "empty": 0, "missing": 0, "failed": 0},
                      "report": {"container": "batch-reports", "blobName": "t1/report.json"}}
    report = script.blobs["t1/report.json"]
    assert [entry["file"] for entry in report["files"]] == files  # request order, across chunks


async def test_the_parent_history_and_output_stay_small() -> None:
    script = Script()
    host, record, chunks = await run_batch(script, [f"f{i:04d}.txt" for i in range(1000)], chunk_size=100)
    # Per chunk: SubOrchestrationInstanceCreated + Completed (+ OrchestratorStarted/Completed per episode).
    assert len(record.history) < 3 * 10 + 20
    completions = [e for e in record.history if e["EventType"] == EventType.SubOrchestrationInstanceCompleted]
    assert len(completions) == 10
    assert max(len(e["Result"]) for e in completions) < 300  # counts + the part's name, no per-file results
    assert len(record.output) < 400
    assert all(len(chunk.history) < 2 * 100 + 40 for chunk in chunks.values())  # 2 per file + episodes


async def test_mixed_outcomes_are_counted_and_never_fail_the_batch() -> None:
    script = Script()
    files = (["ok-1.csv", "bad-1.csv", "gone-1.csv", "empty-1.txt", "boom-1.json", "flaky-1.csv"]
             + [f"ok-{i}.csv" for i in range(2, 8)])
    host, record, chunks = await run_batch(script, files, chunk_size=5, parallel=2)
    assert record.runtime_status == "Completed"
    output = host.output(record)
    assert output["counts"] == {"succeeded": 8, "invalid": 1, "empty": 1, "missing": 1, "failed": 1}
    assert script.calls["boom-1.json"] == 3  # retried to the configured maximum, then counted
    assert script.calls["flaky-1.csv"] == 2  # a transient error is retried and then succeeds
    report = script.blobs["t1/report.json"]["files"]
    by_name = {entry["file"]: entry for entry in report}
    assert by_name["boom-1.json"]["outcome"] == "failed"
    assert "storage unreachable for boom-1.json" in by_name["boom-1.json"]["message"]
    assert by_name["flaky-1.csv"]["outcome"] == "succeeded"
    assert [entry["file"] for entry in report] == files
    assert len(chunks) == 3
    status = json.loads(record.custom_status)
    assert status["step"] == "Completed" and status["processed"] == status["total"] == 12
    assert status["chunks"] == {"completed": 3, "total": 3}
    assert status["report"]["blobName"] == "t1/report.json"


async def test_duplicate_processing_of_a_chunk_is_not_possible_after_replays() -> None:
    """Many episodes (one per completion batch) and yet every ProcessFile ran exactly once."""
    script = Script()
    files = [f"x-{i}.csv" for i in range(60)]
    host, record, chunks = await run_batch(script, files, chunk_size=7, parallel=3)
    assert host.output(record)["counts"]["succeeded"] == 60
    assert len(chunks) == 9 and set(script.calls.values()) == {1}


async def test_custom_status_shows_progress_as_chunks_finish() -> None:
    script = Script()
    files = [f"p-{i:02d}.csv" for i in range(30)]
    first, second = threading.Event(), threading.Event()
    script.gates = {**dict.fromkeys(files[:10], first), **dict.fromkeys(files[10:20], second)}

    async def status_when(instance_id: str, processed: int) -> dict[str, Any]:
        for _ in range(500):
            record = await host.status(instance_id)
            status = json.loads(record.custom_status or "null") if record else None
            if status and status["processed"] == processed:
                return status
            await asyncio.sleep(0.01)
        raise AssertionError(f"custom status never showed {processed} processed: {status}")

    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, batch_input(files, chunk_size=10, parallel=1),
                                       instance_id="batch-t1")
        started = await status_when(instance_id, 0)
        first.set()
        progress = await status_when(instance_id, 10)
        second.set()
        record = await host.wait(instance_id, timeout=30)
    zero = dict.fromkeys(OUTCOMES, 0)
    assert started == {"batchId": "t1", "step": "Processing", "processed": 0, "total": 30, "counts": zero,
                       "chunks": {"completed": 0, "total": 3}}
    assert progress == {"batchId": "t1", "step": "Processing", "processed": 10, "total": 30,
                        "counts": {**zero, "succeeded": 10}, "chunks": {"completed": 1, "total": 3}}
    final = json.loads(record.custom_status)
    assert final["processed"] == 30 and final["counts"]["succeeded"] == 30 and final["step"] == "Completed"


async def test_at_most_max_parallel_chunks_run_at_once() -> None:
    script = Script()
    files = [f"c-{i:02d}.csv" for i in range(40)]
    most = 0
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, batch_input(files, chunk_size=5, parallel=2),
                                       instance_id="batch-t1")
        while not (parent := await host.status(instance_id)).is_terminal:
            chunks = [await host.status(chunk_id) for chunk_id in _chunk_ids(parent)]
            most = max(most, sum(1 for c in chunks if c is not None and not c.is_terminal))
            await asyncio.sleep(0.001)
    assert 1 <= most <= 2
    assert host.output(parent)["counts"]["succeeded"] == 40


async def test_chunks_start_in_full_waves_of_max_parallel_chunks() -> None:
    """After the first wave, the next wave starts whole (a sliding window would start one at a time)."""
    script = Script()
    files = [f"w-{i:02d}.csv" for i in range(45)]
    host, record, _ = await run_batch(script, files, chunk_size=5, parallel=3)
    assert host.output(record)["counts"]["succeeded"] == 45
    waves, current = [], 0
    for event in record.history:
        if event["EventType"] == EventType.OrchestratorStarted and current:
            waves.append(current)
            current = 0
        current += event["EventType"] == EventType.SubOrchestrationInstanceCreated
    assert waves == [3, 3, 3]  # 9 chunks: three episodes that each start a whole wave


async def test_a_chunk_that_fails_as_a_whole_counts_its_files_failed() -> None:
    script = Script(chunk_report_failures={1})
    files = [f"f-{i}.csv" for i in range(6)]
    host, record, chunks = await run_batch(script, files, chunk_size=2)
    assert record.runtime_status == "Completed"
    assert host.output(record)["counts"] == {"succeeded": 4, "invalid": 0, "empty": 0, "missing": 0, "failed": 2}
    assert [chunk.runtime_status for chunk in chunks.values()] == ["Completed", "Failed", "Completed"]
    report = script.blobs["t1/report.json"]["files"]
    assert [(e["file"], e["outcome"]) for e in report] == [
        ("f-0.csv", "succeeded"), ("f-1.csv", "succeeded"), ("f-2.csv", "failed"), ("f-3.csv", "failed"),
        ("f-4.csv", "succeeded"), ("f-5.csv", "succeeded")]
    assert "Chunk 1 failed" in report[2]["message"]


async def test_a_report_that_cannot_be_written_still_completes_with_the_counts() -> None:
    script = Script(batch_report_fails=True)
    host, record, _ = await run_batch(script, ["a.csv", "bad-b.csv"], chunk_size=100)
    assert record.runtime_status == "Completed"
    output = host.output(record)
    assert output["counts"]["succeeded"] == 1 and output["counts"]["invalid"] == 1
    assert output["report"] is None and "reports container unavailable" in output["reportError"]


async def test_a_batch_started_again_after_terminate_and_purge_runs_beside_its_old_chunks() -> None:
    """Terminating a batch does not stop its chunks; after a purge the same batch id may start again while
    they still work. Chunk ids carry the run (from `context.new_uuid()`), so the new run's chunks never
    collide with the old ones: the new run completes, and the old chunks finish on their own."""
    script = Script()
    files = [f"r-{i}.csv" for i in range(4)]
    gate = threading.Event()
    script.gates = {"r-0.csv": gate}
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, batch_input(files, chunk_size=2), instance_id="batch-t1")
        for _ in range(500):
            first = await host.status(instance_id)
            if first is not None and len(_chunk_ids(first)) == 2:
                break
            await asyncio.sleep(0.01)
        old_chunks = _chunk_ids(first)
        await host.engine.terminate(instance_id, "operator stopped it")
        await host.wait(instance_id, timeout=10)
        assert await host.engine.purge(instance_id) == 1
        host.clock.advance(timedelta(minutes=1))  # new_uuid() derives from the execution's start time
        await host.start(ORCHESTRATOR, batch_input(files, chunk_size=2), instance_id="batch-t1")
        gate.set()
        record = await host.wait(instance_id, timeout=30)
        second = await host.status(instance_id)
        await host.idle()
        old = [await host.status(chunk_id) for chunk_id in old_chunks]
    assert record.runtime_status == "Completed", host.output(record)
    assert host.output(record)["counts"]["succeeded"] == 4
    assert second is not None and not set(_chunk_ids(second)) & set(old_chunks)
    assert [chunk.runtime_status for chunk in old if chunk] == ["Completed", "Completed"]
