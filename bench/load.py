"""Load test: concurrent order starts and batches against the local host; every instance checked.

    python -m bench.load [--orders 500] [--batches 20] [--files-per-batch 50] [--skus 20]
                         [--concurrency 0] [--poll query|status] [--poll-interval 1]
                         [--state azure|memory] [--timeout 1800] [--json PATH]

In one run, against one private Azurite:
1. seed the sample catalogue (`tools.seed`) plus `--skus` load SKUs with twice the stock the
   orders need, so every order must succeed; upload `--batches` x `--files-per-batch` small
   files (`tools.batch_samples`, about 10% broken on purpose), one prefix per batch;
2. start `python -m devhost` (host.json's concurrency; state in Azure Storage unless
   `--state memory`);
3. fire every start at once (`--concurrency 0`; or at most N requests in flight): `--orders`
   new orders `POST /api/OrderProcessing_Client` (one unit of one load SKU each, SKUs in turn)
   and `--batches` `POST /api/BatchProcessing_Client {"prefix": ..., "batchId": ...}`,
   interleaved; record each start's accept latency (request sent -> 202 read);
4. watch every accepted instance until it finished: `--poll query` (default) asks the
   management API every `--poll-interval` seconds which instances are still Pending/Running
   (one request per tick, whatever the load) and reads the status URL of each one that left
   that set; `--poll status` polls every instance's status URL instead (one request per
   instance per tick: ~N/interval requests a second, which competes with the host for the
   same cores). End-to-end latency: request sent -> the tick that saw the instance finished,
   so it is exact to within the poll interval;
5. check: every start got 202, every instance is Completed, orders output "Order <id>
   processed successfully.", batches report exactly the per-file outcomes the uploader
   expects, and each load SKU's stock went down by exactly the units ordered.

Prints accepted/completed counts, throughput (instances/s over the whole run, orders/s,
files/s), accept and end-to-end latency percentiles for orders and batches, the CPU seconds
of Azurite, the host, its worker and this load generator, and the machine. Exit status 1
when any instance did not complete as expected. `--json PATH` writes the same figures
(and each completion's time, for plots).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.machine import describe_machine, host_json_settings, machine_info
from devhost.spawn import RunningHost, start_devhost
from tools import azurite

ROOT = Path(__file__).resolve().parent.parent

ORDER_CLIENT = "/api/OrderProcessing_Client"
BATCH_CLIENT = "/api/BatchProcessing_Client"
INSTANCES = "/runtime/webhooks/durabletask/instances"
RUNNING = "Pending,Running,ContinuedAsNew,Suspended"
OUTCOMES = ("succeeded", "invalid", "empty", "missing", "failed")
PERCENTILES = (50, 90, 95, 99)
POLL_CONNECTIONS = 8
PRICE = "5.00"
# Pinned for both this process (uploads, stock) and the host, so local.settings.json cannot change a run.
APP_SETTINGS = {
    "TASKHUB_NAME": "LoadHub",
    "PAYMENT_LIMIT": "1000.00",
    "BATCH_INPUT_CONTAINER": "batch-input",
    "BATCH_OUTPUT_CONTAINER": "batch-output",
    "BATCH_QUARANTINE_CONTAINER": "batch-quarantine",
    "BATCH_REPORTS_CONTAINER": "batch-reports",
    "BATCH_CHUNK_SIZE": "50",
    "BATCH_MAX_PARALLEL_CHUNKS": "10",
}


@dataclass
class Start:
    """One instance to start and watch, with what it must end with and when things happened."""

    kind: str  # "order" | "batch"
    path: str
    body: dict[str, Any]
    expected: Any  # orders: the output sentence; batches: {"total": n, "counts": {...}}
    units: int = 0  # batches: files; orders: 1
    sent: float | None = None  # perf_counter seconds
    accepted: float | None = None
    done: float | None = None
    http_status: int | None = None
    instance_id: str | None = None
    status_url: str | None = None
    final: dict[str, Any] | None = None
    error: str | None = None

    @property
    def watching(self) -> bool:
        return self.status_url is not None and self.final is None


# -- preparation ------------------------------------------------------------------------------


def load_skus(count: int) -> list[str]:
    return [f"LOAD-{i:03d}" for i in range(count)]


def seed_catalogue(skus: list[str], orders: int) -> dict[str, int]:
    """The sample data, then each load SKU at twice the units its orders take; returns the stock set."""
    from orders import inventory
    from orders.catalog import Product, put_product
    from tools.seed import seed

    seed(reset=True)
    per_sku = Counter(skus[i % len(skus)] for i in range(orders))
    stock = {sku: max(10, 2 * per_sku[sku]) for sku in skus}
    for sku, units in stock.items():
        put_product(Product(sku, "Load item", Decimal(PRICE)), overwrite=True)
        inventory.put_stock(sku, units, overwrite=True)
    return stock


def order_starts(count: int, skus: list[str], run_id: str) -> list[Start]:
    """New orders of one unit each, SKUs in turn: some contention per stock row, never a shortage."""
    starts = []
    for i in range(count):
        order_id = f"L{run_id}-{i:05d}"
        body = {"orderId": order_id, "customerEmail": "load@example.com",
                "items": [{"sku": skus[i % len(skus)], "quantity": 1}]}
        starts.append(Start("order", ORDER_CLIENT, body, f"Order {order_id} processed successfully.", units=1))
    return starts


def batch_starts(count: int, files: int, run_id: str, invalid_ratio: float = 0.1) -> list[Start]:
    """Upload one prefix of sample files per batch; each batch must report exactly their outcomes."""
    from tools.batch_samples import upload_samples

    starts = []
    for i in range(count):
        prefix = f"load-{run_id}/b{i:03d}/"
        uploaded = upload_samples(count=files, invalid_ratio=invalid_ratio, prefix=prefix, seed=1000 + i)
        outcomes = Counter(o for name, o in uploaded.expected.items() if name.startswith(prefix))
        expected = {"total": files, "counts": {o: outcomes.get(o, 0) for o in OUTCOMES}}
        body = {"prefix": prefix, "batchId": f"load-{run_id}-{i:03d}"}
        starts.append(Start("batch", BATCH_CLIENT, body, expected, units=files))
    return starts


def interleave(orders: list[Start], batches: list[Start]) -> list[Start]:
    """Batches spread evenly among the orders, so both kinds start under the same load."""
    if not batches:
        return list(orders)
    merged: list[Start] = []
    step = max(1, math.ceil(len(orders) / len(batches)))
    for i, batch in enumerate(batches):
        merged.append(batch)
        merged.extend(orders[i * step:(i + 1) * step])
    merged.extend(orders[len(batches) * step:])
    return merged


# -- driving the host -------------------------------------------------------------------------


async def start_one(session: aiohttp.ClientSession, base_url: str, start: Start, gate: asyncio.Semaphore) -> None:
    """POST the start; accept latency runs from sending to having read the 202 body."""
    async with gate:
        start.sent = time.perf_counter()
        try:
            async with session.post(base_url + start.path, json=start.body) as response:
                start.http_status = response.status
                text = await response.text()
                start.accepted = time.perf_counter()
        except (aiohttp.ClientError, TimeoutError) as error:
            start.error = f"start failed: {type(error).__name__}: {error}"
            return
    if start.http_status != 202:
        start.error = f"start answered {start.http_status}: {text[:300]}"
        return
    try:
        payload = json.loads(text)
        start.instance_id, start.status_url = payload["id"], payload["statusQueryGetUri"]
    except (ValueError, KeyError, TypeError):
        start.error = f"202 without the check-status payload: {text[:300]}"


async def read_status(session: aiohttp.ClientSession, start: Start, seen: float | None = None) -> None:
    """GET the status URL; a 200 is the final status (seen at `seen`, or now)."""
    assert start.status_url is not None
    try:
        async with session.get(start.status_url) as response:
            if response.status == 200:
                start.final = await response.json()
                start.done = seen if seen is not None else time.perf_counter()
            elif response.status != 202:
                start.error = f"status answered {response.status}: {(await response.text())[:300]}"
                start.final = {}
                start.done = time.perf_counter()
    except (aiohttp.ClientError, TimeoutError):
        pass  # the next tick asks again


async def running_ids(session: aiohttp.ClientSession, base_url: str) -> set[str]:
    """Ids of every instance still Pending/Running, all pages of the management API's query."""
    ids: set[str] = set()
    headers: dict[str, str] = {}
    while True:
        async with session.get(base_url + INSTANCES, params={"runtimeStatus": RUNNING, "top": "1000"},
                               headers=headers) as response:
            response.raise_for_status()
            ids.update(row["instanceId"] for row in await response.json())
            token = response.headers.get("x-ms-continuation-token")
        if not token:
            return ids
        headers = {"x-ms-continuation-token": token}


