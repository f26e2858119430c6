"""Batch request rules and batch settings, without storage."""

from __future__ import annotations

import pytest

from batch import settings as batch_settings
from batch.requests import batch_instance_id, blob_name_problem, parse_batch_request
from common.http import RequestError
from common.settings import SettingError


def test_the_original_body_a_files_object_and_a_prefix() -> None:
    original = parse_batch_request(["file1.txt", "file2.txt", "file3.txt"])
    assert original.files == ("file1.txt", "file2.txt", "file3.txt") and original.prefix is None
    assert len(original.batch_id) == 32  # a new random id per request
    assert parse_batch_request(["a"]).batch_id != parse_batch_request(["a"]).batch_id
    named = parse_batch_request({"files": ["a.csv"], "batchId": "2024-03_sales"})
    assert named.batch_id == "2024-03_sales" and batch_instance_id(named.batch_id) == "batch-2024-03_sales"
    prefix = parse_batch_request({"prefix": "incoming/"})
    assert prefix.prefix == "incoming/" and prefix.files is None


def test_duplicates_are_dropped_keeping_the_first_occurrence() -> None:
    request = parse_batch_request(["b.csv", "a.csv", "b.csv", "c.csv", "a.csv"])
    assert request.files == ("b.csv", "a.csv", "c.csv")


@pytest.mark.parametrize(
    "name",
    ["file1.txt", "incoming/2024/03/sales.csv", "Q1 ventes é.csv", "name?with#url&chars.csv", "a" * 1024,
     ".hidden", "dir.v2/file"],
)
def test_acceptable_blob_names(name: str) -> None:
    assert blob_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("../x", "path traversal"),
        ("a/./b", "path traversal"),
        ("a/..", "path traversal"),
        ("/abs.csv", "starts with '/'"),
        ("a\\b", "backslash"),
        ("a//b", "empty path segment"),
        ("dir/", "empty path segment"),
        ("file.", "ends with '.'"),
        ("tab\there", "control characters"),
        ("a" * 1025, "at most 1024"),
        ("/".join(["d"] * 255), "more than 254 path segments"),
        (7, "must be a string, got int"),
        (None, "must be a string, got null"),
    ],
)
def test_unacceptable_blob_names(name: object, problem: str) -> None:
    assert problem in (blob_name_problem(name) or "")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"), ("file1.txt", "body"), (42, "body"), ([], "files"), ({"files": "a.csv"}, "files"),
        ({"files": ["ok.csv", "../no"]}, "files[1]"), ({}, "files"), ({"files": ["a"], "prefix": "b/"}, "prefix"),
        ({"prefix": 3}, "prefix"), ({"prefix": "/"}, "prefix"), ({"prefix": "a//"}, "prefix"),
        ({"files": ["a"], "batchId": ""}, "batchId"), ({"files": ["a"], "batchId": "x" * 65}, "batchId"),
        ({"files": ["a"], "batchId": "-lead"}, "batchId"), ({"files": ["a"], "extra": 1}, "extra"),
    ],
)
def test_bad_bodies_name_the_field(body: object, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_batch_request(body)
    assert caught.value.field == field and caught.value.status == 400


def test_settings_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BATCH_CHUNK_SIZE", "BATCH_MAX_PARALLEL_CHUNKS", "BATCH_MAX_FILES", "BATCH_INPUT_CONTAINER"):
        monkeypatch.delenv(name, raising=False)
    assert batch_settings.chunk_size() == batch_settings.DEFAULT_CHUNK_SIZE
    assert batch_settings.max_parallel_chunks() == batch_settings.DEFAULT_MAX_PARALLEL_CHUNKS
    assert batch_settings.max_files() == 10_000
    assert batch_settings.container_name(batch_settings.INPUT_CONTAINER) == "batch-input"
    monkeypatch.setenv("BATCH_CHUNK_SIZE", "1001")
    with pytest.raises(SettingError, match="at most 1000"):
        batch_settings.chunk_size()
    monkeypatch.setenv("BATCH_MAX_FILES", "many")
    with pytest.raises(SettingError, match="integer"):
        batch_settings.max_files()
    for bad in ("Batch_Input", "ab", "double--hyphen", "-lead"):
        monkeypatch.setenv("BATCH_INPUT_CONTAINER", bad)
        with pytest.raises(SettingError, match="container name"):
            batch_settings.container_name(batch_settings.INPUT_CONTAINER)
