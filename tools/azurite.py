"""Start and stop Azurite (the Azure Storage emulator) from the pinned npm package.

Used by `make run` (fixed ports, data on disk) and by the test suite (free ports,
in memory). Azurite always binds to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devhost.spawn import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent
AZURITE_JS = ROOT / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class Azurite:
    """A running Azurite process and the connection string that reaches it."""

    process: subprocess.Popen
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        return connection_string((self.blob_port, self.queue_port, self.table_port))

    def stop(self) -> None:
        """Stop Azurite (SIGTERM, then SIGKILL if it does not go)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def connection_string(ports: tuple[int, int, int]) -> str:
    """The connection string of an Azurite listening on 127.0.0.1 at (blob, queue, table) ports."""
    base = f"http://127.0.0.1:{{port}}/{ACCOUNT}"
    blob, queue, table = ports
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base.format(port=blob)};"
        f"QueueEndpoint={base.format(port=queue)};"
        f"TableEndpoint={base.format(port=table)};"
    )


def start(
    *,
    location: Path | None = None,
    ports: tuple[int, int, int] | None = None,
    log: Path | None = None,
    timeout: float = 30.0,
) -> Azurite:
    """Start Azurite and wait until its three services accept connections.

    `location=None` keeps data in memory (tests); `ports=None` picks free ports.
    """
    if not AZURITE_JS.exists():
        raise RuntimeError(f"Azurite is not installed ({AZURITE_JS} missing): run `make setup`.")
    blob, queue, table = ports or (free_port(), free_port(), free_port())
    args = [
        "node", str(AZURITE_JS), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
        "--blobHost", "127.0.0.1", "--blobPort", str(blob),
        "--queueHost", "127.0.0.1", "--queuePort", str(queue),
        "--tableHost", "127.0.0.1", "--tablePort", str(table),
    ]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    if log is not None:
        args += ["--debug", str(log)]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, env={**os.environ},
    )
    azurite = Azurite(process, blob, queue, table)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Azurite exited with code {process.returncode}: {err.strip()}")
        if all(port_open(p) for p in (blob, queue, table)):
            return azurite
        time.sleep(0.1)
    azurite.stop()
    raise RuntimeError(f"Azurite did not answer on ports {blob}/{queue}/{table} within {timeout:.0f}s")