async def watch(session: aiohttp.ClientSession, base_url: str, starts: list[Start], starting: asyncio.Future[Any],
                mode: str, interval: float, deadline: float, alive: Callable[[], bool]) -> None:
    """Until every accepted instance is seen finished, the deadline, or the host's death: a tick per `interval`."""
    while time.perf_counter() < deadline and alive():
        watching = [s for s in starts if s.watching]
        if starting.done() and not watching:
            return
        if mode == "status":
            await asyncio.gather(*(read_status(session, s) for s in watching))
        elif watching:
            asked = time.perf_counter()
            try:
                running = await running_ids(session, base_url)
            except (aiohttp.ClientError, TimeoutError):
                running = None
            if running is not None:
                seen = time.perf_counter()
                # Only starts accepted before the query went out can be judged by its answer.
                left = [s for s in watching
                        if s.accepted is not None and s.accepted < asked and s.instance_id not in running]
                await asyncio.gather(*(read_status(session, s, seen) for s in left))
        await asyncio.sleep(interval)


async def drive(base_url: str, starts: list[Start], concurrency: int, mode: str, interval: float,
                timeout: float, alive: Callable[[], bool] = lambda: True) -> tuple[float, float]:
    """Fire every start (at most `concurrency` at once; 0: all) and watch them; returns (t0, t_end)."""
    gate = asyncio.Semaphore(concurrency or len(starts) or 1)
    client_timeout = aiohttp.ClientTimeout(total=min(timeout, 600))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=client_timeout) as starter, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POLL_CONNECTIONS),
                                  timeout=client_timeout) as poller:
        t0 = time.perf_counter()
        starting = asyncio.ensure_future(asyncio.gather(*(start_one(starter, base_url, s, gate) for s in starts)))
        await watch(poller, base_url, starts, starting, mode, interval, t0 + timeout, alive)
        starting.cancel()  # only still running after the deadline or the host's death
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    return t0, time.perf_counter()


