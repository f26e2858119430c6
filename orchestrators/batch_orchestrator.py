"""BatchProcessing_Orchestrator and BatchProcessing_Chunk: fan-out/fan-in over files, in chunks.

    BatchProcessing_Orchestrator  {batchId, files: [name], chunkSize, maxParallelChunks, retry}
        splits the files into chunks of `chunkSize` and runs each as a sub-orchestration
        `BatchProcessing_Chunk` with the instance id `{parent id}:chunk-{run}-{i:05d}`, in waves of
        `maxParallelChunks` (the next wave starts when the whole wave has finished). Each
        finished chunk updates the custom status
            {batchId, step, processed, total, counts: {succeeded, invalid, empty, missing, failed},
             chunks: {completed, total}}
        Then WriteBatchReport merges the chunks' report parts. Output (small, whatever the batch size):
            {batchId, total, counts, report: {container, blobName}}

    BatchProcessing_Chunk  {batchId, run, chunk, offset, files, retry}
        calls ProcessFile for every file at once (with retries), writes its part of the report
        with WriteChunkReport and returns only {chunk, files, counts, reportPart}.

Why chunks: the SDK replays an orchestrator's whole history on every episode, so one flat
fan-out over N files costs O(N^2) replay CPU (hours for 10,000 files). With chunks of c files,
no history holds more than about 2c + 10 events (a chunk) or 3N/c + 10 (the parent), and
per-file results never enter the parent's history: the chunk writes them to a blob.

Why waves and not a sliding window (start a chunk whenever one finishes): the extension replays
the SDK's actions one after another and awaits each (OutOfProcOrchestrationShim), and the SDK
sends `task_any` over already started tasks as a WhenAny of only the new ones. A sliding window
therefore makes the host wait for the newest chunk before it starts the next: after the first
window, chunks run one at a time. In a wave, the first `task_any` names the whole wave; the
later ones add nothing, so every chunk of the wave runs at once and progress is still per chunk.

One bad file never fails the batch: ProcessFile returns bad data as an outcome; a file whose
ProcessFile still raises after the retries is counted `failed`, and a chunk that fails as a
whole (its report part could not be written) counts its files `failed`.
Deterministic: no I/O, clock, randomness or settings here; every value comes from the input.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from batch.contract import (
    CHUNK_ORCHESTRATOR,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_PARALLEL_CHUNKS,
    FAILED,
    ORCHESTRATOR,
    OUTCOMES,
    PROCESS_FILE,
    WRITE_BATCH_REPORT,
    WRITE_CHUNK_REPORT,
    BatchReportInput,
    ChunkReportInput,
    FailedChunk,
    FileRef,
    FileResult,
)
from common.retry import DEFAULT_RETRY, first_line, retry_options

bp = df.Blueprint()
log = logging.getLogger("batch")

MAX_ERROR_TEXT = 500  # characters of an error kept per file or chunk: a report stays small whatever fails



def run_id(context: df.DurableOrchestrationContext) -> str:
    """Eight hex digits that name this execution of the batch: `new_uuid` is the same in every replay of one
    execution (instance id, start time, counter) and new in the next execution of the same instance id."""
    return context.new_uuid().replace("-", "")[:8]


def chunk_instance_id(parent_instance_id: str, run: str, chunk: int) -> str:
    """The sub-orchestration instance id of chunk `chunk` in execution `run` of a batch. Explicit, so a replay
    never duplicates a chunk; new per execution, so a batch started again under the same id (after a terminate
    and a purge) never collides with chunks of the earlier run that are still working. Those run to their end:
    their result goes to a parent execution that no longer exists and is dropped, their report parts carry
    their own run in the name and are merged by no report, and each file's output is overwritten by
    whichever run processed it last (outputs are named after the input)."""
    return f"{parent_instance_id}:chunk-{run}-{chunk:05d}"


def _failed(task: Any) -> bool:
    return isinstance(task.result, Exception)


def _first_line(error: Any) -> str:
    return first_line(error, limit=MAX_ERROR_TEXT)


@bp.function_name(ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def batch_processing_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Process a batch of files through chunk sub-orchestrations; the output is the totals and the report."""
    batch_input = context.get_input() or {}
    batch_id = str(batch_input["batchId"])
    files: list[str] = list(batch_input["files"])
    size = max(1, int(batch_input.get("chunkSize") or DEFAULT_CHUNK_SIZE))
    parallel = max(1, int(batch_input.get("maxParallelChunks") or DEFAULT_MAX_PARALLEL_CHUNKS))
    retry = batch_input.get("retry") or DEFAULT_RETRY
    started_at = context.current_utc_datetime.isoformat()
    run = run_id(context)

    offsets = list(range(0, len(files), size))
    counts = dict.fromkeys(OUTCOMES, 0)
    processed = 0
    parts: list[str | None] = [None] * len(offsets)
    failed_chunks: list[FailedChunk] = []
    completed = 0

    def status(step: str, **extra: Any) -> None:
        context.set_custom_status({
            "batchId": batch_id, "step": step, "processed": processed, "total": len(files), "counts": dict(counts),
            "chunks": {"completed": completed, "total": len(offsets)}, **extra})

    def start_chunk(index: int) -> Any:
        offset = offsets[index]
        chunk_input = {"batchId": batch_id, "run": run, "chunk": index, "offset": offset,
                       "files": files[offset:offset + size], "retry": retry}
        return context.call_sub_orchestrator(CHUNK_ORCHESTRATOR, chunk_input,
                                             chunk_instance_id(context.instance_id, run, index))

    status("Processing")
    if not context.is_replaying:
        log.info("batch %s: %d files in %d chunks", batch_id, len(files), len(offsets),
                 extra={"instance_id": context.instance_id, "batch_id": batch_id})

    for first in range(0, len(offsets), parallel):
        wave = {start_chunk(index): index for index in range(first, min(first + parallel, len(offsets)))}
        while wave:
            done = yield context.task_any(list(wave))
            index = wave.pop(done)
            chunk_files = files[offsets[index]:offsets[index] + size]
            if _failed(done):
                counts[FAILED] += len(chunk_files)
                failed_chunks.append({"chunk": index, "offset": offsets[index], "files": chunk_files,
                                      "error": f"Chunk {index} failed: {_first_line(done.result)}"})
            else:
                for outcome, count in (done.result.get("counts") or {}).items():
                    counts[outcome] = counts.get(outcome, 0) + int(count)
                parts[index] = done.result["reportPart"]
            processed += len(chunk_files)
            completed += 1
            status("Processing")

    status("WritingReport")
    report_input: BatchReportInput = {
        "batchId": batch_id, "total": len(files), "counts": counts, "parts": [p for p in parts if p is not None],
        "failedChunks": failed_chunks, "startedAt": started_at,
        "completedAt": context.current_utc_datetime.isoformat(),
    }
    output: dict[str, Any] = {"batchId": batch_id, "total": len(files), "counts": counts}
    try:
        output["report"] = yield context.call_activity_with_retry(WRITE_BATCH_REPORT, retry_options(batch_input),
                                                                  report_input)
    except Exception as error:  # the counts stand; the chunks' parts stay in the reports container
        output["report"] = None
        output["reportError"] = _first_line(error)
    status("Completed", report=output["report"])
    if not context.is_replaying:
        log.info("batch %s: done %s", batch_id, counts, extra={"instance_id": context.instance_id,
                                                              "batch_id": batch_id})
    return output


