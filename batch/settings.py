"""App settings of the batch workflow.

| setting                         | default            | meaning                                                  |
|---------------------------------|--------------------|----------------------------------------------------------|
| `BATCH_INPUT_CONTAINER`         | `batch-input`      | where the files to process are                           |
| `BATCH_OUTPUT_CONTAINER`        | `batch-output`     | converted files (`{source}.jsonl`)                       |
| `BATCH_QUARANTINE_CONTAINER`    | `batch-quarantine` | files that failed validation, with `{source}.errors.json`|
| `BATCH_REPORTS_CONTAINER`       | `batch-reports`    | one JSON report per batch (`{batchId}/report.json`)      |
| `BATCH_CHUNK_SIZE`              | `50`               | files per sub-orchestration (1-1000)                     |
| `BATCH_MAX_PARALLEL_CHUNKS`     | `10`               | sub-orchestrations running at once per batch             |
| `BATCH_MAX_FILES`               | `10000`            | most files one batch may name (or match by prefix)       |
| `BATCH_MAX_FILE_BYTES`          | `16777216` (16 MiB)| larger files are reported `invalid`, not read            |
| `BATCH_RETRY_FIRST_INTERVAL_MS` | `2000`             | activity retries: first interval                         |
| `BATCH_RETRY_MAX_ATTEMPTS`      | `3`                | activity retries: attempts in all                        |

The HTTP starter reads the chunking, parallelism and retry settings and passes them in
(orchestrators never read settings); the activities read the container names and the
file size limit. Every file of a chunk is scheduled at once, so at most
`BATCH_CHUNK_SIZE x BATCH_MAX_PARALLEL_CHUNKS` ProcessFile calls are queued per batch;
how many run at the same moment is the host's `maxConcurrentActivityFunctions`.
"""

from __future__ import annotations

import re

from batch.contract import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_PARALLEL_CHUNKS
from common.retry import DEFAULT_FIRST_RETRY_INTERVAL_MS, DEFAULT_MAX_ATTEMPTS, read_retry_policy
from common.settings import SettingError, get_int, get_str

INPUT_CONTAINER = ("BATCH_INPUT_CONTAINER", "batch-input")
OUTPUT_CONTAINER = ("BATCH_OUTPUT_CONTAINER", "batch-output")
QUARANTINE_CONTAINER = ("BATCH_QUARANTINE_CONTAINER", "batch-quarantine")
REPORTS_CONTAINER = ("BATCH_REPORTS_CONTAINER", "batch-reports")
CONTAINERS = (INPUT_CONTAINER, OUTPUT_CONTAINER, QUARANTINE_CONTAINER, REPORTS_CONTAINER)

DEFAULT_MAX_FILES = 10_000
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_CHUNK_SIZE = 1000

# Azure container names: 3-63 lowercase letters, digits and single hyphens, starting with a letter or digit.
_CONTAINER_NAME = re.compile(r"(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*")


def container_name(setting: tuple[str, str]) -> str:
    """The container named by `(setting, default)`; SettingError when it is not a valid container name."""
    name = get_str(*setting)
    if not _CONTAINER_NAME.fullmatch(name):
        raise SettingError(f"App setting {setting[0]} must be a blob container name (3-63 lowercase letters, "
                           f"digits and single hyphens), got {name!r}")
    return name


def chunk_size() -> int:
    """`BATCH_CHUNK_SIZE`: files per sub-orchestration."""
    size = get_int("BATCH_CHUNK_SIZE", DEFAULT_CHUNK_SIZE, minimum=1)
    if size > MAX_CHUNK_SIZE:
        raise SettingError(f"App setting BATCH_CHUNK_SIZE must be at most {MAX_CHUNK_SIZE}, got {size}")
    return size


def max_parallel_chunks() -> int:
    """`BATCH_MAX_PARALLEL_CHUNKS`: sub-orchestrations in flight per batch."""
    return get_int("BATCH_MAX_PARALLEL_CHUNKS", DEFAULT_MAX_PARALLEL_CHUNKS, minimum=1)


def max_files() -> int:
    """`BATCH_MAX_FILES`: the most files one batch may have."""
    return get_int("BATCH_MAX_FILES", DEFAULT_MAX_FILES, minimum=1)


def max_file_bytes() -> int:
    """`BATCH_MAX_FILE_BYTES`: larger input files are not read."""
    return get_int("BATCH_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, minimum=1)


RETRY_FIRST_INTERVAL_MS = ("BATCH_RETRY_FIRST_INTERVAL_MS", DEFAULT_FIRST_RETRY_INTERVAL_MS)
RETRY_MAX_ATTEMPTS = ("BATCH_RETRY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def retry_settings() -> dict[str, int]:
    """The orchestrators' retry options for activities."""
    return read_retry_policy(RETRY_FIRST_INTERVAL_MS, RETRY_MAX_ATTEMPTS)
