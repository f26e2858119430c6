"""The batch workflow's contract: the names and defaults its starter, orchestrators and activities share.

A function is registered under one of these names and called by it; an outcome is written by
ProcessFile and counted by the orchestrators and the report. Changing a name here changes it
everywhere (and for running instances: rename only with no batch in flight).
"""

from __future__ import annotations

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
