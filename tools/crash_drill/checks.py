"""The invariants checked after the load, each from what the app stored (read with its own `common` readers).

A check returns a one-line summary with counts and every violation it found. Per-order
outcomes depend on who won each race, so orders are checked against what their plan
allows (an order may be out of stock only if it asks for a SKU with more demand than
stock; only an order over PAYMENT_LIMIT may be declined) and against each other (stock
sold = confirmed quantities, exactly).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from batch.store import (
    QUARANTINE_ERRORS,
    QUARANTINE_FILES,
    error_report_name,
    output_blob_name,
    output_container,
    quarantine_container,
    quarantine_copy_name,
    read_json,
    report_blob_name,
    reports_container,
)
from common import outbox
from common.resources import PAYMENTS_TABLE, container, table
from leave import emails as leave_emails
from leave import store as leave_store
from leave.store import LeaveStatus
from orchestrators.leave_orchestrator import OUTPUTS as LEAVE_OUTPUTS
from orders import confirmation, inventory, payments
from orders import store as orders
from orders.store import OrderStatus
from tools.batch_samples import Uploaded
from tools.crash_drill.plan import BATCH_PREFIX, PAYMENT_LIMIT, STOCK, Plan

ORDER_OUTPUTS = {
    "confirmed": "Order {} processed successfully.",
    "out_of_stock": "Order {} failed: Inventory not available.",
    "declined": "Order {} failed: Payment processing failed.",
    "refunded": "Order {} failed: Order could not be created; payment refunded.",
}
ORDER_STATUS = {"confirmed": OrderStatus.CONFIRMED, "out_of_stock": OrderStatus.REJECTED,
                "declined": OrderStatus.PAYMENT_DECLINED, "refunded": OrderStatus.FAILED}
PAYMENT_STATUS = {"confirmed": payments.APPROVED, "out_of_stock": None, "declined": payments.DECLINED,
                  "refunded": payments.REFUNDED}
LEAVE_NOTIFY = {"Approved": "NotifyApproval", "Rejected": "NotifyRejection"}


@dataclass
class Check:
    name: str
    rule: str  # what must hold
    summary: str = ""  # what was measured
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Observed:
    """What the run produced: accepted instance ids, final statuses, every instance's history."""

    plan: Plan
    uploaded: Uploaded
    stock_before: dict[str, int]
    order_instances: dict[str, str]  # orderId -> instance id
    batch_instance: str
    leave_instances: dict[str, str]  # employeeId -> instance id
    finals: dict[str, dict[str, Any]]  # instance id -> final status
    hub: list[dict[str, Any]]  # every instance in the task hub
    histories: dict[str, list[dict[str, Any]]]  # instance id -> history events

    def order_outcomes(self) -> dict[str, str]:
        """orderId -> confirmed | out_of_stock | declined | refunded | ? (from the workflow's output)."""
        outcomes = {}
        for order in self.plan.orders:
            output = self.finals.get(self.order_instances.get(order.order_id, ""), {}).get("output")
            outcomes[order.order_id] = next(
                (name for name, text in ORDER_OUTPUTS.items() if output == text.format(order.order_id)), "?")
        return outcomes


def run_all(seen: Observed) -> list[Check]:
    outcomes = seen.order_outcomes()
    return [check_instances(seen), check_history(seen), check_orders(seen, outcomes), check_payments(seen, outcomes),
            check_stock(seen, outcomes), check_outbox(seen, outcomes), check_batch(seen), check_leave(seen)]


