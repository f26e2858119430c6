"""Time sources: the wall clock, or a virtual clock that tests move by hand.

Every timestamp the host writes (history, status, timers) comes from a clock, so a
test can let a 72-hour deadline pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta


class Clock:
    """The real UTC clock."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime, wake: asyncio.Event) -> None:
        """Wait until `moment` or until `wake` is set, whichever comes first."""
        delay = (moment - self.now()).total_seconds()
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)


VIRTUAL_EPOCH = datetime(2030, 1, 7, 9, 30, 15, 250000, tzinfo=UTC)


class VirtualClock(Clock):
    """A clock that only moves when told; timers due at or before `now` fire at once."""

    def __init__(self, start: datetime | None = None):
        # A fixed instant by default, so a test runs the same whenever it runs (a schedule's next
        # occurrence, a deadline across midnight); not a round one, so code that assumes whole
        # seconds or minutes shows it.
        self._now = start or VIRTUAL_EPOCH
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward and wake whoever waits for a timer."""
        if delta < timedelta(0):
            raise ValueError("A virtual clock only moves forward.")
        self._now += delta
        self._changed.set()
        return self._now

    async def sleep_until(self, moment: datetime, wake: asyncio.Event) -> None:
        while self._now < moment and not wake.is_set():
            self._changed.clear()
            waiters = [asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(wake.wait())]
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
