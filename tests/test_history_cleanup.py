"""HistoryCleanup on the local host with a virtual clock: only old, finished instances go.

The production timer function (maintenance/history_cleanup.py) runs on its own NCRONTAB schedule
as the clock moves; its durableClient binding talks HTTP to the in-process host, so the
purge goes through the same management API as in Azure. The instances are small stand-in
orchestrators of every status: Completed, Failed, Terminated, Running, Suspended, and one
that was created long ago but finished recently.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.testing import LocalDurableHost
from leave import store as leave_store
from leave.store import LeaveRecord, LeaveStatus
from maintenance import history_cleanup as maintenance

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def leave_table(azurite: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """HistoryCleanup settles leave requests first: a leave table of this test's own, in the run's Azurite."""
    monkeypatch.setenv("LEAVE_REQUESTS_TABLE", f"CleanupLeave{uuid.uuid4().hex[:8]}")


def leave_row(request_id: str) -> None:
    leave_store.create_request(LeaveRecord(
        request_id=request_id, instance_id=request_id, employee_id="E-1", employee_email="ann@example.com",
        approver_email="boss@example.com", start_date="2030-07-01", end_date="2030-07-02", days=2, reason="Holiday",
        submitted_at="2030-06-01T08:00:00.000Z", deadline="2030-06-04T08:00:00.000Z"))


def build_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(maintenance.bp)

    @app.orchestration_trigger(context_name="context")
    def Echo(context: df.DurableOrchestrationContext) -> Any:  # noqa: N802 - function names are PascalCase
        return context.get_input()

    @app.orchestration_trigger(context_name="context")
    def Boom(context: df.DurableOrchestrationContext) -> Any:  # noqa: N802
        raise ValueError("this instance fails")

    @app.orchestration_trigger(context_name="context")
    def WaitForGo(context: df.DurableOrchestrationContext) -> Any:  # noqa: N802
        value = yield context.wait_for_external_event("Go")
        return value

    return app


async def cleanup_after(host: LocalDurableHost, delta: timedelta) -> None:
    """Move the clock (HistoryCleanup fires once at its last due time) and wait for the run to finish."""
    assert host.server is not None
    runs = host.server.timers.runs
    before = runs[maintenance.FUNCTION_NAME]
    await host.advance(delta)
    for _ in range(1000):
        if runs[maintenance.FUNCTION_NAME] > before:
            return
        await asyncio.sleep(0.01)
    pytest.fail("HistoryCleanup did not run after the clock passed its schedule")


async def existing(host: LocalDurableHost, *instance_ids: str) -> dict[str, str | None]:
    return {i: (r.runtime_status if (r := await host.status(i)) else None) for i in instance_ids}


async def test_purges_only_instances_that_finished_before_the_retention_period(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(maintenance.RETENTION_SETTING, raising=False)  # the default: 30 days
    async with LocalDurableHost(app=build_app(), virtual_clock=True, serve_http=True) as host, \
            aiohttp.ClientSession() as http:
        monkeypatch.setattr(maintenance, "utc_now", host.clock.now)  # the function sees the host's clock
        api = f"{host.base_url}/runtime/webhooks/durabletask/instances"

        # Day 0: one instance of every status.
        await host.wait(await host.start("Echo", "done", "old-completed"))
        await host.wait(await host.start("Boom", None, "old-failed"))
        for instance_id in ("old-terminated", "old-running", "old-suspended", "old-finished-late"):
            await host.start("WaitForGo", None, instance_id)
        await host.idle()
        async with http.post(f"{api}/old-terminated/terminate?reason=test") as response:
            assert response.status == 202
        async with http.post(f"{api}/old-suspended/suspend?reason=test") as response:
            assert response.status == 202
        await host.idle()
        everyone = ("old-completed", "old-failed", "old-terminated", "old-running", "old-suspended",
                    "old-finished-late")
        assert await existing(host, *everyone) == {
            "old-completed": "Completed", "old-failed": "Failed", "old-terminated": "Terminated",
            "old-running": "Running", "old-suspended": "Suspended", "old-finished-late": "Running",
        }

        # Day 20: the cleanup runs (it ran daily; nothing is 30 days old yet). One old instance finishes now.
        with caplog.at_level(logging.INFO, logger="maintenance"):
            await cleanup_after(host, 20 * DAY)
        assert all(await existing(host, *everyone))
        assert "purged 0 instance(s)" in caplog.text
        await host.raise_event("old-finished-late", "Go", "finally")
        await host.wait("old-finished-late")
        await host.wait(await host.start("Echo", "newer", "day20-completed"))

        # Day 35: the three that finished on day 0 are purged; running, suspended and recently finished stay.
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="maintenance"):
            await cleanup_after(host, 15 * DAY)
        assert await existing(host, *everyone, "day20-completed") == {
            "old-completed": None, "old-failed": None, "old-terminated": None,
            "old-running": "Running", "old-suspended": "Suspended", "old-finished-late": "Completed",
            "day20-completed": "Completed",
        }
        lines = [r.getMessage() for r in caplog.records if r.name == "maintenance"]
        summary = next(line for line in lines if "instance(s) that finished before" in line)
        assert "purged 3 instance(s)" in summary
        assert "(Completed 1, Failed 1, Terminated 1); kept 1 finished later" in summary
        assert "instance_id" not in summary and "retention_days=30" in summary
        assert "HistoryCleanup: purged old-completed, old-failed, old-terminated" in lines
        record = next(r for r in caplog.records if getattr(r, "purged_count", None) is not None)
        assert record.purged_count == 3 and record.retention_days == 30

        # Day 55: the instances that finished on day 20 have been finished for 35 days now.
        await cleanup_after(host, 20 * DAY)
        assert await existing(host, *everyone, "day20-completed") == {
            "old-completed": None, "old-failed": None, "old-terminated": None,
            "old-running": "Running", "old-suspended": "Suspended", "old-finished-late": None,
            "day20-completed": None,
        }
        async with http.get(api) as response:
            left = sorted(item["instanceId"] for item in await response.json())
        assert left == ["old-running", "old-suspended"]


async def test_retention_comes_from_the_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(maintenance.RETENTION_SETTING, "7")
    async with LocalDurableHost(app=build_app(), virtual_clock=True, serve_http=True) as host:
        monkeypatch.setattr(maintenance, "utc_now", host.clock.now)
        await host.wait(await host.start("Echo", "x", "week-old"))
        await cleanup_after(host, 6 * DAY)
        assert await existing(host, "week-old") == {"week-old": "Completed"}
        await cleanup_after(host, 2 * DAY)
        assert await existing(host, "week-old") == {"week-old": None}


async def test_a_malformed_retention_setting_fails_the_run_and_purges_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(maintenance.RETENTION_SETTING, "a month")
    async with LocalDurableHost(app=build_app(), virtual_clock=True, serve_http=True) as host:
        monkeypatch.setattr(maintenance, "utc_now", host.clock.now)
        await host.wait(await host.start("Echo", "x", "kept"))
        with caplog.at_level(logging.INFO):
            await cleanup_after(host, 60 * DAY)
        assert await existing(host, "kept") == {"kept": "Completed"}
        assert "Executed 'Functions.HistoryCleanup' (Failed, Id=" in caplog.text
        assert "HISTORY_RETENTION_DAYS must be an integer" in caplog.text


def test_schedule_and_bindings() -> None:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(maintenance.bp)
    function = next(f for f in app.get_functions() if f.get_function_name() == "HistoryCleanup")
    bindings = {b.type: b.get_dict_repr() for b in function.get_bindings()}
    assert bindings["timerTrigger"]["schedule"] == maintenance.DEFAULT_SCHEDULE
    assert bindings["timerTrigger"]["runOnStartup"] is False
    assert "durableClient" in bindings


def test_schedule_setting_is_read_at_indexing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(maintenance.SCHEDULE_SETTING, raising=False)
    assert maintenance.schedule() == "0 0 3 * * *"
    monkeypatch.setenv(maintenance.SCHEDULE_SETTING, "0 30 1 * * 0")
    assert maintenance.schedule() == "0 30 1 * * 0"


async def test_leave_requests_whose_workflow_ended_without_a_decision_are_cancelled_first() -> None:
    """An operator terminates a waiting leave request, or purges it by hand: its row would say Pending for
    ever (and its requestId look free once the history is gone). HistoryCleanup cancels each open request
    whose instance is Terminated, Failed or gone, before it purges anything; running ones are left alone."""
    async with LocalDurableHost(app=build_app(), virtual_clock=True, serve_http=True) as host, \
            aiohttp.ClientSession() as http:
        api = f"{host.base_url}/runtime/webhooks/durabletask/instances"
        for request_id in ("leave-terminated", "leave-purged", "leave-waiting"):
            await host.start("WaitForGo", None, request_id)
            leave_row(request_id)
        await host.idle()
        async with http.post(f"{api}/leave-terminated/terminate?reason=operator") as response:
            assert response.status == 202
        async with http.post(f"{api}/leave-purged/terminate?reason=operator") as response:
            assert response.status == 202
        await host.wait("leave-purged")
        async with http.delete(f"{api}/leave-purged") as response:
            assert response.status == 200
        await host.wait("leave-terminated")
        await cleanup_after(host, DAY)
    statuses = {rid: leave_store.get_request(rid) for rid in ("leave-terminated", "leave-purged", "leave-waiting")}
    assert {rid: record.status for rid, record in statuses.items()} == {
        "leave-terminated": LeaveStatus.CANCELLED, "leave-purged": LeaveStatus.CANCELLED,
        "leave-waiting": LeaveStatus.PENDING}
    assert "Terminated" in (statuses["leave-terminated"].comment or "")
    assert "purged" in (statuses["leave-purged"].comment or "")