def check_instances(seen: Observed) -> Check:
    check = Check("instances", "every accepted instance (and batch chunk) Completed, no instance nobody started")
    accepted = [*seen.order_instances.values(), seen.batch_instance, *seen.leave_instances.values()]
    chunks = [i["instanceId"] for i in seen.hub if i["instanceId"].startswith(f"{seen.batch_instance}:chunk-")]
    unexpected = sorted({i["instanceId"] for i in seen.hub} - set(accepted) - set(chunks))
    missing = sorted(set(accepted) - {i["instanceId"] for i in seen.hub})
    statuses = Counter(i["runtimeStatus"] for i in seen.hub)
    check.problems += [f"instance in the hub that no client started (a duplicate start?): {i}" for i in unexpected]
    check.problems += [f"accepted instance missing from the hub: {i}" for i in missing]
    check.problems += [f"{i['instanceId']} is {i['runtimeStatus']}" for i in seen.hub
                       if i["runtimeStatus"] != "Completed"]
    expected_chunks = -(-len(_batch_files(seen.uploaded)) // seen.plan.chunk_size)
    if len(chunks) != expected_chunks:
        check.problems.append(f"{len(chunks)} chunk instances, expected {expected_chunks}")
    check.summary = (f"{len(accepted)} accepted: {len(seen.order_instances)} orders, 1 batch, "
                     f"{len(seen.leave_instances)} leave, + {len(chunks)} chunks; hub {dict(statuses)}")
    return check


def check_history(seen: Observed) -> Check:
    check = Check("history", "one ExecutionStarted and one ExecutionCompleted per instance; each activity result "
                             "recorded once; one ProcessFile result per file")
    process_file = 0
    for instance_id, events in sorted(seen.histories.items()):
        kinds = Counter(e["EventType"] for e in events)
        for kind in ("ExecutionStarted", "ExecutionCompleted"):
            if kinds[kind] != 1:
                check.problems.append(f"{instance_id}: {kinds[kind]} {kind} events")
        completed = Counter(e.get("FunctionName") for e in events if e["EventType"] == "TaskCompleted")
        if ":chunk-" in instance_id:
            process_file += completed.pop("ProcessFile", 0)
        twice = sorted(str(name) for name, count in completed.items() if count > 1)
        if twice:
            check.problems.append(f"{instance_id}: results recorded more than once for {twice}")
    files = len(_batch_files(seen.uploaded))
    if process_file != files:
        check.problems.append(f"ProcessFile results recorded {process_file} times for {files} files")
    check.summary = f"{len(seen.histories)} histories; {process_file} ProcessFile results for {files} files"
    return check


def check_orders(seen: Observed, outcomes: dict[str, str]) -> Check:
    check = Check("orders", "each outcome allowed by the order's plan and stored as the order's status")
    contended = seen.plan.contended()
    for order in seen.plan.orders:
        outcome = outcomes[order.order_id]
        allowed = {"declined"} if order.total > PAYMENT_LIMIT else {"confirmed"}
        if contended & set(order.items):
            allowed.add("out_of_stock")
        if outcome not in allowed:
            output = seen.finals.get(seen.order_instances.get(order.order_id, ""), {}).get("output")
            check.problems.append(f"{order.order_id} ({order.kind}, {order.items}): {output!r}, "
                                  f"expected {' or '.join(sorted(allowed))}")
            continue
        stored = orders.find_order(order.order_id)
        if stored is None or stored.status is not ORDER_STATUS[outcome]:
            check.problems.append(f"{order.order_id}: output says {outcome} but the order is "
                                  f"{stored.status.value if stored else 'missing'}")
    counts = Counter(outcomes.values())
    check.summary = (f"{counts['confirmed']} confirmed, {counts['out_of_stock']} out of stock, "
                     f"{counts['declined']} declined, {counts['refunded']} refunded; "
                     f"contended SKUs {', '.join(sorted(contended)) or 'none'}")
    return check


def check_payments(seen: Observed, outcomes: dict[str, str]) -> Check:
    check = Check("payments", "one Approved payment of the total per confirmed order, Declined per declined one, "
                              "none for out-of-stock ones")
    rows = list(table(PAYMENTS_TABLE).list_entities())
    per_order = Counter(row["PartitionKey"] for row in rows)
    check.problems += [f"{order_id}: {count} payment rows" for order_id, count in per_order.items() if count > 1]
    for order in seen.plan.orders:
        outcome = outcomes[order.order_id]
        if outcome == "?":
            continue
        payment = payments.get_payment(order.order_id)
        expected = PAYMENT_STATUS[outcome]
        if (payment.status if payment else None) != expected:
            check.problems.append(f"{order.order_id} ({outcome}): payment {payment.status if payment else None}, "
                                  f"expected {expected}")
        elif payment is not None and payment.amount != order.total:
            check.problems.append(f"{order.order_id}: charged {payment.amount}, the order totals {order.total}")
    planned = {order.order_id for order in seen.plan.orders}
    check.problems += [f"payment for an order the drill never placed: {o}" for o in sorted(set(per_order) - planned)]
    statuses = Counter(row["Status"] for row in rows)
    check.summary = (f"{len(rows)} payment rows: {statuses[payments.APPROVED]} approved, "
                     f"{statuses[payments.DECLINED]} declined, {statuses[payments.REFUNDED]} refunded")
    return check


def check_stock(seen: Observed, outcomes: dict[str, str]) -> Check:
    check = Check("stock", "final = initial - confirmed quantities, never negative; reservations = the confirmed "
                           "lines, committed; out of stock only when sold out")
    confirmed = [order for order in seen.plan.orders if outcomes[order.order_id] == "confirmed"]
    final: dict[str, int] = {}
    for sku in STOCK:
        sold = sum(order.items.get(sku, 0) for order in confirmed)
        final[sku] = inventory.get_stock(sku) or 0
        if final[sku] != seen.stock_before[sku] - sold:
            check.problems.append(f"{sku}: {final[sku]} left, expected {seen.stock_before[sku]} - {sold} sold")
        if final[sku] < 0:
            check.problems.append(f"{sku}: oversold, stock is {final[sku]}")
        held = {row["OrderId"]: (int(row["Quantity"]), row["State"]) for row in inventory.reservations(sku)}
        expected = {order.order_id: (order.items[sku], inventory.COMMITTED)
                    for order in confirmed if sku in order.items}
        for order_id in sorted(set(held) | set(expected)):
            if held.get(order_id) != expected.get(order_id):
                check.problems.append(f"{sku}: reservation of {order_id} is {held.get(order_id)}, "
                                      f"expected {expected.get(order_id)} (leaked or lost)")
    # SKUs that once reserved are never given back (single-line orders that cannot be declined):
    # an order refused for one of them is refused only when too few units were left for good.
    kept = {sku for sku in STOCK if all(len(o.items) == 1 and o.total <= PAYMENT_LIMIT
                                        for o in seen.plan.orders if sku in o.items)}
    for order in seen.plan.orders:
        stored = orders.find_order(order.order_id) if outcomes[order.order_id] == "out_of_stock" else None
        for sku in set(stored.missing if stored else ()) & kept:
            if final[sku] >= order.items[sku]:
                check.problems.append(f"{order.order_id}: refused {sku} although {final[sku]} were never sold")
    check.summary = f"final {final}; {sum(len(o.items) for o in confirmed)} confirmed lines"
    return check


def check_outbox(seen: Observed, outcomes: dict[str, str]) -> Check:
    check = Check("outbox", "exactly one confirmation e-mail per confirmed order, none for the others")
    confirmed = {o for o, outcome in outcomes.items() if outcome == "confirmed"}
    mails = set(container().list_blob_names(name_starts_with="orders/"))
    expected = {confirmation.confirmation_blob_name(order_id) for order_id in confirmed}
    check.problems += [f"missing confirmation e-mail: {name}" for name in sorted(expected - mails)]
    check.problems += [f"e-mail for an order that is not confirmed: {name}" for name in sorted(mails - expected)]
    for order_id in sorted(confirmed & {name.split("/")[1] for name in mails}):
        if f"order {order_id}".encode() not in outbox.read_message(confirmation.confirmation_blob_name(order_id)):
            check.problems.append(f"{order_id}: the confirmation e-mail does not name the order")
    check.summary = f"{len(mails)} e-mails, {len(confirmed)} confirmed orders"
    return check


def check_batch(seen: Observed) -> Check:
    check = Check("batch", "output counts as uploaded; every file once in the report with its outcome; one output "
                           "per valid file, a copy and an error report per rejected one, no other blobs")
    expected = _batch_files(seen.uploaded)
    final = seen.finals.get(seen.batch_instance, {})
    output = final.get("output") or {}
    counts = Counter(expected.values())
    if output.get("total") != len(expected) or {k: v for k, v in (output.get("counts") or {}).items() if v} != counts:
        check.problems.append(f"output {output.get('total')} files {output.get('counts')}, "
                              f"expected {len(expected)} {dict(counts)}")
    report = read_json(reports_container(), report_blob_name(seen.plan.batch_id)) or {"files": []}
    reported = Counter(entry["file"] for entry in report["files"])
    check.problems += [f"{name} is in the report {reported[name]} times" for name in sorted(
        set(reported) | set(expected)) if reported[name] != 1]
    check.problems += [f"{e['file']}: reported {e['outcome']}, expected {expected.get(e['file'])}"
                       for e in report["files"] if e["outcome"] != expected.get(e["file"])]
    reports = set(reports_container().list_blob_names())
    if reports != {report_blob_name(seen.plan.batch_id)}:
        check.problems.append(f"reports container holds {sorted(reports)[:5]}...: expected only the report")
    valid = {name for name, outcome in expected.items() if outcome == "succeeded"}
    outputs = {b.name: b.metadata for b in output_container().list_blobs(name_starts_with=BATCH_PREFIX,
                                                                           include=["metadata"])}
    wanted = {output_blob_name(name): name for name in valid}
    check.problems += [f"output blob missing: {name}" for name in sorted(set(wanted) - set(outputs))]
    check.problems += [f"output blob not expected: {name}" for name in sorted(set(outputs) - set(wanted))]
    for blob, source in sorted(wanted.items()):
        meta = outputs.get(blob)
        if meta and (meta.get("record_count") != str(seen.uploaded.records[source])
                     or meta.get("batch_id") != seen.plan.batch_id):
            check.problems.append(f"{blob}: metadata {meta}, expected {seen.uploaded.records[source]} records")
    rejected = sorted(set(expected) - valid)
    quarantine = quarantine_container()
    quarantined = {name for folder in (QUARANTINE_FILES, QUARANTINE_ERRORS)
                   for name in quarantine.list_blob_names(name_starts_with=folder + BATCH_PREFIX)}
    wanted_q = {name for source in rejected for name in (quarantine_copy_name(source), error_report_name(source))}
    check.problems += [f"quarantine blob missing: {name}" for name in sorted(wanted_q - quarantined)]
    check.problems += [f"quarantine blob not expected: {name}" for name in sorted(quarantined - wanted_q)]
    check.summary = (f"{len(expected)} files {dict(counts)}; {len(report['files'])} report entries, "
                     f"{len(outputs)} outputs, {len(quarantined)} quarantine blobs, {len(reports)} report blobs")
    return check


def check_leave(seen: Observed) -> Check:
    check = Check("leave", "one instance per request; each decision stored and notified once, the others expired")
    twice = at_deadline = 0
    started = Counter(i["instanceId"] for i in seen.hub if i["instanceId"].startswith("leave-"))
    if len(started) != len(seen.plan.leaves):
        check.problems.append(f"{len(started)} leave instances for {len(seen.plan.leaves)} requests")
    for leave in seen.plan.leaves:
        instance_id = seen.leave_instances.get(leave.employee_id)
        if instance_id is None:
            check.problems.append(f"{leave.employee_id}: never accepted")
            continue
        if instance_id != f"leave-{leave.request_id}":
            check.problems.append(f"{leave.employee_id}: instance {instance_id}, not leave-{leave.request_id}")
        expected = LeaveStatus(leave.decision) if leave.decision else LeaveStatus.EXPIRED
        output = seen.finals.get(instance_id, {}).get("output")
        if output != LEAVE_OUTPUTS[expected.value]:
            check.problems.append(f"{instance_id} ({leave.decision or 'no decision'}): output {output!r}")
        record = leave_store.find_request(instance_id)
        by = leave.approver if leave.decision else leave_store.SYSTEM
        if record is None or (record.status, record.decided_by) != (expected, by) or (
                leave.decision and (record.decision, record.comment) != (leave.decision, leave.comment)):
            stored = record and (record.status.value, record.decision, record.decided_by)
            check.problems.append(f"{instance_id}: stored {stored}, expected {expected.value} by {by}")
        mails = set(container().list_blob_names(name_starts_with=f"leave/{instance_id}/"))
        outcome_mails = {leave_emails.outcome_blob_name(instance_id, s) for s in leave_emails.OUTCOME_STATUSES} & mails
        wanted = {leave_emails.outcome_blob_name(instance_id, expected)}
        if outcome_mails != wanted or leave_emails.blob_name(instance_id, "approval-request") not in mails:
            check.problems.append(f"{instance_id}: e-mails {sorted(mails)}, expected the request and {wanted}")
        events = seen.histories.get(instance_id, [])
        done = Counter(e.get("FunctionName") for e in events if e["EventType"] == "TaskCompleted")
        notify = LEAVE_NOTIFY.get(leave.decision or "")
        if any(done[name] != (1 if name == notify else 0) for name in LEAVE_NOTIFY.values()):
            check.problems.append(f"{instance_id}: activity results {dict(done)}, expected one {notify}")
        raised = sum(e["EventType"] == "EventRaised" for e in events)
        if raised and not leave.decision:
            check.problems.append(f"{instance_id}: {raised} decision events for a request nobody decided")
        twice += raised > 1
        at_deadline += bool(leave.decision and done["ExpireLeaveRequest"])
    decided = Counter(leave.decision or "Expired" for leave in seen.plan.leaves)
    check.summary = (f"{len(seen.plan.leaves)} requests {dict(decided)}; {at_deadline} decisions applied at the "
                     f"deadline, {twice} decision events delivered twice")
    return check


def _batch_files(uploaded: Uploaded) -> dict[str, str]:
    return {name: outcome for name, outcome in uploaded.expected.items() if name.startswith(BATCH_PREFIX)}
