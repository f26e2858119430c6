"""LeaveApproval_Orchestrator driven through the real SDK replay, with a virtual clock.

The orchestrator is the production blueprint; the activities are scripted stand-ins
that record their inputs. `Script.recorded` plays the request row: the decision that
SubmitApprovalResult recorded, which ConfirmLeaveDecision reports (`decide` records,
then raises, as SubmitApprovalResult does). Time only moves when a test says so (`host.advance`), so a
72-hour deadline passes in milliseconds and "the instance completes at once after
the decision" means: without the clock moving at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.history import EventType, event, execution_started, parse_time
from devhost.store import InstanceRecord
from devhost.testing import LocalDurableHost
from leave.requests import decision_in
from orchestrators.leave_orchestrator import bp as leave_orchestrator

ORCHESTRATOR = "LeaveApproval_Orchestrator"
EVENT = "ApprovalResult"
ACTIVITIES = ("SubmitLeaveRequest", "SendApprovalReminder", "ConfirmLeaveDecision", "NotifyApproval", "NotifyRejection",
              "ExpireLeaveRequest")
APPROVER = "boss@example.com"
HOURS_72 = 72 * 3600


def leave_input(**overrides: Any) -> dict[str, Any]:
    value = {
        "requestId": "leave-1", "employeeId": "E-1", "employeeEmail": "ann@example.com", "approverEmail": APPROVER,
        "startDate": "2030-07-01", "endDate": "2030-07-03", "days": 3, "reason": "Summer holiday",
        "timeoutSeconds": HOURS_72, "reminder": {"enabled": True},
        "retry": {"firstRetryIntervalMs": 1000, "maxAttempts": 2},
        "approvalUrl": "http://localhost:7071/api/SubmitApprovalResult",
    }
    value.update(overrides)
    return value


class Script:
    """Scripted activities: record every call's input; optionally hold SubmitLeaveRequest until released."""

    def __init__(self, *, hold_submit: bool = False, **results: Any):
        self.results = results
        self.calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.order: list[str] = []
        self.hold_submit = hold_submit
        self.recorded: dict[str, Any] | None = None  # the decision in the request row, if any
        self.submit_entered = asyncio.Event()
        self.submit_release = asyncio.Event()

    async def run(self, name: str, payload: dict[str, Any]) -> Any:
        self.calls[name].append(payload)
        self.order.append(name)
        if name == "SubmitLeaveRequest" and self.hold_submit:
            self.submit_entered.set()
            await self.submit_release.wait()
        if name in self.results:
            outcome = self.results[name]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        request_id = payload["requestId"]
        if name == "ConfirmLeaveDecision":
            return {"confirmed": self.recorded is not None,
                    "status": "DecisionReceived" if self.recorded else "Pending", "decision": self.recorded}
        return {
            "SubmitLeaveRequest": {"requestId": request_id, "status": "Pending", "blobName": "b"},
            "SendApprovalReminder": {"sent": True, "status": "Pending", "blobName": "r"},
            "NotifyApproval": {"requestId": request_id, "status": "Approved", "blobName": "a"},
            "NotifyRejection": {"requestId": request_id, "status": "Rejected", "blobName": "x"},
            "ExpireLeaveRequest": {"expired": True, "status": "Expired", "blobName": "e"},
        }[name]


def build_app(script: Script) -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(leave_orchestrator)
    for name in ACTIVITIES:
        async def activity(payload: dict[str, Any], _name: str = name) -> Any:
            return await script.run(_name, payload)
        activity.__name__ = name
        app.function_name(name)(app.activity_trigger(input_name="payload")(activity))
    return app


def kinds(record: InstanceRecord) -> list[int]:
    return [e["EventType"] for e in record.history]


def timers(record: InstanceRecord) -> tuple[dict[int, datetime], set[int]]:
    """Created timers (id -> FireAt) and the ids of those that fired."""
    created = {e["EventId"]: parse_time(e["FireAt"])
               for e in record.history if e["EventType"] == EventType.TimerCreated}
    fired = {e["TimerId"] for e in record.history if e["EventType"] == EventType.TimerFired}
    return created, fired


