"""The batch workflow's activities: convert one file, write the report.

Contract with BatchProcessing_Chunk / BatchProcessing_Orchestrator (JSON objects, typed in batch.contract):

    ProcessFile       {batchId, file}
        -> {file, outcome, ...}: outcome is one of
           succeeded  valid; `output` (blob in the output container), `records`, `format`
           invalid    unreadable or failed validation; `quarantine` (copy), `errorReport`,
                      `errors` (count), `message` (the first problem), `records`, `format`
           empty      no records (an empty file, a header only); quarantined like invalid
           missing    no such blob (or no input container); `message`
        plus `sourceEtag` whenever the blob was read. Absent keys mean "not applicable".
    WriteChunkReport  {batchId, chunk, offset, files: [ProcessFile results]} -> {blobName}
    WriteBatchReport  {batchId, total, counts, parts: [blob names], failedChunks: [{chunk, offset, files, error}],
                       startedAt, completedAt}
        -> {container, blobName}: the per-file report (see `write_batch_report`)

Bad data is an outcome, never an exception. Exceptions mean storage trouble (retried by
the orchestrator; a file that still fails is counted `failed`) or a caller bug (ValueError).
Every activity is idempotent: names come from the source name and the batch id only, and a
repeated call overwrites what the first one wrote.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, cast

import azure.durable_functions as df

from batch import store as batch_store
from batch.contract import (
    EMPTY,
    FAILED,
    INVALID,
    MISSING,
    OUTCOMES,
    PROCESS_FILE,
    SUCCEEDED,
    WRITE_BATCH_REPORT,
    WRITE_CHUNK_REPORT,
    FileResult,
    ReportRef,
)
from batch.records import SCHEMA, convert
from batch.requests import blob_name_problem, is_batch_id
from batch.settings import (
    INPUT_CONTAINER,
    OUTPUT_CONTAINER,
    QUARANTINE_CONTAINER,
    REPORTS_CONTAINER,
    container_name,
    max_file_bytes,
)

bp = df.Blueprint()
log = logging.getLogger("batch")



@bp.function_name(PROCESS_FILE)
@bp.activity_trigger(input_name="payload")
def process_file(payload: dict) -> FileResult:
    """Read one input blob, convert and validate it, and store the result or quarantine it."""
    batch_id, name = _require(payload, "batchId", "file")
    _check_batch_id(batch_id)
    problem = blob_name_problem(name)
    if problem:
        raise ValueError(f"ProcessFile got a bad blob name: {problem}")
    source = batch_store.read_source(name, max_file_bytes())
    if source is None:
        log.info("batch %s: %s is missing", batch_id, name, extra={"batch_id": batch_id})
        return {"file": name, "outcome": MISSING,
                "message": f"No blob named {name!r} in container {container_name(INPUT_CONTAINER)}."}
    if source.data is None:
        message = f"The file has {source.size:,} bytes; the limit is {max_file_bytes():,} (BATCH_MAX_FILE_BYTES)."
        return _quarantine(batch_id, source, INVALID, None, 0, [{"line": None, "record": None, "field": None,
                                                                    "message": message}], 1)
    conversion = convert(name, source.data)
    if conversion.valid:
        output = batch_store.write_output(
            source, conversion.to_jsonl(), source_format=conversion.format, record_count=conversion.record_count,
            schema=SCHEMA, batch_id=batch_id)
        batch_store.remove_quarantine(name)
        log.info("batch %s: %s converted, %d records", batch_id, name, conversion.record_count,
                 extra={"batch_id": batch_id})
        return {"file": name, "outcome": SUCCEEDED, "format": conversion.format,
                "records": conversion.record_count, "output": output, "sourceEtag": source.etag}
    if conversion.empty:
        problems = [{"line": None, "record": None, "field": None, "message": "The file has no records."}]
        return _quarantine(batch_id, source, EMPTY, conversion.format, 0, problems, 1)
    return _quarantine(batch_id, source, INVALID, conversion.format, conversion.record_count,
                       [problem.to_dict() for problem in conversion.problems], conversion.problem_count)


def _quarantine(batch_id: str, source: batch_store.SourceFile, outcome: str, file_format: str | None,
                records: int, problems: list[dict[str, Any]], problem_count: int) -> FileResult:
    report = {
        "source": source.name, "sourceEtag": source.etag, "sourceBytes": source.size, "schema": SCHEMA,
        "outcome": outcome, "format": file_format, "records": records, "errorCount": problem_count,
        "errors": problems, "truncated": problem_count > len(problems), "batchId": batch_id,
    }
    copy_name, report_name = batch_store.write_quarantine(
        source, report, source_format=file_format, record_count=records, error_count=problem_count,
        outcome=outcome, schema=SCHEMA, batch_id=batch_id)
    batch_store.remove_output(source.name)
    first = problems[0]
    where = f"line {first['line']}: " if first.get("line") else ""
    log.info("batch %s: %s quarantined (%s, %d problems)", batch_id, source.name, outcome, problem_count,
             extra={"batch_id": batch_id})
    result = {"file": source.name, "outcome": outcome, "format": file_format, "records": records,
              "errors": problem_count, "message": f"{where}{first['message']}", "quarantine": copy_name,
              "errorReport": report_name, "sourceEtag": source.etag}
    return cast(FileResult, {key: value for key, value in result.items() if value is not None})


@bp.function_name(WRITE_CHUNK_REPORT)
@bp.activity_trigger(input_name="payload")
def write_chunk_report(payload: dict) -> ReportRef:
    """Store one chunk's per-file results as a part of the batch report."""
    batch_id, chunk, offset, files = _require(payload, "batchId", "chunk", "offset", "files")
    _check_batch_id(batch_id)
    run = str(payload.get("run") or "")
    if run and not re.fullmatch(r"[0-9a-f]{8}", run):
        raise ValueError(f"Activity input has a bad run {run!r:.40}: expected 8 hex digits.")
    name = batch_store.chunk_report_name(batch_id, int(chunk), run)
    batch_store.write_json(name, {"batchId": batch_id, "chunk": chunk, "offset": offset, "files": files})
    return {"blobName": name}


