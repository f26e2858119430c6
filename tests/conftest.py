"""Shared fixtures: one Azurite per test session, on free ports, in memory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tools import azurite as azurite_control


@pytest.fixture(scope="session")
def azurite() -> Iterator[azurite_control.Azurite]:
    """A private Azurite for the whole run; the app's settings point at it."""
    server = azurite_control.start()
    previous = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = server.connection_string
    try:
        yield server
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("AzureWebJobsStorage", None)
        else:
            os.environ["AzureWebJobsStorage"] = previous


@pytest.fixture(scope="session")
def storage_connection(azurite: azurite_control.Azurite) -> str:
    """Connection string of the session's Azurite."""
    return azurite.connection_string


@pytest.fixture()
def batch_containers(azurite: azurite_control.Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh batch containers for one test, so tests cannot see each other's blobs."""
    suffix = uuid.uuid4().hex[:10]
    for setting, role in (("BATCH_INPUT_CONTAINER", "in"), ("BATCH_OUTPUT_CONTAINER", "out"),
                          ("BATCH_QUARANTINE_CONTAINER", "q"), ("BATCH_REPORTS_CONTAINER", "rep")):
        monkeypatch.setenv(setting, f"t-{role}-{suffix}")
    yield
