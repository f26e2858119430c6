"""The batch activities against Azurite: outputs, metadata, quarantine, idempotency, reports, samples."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest

from activities.batch_activities import bp
from batch import store as batch_store
from batch.records import SCHEMA
from devhost.app_loader import user_function
from tools.batch_samples import ORIGINAL_RECORDS, ORIGINALS, upload_samples

process_file = user_function(bp, "ProcessFile")
write_chunk_report = user_function(bp, "WriteChunkReport")
write_batch_report = user_function(bp, "WriteBatchReport")

HEADER = "id,date,customerEmail,sku,quantity,unitPrice,currency"
VALID = f"{HEADER}\nT-1,2024-03-01,ann@example.com,WIDGET-1,2,25.00,EUR\nT-2,2024-03-02,,CABLE-1,1,9.99,EUR\n"
INVALID = f"{HEADER}\nT-1,2024-03-01,ann@example.com,WIDGET-1,0,25.00,EUR\nT-2,2024-03-02,,CABLE-1,1,9.99,EURO\n"


pytestmark = pytest.mark.usefixtures("batch_containers")


def upload(name: str, data: str | bytes) -> str:
    batch_store.input_container().upload_blob(name, data.encode() if isinstance(data, str) else data, overwrite=True)
    return batch_store.input_container().get_blob_client(name).get_blob_properties().etag


def names(client: Any) -> list[str]:
    return sorted(client.list_blob_names())


def read(client: Any, name: str) -> bytes:
    return client.download_blob(name).readall()


def test_a_valid_file_is_converted_with_metadata() -> None:
    etag = upload("incoming/Q1 ventes é.txt", VALID)
    result = process_file({"batchId": "b1", "file": "incoming/Q1 ventes é.txt"})
    assert result == {"file": "incoming/Q1 ventes é.txt", "outcome": "succeeded", "format": "csv", "records": 2,
                      "output": "incoming/Q1 ventes é.txt.jsonl", "sourceEtag": etag}
    output = batch_store.output_container()
    body = read(output, result["output"]).decode("utf-8").splitlines()
    assert [json.loads(line)["id"] for line in body] == ["T-1", "T-2"]
    properties = output.get_blob_client(result["output"]).get_blob_properties()
    meta = properties.metadata
    assert unquote(meta["source_name"]) == "incoming/Q1 ventes é.txt"
    assert meta["source_etag"] == etag and meta["record_count"] == "2" and meta["source_format"] == "csv"
    assert meta["schema"] == SCHEMA and meta["batch_id"] == "b1"
    assert properties.content_settings.content_type.startswith("application/x-ndjson")
    assert names(batch_store.quarantine_container()) == []


def test_processing_again_overwrites_the_same_output_never_duplicates() -> None:
    upload("sales.csv", VALID)
    first = process_file({"batchId": "b1", "file": "sales.csv"})
    second = process_file({"batchId": "b2", "file": "sales.csv"})
    assert first["output"] == second["output"] == "sales.csv.jsonl"
    assert names(batch_store.output_container()) == ["sales.csv.jsonl"]
    meta = batch_store.output_container().get_blob_client("sales.csv.jsonl").get_blob_properties().metadata
    assert meta["batch_id"] == "b2"  # the latest run wrote it


def test_an_invalid_file_is_quarantined_with_an_error_report() -> None:
    etag = upload("bad.txt", INVALID)
    result = process_file({"batchId": "b1", "file": "bad.txt"})
    assert result == {"file": "bad.txt", "outcome": "invalid", "format": "csv", "records": 2, "errors": 2,
                      "message": "line 2: quantity must be between 1 and 1,000,000, got 0.",
                      "quarantine": "files/bad.txt", "errorReport": "errors/bad.txt.errors.json", "sourceEtag": etag}
    quarantine = batch_store.quarantine_container()
    assert names(quarantine) == ["errors/bad.txt.errors.json", "files/bad.txt"]
    assert read(quarantine, "files/bad.txt") == INVALID.encode()  # the original, byte for byte
    report = json.loads(read(quarantine, "errors/bad.txt.errors.json"))
    assert report["source"] == "bad.txt" and report["sourceEtag"] == etag and report["errorCount"] == 2
    assert [(e["line"], e["record"], e["field"]) for e in report["errors"]] == [(2, 1, "quantity"),
                                                                               (3, 2, "currency")]
    meta = quarantine.get_blob_client("files/bad.txt").get_blob_properties().metadata
    assert meta["error_count"] == "2" and meta["outcome"] == "invalid" and meta["source_etag"] == etag
    assert names(batch_store.output_container()) == []


def test_a_fixed_file_leaves_quarantine_and_a_broken_one_loses_its_output() -> None:
    upload("flip.csv", INVALID)
    assert process_file({"batchId": "b1", "file": "flip.csv"})["outcome"] == "invalid"
    upload("flip.csv", VALID)
    assert process_file({"batchId": "b2", "file": "flip.csv"})["outcome"] == "succeeded"
    assert names(batch_store.quarantine_container()) == []
    assert names(batch_store.output_container()) == ["flip.csv.jsonl"]
    upload("flip.csv", INVALID)
    assert process_file({"batchId": "b3", "file": "flip.csv"})["outcome"] == "invalid"
    assert names(batch_store.output_container()) == []
    assert names(batch_store.quarantine_container()) == ["errors/flip.csv.errors.json", "files/flip.csv"]


def test_no_two_input_names_share_a_quarantine_blob() -> None:
    """`X` and `X.errors.json` are different inputs: neither overwrites the other's copy or report, and a
    fixed `X` removes only its own (before, both wrote the blob `X.errors.json`)."""
    upload("x.csv", INVALID)
    upload("x.csv.errors.json", INVALID)
    process_file({"batchId": "b1", "file": "x.csv"})
    process_file({"batchId": "b1", "file": "x.csv.errors.json"})
    quarantine = batch_store.quarantine_container()
    assert names(quarantine) == ["errors/x.csv.errors.json", "errors/x.csv.errors.json.errors.json",
                                 "files/x.csv", "files/x.csv.errors.json"]
    assert json.loads(read(quarantine, "errors/x.csv.errors.json"))["source"] == "x.csv"
    upload("x.csv", VALID)
    assert process_file({"batchId": "b2", "file": "x.csv"})["outcome"] == "succeeded"
    assert names(quarantine) == ["errors/x.csv.errors.json.errors.json", "files/x.csv.errors.json"]


def test_missing_file_and_missing_container_are_reported() -> None:
    result = process_file({"batchId": "b1", "file": "nope.csv"})
    assert result["outcome"] == "missing" and "nope.csv" in result["message"]
    upload("other.csv", VALID)  # the container exists now; the blob still does not
    assert process_file({"batchId": "b1", "file": "nope.csv"})["outcome"] == "missing"
    assert names(batch_store.output_container()) == names(batch_store.quarantine_container()) == []


def test_empty_and_undecodable_files_are_reported_not_raised() -> None:
    upload("empty.txt", b"")
    upload("header-only.csv", HEADER + "\n")
    upload("latin1.csv", VALID.replace("ann@example.com", "anné@example.com").encode("latin-1"))
    empty = process_file({"batchId": "b1", "file": "empty.txt"})
    header_only = process_file({"batchId": "b1", "file": "header-only.csv"})
    latin1 = process_file({"batchId": "b1", "file": "latin1.csv"})
    assert (empty["outcome"], header_only["outcome"], latin1["outcome"]) == ("empty", "empty", "invalid")
    assert empty["message"] == "The file has no records."
    assert latin1["message"].startswith("line 2: The file is not valid UTF-8 text: byte 0xe9")
    assert names(batch_store.quarantine_container()) == [
        "errors/empty.txt.errors.json", "errors/header-only.csv.errors.json", "errors/latin1.csv.errors.json",
        "files/empty.txt", "files/header-only.csv", "files/latin1.csv"]


def test_a_file_over_the_size_limit_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_MAX_FILE_BYTES", "100")
    upload("big.csv", VALID + "T-3,2024-03-02,,CABLE-1,1,9.99,EUR\n" * 5)
    result = process_file({"batchId": "b1", "file": "big.csv"})
    assert result["outcome"] == "invalid" and "the limit is 100" in result["message"]
    assert "quarantine" not in result  # no copy of a file that was not read
    assert names(batch_store.quarantine_container()) == ["errors/big.csv.errors.json"]


def test_bad_activity_input_is_a_bug_not_an_outcome() -> None:
    with pytest.raises(ValueError, match="path traversal"):
        process_file({"batchId": "b1", "file": "../etc/passwd"})
    with pytest.raises(ValueError, match="batchId, file"):
        process_file({"file": "a.csv"})


def test_chunk_parts_merge_into_one_report_in_request_order_and_are_deleted() -> None:
    part_1 = write_chunk_report({"batchId": "b9", "chunk": 1, "offset": 2, "files": [
        {"file": "c.csv", "outcome": "invalid"}, {"file": "d.csv", "outcome": "missing"}]})["blobName"]
    part_0 = write_chunk_report({"batchId": "b9", "chunk": 0, "offset": 0, "files": [
        {"file": "a.csv", "outcome": "succeeded"}, {"file": "b.csv", "outcome": "succeeded"}]})["blobName"]
    assert part_0 == "b9/chunks/chunk-00000.json"
    request = {"batchId": "b9", "total": 7, "counts": {}, "parts": [part_0, part_1],
               "failedChunks": [{"chunk": 2, "offset": 4, "files": ["e.csv", "f.csv", "g.csv"],
                                 "error": "Chunk 2 failed: boom"}],
               "startedAt": "2026-01-01T00:00:00+00:00", "completedAt": "2026-01-01T00:01:00+00:00"}
    result = write_batch_report(request)
    reports = batch_store.reports_container()
    assert result == {"container": reports.container_name, "blobName": "b9/report.json"}
    report = json.loads(read(reports, "b9/report.json"))
    assert [entry["file"] for entry in report["files"]] == ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "f.csv",
                                                            "g.csv"]
    assert report["counts"] == {"succeeded": 2, "invalid": 1, "empty": 0, "missing": 1, "failed": 3}
    assert report["total"] == 7 and report["schema"] == SCHEMA and report["completedAt"].startswith("2026")
    assert report["files"][4] == {"file": "e.csv", "outcome": "failed", "message": "Chunk 2 failed: boom"}
    assert names(reports) == ["b9/report.json"]  # the parts are gone
    assert write_batch_report(request) == result  # a repeat after the parts were deleted is harmless


def test_the_samples_command_uploads_the_original_files_and_synthetic_ones() -> None:
    uploaded = upload_samples(count=12, invalid_ratio=0.25, prefix="incoming/", seed=7)
    stored = names(batch_store.input_container())
    assert set(ORIGINALS) <= set(stored)
    assert len([n for n in stored if n.startswith("incoming/synthetic-")]) == 12
    assert sum(outcome != "succeeded" for outcome in uploaded.expected.values()) == 3
    assert upload_samples(count=12, invalid_ratio=0.25, seed=7).expected == uploaded.expected  # reproducible
    for name, expected in uploaded.expected.items():
        result = process_file({"batchId": "s1", "file": name})
        assert result["outcome"] == expected, (name, result)
        if expected == "succeeded":
            assert result["records"] == uploaded.records[name]
    assert {name: ORIGINAL_RECORDS[name] for name in ORIGINALS} == {
        name: uploaded.records[name] for name in ORIGINALS}
    formats = {process_file({"batchId": "s1", "file": name})["format"] for name in ORIGINALS}
    assert formats == {"csv", "json", "jsonl"}
    cleaned = upload_samples(count=2, invalid_ratio=0, seed=7, clean=True)
    assert cleaned.deleted == 12
    assert len([n for n in names(batch_store.input_container()) if n.startswith("incoming/")]) == 2