@bp.function_name(WRITE_BATCH_REPORT)
@bp.activity_trigger(input_name="payload")
def write_batch_report(payload: dict) -> ReportRef:
    """Merge the chunks' parts into `{batchId}/report.json`, then delete the parts.

    The report: {batchId, schema, startedAt, completedAt, total, counts, containers, files: [...]}
    with one entry per file in request order (ProcessFile's result, or `failed` with the error).
    Run again after the parts were deleted, it finds the finished report and returns it.
    """
    batch_id, parts = _require(payload, "batchId", "parts")
    _check_batch_id(batch_id)
    _check_parts(batch_id, parts)
    reports = batch_store.reports_container()
    name = batch_store.report_blob_name(batch_id)
    sections: list[tuple[int, list[dict[str, Any]]]] = []
    for part_name in parts:
        part = batch_store.read_json(reports, part_name)
        if part is None:
            if batch_store.read_json(reports, name) is not None:
                return {"container": reports.container_name, "blobName": name}  # merged by an earlier attempt
            raise RuntimeError(f"Report part {part_name} of batch {batch_id} is missing.")
        sections.append((int(part["offset"]), part["files"]))
    for failed in payload.get("failedChunks") or []:
        entries = [{"file": file, "outcome": FAILED, "message": failed.get("error") or "The chunk failed."}
                   for file in failed["files"]]
        sections.append((int(failed["offset"]), entries))
    files = [entry for _, entries in sorted(sections, key=lambda section: section[0]) for entry in entries]
    counts = Counter(entry["outcome"] for entry in files)
    report = {
        "batchId": batch_id, "schema": SCHEMA, "startedAt": payload.get("startedAt"),
        "completedAt": payload.get("completedAt"), "total": len(files),
        "counts": {outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "containers": {role: container_name(setting) for role, setting in (
            ("input", INPUT_CONTAINER), ("output", OUTPUT_CONTAINER), ("quarantine", QUARANTINE_CONTAINER),
            ("reports", REPORTS_CONTAINER))},
        "files": files,
    }
    batch_store.write_json(name, report)
    batch_store.delete_reports(list(parts))
    log.info("batch %s: report %s (%d files)", batch_id, name, len(files), extra={"batch_id": batch_id})
    return {"container": reports.container_name, "blobName": name}


def _check_batch_id(batch_id: Any) -> None:
    """ValueError unless `batch_id` is one the starter accepts.

    Report names start with the batch id, and an HTTP client resolves `..` in a blob URL, so an id
    such as `../outbox` would write (and delete) blobs in another container. The starter checks
    the id; this check holds for an orchestration started some other way (the management API).
    """
    if not is_batch_id(batch_id):
        raise ValueError(f"Activity input has a bad batchId {batch_id!r:.100}: expected 1-64 letters, digits, "
                         "'-' or '_'.")


def _check_parts(batch_id: str, parts: Any) -> None:
    """ValueError unless every part is a chunk report of this batch (they are read, then deleted)."""
    if not isinstance(parts, list):
        raise ValueError("Activity input parts must be a list of chunk report names.")
    prefix = f"{batch_id}/chunks/"
    for part in parts:
        if not isinstance(part, str) or not part.startswith(prefix) or blob_name_problem(part):
            raise ValueError(f"Report part {part!r:.200} is not a chunk report of batch {batch_id}.")


def _require(payload: Any, *keys: str) -> tuple[Any, ...]:
    if not isinstance(payload, dict) or any(payload.get(key) in (None, "") for key in keys):
        raise ValueError(f"Activity input must be an object with {', '.join(keys)}; got {payload!r:.200}.")
    return tuple(payload[key] for key in keys)
