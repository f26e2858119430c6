"""`make run`: Azurite, the sample data and the app, started together and stopped together.

1. Azurite on 127.0.0.1:10000/10001/10002 with its data in `.azurite/` (git-ignored). If all
   three ports already answer, that running emulator is reused and left running afterwards.
2. The sample data: `python -m tools.seed` (idempotent).
3. The app on port 7071: `func start` when Azure Functions Core Tools are on PATH, otherwise the
   project's local host, `python -m devhost`.

Ctrl-C (SIGINT) or SIGTERM stops what this script started: the app first, then Azurite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn

from tools import azurite

ROOT = Path(__file__).resolve().parent.parent
STANDARD_PORTS = (10000, 10001, 10002)
DATA_DIR = ROOT / ".azurite"
APP_START_TIMEOUT = 180.0  # `func start` installs the extension bundle on its first run
STOP_TIMEOUT = 15.0


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


class _Signals:
    """Turns SIGINT/SIGTERM into `Interrupted`, held back while a child is being started.

    Raising between "the child exists" and "we hold its handle" would leave it running
    (children run in their own process groups, so Ctrl-C does not reach them).
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.deferring:
            self.pending = True
        else:
            raise Interrupted

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            raise Interrupted


SIGNALS = _Signals()


def say(message: str) -> None:
    print(f"[run_local] {message}", flush=True)


def fail(message: str) -> NoReturn:
    """Report an error now (before the cleanup's messages) and exit with status 1."""
    print(f"[run_local] error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=7071, help="the app's HTTP port (default: 7071)")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="folder holding function_app.py (default: repo)")
    parser.add_argument(
        "--host", choices=("auto", "func", "devhost"), default="auto",
        help="which host serves the app: auto = func if it is on PATH, else devhost (default: auto)",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not load the sample data")
    parser.add_argument(
        "--azurite-ports", default=",".join(map(str, STANDARD_PORTS)), metavar="BLOB,QUEUE,TABLE",
        help="Azurite's ports (default: 10000,10001,10002)",
    )
    parser.add_argument("--azurite-dir", type=Path, default=DATA_DIR, help="Azurite's data folder (default: .azurite)")
    args = parser.parse_args(argv)
    try:
        blob, queue, table = (int(p) for p in args.azurite_ports.split(","))
    except ValueError:
        parser.error("--azurite-ports takes three comma-separated port numbers")
    args.azurite_ports = (blob, queue, table)
    return args


def local_settings(app_dir: Path) -> dict[str, str]:
    """The `Values` of local.settings.json, as the Functions host would apply them."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values") or {}
    return {key: str(value) for key, value in values.items() if value is not None}


def azurite_needed(ports: tuple[int, int, int]) -> bool:
    """False when an emulator already answers on all of `ports` (it is reused, and left running)."""
    answering = [port for port in ports if azurite.port_open(port)]
    if len(answering) == len(ports):
        say(f"Azurite already answers on ports {'/'.join(map(str, ports))}: reusing it (it stays running).")
        return False
    if answering:
        fail(
            f"ports {answering} are in use but not all of {list(ports)}: something other than "
            "Azurite holds them. Stop it, or pass --azurite-ports."
        )
    return True


def start_group(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a child in its own process group, so that it and its children are stopped together.

    Call it inside `SIGNALS.deferred()` and keep the handle there.
    """
    return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, process_group=0)


def stop_group(process: subprocess.Popen, name: str) -> None:
    """SIGINT (what Ctrl-C would send), then SIGTERM, then SIGKILL, to the child's process group."""
    for sig, timeout in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
    # The group may outlive its leader (e.g. func's language workers): make sure it is gone.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    say(f"{name} stopped.")


def seed(env: dict[str, str]) -> None:
    if not (ROOT / "tools" / "seed.py").exists():
        say("tools/seed.py does not exist yet: no sample data loaded.")
        return
    say("Loading the sample data (python -m tools.seed) ...")
    process: subprocess.Popen | None = None
    try:
        with SIGNALS.deferred():
            process = start_group([sys.executable, "-m", "tools.seed"], ROOT, env)
        code = process.wait()
    finally:
        if process is not None and process.poll() is None:
            stop_group(process, "seed")
    if code != 0:
        fail(f"the seed failed (exit code {code}); see its output above.")


def app_command(choice: str, app_dir: Path, port: int) -> tuple[str, list[str], Path]:
    func = shutil.which("func")
    if choice == "func" or (choice == "auto" and func):
        if not func:
            fail("--host func: Azure Functions Core Tools (`func`) are not on PATH.")
        return "func start", [func, "start", "--port", str(port)], app_dir
    return "devhost", [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--port", str(port)], ROOT


def wait_for_port(process: subprocess.Popen, port: int, name: str) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"{name} exited with code {process.returncode} before it served port {port}.")
        if azurite.port_open(port):
            return
        time.sleep(0.2)
    fail(f"{name} did not answer on port {port} within {APP_START_TIMEOUT:.0f}s.")


def run(args: argparse.Namespace) -> int:
    app_dir = args.app_dir.resolve()
    if not (app_dir / "function_app.py").exists():
        fail(f"no function_app.py in {app_dir}")
    if azurite.port_open(args.port):
        fail(f"port {args.port} is already in use: is the app already running?")

    server: azurite.Azurite | None = None
    app: subprocess.Popen | None = None
    app_name = "app"
    try:
        if azurite_needed(args.azurite_ports):
            location = args.azurite_dir.resolve()
            say(f"Starting Azurite on 127.0.0.1 ports {'/'.join(map(str, args.azurite_ports))}, data in {location} ...")
            try:
                with SIGNALS.deferred():
                    server = azurite.start(location=location, ports=args.azurite_ports)
            except RuntimeError as error:  # not installed, or it did not come up
                fail(str(error))
            say(f"Azurite is up (pid {server.process.pid}).")
        # Environment wins over local.settings.json, as in the Functions host; the storage
        # connection always points at the emulator this script manages.
        env = {**local_settings(app_dir), **os.environ, "PYTHONUNBUFFERED": "1"}
        env["AzureWebJobsStorage"] = azurite.connection_string(args.azurite_ports)
        if not args.no_seed:
            seed(env)
        app_name, command, cwd = app_command(args.host, app_dir, args.port)
        say(f"Starting the app with {app_name} on port {args.port} ...")
        with SIGNALS.deferred():
            app = start_group(command, cwd, env)
        wait_for_port(app, args.port, app_name)
        blob, queue, table = args.azurite_ports
        say("Running:")
        say(f"  Azurite  blob http://127.0.0.1:{blob}  queue http://127.0.0.1:{queue}  table http://127.0.0.1:{table}"
            + ("  (started here)" if server else "  (reused)"))
        say(f"  App      http://localhost:{args.port}/api/   ({app_name}, pid {app.pid})")
        say(f"  Durable  http://localhost:{args.port}/runtime/webhooks/durabletask/instances")
        say("Press Ctrl-C to stop " + ("the app and Azurite." if server else "the app."))
        code = app.wait()
        say(f"{app_name} exited with code {code}.")
        return code
    except Interrupted:
        say("Stopping ...")
        return 0
    finally:
        # Finish the cleanup even if Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if app is not None:
            stop_group(app, app_name)
        if server is not None:
            server.stop()
            say("Azurite stopped.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    SIGNALS.install()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
