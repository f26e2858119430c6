"""common.logging: structured lines with the instance id and business keys, once per step despite replays."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from common.logging import event_fields, log_event, log_fields
from devhost.testing import LocalDurableHost
from tests.test_order_orchestrator import Script, build_app


@dataclass
class FakeContext:
    instance_id: str
    is_replaying: bool


def test_log_event_writes_only_outside_replay(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.structured")
    with caplog.at_level(logging.INFO, logger="test.structured"):
        log_event(FakeContext("order-7", is_replaying=True), log, "order %s: %s", "7", "CheckInventory", order_id="7")
        assert caplog.records == []
        log_event(FakeContext("order-7", is_replaying=False), log, "order %s: %s", "7", "CheckInventory",
                  order_id="7", attempt=None)
    (record,) = caplog.records
    assert record.getMessage() == "order 7: CheckInventory | instance_id=order-7 order_id=7"
    assert record.instance_id == "order-7" and record.order_id == "7"
    assert not hasattr(record, "attempt")  # None fields are left out
    assert record.funcName == "test_log_event_writes_only_outside_replay"  # the caller, not the helper


def test_log_fields_for_code_that_does_not_replay(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.structured")
    with caplog.at_level(logging.INFO, logger="test.structured"):
        log_fields(log, "batch %s at 100%%", "b-1", instance_id="batch-b-1", batch_id="b 1")
        log_fields(log, "plain")
    first, second = caplog.records
    assert first.getMessage() == "batch b-1 at 100% | instance_id=batch-b-1 batch_id=b_1"
    assert first.batch_id == "b 1"
    assert second.getMessage() == "plain"


def test_field_names_that_clash_with_log_records_are_refused() -> None:
    with pytest.raises(ValueError, match="message, name"):
        event_fields("i-1", name="x", message="y")


async def test_order_steps_are_logged_once_each_with_the_instance_and_order_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="orders"):
        async with LocalDurableHost(app=build_app(Script()), virtual_clock=True) as host:
            instance_id = await host.start("OrderProcessing_Orchestrator", {"orderId": "L-1"}, "order-L-1")
            record = await host.wait(instance_id)
    assert record.runtime_status == "Completed"
    lines = [r for r in caplog.records if r.name == "orders"]
    assert [r.getMessage() for r in lines] == [
        f"order L-1: {step} | instance_id=order-L-1 order_id=L-1"
        for step in ("CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail", "Completed")
    ]
    assert all(r.instance_id == "order-L-1" and r.order_id == "L-1" for r in lines)
