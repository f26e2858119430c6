"""`python -m devhost [--app-dir DIR] [--port 7071]`: run a Durable Functions app locally."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from .config import ConfigurationError
from .rpc.channel import WorkerStartError
from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Run a Python v2 Durable Functions app locally without the Azure Functions host.",
    )
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="folder holding function_app.py (default: .)")
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default: 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--state", choices=("azure", "memory"), default="azure",
        help="where orchestration state lives: the task hub in AzureWebJobsStorage (default) or memory",
    )
    parser.add_argument(
        "--in-process", action="store_true",
        help="run the app's functions in this process instead of the Python worker (for debuggers only)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args.app_dir, args.port, args.host, args.state, args.in_process))
    except KeyboardInterrupt:
        pass
    except ConfigurationError as error:
        raise SystemExit(f"devhost: {error}") from None
    except WorkerStartError as error:  # as `func start`: the worker's own message, then a non-zero exit
        raise SystemExit(f"devhost: the app did not load in the Python worker:\n{error}") from None


if __name__ == "__main__":
    main()
