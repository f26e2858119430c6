"""A flood of external events on `python -m devhost` with Azurite: each reaches history exactly once.

An event has no id to be de-duplicated on, so one whose lease ran out while the host still held it came
back and reached history twice (1,000 raised events became 1,034; this test saw 1,024 before the fix). The
host took in every message it could while each episode worked off 32, and renewed the leases of hundreds,
one after another. Now it holds at most `controlQueueBufferThreshold` (256) at once, as DurableTask.AzureStorage's
ControlQueue.GetMessagesAsync does, renews many at a time, and never deletes a message with the pop receipt
of a renewal still on its way. The visibility timeout here is 3 s and every episode takes 0.3 s more
(`CollectEvents`), so a host that falls behind shows it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.spawn import RunningHost, start_devhost, wait_for_status
from tools.azurite import Azurite

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
WEBHOOK = "/runtime/webhooks/durabletask"
EVENTS = 1000


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": "EventFloodHub",
           "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3"}
    running = start_devhost(SAMPLE_APP, tmp_path_factory.mktemp("flood") / "host.log", env)
    yield running
    running.stop()


def test_a_thousand_events_reach_history_once_each(host: RunningHost) -> None:
    started = requests.post(f"{host.base_url}/api/start/CollectEvents/flood-1", json=EVENTS, timeout=30)
    assert started.status_code == 202, started.text
    url = f"{host.base_url}{WEBHOOK}/instances/flood-1/raiseEvent/E"

    def raise_one(n: int) -> int:
        return requests.post(url, json=n, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert set(pool.map(raise_one, range(EVENTS))) == {202}
    final = wait_for_status(started.json()["statusQueryGetUri"], timeout=240, interval=0.5)
    assert final["runtimeStatus"] == "Completed" and final["output"] == EVENTS
    history = requests.get(f"{host.base_url}{WEBHOOK}/instances/flood-1?showHistory=true", timeout=60).json()
    raised = [e for e in history["historyEvents"] if e["EventType"] == "EventRaised"]
    assert len(raised) == EVENTS
    assert "Traceback" not in host.log()
