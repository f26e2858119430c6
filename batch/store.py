"""The batch workflow's blobs: input files, converted output, quarantine and reports.

Containers (names from `batch.settings`, created on first use):

    batch-input        {name}                          the files to process (written by users or tools.batch_samples)
    batch-output       {name}.jsonl                    normalized JSON Lines of a valid file
    batch-quarantine   files/{name}                    a copy of a file that failed validation, byte for byte
                       errors/{name}.errors.json       why: every problem with line, record and field
    batch-reports      {batchId}/report.json           the batch's per-file report
                       {batchId}/chunks/{run}/chunk-NNNNN.json   one chunk's part (of one run of the batch),
                                                       merged into the report, then deleted

Every name derives from the source name (or the batch id) only, so processing a file
again overwrites its earlier result instead of adding one, and no two input names share one:
copies and error reports live under prefixes of their own (an input named `X.errors.json`
cannot overwrite the report of `X`, nor can a fixed `X` delete it); a file lives in either the
output or the quarantine container, never both (the other one's stale copy is deleted).
Blob metadata (ASCII only, so the source name is percent-encoded):
`source_name`, `source_etag`, `source_format`, `record_count`, `schema`, `batch_id`
(the batch that last wrote it), and on quarantined blobs `error_count` and `outcome`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from batch.settings import (
    INPUT_CONTAINER,
    OUTPUT_CONTAINER,
    QUARANTINE_CONTAINER,
    REPORTS_CONTAINER,
    container_name,
)
from common.resources import container
from common.storage import blob_service

JSONL = ContentSettings(content_type="application/x-ndjson; charset=utf-8")
JSON = ContentSettings(content_type="application/json; charset=utf-8")


@dataclass(frozen=True)
class SourceFile:
    """An input blob as read: its bytes (None when larger than allowed), ETag and size."""

    name: str
    data: bytes | None
    etag: str
    size: int


def _container(setting: tuple[str, str]) -> ContainerClient:
    container_name(setting)  # a bad name is a configuration error, not a storage error
    return container(setting)


def input_container() -> ContainerClient:
    return _container(INPUT_CONTAINER)


def output_container() -> ContainerClient:
    return _container(OUTPUT_CONTAINER)


def quarantine_container() -> ContainerClient:
    return _container(QUARANTINE_CONTAINER)


def reports_container() -> ContainerClient:
    return _container(REPORTS_CONTAINER)


def output_blob_name(source: str) -> str:
    return f"{source}.jsonl"


QUARANTINE_FILES = "files/"  # quarantine copies, named after their source
QUARANTINE_ERRORS = "errors/"  # error reports, `{source}.errors.json`


def quarantine_copy_name(source: str) -> str:
    return f"{QUARANTINE_FILES}{source}"


def error_report_name(source: str) -> str:
    return f"{QUARANTINE_ERRORS}{source}.errors.json"


def report_blob_name(batch_id: str) -> str:
    return f"{batch_id}/report.json"


def chunk_report_name(batch_id: str, chunk: int, run: str = "") -> str:
    """One chunk's report part, under its batch run (chunks of an earlier run never overwrite it)."""
    return f"{batch_id}/chunks/{run}/chunk-{chunk:05d}.json" if run else f"{batch_id}/chunks/chunk-{chunk:05d}.json"


def metadata(source: str, etag: str, **values: Any) -> dict[str, str]:
    """Blob metadata describing where a result came from (values made ASCII-safe)."""
    return {"source_name": quote(source, safe="/"), "source_etag": etag,
            **{key: quote(str(value), safe="/") for key, value in values.items() if value is not None}}


def list_inputs(prefix: str, limit: int) -> list[str]:
    """Names in the input container starting with `prefix`, at most `limit` (in name order).

    A missing input container lists nothing, and is not created: a request that finds no
    files writes nothing.
    """
    names = []
    client = blob_service().get_container_client(container_name(INPUT_CONTAINER))
    try:
        for name in client.list_blob_names(name_starts_with=prefix):
            if name.endswith("/"):
                continue  # folder markers of hierarchical namespaces are not files
            names.append(name)
            if len(names) >= limit:
                break
    except ResourceNotFoundError:
        return []
    return names


def read_source(name: str, max_bytes: int) -> SourceFile | None:
    """The input blob `name`, or None when it (or its container) does not exist.

    One round trip: the first `max_bytes + 1` bytes are requested, so a larger file is
    recognised by its size without being read (its `data` is None).
    """
    blob = input_container().get_blob_client(name)
    try:
        downloader = blob.download_blob(offset=0, length=max_bytes + 1)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as error:
        if error.status_code != 416:  # a range request on an empty blob is refused
            raise
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        if properties.size:
            raise
        return SourceFile(name, b"", properties.etag, 0)
    properties = downloader.properties
    content_range = properties.content_range or ""
    size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else properties.size
    if size > max_bytes:
        return SourceFile(name, None, properties.etag, size)
    return SourceFile(name, downloader.readall(), properties.etag, size)


def write_output(source: SourceFile, body: bytes, **meta: Any) -> str:
    """Store a converted file under its deterministic name (overwriting an earlier result)."""
    name = output_blob_name(source.name)
    output_container().upload_blob(name, body, overwrite=True, content_settings=JSONL,
                                   metadata=metadata(source.name, source.etag, **meta))
    return name


def write_quarantine(source: SourceFile, report: dict[str, Any], **meta: Any) -> tuple[str | None, str]:
    """Copy a rejected file (when it was read) and its error report into quarantine; returns both names."""
    quarantine = quarantine_container()
    info = metadata(source.name, source.etag, **meta)
    copy_name = None
    if source.data is not None:
        copy_name = quarantine_copy_name(source.name)
        quarantine.upload_blob(copy_name, source.data, overwrite=True, metadata=info)
    else:
        _delete(quarantine, quarantine_copy_name(source.name))
    report_name = error_report_name(source.name)
    quarantine.upload_blob(report_name, _json_bytes(report), overwrite=True, content_settings=JSON, metadata=info)
    return copy_name, report_name


def remove_output(source: str) -> None:
    """Drop the output of an earlier, valid version of the file."""
    _delete(output_container(), output_blob_name(source))


def remove_quarantine(source: str) -> None:
    """Drop the quarantined copy and error report of an earlier, invalid version (one batch request)."""
    quarantine = quarantine_container()
    for result in quarantine.delete_blobs(quarantine_copy_name(source), error_report_name(source),
                                          raise_on_any_failure=False):
        if result.status_code not in (200, 202, 404):
            raise RuntimeError(f"Could not delete stale quarantine blobs of {source!r}: HTTP {result.status_code}")


def write_json(name: str, value: Any) -> str:
    """Write a report blob as JSON."""
    reports_container().upload_blob(name, _json_bytes(value), overwrite=True, content_settings=JSON)
    return name


def read_json(client: ContainerClient, name: str) -> Any | None:
    """A JSON blob's value, or None when it does not exist."""
    try:
        return json.loads(client.download_blob(name).readall())
    except ResourceNotFoundError:
        return None


def delete_reports(names: list[str]) -> None:
    reports = reports_container()
    for start in range(0, len(names), 256):  # a blob batch holds at most 256 operations
        reports.delete_blobs(*names[start:start + 256], raise_on_any_failure=False)


def _delete(client: ContainerClient, name: str) -> None:
    try:
        client.delete_blob(name)
    except ResourceNotFoundError:
        pass


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")
