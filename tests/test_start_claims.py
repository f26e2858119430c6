"""The start claim against Azurite: one winner, a crashed claim repaired after its TTL, a purged id startable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from common.start_claims import CLAIM_TTL, ClaimHeld, claim_start, mark_started, release
from tools.azurite import Azurite

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def claims_table(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKFLOW_STARTS_TABLE", f"Starts{uuid.uuid4().hex[:10]}")
    yield


def test_of_simultaneous_claims_exactly_one_wins() -> None:
    def attempt(_: int) -> bool:
        try:
            claim_start("order-twin", now=T0)
            return True
        except ClaimHeld:
            return False

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(attempt, range(16))) == [False] * 15 + [True]


def test_a_claim_left_by_a_crash_is_free_again_after_its_ttl() -> None:
    claim_start("order-crashed", now=T0)  # the request died before it started the workflow
    with pytest.raises(ClaimHeld):
        claim_start("order-crashed", now=T0 + CLAIM_TTL - timedelta(seconds=1))
    repaired = claim_start("order-crashed", now=T0 + CLAIM_TTL + timedelta(seconds=1))
    assert repaired.instance_id == "order-crashed"


def test_a_released_or_started_claim_does_not_hold_anyone_off() -> None:
    failed = claim_start("batch-retry", now=T0)
    release(failed)  # the start failed: the same request may be sent again at once
    started = claim_start("batch-retry", now=T0)
    mark_started(started)  # from now on the instance itself is the guard (the starters ask the host first)
    again = claim_start("batch-retry", now=T0 + timedelta(seconds=1))
    assert again.token != started.token
    release(started)  # an old claim's release leaves the new one alone
    with pytest.raises(ClaimHeld):
        claim_start("batch-retry", now=T0 + timedelta(seconds=2))

