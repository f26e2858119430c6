"""1,000 files through the batch workflow on the local host with Azurite vs the same work called directly.

    python -m bench.batch_e2e [--files 1000] [--invalid-ratio 0.1] [--parallel 10] [--chunk-size N]
                              [--parallel-chunks N] [--state azure|memory]

In one run, against one private Azurite:
1. upload `--files` small synthetic files (5-20 records each, about `--invalid-ratio` of them
   broken) with `tools.batch_samples.upload_samples`;
2. `direct`: ProcessFile (the activity function itself) for every file in a thread pool of
   `--parallel` threads (host.json's maxConcurrentActivityFunctions is 10): the business work alone;
3. `workflow`: `POST /api/BatchProcessing_Client {"prefix": ...}` on `python -m devhost` (state in
   Azure Storage tables and queues) and poll the status URL until the instance completed. This
   includes what the workflow adds: listing, queue messages, history, replays, the chunk
   report parts and the merged report.
The ratio workflow/direct is the cost of running the work as a durable workflow.
`--state memory` keeps the host's own state (history, queues) in memory instead (the
business blobs stay in Azurite), to tell the cost of durable state from the rest.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

from devhost.spawn import start_devhost, wait_for_status
from tools import azurite

ROOT = Path(__file__).resolve().parent.parent

PREFIX = "bench/"


def run_direct(names: list[str], parallel: int) -> tuple[float, Counter[str]]:
    from activities.batch_activities import bp
    from devhost.app_loader import user_function

    process_file = user_function(bp, "ProcessFile")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda name: process_file({"batchId": "direct", "file": name}), names))
    return time.perf_counter() - started, Counter(result["outcome"] for result in results)


def run_workflow(base_url: str, interval: float = 0.1) -> tuple[float, dict]:
    started = time.perf_counter()
    response = requests.post(f"{base_url}/api/BatchProcessing_Client", json={"prefix": PREFIX}, timeout=60)
    response.raise_for_status()
    final = wait_for_status(response.json()["statusQueryGetUri"], timeout=3600, interval=interval,
                            request_timeout=120)
    return time.perf_counter() - started, final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--invalid-ratio", type=float, default=0.1)
    parser.add_argument("--parallel", type=int, default=10, help="direct run's threads (host.json: 10 activities)")
    parser.add_argument("--chunk-size", type=int, default=0, help="BATCH_CHUNK_SIZE for the host (0: the default)")
    parser.add_argument("--parallel-chunks", type=int, default=0,
                        help="BATCH_MAX_PARALLEL_CHUNKS for the host (0: the default)")
    parser.add_argument("--state", choices=("azure", "memory"), default="azure", help="the host's own state")
    args = parser.parse_args()
    server = azurite.start()
    os.environ["AzureWebJobsStorage"] = server.connection_string
    env = {"AzureWebJobsStorage": server.connection_string, "TASKHUB_NAME": "BenchBatchHub",
           "BATCH_MAX_FILES": str(max(args.files, 10_000))}
    if args.chunk_size:
        env["BATCH_CHUNK_SIZE"] = str(args.chunk_size)
    if args.parallel_chunks:
        env["BATCH_MAX_PARALLEL_CHUNKS"] = str(args.parallel_chunks)
    try:
        from batch.settings import chunk_size, max_parallel_chunks
        from tools.batch_samples import upload_samples

        uploaded = upload_samples(count=args.files, invalid_ratio=args.invalid_ratio, prefix=PREFIX, seed=11)
        names = [name for name in uploaded.expected if name.startswith(PREFIX)]
        direct, direct_counts = run_direct(names, args.parallel)
        with tempfile.TemporaryDirectory() as scratch:
            host = start_devhost(ROOT, Path(scratch) / "host.log", env, timeout=30, extra_args=["--state", args.state])
            try:
                workflow, final = run_workflow(host.base_url, 0.1 if args.files <= 2000 else 1.0)
            finally:
                host.stop()
    finally:
        server.stop()
    assert final["runtimeStatus"] == "Completed", final
    counts = final["output"]["counts"]
    assert {k: v for k, v in counts.items() if v} == dict(direct_counts), (counts, direct_counts)
    print(f"{len(names)} files ({dict(direct_counts)}); {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs; chunk size "
          f"{args.chunk_size or chunk_size()}, parallel chunks {args.parallel_chunks or max_parallel_chunks()}")
    label = f"direct (ProcessFile, {args.parallel} threads):"
    print(f"  {label:<35}{direct:7.2f} s  {len(names) / direct:7.1f} files/s")
    label = f"workflow on devhost ({args.state} state):"
    print(f"  {label:<35}{workflow:7.2f} s  {len(names) / workflow:7.1f} files/s "
          "(HTTP start to Completed seen, report included)")
    print(f"  workflow / direct = {workflow / direct:.2f}x")


if __name__ == "__main__":
    main()
