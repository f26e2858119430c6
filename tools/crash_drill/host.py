"""The local host under the drill: started, SIGKILLed and restarted, and HTTP calls that outlive a kill.

Each restart gets a new port (`devhost.spawn.start_devhost` picks a free one), so callers
never hold a URL: `Supervisor.call` sends to whichever host is up now. A call that dies with
the host raises `HostLost` only once the next host is up, so the caller retries at once and,
for a start without an idempotency key, can look for what the lost call did first.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devhost.spawn import ROOT, RunningHost, start_devhost

RESTART_WAIT = 90.0  # longest a call waits for the next host before it gives up


class HostLost(Exception):
    """The host died under a call; the next one is up now."""


class DrillAborted(Exception):
    """The drill is stopping (a failure elsewhere, or Ctrl-C)."""


@dataclass
class Kill:
    at: float  # seconds after the load started
    down: float  # seconds until the next host answered


class Supervisor:
    """Owns the host process; thread-safe."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self._env = env
        self.log_dir = log_dir
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._host: RunningHost | None = None
        self.generation = 0
        self.stopping = threading.Event()
        self.kills: list[Kill] = []

    def start(self) -> None:
        host = start_devhost(ROOT, self.log_dir / f"host-{self.generation}.log", self._env, timeout=60)
        with self._lock:
            self._host = host
            self.generation += 1
        if self.stopping.is_set():  # stop() ran while this host was starting: it must not outlive the drill
            self.stop()
            raise DrillAborted
        self._up.set()

    def kill_and_restart(self, at: float) -> None:
        """SIGKILL the host (no shutdown of any kind) and start the next one on the same task hub."""
        with self._lock:
            self._up.clear()
            host = self._host
        if host is not None:
            _kill([host.process.pid, *_descendants(host.process.pid)])  # the host and its workers, as in a crash
            host.process.wait(timeout=10)
        began = time.monotonic()
        self.start()
        self.kills.append(Kill(at, time.monotonic() - began))

    def stop(self) -> None:
        """Stop the host for good; a restart under way stops its host as soon as it is up."""
        self.stopping.set()
        with self._lock:
            host = self._host
        if host is not None:
            workers = _descendants(host.process.pid)
            host.stop()
            _kill(workers)  # any that outlived their host

    @property
    def hub(self) -> str:
        return self._env["TASKHUB_NAME"]

    @property
    def base_url(self) -> str:
        return self._current()[0]

    def logs(self) -> list[Path]:
        return sorted(self.log_dir.glob("host-*.log"))

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
             timeout: float = 120) -> requests.Response:
        """One HTTP call to the current host; HostLost when the host was killed under it."""
        base, generation = self._current()
        try:
            return requests.request(method, base + path, json=json, params=params, timeout=timeout)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            if not self._wait_for_next(generation):
                raise RuntimeError(f"{method} {path}: connection failed while no kill happened: {error}") from error
            raise HostLost(f"{method} {path}") from error

    def pause(self, seconds: float) -> None:
        """Sleep, unless the drill is stopping."""
        if self.stopping.wait(max(0.0, seconds)):
            raise DrillAborted

    def _current(self) -> tuple[str, int]:
        deadline = time.monotonic() + RESTART_WAIT
        while not self._up.wait(0.2):
            if self.stopping.is_set():
                raise DrillAborted
            if time.monotonic() > deadline:
                raise RuntimeError(f"no host came up within {RESTART_WAIT:.0f} s")
        with self._lock:
            assert self._host is not None
            return self._host.base_url, self.generation

    def _wait_for_next(self, generation: int) -> bool:
        """Wait until a host newer than `generation` is up; False when none came (the error was not a kill)."""
        # The killer marks the host down before it sends SIGKILL, so an error caused by a kill
        # finds it down or already replaced; the same host still up after a grace period was not killed.
        now = time.monotonic()
        grace, deadline = now + 5, now + RESTART_WAIT
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                raise DrillAborted
            with self._lock:
                newer = self.generation > generation
            if self._up.is_set() and (newer or time.monotonic() > grace):
                return newer
            time.sleep(0.05)
        return False


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (the host's worker processes), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
