"""The batch workflow's contract: the names and defaults its starter, orchestrators and activities share.

A function is registered under one of these names and called by it; an outcome is written by
ProcessFile and counted by the orchestrators and the report. Changing a name here changes it
everywhere (and for running instances: rename only with no batch in flight).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

CLIENT = "BatchProcessing_Client"
ORCHESTRATOR = "BatchProcessing_Orchestrator"
CHUNK_ORCHESTRATOR = "BatchProcessing_Chunk"

PROCESS_FILE = "ProcessFile"
WRITE_CHUNK_REPORT = "WriteChunkReport"
WRITE_BATCH_REPORT = "WriteBatchReport"

# What became of one file (ProcessFile's `outcome`), in report order.
SUCCEEDED = "succeeded"
INVALID = "invalid"
EMPTY = "empty"
MISSING = "missing"
FAILED = "failed"  # ProcessFile still raised after its retries, or its chunk failed as a whole
OUTCOMES = (SUCCEEDED, INVALID, EMPTY, MISSING, FAILED)

# Chunking: the app settings' defaults (batch.settings), and the orchestrator's when an input omits them.
DEFAULT_CHUNK_SIZE = 50  # chosen with bench/batch_replay.py and bench/batch_e2e.py (docs/performance.md)
DEFAULT_MAX_PARALLEL_CHUNKS = 10


# --- payloads between the orchestrators and the activities (JSON objects, so replay-safe) ---


class FileRef(TypedDict):
    """ProcessFile's input: one blob of the input container."""

    batchId: str
    file: str


class FileResult(TypedDict):
    """ProcessFile's result; the keys that do not apply to an outcome are absent."""

    file: str
    outcome: str  # one of OUTCOMES
    format: NotRequired[str | None]
    records: NotRequired[int]
    output: NotRequired[str]  # succeeded: the blob in the output container
    quarantine: NotRequired[str | None]  # invalid, empty: the copy in the quarantine container
    errorReport: NotRequired[str]
    errors: NotRequired[int]
    message: NotRequired[str]  # the first problem, or why the file is missing or failed
    sourceEtag: NotRequired[str]


class ChunkReportInput(TypedDict):
    """WriteChunkReport's input: one chunk's file results."""

    batchId: str
    run: str
    chunk: int
    offset: int
    files: list[FileResult]


class ReportRef(TypedDict):
    """A report blob: WriteChunkReport returns only `blobName`, WriteBatchReport both."""

    blobName: str
    container: NotRequired[str]


class FailedChunk(TypedDict):
    chunk: int
    offset: int
    files: list[str]
    error: str


class BatchReportInput(TypedDict):
    """WriteBatchReport's input: the totals and the chunks' report parts to merge."""

    batchId: str
    total: int
    counts: dict[str, int]
    parts: list[str]
    failedChunks: list[FailedChunk]
    startedAt: str
    completedAt: str
