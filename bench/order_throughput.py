"""Orders per second through the local host with Azurite, and the host's overhead.

    python -m bench.order_throughput [--orders 200] [--concurrency 20] [--azurite memory|disk|both]

In one run, against one private Azurite:
1. `direct`: the four activities of each order (CheckInventory, ProcessPayment,
   CreateOrder, SendConfirmationEmail) called as plain functions, `--concurrency`
   orders at a time: the business work alone.
2. `workflow`: the same number of new orders placed over HTTP with the same concurrency
   on `python -m devhost` (state in Azure Storage: tables and queues), timed until
   every instance completed.
The ratio workflow/direct is the cost of durability (history, queues, replay, HTTP).
`--azurite both` measures once with Azurite's data in memory (as the tests and the other benchmarks keep
it) and once on disk (as `make run` keeps it, in `.azurite/`), and prints how much slower disk is.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import requests

from devhost.app_loader import user_function
from devhost.spawn import start_devhost, wait_for_status
from tools import azurite

ROOT = Path(__file__).resolve().parent.parent

STEPS = ("CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail")


def new_order(order_id: str, sku: str) -> dict:
    return {"orderId": order_id, "customerEmail": "bench@example.com", "items": [{"sku": sku, "quantity": 1}]}


def create_catalogue(count: int) -> list[str]:
    """One SKU per order, so the figures measure the workflow, not contention on one stock row."""
    from decimal import Decimal

    from orders import inventory
    from orders.catalog import Product, put_product

    skus = [f"BENCH-{i:05d}" for i in range(count)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda sku: (put_product(Product(sku, "Bench item", Decimal("5.00")), overwrite=True),
                                   inventory.put_stock(sku, 10, overwrite=True)), skus))
    return skus


def run_direct(skus: list[str], concurrency: int) -> float:
    from activities.order_activities import bp
    from orders.catalog import get_products
    from orders.requests import parse_new_order, price_items
    from orders.store import create_order
    from orders.store import new_order as make_order

    steps = [user_function(bp, name) for name in STEPS]

    def one(args: tuple[str, str]) -> None:
        order_id, sku = args
        request = parse_new_order(new_order(order_id, sku))
        items = price_items(request.items, get_products(item.sku for item in request.items))
        create_order(make_order(order_id, request.customer_email, items))
        for step in steps:
            step({"orderId": order_id})

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, [(f"direct-{uuid.uuid4().hex[:10]}", sku) for sku in skus]))
    return time.perf_counter() - started


def run_workflow(base_url: str, skus: list[str], concurrency: int) -> tuple[float, list[float]]:
    def one(args: tuple[str, str]) -> float:
        order_id, sku = args
        placed = time.perf_counter()
        response = requests.post(f"{base_url}/api/OrderProcessing_Client", json=new_order(order_id, sku), timeout=60)
        response.raise_for_status()
        final = wait_for_status(response.json()["statusQueryGetUri"], timeout=600, interval=0.25)
        assert final["output"].endswith("processed successfully."), final
        return time.perf_counter() - placed

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, [(f"wf-{uuid.uuid4().hex[:10]}", sku) for sku in skus]))
    return time.perf_counter() - started, latencies


def measure(orders: int, concurrency: int, location: Path | None) -> tuple[float, float, list[float]]:
    """Direct and workflow seconds for `orders` orders against a private Azurite (in memory when `location` is
    None, else with its data on disk in `location`, as `make run` keeps it), and each order's latency."""
    server = azurite.start(location=location)
    saved = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = server.connection_string
    try:
        from tools.seed import seed

        seed(reset=True)
        skus = create_catalogue(orders)
        direct = run_direct(skus, concurrency)
        with tempfile.TemporaryDirectory() as scratch:
            env = {"AzureWebJobsStorage": server.connection_string, "TASKHUB_NAME": "BenchHub"}
            host = start_devhost(ROOT, Path(scratch) / "host.log", env)
            try:
                workflow, latencies = run_workflow(host.base_url, skus, concurrency)
            finally:
                host.stop()
    finally:
        server.stop()
        if saved is None:
            os.environ.pop("AzureWebJobsStorage", None)
        else:
            os.environ["AzureWebJobsStorage"] = saved
    return direct, workflow, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--azurite", choices=("memory", "disk", "both"), default="memory",
                        help="Azurite's data in memory (as the tests keep it), on disk (as `make run` keeps it), "
                             "or both one after the other, to print how much slower disk is")
    args = parser.parse_args()
    print(f"{args.orders} orders, concurrency {args.concurrency}; {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs")
    rates: dict[str, float] = {}
    for mode in (("memory", "disk") if args.azurite == "both" else (args.azurite,)):
        with tempfile.TemporaryDirectory() as data:
            direct, workflow, latencies = measure(args.orders, args.concurrency,
                                                  Path(data) if mode == "disk" else None)
        rates[mode] = args.orders / workflow
        print(f"Azurite with its data {'on disk' if mode == 'disk' else 'in memory'}:")
        print(f"  direct (4 activities as functions): {direct:7.2f} s  {args.orders / direct:7.1f} orders/s")
        print(f"  workflow on devhost + Azurite:      {workflow:7.2f} s  {args.orders / workflow:7.1f} orders/s")
        print(f"  latency per order (HTTP start to Completed seen): p50 {statistics.median(latencies):.2f} s  "
              f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s  max {latencies[-1]:.2f} s")
        print(f"  host overhead: workflow / direct = {workflow / direct:.1f}x")
    if len(rates) == 2:
        print(f"workflow orders/s, memory / disk = {rates['memory'] / rates['disk']:.2f}x")


if __name__ == "__main__":
    main()