def custom_status(record: InstanceRecord) -> dict[str, Any]:
    return json.loads(record.custom_status or "null")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


async def decide(host: LocalDurableHost, script: Script, instance_id: str, data: dict[str, Any]) -> None:
    """As SubmitApprovalResult does: record the decision in the row, then raise the event."""
    script.recorded = {"comment": None, **data}
    await host.raise_event(instance_id, EVENT, data)


async def started(host: LocalDurableHost, value: dict[str, Any] | None = None) -> tuple[str, datetime]:
    """Start an instance and let it reach its wait; returns the id and the start time."""
    start = host.clock.now()
    instance_id = await host.start(ORCHESTRATOR, value or leave_input(), "leave-1")
    await host.idle()
    return instance_id, start


async def test_first_episode_schedules_submit_with_the_deadline_from_the_orchestration_clock() -> None:
    """History in, actions out: the deadline is the start time plus the timeout, whatever the wall clock says."""
    fn = next(f for f in build_app(Script()).get_functions()
              if f.get_function_name() == ORCHESTRATOR).get_user_function()
    now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    input_text = json.dumps(leave_input())
    history = [
        event(EventType.OrchestratorStarted, now),
        execution_started(now, instance_id="leave-1", execution_id="e1", name=ORCHESTRATOR,
                          input_json=json.dumps(input_text)),
    ]
    payload = {"history": history, "input": input_text, "instanceId": "leave-1", "isReplaying": False,
               "parentInstanceId": None, "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}
    state = json.loads(fn(func.OrchestrationContext(json.dumps(payload))))
    [[compound]] = state["actions"]
    [action] = compound["compoundActions"]
    assert action["functionName"] == "SubmitLeaveRequest"
    assert action["retryOptions"] == {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 2}
    submitted = json.loads(action["input"])
    assert submitted["submittedAt"] == "2030-01-01T09:00:00.000Z"
    assert submitted["deadline"] == "2030-01-04T09:00:00.000Z"
    assert submitted["instanceId"] == "leave-1"
    assert submitted["approvalUrl"] == "http://localhost:7071/api/SubmitApprovalResult"
    assert state["customStatus"] == {"requestId": "leave-1", "step": "SubmitLeaveRequest",
                                     "deadline": "2030-01-04T09:00:00.000Z"}


async def test_approval_before_halfway_completes_at_once_without_a_reminder() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        waiting = await host.status(instance_id)
        assert waiting.runtime_status == "Running"
        assert custom_status(waiting) == {
            "requestId": "leave-1", "step": "AwaitingApproval", "deadline": iso(start + timedelta(hours=72)),
            "approverEmail": APPROVER, "reminderAt": iso(start + timedelta(hours=36)), "reminderSent": False,
        }
        await host.advance(timedelta(hours=10))
        # Through the SDK client's encoding: the orchestrator receives JSON text, not an object.
        await decide(host, script, instance_id, {"result": "Approved", "approver": APPROVER, "comment": "Enjoy"})
        record = await host.wait(instance_id, timeout=5)  # no clock movement needed: the timers were cancelled
    assert record.runtime_status == "Completed"
    assert host.output(record) == "Leave request approved."
    assert script.order == ["SubmitLeaveRequest", "ConfirmLeaveDecision", "NotifyApproval"]
    [notify] = script.calls["NotifyApproval"]
    assert notify == {"requestId": "leave-1", "approver": APPROVER, "comment": "Enjoy",
                      "decidedAt": iso(start + timedelta(hours=10))}
    created, fired = timers(record)
    assert sorted(created.values()) == [start + timedelta(hours=36), start + timedelta(hours=72)]
    assert fired == set()
    assert custom_status(record)["step"] == "Approved"
    assert custom_status(record)["decidedBy"] == APPROVER


async def test_reminder_is_sent_exactly_once_at_halfway_then_a_rejection() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        await host.advance(timedelta(hours=35, minutes=59))
        assert script.calls["SendApprovalReminder"] == []
        await host.advance(timedelta(minutes=1))
        assert len(script.calls["SendApprovalReminder"]) == 1
        assert script.calls["SendApprovalReminder"][0] == {
            "requestId": "leave-1", "approvalUrl": "http://localhost:7071/api/SubmitApprovalResult",
            "remindedAt": iso(start + timedelta(hours=36))}
        assert custom_status(await host.status(instance_id))["reminderSent"] is True
        for _ in range(3):  # more time passes (but not the deadline): still one reminder
            await host.advance(timedelta(hours=10))
        assert len(script.calls["SendApprovalReminder"]) == 1
        await decide(host, script, instance_id, {"result": "Rejected", "approver": APPROVER, "comment": None})
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request rejected."
    assert script.order == ["SubmitLeaveRequest", "SendApprovalReminder", "ConfirmLeaveDecision", "NotifyRejection"]
    assert script.calls["NotifyRejection"][0]["decidedAt"] == iso(start + timedelta(hours=66))
    created, fired = timers(record)
    reminder_id = next(i for i, at in created.items() if at == start + timedelta(hours=36))
    deadline_id = next(i for i, at in created.items() if at == start + timedelta(hours=72))
    assert fired == {reminder_id}  # the deadline timer was created and cancelled, never fired
    assert deadline_id not in fired


async def test_no_decision_by_the_deadline_expires_the_request() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        for _ in range(6):
            await host.advance(timedelta(hours=12))
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request expired without a decision."
    assert script.order == ["SubmitLeaveRequest", "SendApprovalReminder", "ExpireLeaveRequest"]
    assert script.calls["ExpireLeaveRequest"] == [
        {"requestId": "leave-1", "decidedAt": iso(start + timedelta(hours=72))}]
    created, fired = timers(record)
    assert fired == set(created)
    assert custom_status(record) == {"requestId": "leave-1", "step": "Expired", "decidedBy": "system",
                                     "decidedAt": iso(start + timedelta(hours=72))}


async def test_the_deadline_follows_the_configured_timeout() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host, leave_input(timeoutSeconds=4))
        await host.advance(timedelta(seconds=2))
        assert len(script.calls["SendApprovalReminder"]) == 1
        await host.advance(timedelta(seconds=2))
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request expired without a decision."
    assert script.calls["ExpireLeaveRequest"][0]["decidedAt"] == iso(start + timedelta(seconds=4))