@bp.function_name(CHUNK_ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def batch_chunk_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Process one chunk's files at once; write their results to a report part; return counts only."""
    chunk_input = context.get_input() or {}
    batch_id = str(chunk_input["batchId"])
    chunk = int(chunk_input["chunk"])
    files: list[str] = list(chunk_input["files"])
    retry = retry_options(chunk_input)

    tasks = [context.call_activity_with_retry(PROCESS_FILE, retry, FileRef(batchId=batch_id, file=name))
             for name in files]
    outstanding = tasks
    while outstanding:
        try:
            yield context.task_all(outstanding)
            break
        except Exception:  # one file failed for good: keep waiting for the others
            outstanding = [task for task in outstanding if not task.is_completed]

    results: list[FileResult] = []
    counts = dict.fromkeys(OUTCOMES, 0)
    for name, task in zip(files, tasks, strict=True):
        if _failed(task):
            result: FileResult = {"file": name, "outcome": FAILED, "message": _first_line(task.result)}
        else:
            result = task.result
        counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        results.append(result)

    part = yield context.call_activity_with_retry(
        WRITE_CHUNK_REPORT, retry,
        ChunkReportInput(batchId=batch_id, run=str(chunk_input.get("run") or ""), chunk=chunk,
                         offset=int(chunk_input.get("offset") or 0), files=results))
    return {"chunk": chunk, "files": len(files), "counts": counts, "reportPart": part["blobName"]}