# -- CPU of the processes involved -------------------------------------------------------------


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def cpu_snapshot(server: azurite.Azurite, host: RunningHost) -> dict[str, float | None]:
    """CPU seconds so far of Azurite, the host, its worker process(es) and this process."""
    workers = [process_cpu(pid) for pid in child_pids(host.process.pid)]
    return {"azurite": process_cpu(server.process.pid), "host": process_cpu(host.process.pid),
            "worker": sum(w for w in workers if w is not None) if workers else None,
            "load generator": time.process_time()}


def cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    used: dict[str, float | None] = {}
    for name, end in after.items():
        start = before.get(name)
        used[name] = round(end - start, 2) if end is not None and start is not None else None
    return used


# -- figures ----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so small samples behave."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values: list[float]) -> dict[str, float | int]:
    summary: dict[str, float | int] = {"count": len(values)}
    if values:
        summary.update({f"p{p}": round(percentile(values, p), 3) for p in PERCENTILES})
        summary.update({"max": round(max(values), 3), "mean": round(sum(values) / len(values), 3)})
    return summary


def outcome_ok(start: Start) -> bool:
    """Completed, with exactly the output this start must produce."""
    final = start.final or {}
    if final.get("runtimeStatus") != "Completed":
        return False
    if start.kind == "order":
        return final.get("output") == start.expected
    output = final.get("output") or {}
    return output.get("total") == start.expected["total"] and output.get("counts") == start.expected["counts"]


def kind_figures(starts: list[Start], t0: float) -> dict[str, Any]:
    """Counts, outcome check, throughput and latency of one kind of start."""
    accepted = [s for s in starts if s.accepted is not None and s.http_status == 202]
    finished = [s for s in accepted if s.done is not None]
    done_at = [s.done for s in finished if s.done is not None]
    window = (max(done_at) - t0) if done_at else math.nan
    units = sum(s.units for s in finished if outcome_ok(s))
    return {
        "started": len(starts), "accepted": len(accepted),
        "statuses": dict(Counter((s.final or {}).get("runtimeStatus", "not finished") for s in accepted)),
        "expected_output": sum(outcome_ok(s) for s in accepted),
        "window_seconds": round(window, 2),
        "per_second": round(len(finished) / window, 2) if finished else 0.0,
        "units": units,
        "units_per_second": round(units / window, 2) if finished else 0.0,
        "accept": latency_summary([s.accepted - s.sent for s in accepted
                                   if s.accepted is not None and s.sent is not None]),
        "end_to_end": latency_summary([s.done - s.sent for s in finished if s.done is not None and s.sent is not None]),
    }


