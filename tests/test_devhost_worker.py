"""The worker process: the app's code runs outside the host process, dies with it, and comes back."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import requests

from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from tools import azurite as azurite_control

SAMPLE = ROOT / "tests" / "apps" / "sample"


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def worker_of(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for child in children(pid):
            if b"worker_front.py" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        time.sleep(0.1)
    raise AssertionError("the host started no worker process")


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


def env(azurite: azurite_control.Azurite) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": f"Worker{uuid.uuid4().hex[:8]}",
            "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3"}


NAP_STARTED = re.compile(r"Executing 'Functions\.Nap' \(Reason='[^']*', Id=([0-9a-f-]+)\)")
NAP_ENDED = re.compile(r"Executed 'Functions\.Nap' \(\w+, Id=([0-9a-f-]+),")


def naps_in_flight(host: RunningHost, timeout: float = 30) -> set[str]:
    """Wait (bounded) until the host's log shows Nap invocations that started and have not ended yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = host.log()
        running = set(NAP_STARTED.findall(log)) - set(NAP_ENDED.findall(log))
        if running:
            return running
        time.sleep(0.01)
    return set()


def start(base_url: str, name: str, body: object) -> str:
    response = requests.post(f"{base_url}/api/start/{name}", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["statusQueryGetUri"]


def test_the_app_runs_in_a_worker_process_that_dies_with_a_killed_host(azurite, tmp_path: Path) -> None:
    host = start_devhost(SAMPLE, tmp_path / "host.log", env(azurite))
    try:
        worker = worker_of(host.process.pid)
        assert wait_for_status(start(host.base_url, "FanOut", 10), timeout=60)["output"] == 285
    finally:
        os.kill(host.process.pid, signal.SIGKILL)
        host.process.wait(timeout=10)
    assert gone(worker), "the worker outlived its host"


def test_a_killed_worker_is_replaced_and_its_work_redelivered(azurite, tmp_path: Path) -> None:
    host = start_devhost(SAMPLE, tmp_path / "host.log", env(azurite))
    try:
        worker = worker_of(host.process.pid)
        status_url = start(host.base_url, "Naps", 50)  # 50 activities of 0.2 s, 10 at a time
        in_flight = naps_in_flight(host)  # waits until the worker is running some
        assert in_flight, "no activity was in flight in the worker"
        os.kill(worker, signal.SIGKILL)
        assert gone(worker)
        final = wait_for_status(status_url, timeout=60)
        assert final["runtimeStatus"] == "Completed" and final["output"] == sum(range(50))
        assert worker_of(host.process.pid) != worker
    finally:
        host.stop()
    log = host.log()
    assert "The worker process exited unexpectedly" in log
    # The work in flight was lost with the worker (its invocations failed) and done again: more runs
    # started than there are naps.
    assert any(f"Executed 'Functions.Nap' (Failed, Id={nap}," in log for nap in in_flight)
    assert len(NAP_STARTED.findall(log)) > 50