async def test_without_the_reminder_setting_there_is_one_timer_and_no_reminder() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, _ = await started(host, leave_input(reminder={"enabled": False}))
        await host.advance(timedelta(hours=72))
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request expired without a decision."
    assert "SendApprovalReminder" not in script.order
    assert kinds(record).count(EventType.TimerCreated) == 1


async def test_a_decision_raised_before_the_orchestrator_waits_is_not_lost() -> None:
    script = Script(hold_submit=True)
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, leave_input(), "leave-1")
        await asyncio.wait_for(script.submit_entered.wait(), 5)  # SubmitLeaveRequest is running, not done
        await decide(host, script, instance_id, {"result": "Approved", "approver": APPROVER})
        await asyncio.sleep(0.05)
        assert (await host.status(instance_id)).runtime_status == "Running"
        script.submit_release.set()
        record = await host.wait(instance_id, timeout=5)
    history = kinds(record)
    assert history.index(EventType.EventRaised) < history.index(EventType.TaskCompleted)  # raised before the wait
    assert host.output(record) == "Leave request approved."
    assert script.order == ["SubmitLeaveRequest", "ConfirmLeaveDecision", "NotifyApproval"]
    assert EventType.TimerFired not in history


@pytest.mark.parametrize("encode", [
    pytest.param(lambda data: json.dumps(data), id="raw-object"),               # POST .../raiseEvent with a JSON body
    pytest.param(lambda data: json.dumps(json.dumps(data)), id="sdk-client"),   # DurableOrchestrationClient.raise_event
])
async def test_the_event_payload_is_accepted_as_object_or_json_text(encode: Any) -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, _ = await started(host)
        data = {"result": "Rejected", "approver": APPROVER, "comment": "Busy week"}
        script.recorded = data
        await host.engine.raise_event(instance_id, EVENT, encode(data))
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request rejected."
    assert script.calls["NotifyRejection"][0]["comment"] == "Busy week"


