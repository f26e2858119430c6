"""Security review (SECURITY.md): a batch's blob names cannot leave their container.

The storage SDK puts a blob name into the URL as it is, and the HTTP client resolves `..`
segments, so `batch-reports` + `../outbox/x` is the blob `x` of the `outbox` container. The
starter refuses such names and batch ids (tests/test_e2e_batch.py); the activities refuse them
too, because an orchestration can also be started through the Durable management API, whose
input nobody validates. Runs against Azurite with a fresh set of containers per test.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from azure.storage.blob import ContainerClient

from activities.batch_activities import bp
from batch import store as batch_store
from common.storage import blob_service
from devhost.app_loader import user_function

process_file = user_function(bp, "ProcessFile")
write_chunk_report = user_function(bp, "WriteChunkReport")
write_batch_report = user_function(bp, "WriteBatchReport")


pytestmark = pytest.mark.usefixtures("batch_containers")


@pytest.fixture
def victim() -> ContainerClient:
    """Another container of the same account (in Azure: the outbox, the deployment package, the host's keys)."""
    client = blob_service().get_container_client(f"t-victim-{uuid.uuid4().hex[:10]}")
    client.create_container()
    return client


def test_dot_segments_in_a_blob_name_reach_another_container(victim: ContainerClient) -> None:
    """Why the checks exist: nothing below the app escapes `..` in a blob name."""
    reports = batch_store.reports_container()
    blob = reports.get_blob_client(f"../{victim.container_name}/planted.json")
    assert f"/{reports.container_name}/../{victim.container_name}/" in blob.url
    prepared = requests.Request("PUT", blob.url).prepare()
    assert f"/{reports.container_name}/" not in prepared.url
    assert f"/{victim.container_name}/planted.json" in prepared.url


@pytest.mark.parametrize("batch_id", ["../{victim}/x", "a/b", "..", "x\nINFO batch y: done", "", "-lead", "é"])
def test_chunk_reports_refuse_a_batch_id_the_starter_would_refuse(victim: ContainerClient, batch_id: str) -> None:
    payload = {"batchId": batch_id.format(victim=victim.container_name), "chunk": 0, "offset": 0,
               "files": [{"file": "a.csv", "outcome": "succeeded"}]}
    with pytest.raises(ValueError, match="batchId"):
        write_chunk_report(payload)
    assert list(victim.list_blob_names()) == []
    reports = batch_store.reports_container()
    assert not reports.exists() or list(reports.list_blob_names()) == []


def test_process_file_refuses_a_bad_batch_id() -> None:
    with pytest.raises(ValueError, match="batchId"):
        process_file({"batchId": "../outbox", "file": "a.csv"})


@pytest.mark.parametrize("part", [
    "../{victim}/b1/chunks/chunk-00000.json",       # another container
    "b1/chunks/../../{victim}/chunk-00000.json",    # a dot segment after the right prefix
    "other-batch/chunks/chunk-00000.json",           # another batch's part (read, then deleted)
    "b1/report.json",                                # not a part at all
])
def test_the_batch_report_reads_and_deletes_only_this_batchs_parts(victim: ContainerClient, part: str) -> None:
    planted = {"offset": 0, "files": [{"file": "secret.csv", "outcome": "succeeded"}]}
    victim.upload_blob("b1/chunks/chunk-00000.json", json.dumps(planted))
    victim.upload_blob("chunk-00000.json", json.dumps(planted))
    request: dict[str, Any] = {"batchId": "b1", "total": 1, "counts": {},
                               "parts": [part.format(victim=victim.container_name)]}
    with pytest.raises(ValueError, match="not a chunk report of batch b1"):
        write_batch_report(request)
    assert sorted(victim.list_blob_names()) == ["b1/chunks/chunk-00000.json", "chunk-00000.json"]  # nothing deleted


def test_a_batch_id_of_the_starters_shape_still_works() -> None:
    part = write_chunk_report({"batchId": "Batch_2024-06", "chunk": 0, "offset": 0,
                               "files": [{"file": "a.csv", "outcome": "succeeded"}]})["blobName"]
    result = write_batch_report({"batchId": "Batch_2024-06", "total": 1, "counts": {}, "parts": [part]})
    assert result["blobName"] == "Batch_2024-06/report.json"
