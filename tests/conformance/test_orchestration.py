"""Orchestration semantics of the extension's out-of-process shim and DurableTask.Core."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devhost.history import EventType, parse_time
from devhost.testing import LocalDurableHost

APP = Path(__file__).resolve().parent / "app"


@pytest.fixture(params=["in-process", "worker"])
def real_worker(request: pytest.FixtureRequest) -> bool:
    return request.param == "worker"


async def test_after_the_last_failed_attempt_a_timer_fires_at_once(real_worker: bool) -> None:
    """DurableTask.Core RetryInterceptor.Invoke: a timer of the retry interval after a failed attempt that
    may be retried; after the last one a timer at CurrentUtcDateTime ("Dummy timer for back-compat"), then
    the task fails. So the instance fails without waiting another interval."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("RetriesThenFails")
        await host.advance(timedelta(hours=1, seconds=1))
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Failed"
    failed = [e for e in record.history if e["EventType"] == EventType.TaskFailed]
    timers = [e for e in record.history if e["EventType"] == EventType.TimerCreated]
    assert len(failed) == 2 and len(timers) == 2
    first_delay = parse_time(timers[0]["FireAt"]) - parse_time(failed[0]["Timestamp"])
    assert timedelta(minutes=59) < first_delay <= timedelta(hours=1)
    assert parse_time(timers[1]["FireAt"]) - parse_time(failed[1]["Timestamp"]) <= timedelta(seconds=1)


async def test_an_event_goes_to_the_newest_waiter_of_its_name(real_worker: bool) -> None:
    """DurableOrchestrationContext.WaitForExternalEvent keeps the waiters of a name on a stack, so RaiseEvent
    completes the newest. Here that finishes the top-level task_any, so the shim goes on to schedule the next
    action; were the oldest served, its task_all would still wait for "Other" and nothing more would run."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("NewestWaiterWins")
        await host.idle()
        await host.raise_event(instance_id, "Go", "now")
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Completed"
    assert host.output(record) == ["newer", "DONE"]


async def test_an_event_wait_beside_a_failed_activity_keeps_the_instance_running(real_worker: bool) -> None:
    """OutOfProcOrchestrationShim.ProcessAsyncActionsV2 awaits each action; a task_all is Task.WhenAll, which
    waits for every child even after one failed. So the SDK's error is acted on only when the event comes."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("EventBesideAFailure")
        await host.idle()
        record = await host.status(instance_id)
        assert record is not None and record.runtime_status == "Running"
        await host.raise_event(instance_id, "Late", "at last")
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Failed"
    assert "Activity function 'AlwaysFails' failed" in host.output(record)