async def test_an_event_that_is_not_a_decision_is_ignored_and_the_wait_goes_on() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        await host.raise_event(instance_id, EVENT, {"result": "Maybe", "approver": APPROVER})
        await host.idle()
        assert (await host.status(instance_id)).runtime_status == "Running"
        await host.advance(timedelta(hours=36))
        assert len(script.calls["SendApprovalReminder"]) == 1  # the reminder still comes, at the same time
        assert script.calls["SendApprovalReminder"][0]["remindedAt"] == iso(start + timedelta(hours=36))
        await decide(host, script, instance_id, {"result": "Approved", "approver": APPROVER})
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request approved."
    created, fired = timers(record)
    # Round 1 (reminder + deadline) cancelled by the bad event; round 2 at the same times. A cancelled
    # timer's message is still delivered while the instance runs (round 1's reminder), and changes nothing.
    assert sorted(created.values()) == sorted([start + timedelta(hours=36), start + timedelta(hours=72)] * 2)
    assert {created[i] for i in fired} == {start + timedelta(hours=36)}
    assert len(script.calls["SendApprovalReminder"]) == 1

    assert "ConfirmLeaveDecision" not in script.order[:2]  # a payload that is no decision needs no look at the row


async def test_an_event_that_is_not_a_decision_is_logged_without_its_payload(caplog: pytest.LogCaptureFixture) -> None:
    script = Script()
    secret = {"result": "Maybe", "approver": "someone.private@example.com", "comment": "my medical reasons"}
    with caplog.at_level(logging.WARNING, logger="leave"):
        async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
            instance_id, _ = await started(host)
            await host.raise_event(instance_id, EVENT, secret)
            await host.idle()
    [line] = [r.getMessage() for r in caplog.records if r.name == "leave" and r.levelno == logging.WARNING]
    assert "is not a decision" in line
    assert "someone.private" not in line and "medical" not in line and "Maybe" not in line


async def test_a_decision_raised_without_a_recorded_claim_is_ignored_and_the_wait_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    """An ApprovalResult raised through the management API, past SubmitApprovalResult, decides nothing."""
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        with caplog.at_level(logging.WARNING, logger="leave"):
            await host.raise_event(instance_id, EVENT, {"result": "Approved", "approver": APPROVER})  # no claim
            await host.idle()
        waiting = await host.status(instance_id)
        assert waiting.runtime_status == "Running"
        assert custom_status(waiting)["step"] == "AwaitingApproval"
        assert script.order == ["SubmitLeaveRequest", "ConfirmLeaveDecision"]
        assert any("no decision was recorded through SubmitApprovalResult" in r.getMessage() for r in caplog.records)
        await host.advance(timedelta(hours=36))
        assert script.calls["SendApprovalReminder"][0]["remindedAt"] == iso(start + timedelta(hours=36))
        await host.advance(timedelta(hours=36))  # still no recorded decision: the deadline expires it
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request expired without a decision."
    assert "NotifyApproval" not in script.order


async def test_the_recorded_decision_is_applied_not_the_events_payload() -> None:
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        script.recorded = {"result": "Rejected", "approver": APPROVER, "comment": "Busy week"}
        forged = {"result": "Approved", "approver": "mallory@example.com", "comment": "Approved by myself"}
        await host.raise_event(instance_id, EVENT, forged)
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request rejected."
    assert script.order == ["SubmitLeaveRequest", "ConfirmLeaveDecision", "NotifyRejection"]
    assert script.calls["NotifyRejection"][0] == {"requestId": "leave-1", "approver": APPROVER,
                                                  "comment": "Busy week", "decidedAt": iso(start)}
    assert custom_status(record)["decidedBy"] == APPROVER


async def test_at_the_deadline_a_decision_recorded_just_before_is_honoured() -> None:
    recorded = {"result": "Rejected", "approver": APPROVER, "comment": "Recorded before the deadline"}
    script = Script(ExpireLeaveRequest={"expired": False, "status": "DecisionReceived", "decision": recorded})
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host)
        await host.advance(timedelta(hours=72))
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request rejected."
    assert script.order == ["SubmitLeaveRequest", "SendApprovalReminder", "ExpireLeaveRequest", "NotifyRejection"]
    assert script.calls["NotifyRejection"][0] == {"requestId": "leave-1", "approver": APPROVER,
                                                  "comment": "Recorded before the deadline",
                                                  "decidedAt": iso(start + timedelta(hours=72))}


