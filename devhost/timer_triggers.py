"""Run timer-triggered functions on their NCRONTAB schedule.

Schedules have six fields with seconds first (`{second} {minute} {hour} {day}
{month} {day-of-week}`), or a TimeSpan (`hh:mm:ss`) interval, as in the
Functions host. Time comes from the engine's clock, so a virtual clock drives
timer triggers in tests too. Schedules are evaluated in UTC (WEBSITE_TIME_ZONE
is not applied).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter

from .app_loader import Function
from .clock import Clock
from .console import executing
from .http_triggers import log_failure
from .invoker import TimerCall
from .worker import Functions

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
        runner: Functions,
        client_json: Callable[[dict[str, Any]], str] | None = None,
        disabled: frozenset[str] = frozenset(),
    ):
        self.functions = functions
        self.disabled = disabled
        self.client_json = client_json
        self.clock = clock
        self.runner = runner
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.runs: dict[str, int] = {fn.name: 0 for fn in functions}

    def start(self) -> None:
        """Schedule every timer function from now on (the first occurrence is fixed at start)."""
        now = self.clock.now()
        for fn in self.functions:
            if fn.name.lower() in self.disabled:
                continue  # no listener for a disabled function (it still runs from the admin API)
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

    async def _invoke(self, fn: Function, *, past_due: bool, reason: str | None = None) -> None:
        call = TimerCall(
            past_due=past_due,
            client_inputs={binding["name"]: self.client_json(binding) for binding in fn.bindings
                           if binding.get("type") == "durableClient" and self.client_json is not None},
        )
        with executing(fn.name, reason or f"Timer fired at {_dotnet_round_trip(self.clock.now())}") as invocation:
            try:
                await self.runner.timer(fn, call, invocation.id)
            except Exception as exc:
                invocation.failed = True
                log_failure(fn.name, exc)
            finally:
                self.runs[fn.name] += 1

    async def run_now(self, fn: Function, reason: str) -> None:
        """Invoke a timer function at once, outside its schedule (`POST /admin/functions/<name>`)."""
        await self._invoke(fn, past_due=False, reason=reason)


def _dotnet_round_trip(moment: datetime) -> str:
    """A time as .NET's `DateTime.Now.ToString("o")` prints it: local, seven fractional digits, offset."""
    local = moment.astimezone()
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0{offset[:3]}:{offset[3:]}"
