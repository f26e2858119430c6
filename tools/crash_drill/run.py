"""One drill run: a private Azurite, sample data and batch files, the host, the load with kills, the checks."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.config import load_local_settings
from devhost.spawn import ROOT, wait_for_status
from dfctl.api import WEBHOOK, AppClient
from orders import inventory
from tools import azurite
from tools.batch_samples import upload_samples
from tools.crash_drill import checks, load, postmortem
from tools.crash_drill.host import DrillAborted, Supervisor
from tools.crash_drill.plan import BATCH_PREFIX, STOCK, Plan
from tools.seed import seed as seed_sample_data

# App settings for the host and for this process's readers alike. Short retry intervals and a
# 3 s visibility timeout let a killed host's work come back within seconds (as in test_devhost_crash).
APP_SETTINGS = {
    "PAYMENT_LIMIT": "1000.00",
    "ORDER_RETRY_FIRST_INTERVAL_MS": "200",
    "BATCH_RETRY_FIRST_INTERVAL_MS": "200",
    "LEAVE_RETRY_FIRST_INTERVAL_MS": "200",
    "LEAVE_REMINDER_ENABLED": "true",
    "LEAVE_MAX_DAYS": "30",
    "BATCH_MAX_PARALLEL_CHUNKS": "10",
    "BATCH_MAX_FILES": "10000",
}
VISIBILITY_TIMEOUT_SECONDS = "3"
# After the leave deadline, the longest the instances may take to finish: a minute plus 0.2 s per file
# (a 1,000-file batch takes 15-60 s on two cores; a hung instance should not stall a small run for long).
SETTLE_SECONDS = 60
SETTLE_SECONDS_PER_FILE = 0.2


@dataclass
class RunResult:
    seed: int
    seconds: float = 0.0
    checks: list[checks.Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tally: load.Tally = field(default_factory=load.Tally)
    kills: list[Any] = field(default_factory=list)
    tracebacks: int = 0

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.checks) and all(check.ok for check in self.checks)


def run_once(plan: Plan, log_dir: Path) -> RunResult:
    """Run the plan against a fresh Azurite and host; never raises for a failed invariant, only records it."""
    result = RunResult(plan.seed)
    began = time.monotonic()
    storage = azurite.start()
    host: Supervisor | None = None
    try:
        env = _configure(storage.connection_string, plan)
        seed_sample_data(reset=True)
        stock_before = {sku: inventory.get_stock(sku) or 0 for sku in STOCK}
        uploaded = upload_samples(count=plan.files, invalid_ratio=0.1, prefix=BATCH_PREFIX, seed=plan.seed,
                                  clean=True)
        host = Supervisor(env, log_dir)
        host.start()
        accepted = _drive(host, plan, result)
        result.kills = list(host.kills)
        result.checks = _settle_and_check(host, plan, accepted, uploaded, stock_before, result)
    except DrillAborted:
        result.errors.append("aborted")
    except Exception:  # the drill's own machinery (Azurite, a host that does not start): fail the run, keep logs
        result.errors.append(traceback.format_exc().rstrip())
    finally:
        if host is not None:
            host.stop()
            result.tracebacks = sum(path.read_text(errors="replace").count("Traceback") for path in host.logs())
        storage.stop()
        result.seconds = time.monotonic() - began
    return result


def _configure(connection_string: str, plan: Plan) -> dict[str, str]:
    """Point this process and the host at the run's Azurite; the host-only settings to start it with."""
    os.environ.update(APP_SETTINGS)
    os.environ.update({"AzureWebJobsStorage": connection_string, "BATCH_CHUNK_SIZE": str(plan.chunk_size),
                       "LEAVE_APPROVAL_TIMEOUT": f"PT{plan.leave_deadline}S"})
    load_local_settings(ROOT)  # whatever else the host will read (table names...), this process reads too
    return {"TASKHUB_NAME": f"Drill{plan.seed}x{uuid.uuid4().hex[:6]}",
            "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": VISIBILITY_TIMEOUT_SECONDS}


@dataclass
class Accepted:
    orders: dict[str, str] = field(default_factory=dict)  # orderId -> instance id
    leaves: dict[str, str] = field(default_factory=dict)  # employeeId -> instance id
    batch: str = ""


