"""tools/azurite.py and tools/run_local.py start processes and leave none behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import azurite as azurite_control

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "tests" / "apps" / "sample"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_azurite_start_stop_leaves_no_process(tmp_path: Path) -> None:
    server = azurite_control.start(location=tmp_path / "data")
    ports = (server.blob_port, server.queue_port, server.table_port)
    pid = server.process.pid
    try:
        assert all(azurite_control.port_open(p) for p in ports)
        assert group_members(pid), "Azurite runs in its own process group"
        assert server.connection_string == azurite_control.connection_string(ports)
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not group_members(pid), "Azurite left processes behind"
    assert not any(azurite_control.port_open(p) for p in ports)
    server.stop()  # stopping twice is harmless


class RunLocal:
    """`python -m tools.run_local` in a subprocess, its output in a file."""

    def __init__(self, tmp_path: Path, ports: tuple[int, int, int]):
        self.port = azurite_control.free_port()
        self.log = tmp_path / "run_local.log"
        command = [
            sys.executable, "-m", "tools.run_local", "--host", "devhost", "--no-seed", "--port", str(self.port),
            "--app-dir", str(SAMPLE_APP), "--azurite-ports", ",".join(map(str, ports)),
            "--azurite-dir", str(tmp_path / "azurite"),
        ]
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        ok = wait_until(lambda: "Press Ctrl-C" in self.output() or self.process.poll() is not None, timeout)
        assert ok and self.process.poll() is None, f"run_local did not come up:\n{self.output()}"
        assert azurite_control.port_open(self.port)

    def pid_of(self, what: str) -> int | None:
        match = re.search(rf"{what}[^\n]*pid (\d+)", self.output())
        return int(match.group(1)) if match else None

    def terminate(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_local_starts_azurite_and_the_app_and_stops_both(tmp_path: Path, sig: int) -> None:
    ports = (azurite_control.free_port(), azurite_control.free_port(), azurite_control.free_port())
    run = RunLocal(tmp_path, ports)
    try:
        run.wait_ready()
        azurite_pid, app_pid = run.pid_of("Azurite is up"), run.pid_of("devhost")
        assert azurite_pid and app_pid, run.output()
        assert all(azurite_control.port_open(p) for p in ports)
        assert (tmp_path / "azurite").is_dir(), "Azurite keeps its data in --azurite-dir"
    finally:
        code = run.terminate(sig)
    assert code == 0, run.output()
    assert not group_members(app_pid), f"the app left processes behind:\n{run.output()}"
    assert not group_members(azurite_pid), f"Azurite left processes behind:\n{run.output()}"
    assert not azurite_control.port_open(run.port)
    assert not any(azurite_control.port_open(p) for p in ports)
    assert "Azurite stopped." in run.output()


def test_run_local_reuses_a_running_azurite_and_leaves_it_running(
    tmp_path: Path, azurite: azurite_control.Azurite
) -> None:
    ports = (azurite.blob_port, azurite.queue_port, azurite.table_port)
    run = RunLocal(tmp_path, ports)
    try:
        run.wait_ready()
        assert "reusing it" in run.output()
    finally:
        code = run.terminate()
    assert code == 0, run.output()
    assert azurite.process.poll() is None, "run_local stopped an Azurite it did not start"
    assert all(azurite_control.port_open(p) for p in ports)
    assert not azurite_control.port_open(run.port)


def test_run_local_refuses_a_busy_app_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tools.run_local", "--no-seed", "--port", str(port), "--app-dir", str(SAMPLE_APP)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stderr


def test_the_config_schemas_are_cached_from_the_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make setup` caches SchemaStore's schemas from the project's shared folder when it is beside the
    repository, so the schema tests run from a plain clone on the project's machines; with no source at
    all, nothing is cached and the tests skip with the reason (tests/test_config_files.py)."""
    from tools import schemas

    shared, cache = tmp_path / "shared", tmp_path / "cache"
    shared.mkdir()
    for name in schemas.SCHEMAS:
        (shared / name).write_text('{"type": "object"}', encoding="utf-8")
    monkeypatch.setattr(schemas, "SHARED", shared)
    monkeypatch.setattr(schemas, "CACHE", cache)
    assert schemas.cache() == []
    assert all(schemas.find(name) == cache / name for name in schemas.SCHEMAS)
    monkeypatch.setattr(schemas, "SHARED", tmp_path / "nowhere")
    monkeypatch.setattr(schemas, "CACHE", tmp_path / "empty")
    assert schemas.find("host.schema.json") is None


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-to-make"])
def test_make_run_stops_everything_quietly_within_5_seconds(tmp_path: Path, how: str) -> None:
    """Ctrl-C in the terminal (SIGINT to the whole foreground process group) or SIGTERM to the `make` process
    (GNU make passes SIGTERM on to the recipe) stops the app and Azurite, with no traceback, within 5 s."""
    ports = (azurite_control.free_port(), azurite_control.free_port(), azurite_control.free_port())
    port = azurite_control.free_port()
    args = (f"--host devhost --no-seed --port {port} --app-dir {SAMPLE_APP} --azurite-ports "
            f"{','.join(map(str, ports))} --azurite-dir {tmp_path / 'azurite'}")
    log = tmp_path / "make_run.log"
    with open(log, "w") as out:
        make = subprocess.Popen(["make", "--no-print-directory", "run", f"RUN_ARGS={args}"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert wait_until(lambda: "Press Ctrl-C" in log.read_text() or make.poll() is not None, 120), log.read_text()
        assert azurite_control.port_open(port)
        started = time.monotonic()
        if how == "ctrl-c":
            os.killpg(make.pid, signal.SIGINT)
        else:
            make.send_signal(signal.SIGTERM)
        make.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    output = log.read_text()
    assert took < 5, output
    assert not group_members(make.pid), output
    assert not azurite_control.port_open(port) and not any(azurite_control.port_open(p) for p in ports)
    assert "Azurite stopped." in output and "Traceback" not in output and "KeyboardInterrupt" not in output
