"""Lifetime orchestrator CPU of a flat fan-out: batched delivery vs one completion per episode.

    python -m bench.fanout_replay [--activities 1000] [--batch 32]

Runs a flat fan-out/fan-in orchestrator on the local host in memory (no storage, so only
the SDK's replay is measured) twice in one process: completions delivered up to
`--batch` per episode (the real dispatcher's controlQueueBatchSize), then one per
episode. Orchestrator CPU is the thread CPU time spent inside orchestrator
invocations (the SDK's replay), summed over the instance's life.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

import azure.durable_functions as df
import azure.functions as func

from devhost.config import DurableSettings
from devhost.testing import LocalDurableHost


def fan_out_app() -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def FlatFanOut(context: df.DurableOrchestrationContext):  # noqa: N802 - a function name
        count = context.get_input()
        results = yield context.task_all([context.call_activity("Echo", i) for i in range(count)])
        return len(results)

    @app.activity_trigger(input_name="value")
    async def Echo(value: int) -> int:  # noqa: N802
        return value

    return app


async def measure(activities: int, batch: int) -> dict[str, float]:
    settings = DurableSettings(control_queue_batch_size=batch, max_concurrent_activities=10,
                               max_concurrent_orchestrators=1)
    async with LocalDurableHost(app=fan_out_app(), settings=settings) as host:
        started = time.perf_counter()
        record = await host.wait(await host.start("FlatFanOut", activities), timeout=24 * 3600)
        wall = time.perf_counter() - started
        assert host.output(record) == activities
        stats = host.engine.stats
        return {"episodes": stats.episodes, "cpu": stats.orchestrator_cpu_seconds, "wall": wall,
                "history": len(record.history)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"Flat fan-out of {args.activities} activities; {platform.python_implementation()} "
          f"{platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    batched = asyncio.run(measure(args.activities, args.batch))
    single = asyncio.run(measure(args.activities, 1))
    for label, row in ((f"up to {args.batch} per episode", batched), ("1 per episode", single)):
        print(f"  {label:<22} episodes {row['episodes']:>6}  history {row['history']:>6} events  "
              f"orchestrator CPU {row['cpu']:8.2f} s  ({row['cpu'] / args.activities * 1000:7.2f} ms/activity)  "
              f"wall {row['wall']:7.1f} s")
    print(f"  one-per-episode / batched orchestrator CPU: {single['cpu'] / batched['cpu']:.1f}x")


if __name__ == "__main__":
    main()
