"""Run timer-triggered functions on their NCRONTAB schedule.

Schedules have six fields with seconds first (`{second} {minute} {hour} {day}
{month} {day-of-week}`), or a TimeSpan (`hh:mm:ss`) interval, as in the
Functions host. Time comes from the engine's clock, so a virtual clock drives
timer triggers in tests too. Schedules are evaluated in UTC (WEBSITE_TIME_ZONE
is not applied).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from .app_loader import Function
from .clock import Clock

log = logging.getLogger("devhost.timer")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule fires."""
    span = _TIMESPAN.match(schedule.strip())
    if span:
        days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ValueError(f"Timer interval must be positive: {schedule!r}")
        return after + interval
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(f"NCRONTAB expressions have six fields (seconds first): {schedule!r}")
    return croniter(schedule, after, second_at_beginning=True).get_next(datetime)


class TimerTriggers:
    """One loop per timer function, waiting on the shared clock."""

    def __init__(
        self,
        functions: list[Function],
        clock: Clock,
        pool: Executor,
        client_json: Callable[[dict[str, Any]], str] | None = None,
    ):
        self.functions = functions
        self.client_json = client_json
        self.clock = clock
        self.pool = pool
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.runs: dict[str, int] = {fn.name: 0 for fn in functions}

    def start(self) -> None:
        """Schedule every timer function from now on (the first occurrence is fixed at start)."""
        now = self.clock.now()
        for fn in self.functions:
            first_due = next_occurrence(fn.trigger["schedule"], now)
            self._tasks.append(asyncio.create_task(self._loop(fn, first_due)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def poke(self) -> None:
        """Re-check schedules now (after a virtual clock moved)."""
        self._wake.set()

    async def _loop(self, fn: Function, due: datetime) -> None:
        schedule = fn.trigger["schedule"]
        if fn.trigger.get("runOnStartup"):
            await self._invoke(fn, past_due=False)
        while True:
            if self.clock.now() >= due:
                past_due = self.clock.now() - due > timedelta(seconds=30)
                await self._invoke(fn, past_due=past_due)
                due = next_occurrence(schedule, max(due, self.clock.now()))
                continue
            self._wake.clear()
            await self.clock.sleep_until(due, self._wake)

    async def _invoke(self, fn: Function, *, past_due: bool) -> None:
        request = TimerRequest(past_due=past_due)
        kwargs: dict[str, Any] = {fn.trigger["name"]: request}
        for binding in fn.bindings:
            if binding.get("type") == "durableClient" and self.client_json is not None:
                kwargs[binding["name"]] = self.client_json(binding)
        try:
            if inspect.iscoroutinefunction(fn.callable):
                await fn.callable(**kwargs)
            else:
                await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn.callable(**kwargs))
            log.info("Executed 'Functions.%s' (Succeeded)", fn.name)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", fn.name)
        finally:
            self.runs[fn.name] += 1
