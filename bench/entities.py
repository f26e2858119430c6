"""Entity operations on the local host: operations per entity-function invocation, and what the worker costs.

    python -m bench.entities [--signals 1000] [--entities 1 100]

In one run, on tests/apps/entities with the host's state in memory, for each entity count and for the
functions in-process and in Azure's Python worker: `--signals` client signals ("add 1", spread evenly over
the entities) are sent at once, the engine works until it is idle, and every counter is read back (a
missing operation fails the run). It prints the wall time, the entity-function invocations and the
operations each carried (the extension runs a work item's requests in ONE invocation), and the ratio
worker / in-process. With more than `controlQueueBufferThreshold` (256) messages waiting, the host pauses
its receiving 1 s at a time (ControlQueue.GetMessagesAsync), which dominates the wall time of large runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from devhost.testing import LocalDurableHost

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "apps" / "entities"


@dataclass
class Run:
    """One measured run: where the functions ran, how many entities, and what it took."""

    where: str
    entities: int
    seconds: float
    invocations: int
    largest_batch: int


async def measure(signals: int, entities: int, real_worker: bool) -> Run:
    """Send the signals at once, wait until idle, check every operation landed."""
    async with LocalDurableHost(APP, real_worker=real_worker) as host:
        invoke = host.engine.functions.entity
        batches: list[int] = []

        async def counted(name: str, context_json: str) -> str:
            batches.append(len(json.loads(context_json)["batch"]))
            return await invoke(name, context_json)

        host.engine.functions.entity = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        await asyncio.gather(*(host.signal_entity("Counter", f"bench-{n % entities}", "add", 1)
                               for n in range(signals)))
        await host.idle()
        seconds = time.perf_counter() - started
        applied = 0
        for n in range(entities):
            exists, value = await host.entity_state("Counter", f"bench-{n}")
            applied += value if exists else 0
    if applied != signals:
        raise SystemExit(f"{applied} of {signals} operations were applied")
    return Run("worker" if real_worker else "in-process", entities, seconds, len(batches), max(batches))


async def main_async(signals: int, entity_counts: list[int]) -> None:
    print(f"bench.entities: {signals} client signals, Python {platform.python_version()}, "
          f"{platform.machine()}, state in memory")
    print(f"{'where':<11} {'entities':>8} {'seconds':>8} {'invocations':>11} {'ops/invocation':>14} "
          f"{'largest batch':>13}")
    for entities in entity_counts:
        runs = [await measure(signals, entities, real_worker) for real_worker in (False, True)]
        for run in runs:
            print(f"{run.where:<11} {run.entities:>8} {run.seconds:>8.2f} {run.invocations:>11} "
                  f"{signals / run.invocations:>14.1f} {run.largest_batch:>13}")
        print(f"{'':<11} {entities:>8} worker / in-process time: {runs[1].seconds / runs[0].seconds:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=1000, help="client signals per run (default 1000)")
    parser.add_argument("--entities", type=int, nargs="+", default=[1, 100],
                        help="entity counts to spread them over (default: 1 100)")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.signals, args.entities))


if __name__ == "__main__":
    main()
