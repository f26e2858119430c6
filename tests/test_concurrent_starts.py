"""Simultaneous identical starts of each workflow on `python -m devhost` with Azurite.

Before the start claims (`common.start_claims`), identical requests at the same moment all saw no
instance and all started one: 64 of 120 order starts, 119 of 120 batch starts and 120 of 120 leave starts
got 202, and about one double submit in 30 left an instance stuck. Now exactly one of N gets 202, the
others 409 with the winner's status URL, and the one instance completes (or waits, for leave).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from common import outbox
from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from orders import confirmation, payments
from tools import azurite as azurite_control
from tools.seed import seed

N = 12
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def host(azurite: azurite_control.Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    seed(reset=True)
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": "ConcurrentStartsHub",
           "ORDER_RETRY_FIRST_INTERVAL_MS": "100", "BATCH_RETRY_FIRST_INTERVAL_MS": "100"}
    running = start_devhost(ROOT, tmp_path_factory.mktemp("starts") / "host.log", env)
    yield running
    running.stop()


def at_once(send: Callable[[], requests.Response], count: int = N) -> list[requests.Response]:
    """`count` identical requests released at the same moment."""
    gate = threading.Barrier(count)

    def one() -> requests.Response:
        gate.wait(10)
        return send()

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: one(), range(count)))


def one_winner(responses: list[requests.Response], instance_id: str) -> dict[str, Any]:
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * (len(responses) - 1), [r.text[:200] for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 202]
    assert winner["id"] == instance_id
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert refused["statusQueryGetUri"] == winner["statusQueryGetUri"], refused
    return winner


def history(host: RunningHost, instance_id: str) -> list[dict[str, Any]]:
    url = f"{host.base_url}{WEBHOOK}/instances/{instance_id}?showHistory=true"
    return requests.get(url, timeout=10).json()["historyEvents"]


def test_simultaneous_identical_orders_start_one_workflow(host: RunningHost) -> None:
    order_id = f"race-{uuid.uuid4().hex[:8]}"
    order = {"orderId": order_id, "customerEmail": "race@example.com", "items": [{"sku": "CABLE-1", "quantity": 1}]}
    winner = one_winner(at_once(lambda: requests.post(f"{host.base_url}/api/OrderProcessing_Client", json=order,
                                                      timeout=60)), f"order-{order_id}")
    final = wait_for_status(winner["statusQueryGetUri"], timeout=60)
    assert final["runtimeStatus"] == "Completed", final
    assert payments.get_payment(order_id) is not None
    assert outbox.read_message(confirmation.confirmation_blob_name(order_id))
    assert [e["EventType"] for e in history(host, f"order-{order_id}")].count("ExecutionStarted") == 1


def test_simultaneous_identical_batches_start_one_workflow(host: RunningHost) -> None:
    batch_id = f"race-{uuid.uuid4().hex[:8]}"
    body = {"batchId": batch_id, "files": ["no-such-file-1.csv", "no-such-file-2.csv"]}
    winner = one_winner(at_once(lambda: requests.post(f"{host.base_url}/api/BatchProcessing_Client", json=body,
                                                      timeout=60)), f"batch-{batch_id}")
    final = wait_for_status(winner["statusQueryGetUri"], timeout=60)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"]["counts"]["missing"] == 2


def test_simultaneous_identical_leave_requests_start_one_workflow(host: RunningHost) -> None:
    request_id = f"race-{uuid.uuid4().hex[:8]}"
    body = {"requestId": request_id, "employeeId": "E-1", "employeeEmail": "ann@example.com",
            "approverEmail": "boss@example.com", "startDate": "2099-07-01", "endDate": "2099-07-02",
            "reason": "Holiday"}
    winner = one_winner(at_once(lambda: requests.post(f"{host.base_url}/api/LeaveApproval_Client", json=body,
                                                      timeout=60)), f"leave-{request_id}")
    for _ in range(600):
        status = requests.get(winner["statusQueryGetUri"], timeout=10).json()
        if (status.get("customStatus") or {}).get("step") == "AwaitingApproval":
            break
        time.sleep(0.1)
    assert status["runtimeStatus"] == "Running" and status["customStatus"]["step"] == "AwaitingApproval", status
    events = [e["EventType"] for e in history(host, f"leave-{request_id}")]
    assert events.count("ExecutionStarted") == 1 and events.count("TaskCompleted") == 1  # one approval e-mail
