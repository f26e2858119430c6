"""Run `python -m devhost` in a subprocess: for end-to-end tests, benchmarks and drills that need the
local host as users run it (its own process, HTTP on a free port), not the in-process `devhost.testing`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent  # the repository: the sample app's folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class RunningHost:
    """A `python -m devhost` process, its base URL and its log file."""

    process: subprocess.Popen
    base_url: str
    log_path: Path

    def stop(self) -> None:
        """SIGTERM (the host shuts down in order), SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        """Everything the host wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_devhost(app_dir: Path, log_path: Path, env: dict[str, str] | None = None, timeout: float = 60,
                  extra_args: list[str] | None = None) -> RunningHost:
    """Start the local host for `app_dir` on a free port and wait until it answers."""
    port = free_port()
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
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
                    request_timeout: float = 10) -> dict[str, Any]:
    """Poll a statusQueryGetUri until the instance is finished; return the final body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(status_url, timeout=request_timeout)
        if response.status_code == 200:
            return dict(response.json())
        if response.status_code != 202:
            raise AssertionError(f"{status_url} answered {response.status_code}: {response.text}")
        time.sleep(interval)
    raise AssertionError(f"instance did not finish within {timeout}s: {requests.get(status_url, timeout=10).text}")
