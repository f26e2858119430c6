"""What the real Python worker costs per invocation: gRPC to azure-functions-runtime vs in-process.

    python -m bench.worker_invocation [--calls 500]

In one run, on the sample app (tests/apps/sample):
1. worker start-up: from spawning the worker process to the last FunctionLoadResponse
   (the library imports and indexes the app during WorkerInitRequest), best of 3, for the sample
   app and for this repository's app (24 functions, the Azure SDKs imported);
2. `--calls` activity round trips (`Hello`, a sync function on the worker's thread pool) one at a
   time, through the worker and in-process (`InProcessFunctions`, the `azure-functions` converters);
3. `--calls` orchestrator episodes (`Chain` replaying a two-activity history) likewise.
It prints medians and p95 in ms, and the ratio worker / in-process for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from devhost.app_loader import index_functions, load_app
from devhost.history import EventType, event, execution_started
from devhost.rpc.functions import WorkerFunctions
from devhost.worker import InProcessFunctions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "apps" / "sample"


def episode_payload() -> dict:
    """Chain's third episode: ExecutionStarted, two completed activities (the SDK replays all)."""
    now = datetime.now(UTC)
    history = [
        event(EventType.OrchestratorStarted, now),
        execution_started(now, instance_id="bench", execution_id="bench", name="Chain",
                          input_json=json.dumps(json.dumps("Rome"))),
        event(EventType.TaskScheduled, now, 0, Name="Hello", Input=json.dumps("Rome")),
        event(EventType.OrchestratorCompleted, now),
        event(EventType.OrchestratorStarted, now),
        event(EventType.TaskCompleted, now, TaskScheduledId=0, Result=json.dumps("Hello Rome")),
        event(EventType.TaskScheduled, now, 1, Name="Hello", Input=json.dumps("Hello Rome")),
        event(EventType.OrchestratorCompleted, now),
        event(EventType.OrchestratorStarted, now),
        event(EventType.TaskCompleted, now, TaskScheduledId=1, Result=json.dumps("Hello Hello Rome")),
    ]
    return {"history": history, "input": json.dumps("Rome"), "instanceId": "bench", "isReplaying": True,
            "parentInstanceId": None, "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}


async def timed(calls: int, call) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def startup_seconds(app_dir: Path) -> float:
    worker = WorkerFunctions(app_dir)
    started = time.perf_counter()
    try:
        await worker.start()
        return time.perf_counter() - started
    finally:
        await worker.close()


async def measure(calls: int) -> dict[str, dict[str, list[float]] | list[float]]:
    payload = episode_payload()
    startups = [await startup_seconds(SAMPLE) for _ in range(3)]
    app_startups = [await startup_seconds(ROOT) for _ in range(3)]
    worker = WorkerFunctions(SAMPLE)
    await worker.start()
    in_process = InProcessFunctions(index_functions(load_app(SAMPLE)), 10, 5)
    results: dict[str, dict[str, list[float]]] = {"activity": {}, "orchestrator": {}}
    try:
        for label, functions in (("worker", worker), ("in-process", in_process)):
            reply, _ = await functions.orchestrator("Chain", payload)
            assert reply.state.get("output") == "Hello Hello Rome", reply
            assert (await functions.activity("Hello", json.dumps("Rome"))).result_json == json.dumps("Hello Rome")
            results["activity"][label] = await timed(calls, lambda f=functions: f.activity("Hello", '"Rome"'))
            results["orchestrator"][label] = await timed(calls, lambda f=functions: f.orchestrator("Chain", payload))
    finally:
        await worker.close()
        await in_process.close()
    return {"startup": startups, "app startup": app_startups, **results}


def p95(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {args.calls} calls each, one at a time")
    result = asyncio.run(measure(args.calls))
    for label, key in (("sample app", "startup"), ("this app", "app startup")):
        startup = result[key]
        assert isinstance(startup, list)
        print(f"worker start-up, {label} (spawn to last FunctionLoadResponse): best {min(startup):.2f} s of "
              f"{', '.join(f'{s:.2f}' for s in startup)}")
    for kind in ("activity", "orchestrator"):
        modes = result[kind]
        assert isinstance(modes, dict)
        worker, local = statistics.median(modes["worker"]), statistics.median(modes["in-process"])
        print(f"{kind:>12}: worker median {worker:.2f} ms (p95 {p95(modes['worker']):.2f}), in-process median "
              f"{local:.2f} ms (p95 {p95(modes['in-process']):.2f}); worker/in-process {worker / local:.2f}x, "
              f"+{worker - local:.2f} ms per invocation")


if __name__ == "__main__":
    main()