def _drive(host: Supervisor, plan: Plan, result: RunResult) -> Accepted:
    """Run every client and the killer in threads, each at its planned moment; wait for all of them."""
    accepted = Accepted()
    t0 = time.monotonic()

    def at(moment: float) -> None:
        host.pause(t0 + moment - time.monotonic())

    def killer() -> None:
        for moment in plan.kill_times:
            at(moment)
            host.kill_and_restart(time.monotonic() - t0)

    def order_job(order: Any) -> None:
        at(order.at)
        accepted.orders[order.order_id] = load.place_order(host, order, result.tally)

    def batch_job() -> None:
        at(plan.batch_at)
        accepted.batch = load.start_batch(host, plan.batch_id, result.tally)

    def leave_job(leave: Any) -> None:
        at(leave.at)
        instance_id = accepted.leaves[leave.employee_id] = load.start_leave(host, leave, result.tally)
        if leave.decision:
            host.pause(leave.decide_after)
            load.decide_leave(host, instance_id, leave, result.tally)

    jobs: list[Callable[[], None]] = [killer, batch_job]
    jobs += [functools.partial(order_job, order) for order in plan.orders]
    jobs += [functools.partial(leave_job, leave) for leave in plan.leaves]
    pool = concurrent.futures.ThreadPoolExecutor(len(jobs), thread_name_prefix="drill")
    try:
        for future in concurrent.futures.as_completed([pool.submit(job) for job in jobs]):
            error = future.exception()
            if error is not None and not isinstance(error, DrillAborted):
                result.errors.append(f"{type(error).__name__}: {error}")
    except BaseException:
        host.stop()  # every client blocked on the host or a pause now ends with DrillAborted
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return accepted


def _settle_and_check(host: Supervisor, plan: Plan, accepted: Accepted, uploaded: Any,
                      stock_before: dict[str, int], result: RunResult) -> list[checks.Check]:
    """Wait until every accepted instance has finished, read every history, and check the invariants.

    After a failure (a client's, or an instance that does not finish) only the post-mortem is written.
    """
    base = host.base_url
    deadline = time.monotonic() + plan.leave_deadline + SETTLE_SECONDS + SETTLE_SECONDS_PER_FILE * plan.files
    finals: dict[str, dict[str, Any]] = {}
    for instance_id in filter(None, [*accepted.orders.values(), accepted.batch, *accepted.leaves.values()]):
        url = f"{base}{WEBHOOK}/instances/{instance_id}?showInput=false"
        try:
            finals[instance_id] = wait_for_status(url, timeout=max(1.0, deadline - time.monotonic()), interval=0.5,
                                                 request_timeout=60)
        except AssertionError as error:
            result.errors.append(f"{instance_id} did not finish: {str(error)[:300]}")
    app = AppClient(base, timeout=60)
    hub = app.query()
    histories = {i["instanceId"]: (app.status(i["instanceId"], history=True, show_input=False) or {}).get(
        "historyEvents", []) for i in hub}
    if result.errors:
        _report_unfinished(host, hub, histories, result)
        return []
    seen = checks.Observed(plan, uploaded, stock_before, accepted.orders, accepted.batch, accepted.leaves, finals,
                           hub, histories)
    return checks.run_all(seen)


def _report_unfinished(host: Supervisor, hub: list[dict[str, Any]], histories: dict[str, list[dict[str, Any]]],
                       result: RunResult) -> None:
    """Name the instances that did not finish and dump the task hub's state for the post-mortem."""
    unfinished = [i for i in hub if i["runtimeStatus"] not in ("Completed", "Failed", "Terminated")]
    for instance in unfinished:
        last = [e["EventType"] for e in histories.get(instance["instanceId"], [])[-4:]]
        result.errors.append(f"unfinished: {instance['instanceId']} {instance['runtimeStatus']}, last events {last}")
    path = host.log_dir / "postmortem.json"
    postmortem.dump(os.environ["AzureWebJobsStorage"], host.hub, [i["instanceId"] for i in unfinished], path)
    result.errors.append(f"task hub rows, raw histories and queues of the {len(unfinished)} unfinished: {path}")
