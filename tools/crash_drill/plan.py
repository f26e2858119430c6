"""What one drill run does, decided up front from its seed: orders, leave requests, decisions, kill moments.

Everything random is drawn here, so a failing seed replays the same load (the moments a kill
lands still vary with the machine's speed). The order mix is built from the seeded catalogue
(`tools.seed.SAMPLE_PRODUCTS`) so that some orders must lose: several orders race for the single
GADGET-1, MONITOR-1 (5 units) is asked for more than it has, LAPTOP-1 is over PAYMENT_LIMIT and
is declined after its stock was reserved, and WIDGET-1 + MONITOR-1 orders are all or nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tools.seed import SAMPLE_PRODUCTS

PRICES: dict[str, Decimal] = {product.sku: product.price for product, _ in SAMPLE_PRODUCTS}
STOCK: dict[str, int] = {product.sku: stock for product, stock in SAMPLE_PRODUCTS}
PAYMENT_LIMIT = Decimal("1000.00")
BATCH_PREFIX = "drill/"
START_WINDOW = 4.0  # seconds in which every workflow is started


@dataclass(frozen=True)
class OrderPlan:
    order_id: str
    kind: str  # race | scarce | declined | multi | plain: why it is in the mix
    items: dict[str, int]
    at: float  # seconds after the load starts

    @property
    def total(self) -> Decimal:
        return sum((PRICES[sku] * quantity for sku, quantity in self.items.items()), Decimal("0"))

    def body(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "customerEmail": f"{self.order_id.lower()}@example.com",
                "items": [{"sku": sku, "quantity": quantity} for sku, quantity in self.items.items()]}


@dataclass(frozen=True)
class LeavePlan:
    employee_id: str
    body: dict[str, Any]  # with a requestId: a start lost in a crash is simply sent again
    at: float
    decision: str | None  # Approved | Rejected, or None: left to expire at the deadline
    decide_after: float  # seconds after the start was accepted

    @property
    def request_id(self) -> str:
        return str(self.body["requestId"])

    @property
    def approver(self) -> str:
        return str(self.body["approverEmail"])

    @property
    def comment(self) -> str:
        return f"Decided by the crash drill for {self.employee_id}."


@dataclass(frozen=True)
class Plan:
    seed: int
    files: int
    orders: list[OrderPlan]
    leaves: list[LeavePlan]
    batch_id: str
    batch_at: float
    kill_times: list[float]  # seconds after the load starts
    kill_window: float
    leave_deadline: int  # seconds (LEAVE_APPROVAL_TIMEOUT)
    chunk_size: int = field(default=50)

    def contended(self) -> set[str]:
        """SKUs asked for more than their stock: only orders with one of these may be out of stock."""
        demand: dict[str, int] = {}
        for order in self.orders:
            for sku, quantity in order.items.items():
                demand[sku] = demand.get(sku, 0) + quantity
        return {sku for sku, quantity in demand.items() if quantity > STOCK[sku]}


def make_plan(seed: int, *, files: int, orders: int, leaves: int, kills: int, kill_window: float,
              leave_deadline: int) -> Plan:
    """The whole run's load, drawn from `seed`."""
    rng = random.Random(seed)
    kill_times = sorted(rng.uniform(START_WINDOW, kill_window) for _ in range(max(0, kills - 1)))
    if kills:
        kill_times.insert(0, rng.uniform(0.3, START_WINDOW))  # one kill while workflows are being started
    return Plan(
        seed=seed, files=files, orders=_orders(rng, seed, orders), leaves=_leaves(rng, leaves, kill_window),
        batch_id=f"drill-{seed}", batch_at=rng.uniform(0, START_WINDOW / 2), kill_times=kill_times,
        kill_window=kill_window, leave_deadline=leave_deadline, chunk_size=max(5, min(50, files // 20)),
    )


def _orders(rng: random.Random, seed: int, count: int) -> list[OrderPlan]:
    race_at = rng.uniform(0, START_WINDOW)
    kinds: list[tuple[str, dict[str, int], float | None]] = []
    kinds += [("race", {"GADGET-1": 1}, race_at)] * max(2, count // 15)  # all at once for the last unit
    kinds += [("declined", {"LAPTOP-1": 1}, None)] * max(1, count // 20)
    kinds += [("scarce", {"MONITOR-1": rng.choice((1, 1, 2, 3))}, None) for _ in range(max(2, count // 8))]
    kinds += [("multi", {"WIDGET-1": rng.randint(1, 4), "MONITOR-1": 1}, None) for _ in range(max(1, count // 15))]
    while len(kinds) < count:
        items = {"WIDGET-1": rng.randint(1, 6), "CABLE-1": rng.randint(1, 5)}
        if rng.random() < 0.3:
            del items[rng.choice(sorted(items))]
        kinds.append(("plain", items, None))
    chosen = kinds[:count]
    rng.shuffle(chosen)
    return [OrderPlan(f"D{seed}-{i:03d}-{kind}", kind, items, at if at is not None else rng.uniform(0, START_WINDOW))
            for i, (kind, items, at) in enumerate(chosen)]


def _leaves(rng: random.Random, count: int, kill_window: float) -> list[LeavePlan]:
    decided = set(rng.sample(range(count), count // 2))
    first_day = datetime.now(UTC).date() + timedelta(days=30)
    plans = []
    for i in range(count):
        start = first_day + timedelta(days=i)
        body = {"requestId": f"drill-{i:03d}", "employeeId": f"DRILL-{i:03d}",
                "employeeEmail": f"employee{i}@example.com", "approverEmail": f"approver{i % 4}@example.com",
                "startDate": start.isoformat(),
                "endDate": (start + timedelta(days=rng.randint(0, 4))).isoformat(), "reason": f"Crash drill leave {i}"}
        decision = rng.choice(("Approved", "Rejected")) if i in decided else None
        plans.append(LeavePlan(body["employeeId"], body, rng.uniform(0, START_WINDOW), decision,
                               rng.uniform(0.2, kill_window)))
    return plans
