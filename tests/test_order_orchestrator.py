"""OrderProcessing_Orchestrator driven through the real SDK replay.

The orchestrator is the production blueprint; the activities are scripted
stand-ins so each branch (success, out of stock, decline, retries, compensation)
can be forced. The first test shows the raw protocol (history in, actions out);
the others run whole instances in the in-process host with a virtual clock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from devhost.history import EventType, event, execution_started
from devhost.testing import LocalDurableHost
from orchestrators.order_orchestrator import bp as order_orchestrator

ORCHESTRATOR = "OrderProcessing_Orchestrator"
ACTIVITIES = ("CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail", "ReleaseInventory",
              "RefundPayment")
RETRY = {"firstRetryIntervalMs": 1000, "maxAttempts": 3}


class Script:
    """Scripted activity behaviour: per activity, a list of results or exceptions, one per call."""

    def __init__(self, **plans: list[Any]):
        self.plans = {name: list(plan) for name, plan in plans.items()}
        self.calls: dict[str, int] = defaultdict(int)
        self.order: list[str] = []

    def run(self, name: str, payload: dict[str, Any]) -> Any:
        self.calls[name] += 1
        self.order.append(name)
        plan = self.plans.get(name)
        default = {
            "CheckInventory": {"available": True, "missing": []},
            "ProcessPayment": {"approved": True, "paymentId": f"pay-{payload['orderId']}", "reason": None},
            "CreateOrder": {"orderId": payload["orderId"], "status": "Created"},
            "SendConfirmationEmail": {"blobName": f"orders/{payload['orderId']}/confirmation.eml"},
            "ReleaseInventory": {"released": ["WIDGET-1"]},
            "RefundPayment": {"refunded": True},
        }[name]
        outcome = plan.pop(0) if plan else default
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def build_app(script: Script) -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(order_orchestrator)
    for name in ACTIVITIES:
        def activity(payload: dict[str, Any], _name: str = name) -> Any:
            return script.run(_name, payload)
        activity.__name__ = name
        app.function_name(name)(app.activity_trigger(input_name="payload")(activity))
    return app


async def run_order(script: Script, order_id: str = "A1") -> tuple[Any, Any, list[dict[str, Any]]]:
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, {"orderId": order_id, "retry": RETRY})
        for _ in range(10):  # let retry timers (1 s each) fire without sleeping
            await host.advance(timedelta(seconds=2))
        record = await host.wait(instance_id, timeout=10)
        return host.output(record), json.loads(record.custom_status or "null"), record.history


def test_first_episode_schedules_check_inventory_with_retry() -> None:
    """History in, actions out: the SDK's reply to a fresh start is one retried CheckInventory call."""
    app = build_app(Script())
    fn = next(f for f in app.get_functions() if f.get_function_name() == ORCHESTRATOR).get_user_function()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    history = [
        event(EventType.OrchestratorStarted, now),
        execution_started(now, instance_id="order-A1", execution_id="e1", name=ORCHESTRATOR,
                          input_json=json.dumps(json.dumps({"orderId": "A1", "retry": RETRY}))),
    ]
    payload = {"history": history, "input": json.dumps({"orderId": "A1", "retry": RETRY}), "instanceId": "order-A1",
               "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}
    state = json.loads(fn(func.OrchestrationContext(json.dumps(payload))))
    assert state["isDone"] is False
    [[compound]] = state["actions"]
    # SDK 1.7 (replay schema V3) wraps a retried call in a WhenAll of one CallActivityWithRetry.
    assert compound["actionType"] == 12
    [action] = compound["compoundActions"]
    assert action["actionType"] == 1
    assert action["functionName"] == "CheckInventory"
    assert action["retryOptions"] == {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 3}
    assert json.loads(action["input"]) == {"orderId": "A1"}
    assert state["customStatus"]["step"] == "CheckInventory"



async def test_success_runs_the_four_steps_in_order() -> None:
    script = Script()
    output, status, _ = await run_order(script)
    assert output == "Order A1 processed successfully."
    assert script.order == ["CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail"]
    assert status["step"] == "Completed"
    assert status["confirmationEmail"] == "orders/A1/confirmation.eml"



async def test_out_of_stock_stops_before_payment() -> None:
    script = Script(CheckInventory=[{"available": False, "missing": ["GADGET-1"]}])
    output, status, _ = await run_order(script)
    assert output == "Order A1 failed: Inventory not available."
    assert script.order == ["CheckInventory"]
    assert status == {"orderId": "A1", "step": "Failed", "reason": "Inventory not available", "missing": ["GADGET-1"]}



async def test_declined_payment_releases_the_reservation() -> None:
    script = Script(ProcessPayment=[{"approved": False, "paymentId": None, "reason": "Amount exceeds limit"}])
    output, status, _ = await run_order(script)
    assert output == "Order A1 failed: Payment processing failed."
    assert script.order == ["CheckInventory", "ProcessPayment", "ReleaseInventory"]
    assert status["detail"] == "Amount exceeds limit"



async def test_transient_errors_are_retried_with_durable_timers() -> None:
    script = Script(CheckInventory=[RuntimeError("storage timeout"), RuntimeError("storage timeout")])
    output, _, history = await run_order(script)
    assert output == "Order A1 processed successfully."
    assert script.calls["CheckInventory"] == 3
    kinds = [e["EventType"] for e in history]
    assert kinds.count(EventType.TaskFailed) == 2
    # every retry is preceded by a durable timer of the configured interval
    timers = [e for e in history if e["EventType"] == EventType.TimerCreated]
    assert len(timers) == 2
    failed = [e for e in history if e["EventType"] == EventType.TaskFailed]
    # The extension's wording (TaskActivityShim + OutOfProcExceptionHelpers keep the host's leading space).
    assert "Activity function 'CheckInventory' failed:  RuntimeError: storage timeout" in failed[0]["Reason"]



async def test_payment_outage_after_all_retries_is_a_decline_with_release() -> None:
    script = Script(ProcessPayment=[RuntimeError("gateway down")] * 3)
    output, status, _ = await run_order(script)
    assert output == "Order A1 failed: Payment processing failed."
    assert script.calls["ProcessPayment"] == 3
    assert script.order[-1] == "ReleaseInventory"
    assert "gateway down" in status["detail"]



async def test_create_order_failure_refunds_then_releases() -> None:
    script = Script(CreateOrder=[RuntimeError("orders table unavailable")] * 3)
    output, status, _ = await run_order(script)
    assert output == "Order A1 failed: Order could not be created; payment refunded."
    assert script.order[-2:] == ["RefundPayment", "ReleaseInventory"]
    assert script.calls["ProcessPayment"] == 1  # never charged twice
    assert status["compensated"] is True



async def test_email_outage_keeps_the_order() -> None:
    script = Script(SendConfirmationEmail=[RuntimeError("smtp down")] * 3)
    output, status, _ = await run_order(script)
    assert output == "Order A1 processed successfully."
    assert status["confirmationEmail"] == "failed"
    assert "RefundPayment" not in script.order and "ReleaseInventory" not in script.order



async def test_unexpected_inventory_error_after_retries_fails_the_instance() -> None:
    script = Script(CheckInventory=[RuntimeError("boom")] * 3)
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, {"orderId": "A1", "retry": RETRY})
        for _ in range(10):
            await host.advance(timedelta(seconds=2))
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Failed"
    assert host.output(record).startswith(
        "Orchestrator function 'OrderProcessing_Orchestrator' failed: Activity function 'CheckInventory' failed"
    )
    assert script.calls["CheckInventory"] == 3
