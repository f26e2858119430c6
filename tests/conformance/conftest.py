"""Each conformance test runs on the local host twice: functions in-process, and in Azure's Python worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devhost.testing import LocalDurableHost

SAMPLE = Path(__file__).resolve().parents[1] / "apps" / "sample"


@pytest.fixture(params=["in-process", "worker"])
async def http_host(request: pytest.FixtureRequest) -> AsyncIterator[LocalDurableHost]:
    """The sample app with its HTTP triggers and the management API served, state in memory."""
    async with LocalDurableHost(SAMPLE, serve_http=True, real_worker=request.param == "worker") as host:
        yield host
