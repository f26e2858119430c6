"""Batch processing end to end: HTTP calls to `python -m devhost` running the real app, blobs in Azurite.

What a user does after `make run` and `python -m tools.batch_samples`: the original call
with file1.txt, file2.txt and file3.txt, a mixed batch of valid, invalid and missing
files, a prefix batch, and bad requests. Results are checked in the blob containers.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from batch import store as batch_store
from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from tests.readme_examples import README, curl_calls
from tools import azurite as azurite_control
from tools.batch_samples import Uploaded, upload_samples

CLIENT = "/api/BatchProcessing_Client"
WEBHOOK = "/runtime/webhooks/durabletask"
SETTINGS = {
    "BATCH_INPUT_CONTAINER": "e2e-batch-input",
    "BATCH_OUTPUT_CONTAINER": "e2e-batch-output",
    "BATCH_QUARANTINE_CONTAINER": "e2e-batch-quarantine",
    "BATCH_REPORTS_CONTAINER": "e2e-batch-reports",
    "BATCH_CHUNK_SIZE": "4",  # small batches still run several chunks
    "BATCH_MAX_PARALLEL_CHUNKS": "2",
    "BATCH_MAX_FILES": "50",
    "BATCH_RETRY_FIRST_INTERVAL_MS": "100",
}
README_SECTION = "### Starting a batch"


@pytest.fixture(scope="module")
def samples(azurite: azurite_control.Azurite) -> Iterator[Uploaded]:
    previous = {name: os.environ.get(name) for name in SETTINGS}
    os.environ.update(SETTINGS)
    try:
        yield upload_samples(count=10, invalid_ratio=0.3, prefix="incoming/", seed=3, clean=True)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def host(azurite: azurite_control.Azurite, samples: Uploaded,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": "E2EBatchHub", **SETTINGS}
    running = start_devhost(ROOT, tmp_path_factory.mktemp("batch") / "host.log", env)
    yield running
    running.stop()


def post(host: RunningHost, body: object = None, data: str | None = None) -> requests.Response:
    if data is None:
        return requests.post(host.base_url + CLIENT, json=body, timeout=30)
    return requests.post(host.base_url + CLIENT, data=data, headers={"Content-Type": "application/json"}, timeout=30)


def run(host: RunningHost, body: object) -> dict:
    response = post(host, body)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == response.json()["statusQueryGetUri"]
    final = wait_for_status(response.json()["statusQueryGetUri"], timeout=60)
    assert final["runtimeStatus"] == "Completed", final
    return final


def report(final: dict) -> dict:
    location = final["output"]["report"]
    assert location["container"] == SETTINGS["BATCH_REPORTS_CONTAINER"]
    return json.loads(batch_store.reports_container().download_blob(location["blobName"]).readall())


def test_the_original_call_processes_file1_to_file3(host: RunningHost) -> None:
    final = run(host, ["file1.txt", "file2.txt", "file3.txt"])
    output = final["output"]
    assert output["total"] == 3
    assert output["counts"] == {"succeeded": 3, "invalid": 0, "empty": 0, "missing": 0, "failed": 0}
    assert output["report"]["blobName"] == f"{output['batchId']}/report.json"
    assert final["customStatus"]["processed"] == 3 and final["customStatus"]["step"] == "Completed"
    files = report(final)["files"]
    assert [(f["file"], f["format"], f["records"]) for f in files] == [
        ("file1.txt", "csv", 3), ("file2.txt", "json", 2), ("file3.txt", "jsonl", 3)]
    out = batch_store.output_container()
    for name, records in (("file1.txt", 3), ("file2.txt", 2), ("file3.txt", 3)):
        body = out.download_blob(f"{name}.jsonl").readall().decode("utf-8")
        assert len(body.splitlines()) == records
        assert out.get_blob_client(f"{name}.jsonl").get_blob_properties().metadata["batch_id"] == output["batchId"]


def test_a_mixed_batch_of_valid_invalid_and_missing_files(host: RunningHost, samples: Uploaded) -> None:
    invalid = [name for name, outcome in samples.expected.items() if outcome == "invalid"]
    files = ["file1.txt", invalid[0], "missing-1.csv", "file2.txt", "file1.txt", "incoming/missing-2.txt",
             "file3.txt"]
    final = run(host, {"files": files, "batchId": "mixed-1"})
    assert final["instanceId"] == "batch-mixed-1"
    assert final["output"]["counts"] == {"succeeded": 3, "invalid": 1, "empty": 0, "missing": 2, "failed": 0}
    assert final["output"]["total"] == 6  # the duplicate file1.txt once
    entries = report(final)["files"]
    assert [e["file"] for e in entries] == list(dict.fromkeys(files))
    bad = entries[1]
    assert bad["outcome"] == "invalid" and bad["errorReport"] == f"errors/{invalid[0]}.errors.json"
    errors = json.loads(batch_store.quarantine_container().download_blob(bad["errorReport"]).readall())
    assert errors["errors"] and errors["errors"][0]["message"]
    # 6 files in chunks of 4: two sub-orchestrations with ids derived from the parent's and its run
    history = requests.get(f"{host.base_url}{WEBHOOK}/instances/batch-mixed-1?showHistory=true", timeout=10).json()
    chunks = [e["InstanceId"] for e in history["historyEvents"]
              if e.get("EventType") == "SubOrchestrationInstanceCompleted"]
    assert len(chunks) == 2 and all(re.fullmatch(r"batch-mixed-1:chunk-[0-9a-f]{8}-0000[01]", c) for c in chunks)
    for chunk in chunks:
        status = requests.get(f"{host.base_url}{WEBHOOK}/instances/{chunk}", timeout=10)
        assert status.status_code == 200 and status.json()["runtimeStatus"] == "Completed"
    again = post(host, {"files": ["file1.txt"], "batchId": "mixed-1"})
    assert again.status_code == 409 and again.json()["field"] == "batchId"
    assert again.json()["statusQueryGetUri"].split("?")[0].endswith("/instances/batch-mixed-1")


def test_a_prefix_batch_processes_every_blob_under_it(host: RunningHost, samples: Uploaded) -> None:
    final = run(host, {"prefix": "incoming/"})
    expected = {name: outcome for name, outcome in samples.expected.items() if name.startswith("incoming/")}
    assert final["output"]["total"] == len(expected) == 10
    counts = Counter(expected.values())
    assert final["output"]["counts"] == {outcome: counts.get(outcome, 0) for outcome in
                                         ("succeeded", "invalid", "empty", "missing", "failed")}
    assert {e["file"]: e["outcome"] for e in report(final)["files"]} == expected


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ([], "files", "empty"),
        ({"files": []}, "files", "empty"),
        ([1, "file1.txt"], "files[0]", "must be a string"),
        (["file1.txt", None], "files[1]", "must be a string"),
        (["../secret.csv"], "files[0]", "path traversal"),
        (["incoming/../../x.csv"], "files[0]", "path traversal"),
        (["/etc/passwd"], "files[0]", "starts with '/'"),
        (["a\\b.csv"], "files[0]", "backslash"),
        (["incoming/"], "files[0]", "empty path segment"),
        (["x" * 1025], "files[0]", "at most 1024"),
        ({"prefix": "nothing-here/"}, "prefix", "No blobs"),
        ({"prefix": ""}, "prefix", "non-empty"),
        ({"prefix": "../"}, "prefix", "path traversal"),
        ({"files": ["file1.txt"], "prefix": "incoming/"}, "prefix", "either"),
        ({"file": ["file1.txt"]}, "file", "Unknown field"),
        ({"files": ["file1.txt"], "batchId": "no spaces"}, "batchId", "batchId"),
        ([f"f{i}.csv" for i in range(51)], "files", "at most 50"),
        ("file1.txt", "body", "JSON array"),
        (None, "body", "JSON array"),
    ],
)
def test_bad_requests_get_400_and_start_nothing(host: RunningHost, body: object, field: str, text: str) -> None:
    before = requests.get(f"{host.base_url}{WEBHOOK}/instances", timeout=10).json()
    response = post(host, body)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["field"] == field
    assert text in response.json()["error"]
    after = requests.get(f"{host.base_url}{WEBHOOK}/instances", timeout=10).json()
    assert len(after) == len(before)


def test_malformed_json_is_400(host: RunningHost) -> None:
    response = post(host, data='["file1.txt"')
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_the_readme_curl_examples_work(host: RunningHost) -> None:
    if README_SECTION not in README.read_text(encoding="utf-8"):
        pytest.fail(f"README.md has no {README_SECTION!r} section")
    calls = curl_calls(README_SECTION)
    assert len(calls) >= 3
    for call in calls:
        url = call.url.replace("http://localhost:7071", host.base_url)
        response = requests.request(call.method, url, headers=call.headers, data=call.data, timeout=30)
        assert response.status_code in (202, 400, 409), (call, response.text)
        if response.status_code == 202:
            assert wait_for_status(response.json()["statusQueryGetUri"], timeout=60)["runtimeStatus"] == "Completed"
