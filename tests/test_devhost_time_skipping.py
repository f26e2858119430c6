"""Time skipping: with the virtual clock, awaiting an instance moves time to the next due timer by itself.

As in Temporal's time-skipping test environment, `host.wait()` skips time only while nothing is in
flight (no message, episode or activity), and only to timers of unfinished instances; `advance()`
stays for tests that want to stop in between, and `skip_time=False` waits without moving the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.clock import VirtualClock
from devhost.history import EventType, parse_time
from devhost.testing import LocalDurableHost

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
HOUR = timedelta(hours=1)

GATES: dict[str, asyncio.Event] = {}


def build_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def Hourly(context: df.DurableOrchestrationContext) -> Any:  # noqa: N802 - function names are PascalCase
        """Never ends: one timer an hour, for ever."""
        while True:
            yield context.create_timer(context.current_utc_datetime + HOUR)

    @app.orchestration_trigger(context_name="context")
    def WorkOrTimeout(context: df.DurableOrchestrationContext) -> Any:  # noqa: N802
        work = context.call_activity("Blocked", "work")
        deadline = context.create_timer(context.current_utc_datetime + HOUR)
        winner = yield context.task_any([work, deadline])
        if winner == work:
            deadline.cancel()
            return "work"
        return "timeout"

    @app.activity_trigger(input_name="name")
    async def Blocked(name: str) -> str:  # noqa: N802
        await GATES.setdefault(name, asyncio.Event()).wait()
        return name

    return app


@pytest.fixture(autouse=True)
def fresh_gates() -> Iterator[None]:
    GATES.clear()
    yield
    for gate in GATES.values():
        gate.set()


@pytest.fixture(params=["in-process", "worker"])
def real_worker(request: pytest.FixtureRequest) -> bool:
    return request.param == "worker"


def virtual(host: LocalDurableHost) -> VirtualClock:
    assert isinstance(host.clock, VirtualClock)
    return host.clock


def kinds(record: Any) -> list[str]:
    return [EventType(e["EventType"]).name for e in record.history]


async def history_shows(host: LocalDurableHost, instance_id: str, kind: str, timeout: float = 10) -> None:
    """Wait (bounded) until the instance's history holds an event of `kind`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        record = await host.status(instance_id)
        if record is not None and kind in kinds(record):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{instance_id} never recorded {kind}")


async def test_a_72_hour_deadline_passes_while_the_test_awaits_the_instance(real_worker: bool) -> None:
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True, real_worker=real_worker) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("Approval", 72)
        began = time.monotonic()
        record = await host.wait(instance_id, timeout=10)
        took = time.monotonic() - began
    assert record.runtime_status == "Completed"
    assert host.output(record) == {"decision": "expired"}
    assert took < 1.0, f"72 virtual hours took {took:.2f} s of wall time"
    assert clock.now() - start == timedelta(hours=72)  # to the timer, not past it
    assert record.completed_time == start + timedelta(hours=72)
    [fired] = [e for e in record.history if e["EventType"] == EventType.TimerFired]
    assert parse_time(fired["FireAt"]) == start + timedelta(hours=72)


async def test_one_wait_goes_through_timer_after_timer() -> None:
    """LongTimer's 10 days are three timers (the SDK splits long ones), Counter continues as new 3 times
    after a 1 s timer each: every step needs its own skip."""
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        long_timer = await host.wait(await host.start("LongTimer"), timeout=10)
        assert host.output(long_timer) == "woke"
        assert kinds(long_timer).count("TimerFired") == 3
        assert clock.now() - start == timedelta(days=10)

        start = clock.now()
        counter = await host.wait(await host.start("Counter", 0), timeout=10)
    assert host.output(counter) == 3
    assert clock.now() - start == timedelta(seconds=3)


async def test_advance_still_stops_in_between_and_an_event_beats_the_deadline() -> None:
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("Approval", 72)
        await host.advance(timedelta(hours=71))
        waiting = await host.status(instance_id)
        assert waiting is not None and waiting.runtime_status == "Running"
        await host.raise_event(instance_id, "Decision", "approved")
        record = await host.wait(instance_id, timeout=5)
        assert host.output(record) == {"decision": '"approved"'}
        assert "TimerFired" not in kinds(record)
        assert clock.now() - start == timedelta(hours=71)  # the event won: no reason to move time

        # The cancelled deadline's message is still queued, but its instance has finished: waiting for
        # another instance that only waits for an event does not jump to it.
        other = await host.start("Waiter")
        with pytest.raises(TimeoutError):
            await host.wait(other, timeout=0.3)
    assert clock.now() - start == timedelta(hours=71)