def problems(starts: list[Start], stock_problems: list[str]) -> list[str]:
    """Everything that is not 'accepted, Completed, expected output', at most 20 lines of detail."""
    found = []
    for start in starts:
        label = f"{start.kind} {start.body.get('orderId') or start.body.get('batchId')}"
        if start.error:
            found.append(f"{label}: {start.error}")
        elif start.final is None:
            found.append(f"{label}: not seen finished (timeout, or the host stopped)")
        elif not outcome_ok(start):
            found.append(f"{label}: {start.final.get('runtimeStatus')} with output "
                         f"{json.dumps(start.final.get('output'))[:300]} (expected {json.dumps(start.expected)})")
    return found + stock_problems


def check_stock(initial: dict[str, int], starts: list[Start]) -> list[str]:
    """Each load SKU lost exactly the units its orders took: no order reserved twice or not at all."""
    from orders import inventory

    ordered = Counter(s.body["items"][0]["sku"] for s in starts if s.kind == "order" and outcome_ok(s))
    wrong = []
    for sku, units in initial.items():
        left = inventory.get_stock(sku)
        if left != units - ordered[sku]:
            wrong.append(f"stock of {sku}: {left}, expected {units} - {ordered[sku]} = {units - ordered[sku]}")
    return wrong


def completions(starts: list[Start], t0: float) -> list[tuple[float, str]]:
    """(seconds since the first start, kind) of every finished instance, in order: for plots."""
    return sorted((round(s.done - t0, 3), s.kind) for s in starts if s.done is not None)


