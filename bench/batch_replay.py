"""Lifetime orchestrator CPU of the batch workflow: chunked sub-orchestrations vs one flat fan-out.

    python -m bench.batch_replay [--files 1000,10000] [--chunks 50,100,200,500] [--flat 1000,2000]
                                 [--single-delivery 1000]

Runs the real BatchProcessing_Orchestrator and BatchProcessing_Chunk (the production
blueprint) on the local host in memory (`devhost.testing.LocalDurableHost`, no storage)
with trivial in-memory stand-ins for ProcessFile, WriteChunkReport and WriteBatchReport,
so what is measured is the SDK's replay: the thread CPU time spent inside orchestrator
invocations (`time.thread_time()` around each `devhost.invoker.invoke_orchestrator` call,
kept by the engine as `stats.orchestrator_cpu_seconds`), summed over every episode of the
parent and all its chunks, from start to completion. The flat design, defined here, is
one orchestrator that calls ProcessFile (with the same retry wrapper) for every file and
waits for all of them; it is measured in the same run. Its cost grows with the square
of the file count, so it runs only at the `--flat` sizes and is extrapolated to the
larger `--files` sizes with the quadratic model cost(N) = a*N^2 + b*N fitted to the two
largest measured sizes (stated as such in the output).

Host settings are host.json's: completions delivered up to 32 per episode
(`controlQueueBatchSize`), 10 activities and 5 orchestrator episodes at a time. The
`--single-delivery` row repeats the chunked design with one completion per episode (the
pessimistic case when activities finish one by one) at that file count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from batch.contract import ORCHESTRATOR
from common.retry import retry_options
from devhost.config import DurableSettings
from devhost.testing import LocalDurableHost
from orchestrators.batch_orchestrator import bp as batch_orchestrator

ROOT = Path(__file__).resolve().parent.parent

RETRY = {"firstRetryIntervalMs": 1000, "maxAttempts": 3}


def bench_app() -> df.DFApp:
    """The production orchestrators, a flat one for comparison, and in-memory activities."""
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(batch_orchestrator)
    blobs: dict[str, Any] = {}

    @app.function_name("FlatBatch")
    @app.orchestration_trigger(context_name="context")
    def flat_batch(context: df.DurableOrchestrationContext):
        batch = context.get_input()
        retry = retry_options(batch)
        tasks = [context.call_activity_with_retry("ProcessFile", retry, {"batchId": batch["batchId"], "file": name})
                 for name in batch["files"]]
        results = yield context.task_all(tasks)
        counts: dict[str, int] = {}
        for result in results:
            counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        return {"batchId": batch["batchId"], "total": len(results), "counts": counts}

    @app.function_name("ProcessFile")
    @app.activity_trigger(input_name="payload")
    async def process_file(payload: dict[str, Any]) -> dict[str, Any]:
        return {"file": payload["file"], "outcome": "succeeded", "format": "csv", "records": 3,
                "output": payload["file"] + ".jsonl", "sourceEtag": '"0x8DC0000000000000"'}

    @app.function_name("WriteChunkReport")
    @app.activity_trigger(input_name="payload")
    async def write_chunk_report(payload: dict[str, Any]) -> dict[str, Any]:
        name = f"{payload['batchId']}/chunks/chunk-{payload['chunk']:05d}.json"
        blobs[name] = payload
        return {"blobName": name}

    @app.function_name("WriteBatchReport")
    @app.activity_trigger(input_name="payload")
    async def write_batch_report(payload: dict[str, Any]) -> dict[str, Any]:
        for part in payload["parts"]:
            blobs.pop(part)
        return {"container": "batch-reports", "blobName": f"{payload['batchId']}/report.json"}

    return app


async def measure(design: str, files: int, chunk_size: int = 0, batch: int = 32) -> dict[str, float]:
    settings = DurableSettings(control_queue_batch_size=batch, max_concurrent_activities=10,
                               max_concurrent_orchestrators=5)
    names = [f"incoming/synthetic-{i:05d}.csv" for i in range(files)]
    batch_input = {"batchId": "bench", "files": names, "chunkSize": chunk_size, "maxParallelChunks": 10,
                   "retry": RETRY}
    async with LocalDurableHost(app=bench_app(), settings=settings) as host:
        started = time.perf_counter()
        name = ORCHESTRATOR if design == "chunked" else "FlatBatch"
        record = await host.wait(await host.start(name, batch_input, instance_id="batch-bench"), timeout=24 * 3600)
        wall = time.perf_counter() - started
        output = host.output(record)
        assert record.runtime_status == "Completed", output
        assert output["counts"]["succeeded"] == files, output
        stats = host.engine.stats
        return {"cpu": stats.orchestrator_cpu_seconds, "episodes": stats.episodes, "wall": wall,
                "parent_history": len(record.history)}


def quadratic_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """a, b of cost = a*N^2 + b*N through the two largest points (b clamped at 0)."""
    (n1, c1), (n2, c2) = sorted(points)[-2:]
    a = (c2 / n2 - c1 / n1) / (n2 - n1)
    b = max(0.0, c1 / n1 - a * n1)
    return a, b


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=ints, default=[1000, 10000], help="batch sizes for the chunked design")
    parser.add_argument("--chunks", type=ints, default=[50, 100, 200, 500], help="chunk sizes to compare")
    parser.add_argument("--flat", type=ints, default=[1000, 2000], help="batch sizes the flat design really runs")
    parser.add_argument("--single-delivery", type=int, default=1000,
                        help="files for the one-completion-per-episode row (0: skip)")
    args = parser.parse_args()
    print(f"Batch workflow replay CPU; {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; completions up to 32 per episode, 10 activities / 5 orchestrators at a time")
    print(f"{'design':<26}{'files':>7}{'episodes':>10}{'parent events':>15}{'orch. CPU s':>13}"
          f"{'ms/file':>9}{'wall s':>9}")

    def row(label: str, files: int, result: dict[str, float], note: str = "") -> None:
        print(f"{label:<26}{files:>7}{result['episodes']:>10}{result['parent_history']:>15}{result['cpu']:>13.2f}"
              f"{result['cpu'] / files * 1000:>9.3f}{result['wall']:>9.1f}{note}")

    flat_points = []
    for files in args.flat:
        result = asyncio.run(measure("flat", files))
        flat_points.append((files, result["cpu"]))
        row("flat fan-out", files, result)
    best: dict[int, tuple[float, int]] = {}
    for files in args.files:
        for chunk in args.chunks:
            result = asyncio.run(measure("chunked", files, chunk))
            row(f"chunked, chunk {chunk}", files, result)
            per_file = result["cpu"] / files
            if files not in best or per_file < best[files][0]:
                best[files] = (per_file, chunk)
    if args.single_delivery:
        for chunk in args.chunks:
            result = asyncio.run(measure("chunked", args.single_delivery, chunk, batch=1))
            row(f"chunked {chunk}, 1/episode", args.single_delivery, result)
    if len(flat_points) >= 2:
        a, b = quadratic_fit(flat_points)
        for files in args.files:
            if files not in dict(flat_points):
                cost = a * files * files + b * files
                print(f"{'flat fan-out (model)':<26}{files:>7}{'':>10}{'':>15}{cost:>13.0f}"
                      f"{cost / files * 1000:>9.1f}{'':>9}  <- extrapolated: {a:.3g}*N^2 + {b:.3g}*N, "
                      f"fitted to the measured flat rows")
    for files, (per_file, chunk) in sorted(best.items()):
        print(f"best chunk size at {files} files: {chunk} ({per_file * 1000:.3f} ms orchestrator CPU per file)")


if __name__ == "__main__":
    main()