async def test_with_nothing_due_the_wait_waits_for_an_event_raised_meanwhile() -> None:
    """LateWaiter: a 5-minute timer, then an event. The wait skips the 5 minutes, then time stands still
    until the test raises the event."""
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("LateWaiter")
        waiting = asyncio.ensure_future(host.wait(instance_id, timeout=10))
        await history_shows(host, instance_id, "TimerFired")
        await asyncio.sleep(0.05)  # the wait goes on while nothing is due (no fixed time to be right about)
        assert not waiting.done()
        assert clock.now() - start == timedelta(minutes=5)
        await host.raise_event(instance_id, "Early", "late")
        record = await waiting
    assert host.output(record) == '"late"'
    assert clock.now() - start == timedelta(minutes=5)


async def test_time_does_not_skip_while_an_activity_is_in_flight() -> None:
    async with LocalDurableHost(app=build_app(), virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("WorkOrTimeout")
        while "work" not in GATES:  # the activity is running
            await asyncio.sleep(0.001)
        with pytest.raises(TimeoutError):
            await host.wait(instance_id, timeout=0.3)
        assert clock.now() == start
        GATES["work"].set()
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "work"
    assert clock.now() == start


async def test_an_instance_that_never_ends_is_bounded_by_the_timeout() -> None:
    async with LocalDurableHost(app=build_app(), virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("Hourly")
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            await host.wait(instance_id, timeout=0.5)
        took = time.monotonic() - began
        record = await host.status(instance_id)
    assert 0.5 <= took < 3.0
    assert record is not None and record.runtime_status == "Running"
    fired = kinds(record).count("TimerFired")
    assert fired >= 2  # time went on, hour after hour
    assert clock.now() - start >= fired * HOUR


@pytest.mark.parametrize("where", ["host", "wait"])
async def test_with_skipping_off_the_wait_times_out_as_before(where: str) -> None:
    host_skips = where != "host"
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True, skip_time=host_skips) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("Approval", 72)
        with pytest.raises(TimeoutError):
            if where == "wait":
                await host.wait(instance_id, timeout=0.3, skip_time=False)
            else:
                await host.wait(instance_id, timeout=0.3)
        assert clock.now() == start
        waiting = await host.status(instance_id)
        assert waiting is not None and waiting.runtime_status == "Running"
        await host.advance(timedelta(hours=72))
        record = await host.wait(instance_id, timeout=5, skip_time=False)
    assert host.output(record) == {"decision": "expired"}


async def test_the_real_clock_is_never_skipped() -> None:
    async with LocalDurableHost(SAMPLE_APP) as host:
        instance_id = await host.start("Approval", 72)
        with pytest.raises(TimeoutError):
            await host.wait(instance_id, timeout=0.3)
        with pytest.raises(RuntimeError, match="virtual_clock"):
            await host.skip_to_next_timer()


async def test_skip_to_next_timer_moves_one_timer_at_a_time() -> None:
    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True) as host:
        clock = virtual(host)
        start = clock.now()
        instance_id = await host.start("SlidingWindow", [1, 3, 10, 1])
        assert await host.skip_to_next_timer() == start + timedelta(hours=1)
        assert await host.skip_to_next_timer() == start + timedelta(hours=3)
        record = await host.status(instance_id)
        assert record is not None and record.runtime_status == "Running"
        assert kinds(record).count("TimerFired") == 2
        record = await host.wait(instance_id, timeout=5)
        assert await host.skip_to_next_timer() is None  # nothing left
    assert [index for index, _ in host.output(record)] == [0, 1, 2, 3]


async def test_an_unknown_instance_is_refused_at_once() -> None:
    from devhost.engine import InstanceNotFound

    async with LocalDurableHost(SAMPLE_APP, virtual_clock=True) as host:
        with pytest.raises(InstanceNotFound):
            await host.wait("nobody", timeout=5)