# -- the run ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="new orders to start (default 500)")
    parser.add_argument("--batches", type=int, default=20, help="batches to start (default 20)")
    parser.add_argument("--files-per-batch", type=int, default=50, help="files per batch (default 50)")
    parser.add_argument("--skus", type=int, default=20, help="load SKUs the orders share, in turn (default 20)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="most start requests in flight at once (default 0: all at once)")
    parser.add_argument("--poll", choices=("query", "status"), default="query",
                        help="how finished instances are found (default query: one request per tick)")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between ticks (default 1)")
    parser.add_argument("--state", choices=("azure", "memory"), default="azure", help="the host's own state")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.orders < 0 or args.batches < 0 or args.orders + args.batches == 0:
        parser.error("start at least one order or batch")
    if args.files_per_batch < 1 or args.skus < 1 or args.poll_interval <= 0:
        parser.error("--files-per-batch, --skus and --poll-interval must be positive")
    return args


@contextlib.contextmanager
def private_azurite(settings: dict[str, str]) -> Iterator[azurite.Azurite]:
    """A private in-memory Azurite, with this process's settings pointing at it until it stops."""
    server = azurite.start()
    values = {"AzureWebJobsStorage": server.connection_string, **settings}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Azurite, data, host, the load, the checks; returns every figure (see `report_lines`)."""
    machine = machine_info()
    run_id = uuid.uuid4().hex[:6]
    with private_azurite(APP_SETTINGS) as server:
        skus = load_skus(args.skus)
        stock = seed_catalogue(skus, args.orders)
        starts = interleave(order_starts(args.orders, skus, run_id),
                            batch_starts(args.batches, args.files_per_batch, run_id))
        env = {"AzureWebJobsStorage": server.connection_string, **APP_SETTINGS,
               "BATCH_MAX_FILES": str(max(args.files_per_batch, 10_000))}
        with tempfile.TemporaryDirectory() as scratch:
            host = start_devhost(ROOT, Path(scratch) / "host.log", env, timeout=30, extra_args=["--state", args.state])
            try:
                before = cpu_snapshot(server, host)
                t0, t_end = asyncio.run(drive(host.base_url, starts, args.concurrency, args.poll,
                                              args.poll_interval, args.timeout, lambda: host.process.poll() is None))
                cpu = cpu_used(before, cpu_snapshot(server, host))
                host_log = host.log()
            finally:
                host.stop()
        stock_problems = check_stock(stock, starts)
    return figures(args, machine, starts, t0, t_end, cpu, stock_problems, host_log)


def figures(args: argparse.Namespace, machine: dict[str, Any], starts: list[Start], t0: float, t_end: float,
            cpu: dict[str, float | None], stock_problems: list[str], host_log: str) -> dict[str, Any]:
    orders = kind_figures([s for s in starts if s.kind == "order"], t0)
    batches = kind_figures([s for s in starts if s.kind == "batch"], t0)
    finished = [s for s in starts if s.done is not None]
    window = max((s.done for s in starts if s.done is not None), default=t_end) - t0
    found = problems(starts, stock_problems)
    return {
        "benchmark": "load",
        "command": "python -m bench.load " + shlex.join(_argv(args)),
        "machine": machine,
        "settings": {"orders": args.orders, "batches": args.batches, "files_per_batch": args.files_per_batch,
                     "skus": args.skus, "concurrency": args.concurrency or len(starts), "poll": args.poll,
                     "poll_interval": args.poll_interval, "state": args.state, "host_json": host_json_settings(),
                     "app_settings": {k: APP_SETTINGS[k] for k in ("BATCH_CHUNK_SIZE", "BATCH_MAX_PARALLEL_CHUNKS")}},
        "wall_seconds": round(t_end - t0, 2),
        "window_seconds": round(window, 2),
        "instances_per_second": round(len(finished) / window, 2) if finished else 0.0,
        "orders": orders,
        "batches": batches,
        "cpu_seconds": cpu,
        "completions": completions(starts, t0),
        "problems": found,
        "host_log_tail": host_log[-4000:] if found else "",
        "ok": not found,
    }


def _argv(args: argparse.Namespace) -> list[str]:
    """The options that define the measurement, as they would be typed."""
    return ["--orders", str(args.orders), "--batches", str(args.batches), "--files-per-batch",
            str(args.files_per_batch), "--skus", str(args.skus), "--concurrency", str(args.concurrency),
            "--poll", args.poll, "--poll-interval", str(args.poll_interval), "--state", args.state]


def _row(label: str, summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return f"  {label:<20}{0:>6}"
    cells = "".join(f"{summary[f'p{p}']:>8.2f}" for p in PERCENTILES)
    return f"  {label:<20}{summary['count']:>6}{cells}{summary['max']:>8.2f}"


def report_lines(result: dict[str, Any]) -> Iterable[str]:
    """The console report."""
    s, orders, batches = result["settings"], result["orders"], result["batches"]
    yield (f"Load: {s['orders']} orders over {s['skus']} SKUs + {s['batches']} batches x {s['files_per_batch']} "
           f"files, {s['concurrency']} start requests in flight at most; devhost ({s['state']} state), "
           f"host.json {s['host_json']}")
    yield f"machine: {describe_machine(result['machine'])}"
    yield f"accepted (202): orders {orders['accepted']}/{orders['started']}, batches {batches['accepted']}/" \
          f"{batches['started']}"
    yield (f"finished: orders {orders['statuses']} ({orders['expected_output']} with the expected output); "
           f"batches {batches['statuses']} ({batches['expected_output']} with the expected file counts)")
    yield (f"throughput: {orders['accepted'] + batches['accepted']} instances in {result['window_seconds']:.1f} s = "
           f"{result['instances_per_second']:.2f} instances/s; orders {orders['per_second']:.2f}/s "
           f"(last done at {orders['window_seconds']:.1f} s); files {batches['units_per_second']:.1f}/s "
           f"({batches['units']} files, last batch done at {batches['window_seconds']:.1f} s)")
    yield f"  {'latency, seconds':<20}{'n':>6}" + "".join(f"{'p' + str(p):>8}" for p in PERCENTILES) + f"{'max':>8}"
    yield _row("order accept", orders["accept"])
    yield _row("order end-to-end", orders["end_to_end"])
    yield _row("batch accept", batches["accept"])
    yield _row("batch end-to-end", batches["end_to_end"])
    yield (f"  (accept: request sent -> 202 read; end-to-end: request sent -> the poll tick that saw it finished, "
           f"{s['poll']} polling every {s['poll_interval']} s)")
    cpu = ", ".join(f"{name} {value:.2f}" for name, value in result["cpu_seconds"].items() if value is not None)
    cores = result["machine"]["cpus"]
    yield f"CPU seconds during the run: {cpu} (wall {result['wall_seconds']:.1f} s x {cores} CPUs available)"
    if result["ok"]:
        yield "OK: every instance was accepted and completed with the expected output; stock exact"
    else:
        yield f"FAILED: {len(result['problems'])} problems"
        yield from (f"  {line}" for line in result["problems"][:20])
        yield "host log (tail):"
        yield result["host_log_tail"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    for line in report_lines(result):
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
