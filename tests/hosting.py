"""Run `python -m devhost` in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tools.azurite import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningHost:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_devhost(app_dir: Path, log_path: Path, env: dict[str, str] | None = None, timeout: float = 60,
                  extra_args: list[str] | None = None) -> RunningHost:
    """Start the local host on a free port and wait until it answers."""
    port = free_port()
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    log_file = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--port", str(port), *(extra_args or [])],
        cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    host = RunningHost(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"devhost exited early:\n{host.log()}")
            if port_open(port):
                return host
            time.sleep(0.1)
        raise RuntimeError(f"devhost did not start within {timeout}s:\n{host.log()}")
    except BaseException:  # Ctrl-C while waiting included: the caller never gets the handle to stop it
        host.stop()
        raise


def wait_for_status(status_url: str, timeout: float = 30, interval: float = 0.1,
                    request_timeout: float = 10) -> dict:
    """Poll a statusQueryGetUri until the instance is finished; return the final body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(status_url, timeout=request_timeout)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, response.text
        time.sleep(interval)
    raise AssertionError(f"instance did not finish within {timeout}s: {requests.get(status_url, timeout=10).text}")
