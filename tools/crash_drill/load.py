"""The mixed load: start orders, one batch and leave requests over HTTP, and decide leave requests in flight.

Each function behaves like a careful client of the app: a call lost with the host is sent
again once the next host is up, with the same idempotency key (orderId, batchId, the leave
request's requestId), so a start that did happen answers 409 with the existing instance's
status URL and nothing runs twice. What happened on the way is counted in `Tally` for the report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import requests

from leave import store as leave_store
from tools.crash_drill.host import HostLost, Supervisor
from tools.crash_drill.plan import BATCH_PREFIX, LeavePlan, OrderPlan

# A decision gets 409 "still being submitted" until the workflow has stored its request; an instance
# that has not done so after this long never started (it is reported as unfinished).
SUBMIT_WAIT = 60.0


class DrillError(AssertionError):
    """The app answered something a correct app never answers."""


class Tally:
    """Thread-safe counters of what the clients met (lost calls, 409s on retry, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1


def place_order(host: Supervisor, order: OrderPlan, tally: Tally) -> str:
    """Place the order until the app accepts it; its instance id."""
    return _start_until_accepted(host, "/api/OrderProcessing_Client", order.body(), "order", order.order_id, tally)


def start_batch(host: Supervisor, batch_id: str, tally: Tally) -> str:
    """Start the batch over every blob under the drill's prefix; its instance id."""
    body = {"prefix": BATCH_PREFIX, "batchId": batch_id}
    return _start_until_accepted(host, "/api/BatchProcessing_Client", body, "batch", batch_id, tally)


def _start_until_accepted(host: Supervisor, path: str, body: Any, what: str, key: str, tally: Tally) -> str:
    """POST a start with an idempotency key until it is accepted; after a call lost with the host,
    a 409 naming an instance that exists means the lost call had started it. One that does not exist
    (yet) was claimed by the lost call (common.start_claims): ask again until the claim is free."""
    lost = False
    while True:
        try:
            response = host.call("POST", path, json=body)
        except HostLost:
            tally.add(f"{what} starts lost with the host")
            lost = True
            continue
        if response.status_code == 202:
            return str(response.json()["id"])
        answer = _json(response)
        if response.status_code == 409 and lost and answer.get("instanceId"):
            if not _exists(host, answer["statusQueryGetUri"]):
                tally.add(f"{what} starts refused while the lost call's claim was held, retried")
                host.pause(1.0)
                continue
            tally.add(f"{what} starts answered 409 on retry (the lost call had started it)")
            return str(answer["instanceId"])
        if response.status_code == 503:
            tally.add("503 answers, retried")
            host.pause(0.5)
            continue
        raise DrillError(f"{what} {key}: {response.status_code} {response.text[:300]}")


def start_leave(host: Supervisor, leave: LeavePlan, tally: Tally) -> str:
    """Ask for the leave until the app accepts it; its instance id (`leave-<requestId>`, also the request id)."""
    return _start_until_accepted(host, "/api/LeaveApproval_Client", leave.body, "leave", leave.request_id, tally)


def decide_leave(host: Supervisor, instance_id: str, leave: LeavePlan, tally: Tally) -> None:
    """Post the planned decision until the app has taken it (202, or 409 showing this very decision)."""
    body = {"instanceId": instance_id, "result": leave.decision, "approver": leave.approver, "comment": leave.comment}
    lost = False
    submitted_by = time.monotonic() + SUBMIT_WAIT
    while True:
        try:
            response = host.call("POST", "/api/SubmitApprovalResult", json=body)
        except HostLost:
            tally.add("decisions lost with the host")
            lost = True
            continue
        if response.status_code == 202:
            return
        answer = _json(response)
        if response.status_code == 409 and answer.get("requestStatus") is None and answer.get("runtimeStatus") in (
                "Pending", "Running"):
            if time.monotonic() > submitted_by:
                raise DrillError(f"decision for {instance_id}: the request was not stored within {SUBMIT_WAIT:.0f} s "
                                 f"(instance {answer['runtimeStatus']})")
            host.pause(0.2)  # the workflow has not stored the request yet
            continue
        if response.status_code == 409 and lost and answer.get("requestStatus") in ("DecisionReceived", leave.decision):
            record = leave_store.find_request(instance_id)
            if record is not None and record.decision == leave.decision:
                tally.add("decisions answered 409 on retry (the lost call had recorded it)")
                return
        if response.status_code == 503:
            tally.add("503 answers, retried")
            host.pause(0.5)
            continue
        raise DrillError(f"decision for {instance_id}: {response.status_code} {response.text[:300]}")


def _exists(host: Supervisor, status_url: str) -> bool:
    """Whether the instance behind a status URL exists (a host lost meanwhile counts as "not yet")."""
    parts = urlsplit(status_url)
    try:
        return host.call("GET", f"{parts.path}?{parts.query}").status_code != 404
    except HostLost:
        return False


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