async def test_a_deadline_longer_than_the_hosts_longest_timer_is_cancelled_too() -> None:
    """Over 6 days the SDK chains shorter timers; a decision must cancel the chain's open link as well."""
    script = Script()
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id, start = await started(host, leave_input(timeoutSeconds=14 * 86400, reminder={"enabled": False}))
        await host.advance(timedelta(days=4))  # one link of the chain (3 days) has fired
        await decide(host, script, instance_id, {"result": "Approved", "approver": APPROVER})
        record = await host.wait(instance_id, timeout=5)
    assert host.output(record) == "Leave request approved."
    created, fired = timers(record)
    assert len(created) == 2 and len(fired) == 1


async def test_steps_are_logged_once_although_the_orchestrator_replays(caplog: pytest.LogCaptureFixture) -> None:
    script = Script()
    with caplog.at_level(logging.INFO, logger="leave"):
        async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
            instance_id, _ = await started(host)
            await decide(host, script, instance_id, {"result": "Approved", "approver": APPROVER})
            await host.wait(instance_id, timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "leave"]
    assert lines == ["leave leave-1: SubmitLeaveRequest", "leave leave-1: AwaitingApproval",
                     "leave leave-1: NotifyApproval", "leave leave-1: Approved"]
    assert all(getattr(r, "request_id", None) == "leave-1" for r in caplog.records if r.name == "leave")


async def test_a_submit_that_keeps_failing_fails_the_instance() -> None:
    script = Script(SubmitLeaveRequest=RuntimeError("table unavailable"))
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        instance_id = await host.start(ORCHESTRATOR, leave_input(), "leave-1")
        for _ in range(3):
            await host.advance(timedelta(seconds=2))
        record = await host.wait(instance_id, timeout=5)
    assert record.runtime_status == "Failed"
    assert len(script.calls["SubmitLeaveRequest"]) == 2
    assert "table unavailable" in host.output(record)


@pytest.mark.parametrize(("payload", "expected"), [
    ({"result": "Approved", "approver": APPROVER, "comment": "ok"},
     {"result": "Approved", "approver": APPROVER, "comment": "ok"}),
    (json.dumps({"result": "Rejected", "approver": APPROVER}), {"result": "Rejected", "approver": APPROVER,
                                                                 "comment": None}),
    (json.dumps(json.dumps({"result": "approved"})), {"result": "Approved", "approver": None, "comment": None}),
    ({"result": "Approved", "approver": "  ", "comment": "x" * 1500},
     {"result": "Approved", "approver": None, "comment": "x" * 1000}),
    ({"result": "Maybe"}, None),
    ({"result": 1}, None),
    ("not json", None),
    (None, None),
    (["Approved"], None),
])
def test_decision_in(payload: Any, expected: dict[str, Any] | None) -> None:
    assert decision_in(payload) == expected


@pytest.mark.parametrize(("stored", "output"), [
    ("Approved", "Leave request approved."),
    ("Cancelled", "Leave request cancelled: its workflow ended without a decision."),
])
async def test_a_workflow_restarted_over_an_ended_request_ends_at_once(stored: str, output: str) -> None:
    """An operator restarts (same id) the workflow of a request that was decided or cancelled: SubmitLeaveRequest
    finds the row ended, and the workflow ends with that outcome instead of waiting on a decided request."""
    script = Script(SubmitLeaveRequest={"requestId": "leave-1", "status": stored, "blobName": None})
    async with LocalDurableHost(app=build_app(script), virtual_clock=True) as host:
        record = await host.wait(await host.start(ORCHESTRATOR, leave_input(), "leave-1"), timeout=5)
    assert record.runtime_status == "Completed" and host.output(record) == output
    assert script.order == ["SubmitLeaveRequest"]
    assert custom_status(record)["step"] == stored
