"""Kill the local host with SIGKILL while orders are in flight, restart it, and check nothing was lost.

Every order accepted with 202 must reach the result it would have reached without the
crash; activities may run again, but the business effects stay exactly-once: one payment
per order, stock lowered once per order, one confirmation e-mail, one final output.
"""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from batch.store import output_container, read_json, reports_container
from common import outbox
from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from orders import confirmation, inventory, payments
from orders import store as orders
from orders.store import OrderStatus
from tools import azurite as azurite_control
from tools.batch_samples import upload_samples
from tools.seed import seed

ORDERS_PER_ROUND = 12
KILLS = 3


@pytest.fixture()
def host_env(azurite: azurite_control.Azurite) -> Iterator[dict[str, str]]:
    seed(reset=True)
    yield {
        "AzureWebJobsStorage": azurite.connection_string,
        "TASKHUB_NAME": f"Crash{uuid.uuid4().hex[:8]}",
        "ORDER_RETRY_FIRST_INTERVAL_MS": "200",
        # Messages of a killed host come back after this many seconds.
        "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3",
    }


def kill(host: RunningHost) -> None:
    os.kill(host.process.pid, signal.SIGKILL)
    host.process.wait(timeout=10)


def place(host: RunningHost, order_id: str) -> str:
    body = {"orderId": order_id, "customerEmail": "crash@example.com", "items": [{"sku": "CABLE-1", "quantity": 1}]}
    response = requests.post(f"{host.base_url}/api/OrderProcessing_Client", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["statusQueryGetUri"].split("?")[0].rsplit("/", 1)[-1]


def test_orders_in_flight_survive_sigkill(host_env: dict[str, str], tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("CRASH_TEST_SEED", "7"))
    stock_before = inventory.get_stock("CABLE-1")
    accepted: list[str] = []
    host = start_devhost(ROOT, tmp_path / "host-0.log", host_env)
    try:
        for round_number in range(KILLS):
            for i in range(ORDERS_PER_ROUND):
                accepted.append(f"crash-{round_number}-{i}")
                place(host, accepted[-1])
            time.sleep(rng.uniform(0.0, 0.6))  # somewhere mid-activity, mid-episode or just after accepting
            kill(host)
            host = start_devhost(ROOT, tmp_path / f"host-{round_number + 1}.log", host_env)
        finals = {}
        for order_id in accepted:
            url = f"{host.base_url}/runtime/webhooks/durabletask/instances/order-{order_id}"
            finals[order_id] = wait_for_status(url, timeout=120)
            history = requests.get(url + "?showHistory=true", timeout=30).json()["historyEvents"]
            completions = [e for e in history if e["EventType"] == "ExecutionCompleted"]
            assert len(completions) == 1, (order_id, history)  # the result was recorded exactly once
    finally:
        host.stop()

    for order_id, final in finals.items():
        assert final["runtimeStatus"] == "Completed", (order_id, final)
        assert final["output"] == f"Order {order_id} processed successfully.", (order_id, final)
        assert orders.get_order(order_id).status is OrderStatus.CONFIRMED
        payment = payments.get_payment(order_id)
        assert payment is not None and payment.status == payments.APPROVED
        assert outbox.read_message(confirmation.confirmation_blob_name(order_id))
    # Stock went down exactly once per order: no double reservation, nothing leaked.
    assert inventory.get_stock("CABLE-1") == stock_before - len(accepted)


def test_events_accepted_just_before_sigkill_are_delivered(azurite: azurite_control.Azurite, tmp_path: Path) -> None:
    sample = ROOT / "tests" / "apps" / "sample"
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": f"Events{uuid.uuid4().hex[:8]}",
           "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3"}
    host = start_devhost(sample, tmp_path / "host-0.log", env)
    webhook = "/runtime/webhooks/durabletask"
    ids = [f"waiter-{i}" for i in range(10)]
    try:
        for instance_id in ids:
            response = requests.post(f"{host.base_url}{webhook}/orchestrators/Waiter/{instance_id}", timeout=30)
            assert response.status_code == 202
        for instance_id in ids:
            url = f"{host.base_url}{webhook}/instances/{instance_id}/raiseEvent/Go"
            assert requests.post(url, json={"for": instance_id}, timeout=30).status_code == 202
        kill(host)  # the events were accepted (202) but most are not processed yet
        host = start_devhost(sample, tmp_path / "host-1.log", env)
        for instance_id in ids:
            final = wait_for_status(f"{host.base_url}{webhook}/instances/{instance_id}", timeout=60)
            assert final["runtimeStatus"] == "Completed"
            assert final["output"] == {"for": instance_id}
    finally:
        host.stop()


BATCH_SETTINGS = {
    "BATCH_INPUT_CONTAINER": "crash-batch-input",
    "BATCH_OUTPUT_CONTAINER": "crash-batch-output",
    "BATCH_QUARANTINE_CONTAINER": "crash-batch-quarantine",
    "BATCH_REPORTS_CONTAINER": "crash-batch-reports",
    "BATCH_CHUNK_SIZE": "10",
    "BATCH_MAX_PARALLEL_CHUNKS": "3",
    "BATCH_RETRY_FIRST_INTERVAL_MS": "200",
}


def test_a_batch_killed_twice_mid_way_processes_every_file_exactly_once(
    azurite: azurite_control.Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in BATCH_SETTINGS.items():
        monkeypatch.setenv(name, value)
    uploaded = upload_samples(count=120, invalid_ratio=0.1, prefix="crash/", seed=11, clean=True)
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": f"Batch{uuid.uuid4().hex[:8]}",
           "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3", **BATCH_SETTINGS}
    host = start_devhost(ROOT, tmp_path / "host-0.log", env)
    try:
        response = requests.post(f"{host.base_url}/api/BatchProcessing_Client",
                                 json={"prefix": "crash/", "batchId": "crash-1"}, timeout=30)
        assert response.status_code == 202, response.text
        status_path = response.json()["statusQueryGetUri"].split("/runtime/", 1)[1]
        rng = random.Random(os.environ.get("CRASH_TEST_SEED", "11"))
        for round_number in range(2):
            time.sleep(rng.uniform(0.5, 2.5))  # mid-chunk, mid-episode or while a wave starts
            kill(host)
            host = start_devhost(ROOT, tmp_path / f"host-{round_number + 1}.log", env)
        final = wait_for_status(f"{host.base_url}/runtime/{status_path}", timeout=180)
    finally:
        host.stop()

    expected = Counter(outcome for name, outcome in uploaded.expected.items() if name.startswith("crash/"))
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"]["total"] == sum(expected.values())
    assert {k: v for k, v in final["output"]["counts"].items() if v} == dict(expected)
    # One output per valid file, with its records: nothing missing, nothing written twice under another name.
    outputs = sorted(b.name for b in output_container().list_blobs(name_starts_with="crash/"))
    valid = sorted(f"{name}.jsonl" for name, outcome in uploaded.expected.items()
                   if name.startswith("crash/") and outcome == "succeeded")
    assert outputs == valid
    report = read_json(reports_container(), final["output"]["report"]["blobName"])
    reported = Counter(entry["file"] for entry in report["files"])
    crash_files = [name for name in uploaded.expected if name.startswith("crash/")]
    assert reported == Counter(dict.fromkeys(crash_files, 1))  # every file in the report exactly once
