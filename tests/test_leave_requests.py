"""Validation of leave requests and decisions, and the leave settings: what is accepted, what each rejection names."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from common.http import RequestError
from common.settings import SettingError
from leave import settings as leave_settings
from leave.requests import MAX_COMMENT, MAX_REASON, new_request_id, parse_decision, parse_leave_request

TODAY = date(2030, 6, 1)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"employeeId": "E-1", "employeeEmail": "ann@example.com",
                            "approverEmail": "boss@example.com", "startDate": "2030-06-10", "endDate": "2030-06-12",
                            "reason": "Summer holiday"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def rejection(value: Any, max_days: int = 30) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_leave_request(value, today=TODAY, max_days=max_days)
    assert caught.value.status == 400
    return caught.value


def test_a_valid_request_parses() -> None:
    request = parse_leave_request(body(reason="  Summer holiday "), today=TODAY, max_days=30)
    assert (request.employee_id, request.approver_email, request.days) == ("E-1", "boss@example.com", 3)
    assert request.to_json() == {"employeeId": "E-1", "employeeEmail": "ann@example.com",
                                 "approverEmail": "boss@example.com", "startDate": "2030-06-10",
                                 "endDate": "2030-06-12", "days": 3, "reason": "Summer holiday"}


def test_edges_that_are_allowed() -> None:
    # Starting today, one day long, and exactly the maximum length.
    assert parse_leave_request(body(startDate="2030-06-01", endDate="2030-06-01"), today=TODAY, max_days=30).days == 1
    assert parse_leave_request(body(startDate="2030-06-01", endDate="2030-06-30"), today=TODAY, max_days=30).days == 30


@pytest.mark.parametrize(("value", "field"), [
    (None, "body"),
    ([], "body"),
    ("text", "body"),
    (body(employeeId=...), "employeeId"),
    (body(employeeId=""), "employeeId"),
    (body(employeeId=7), "employeeId"),
    (body(employeeId="-E1"), "employeeId"),
    (body(employeeId="E 1"), "employeeId"),
    (body(employeeEmail=...), "employeeEmail"),
    (body(employeeEmail="not-an-email"), "employeeEmail"),
    (body(approverEmail=...), "approverEmail"),
    (body(approverEmail="boss@"), "approverEmail"),
    (body(approverEmail=["boss@example.com"]), "approverEmail"),
    (body(approverEmail="ANN@example.com"), "approverEmail"),  # approving one's own leave
    (body(startDate=...), "startDate"),
    (body(startDate="10.06.2030"), "startDate"),
    (body(startDate="2030-02-30"), "startDate"),
    (body(startDate="2030-06-10T00:00:00"), "startDate"),
    (body(startDate=20300610), "startDate"),
    (body(startDate="2030-05-31"), "startDate"),  # yesterday: in the past
    (body(endDate=...), "endDate"),
    (body(endDate="2030-13-01"), "endDate"),
    (body(endDate="2030-06-09"), "endDate"),  # before the start
    (body(startDate="2030-06-01", endDate="2030-07-01"), "endDate"),  # 31 days
    (body(reason=...), "reason"),
    (body(reason="   "), "reason"),
    (body(reason=42), "reason"),
    (body(reason="x" * (MAX_REASON + 1)), "reason"),
])
def test_rejections_name_the_field(value: Any, field: str) -> None:
    assert rejection(value).field == field


def test_the_maximum_length_comes_from_the_caller() -> None:
    error = rejection(body(startDate="2030-06-10", endDate="2030-06-12"), max_days=2)
    assert error.field == "endDate" and error.extra == {"maxDays": 2}


def test_request_ids_are_unique_instance_ids() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("leave-") and len(i) == 38 for i in ids)


def decision(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"instanceId": "leave-abc", "result": "Approved", "approver": "boss@example.com",
                            "comment": "Enjoy"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def test_a_valid_decision_parses() -> None:
    parsed = parse_decision(decision(approver=" Boss@Example.com "))
    assert (parsed.instance_id, parsed.result, parsed.approver, parsed.comment) == (
        "leave-abc", "Approved", "Boss@Example.com", "Enjoy")
    assert parsed.event_data() == {"result": "Approved", "approver": "Boss@Example.com", "comment": "Enjoy"}
    assert parse_decision(decision(comment=...)).comment is None
    assert parse_decision(decision(comment=None)).comment is None
    assert parse_decision(decision(comment="x" * MAX_COMMENT)).comment == "x" * MAX_COMMENT


@pytest.mark.parametrize(("value", "field"), [
    (None, "body"),
    (["leave-abc"], "body"),
    (decision(instanceId=...), "instanceId"),
    (decision(instanceId=""), "instanceId"),
    (decision(instanceId=12), "instanceId"),
    (decision(instanceId="../admin"), "instanceId"),
    (decision(instanceId="leave-abc/terminate"), "instanceId"),
    (decision(instanceId="leave abc"), "instanceId"),
    (decision(instanceId="x" * 101), "instanceId"),
    (decision(result=...), "result"),
    (decision(result="approved"), "result"),
    (decision(result="Maybe"), "result"),
    (decision(result=True), "result"),
    (decision(approver=...), "approver"),
    (decision(approver="boss"), "approver"),
    (decision(approver=1), "approver"),
    (decision(comment=5), "comment"),
    (decision(comment={"text": "x"}), "comment"),
    (decision(comment="x" * (MAX_COMMENT + 1)), "comment"),
])
def test_decision_rejections_name_the_field(value: Any, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_decision(value)
    assert (caught.value.status, caught.value.field) == (400, field)


@pytest.mark.parametrize(("text", "expected"), [
    ("PT72H", timedelta(hours=72)),
    ("P3D", timedelta(days=3)),
    ("P1DT12H", timedelta(days=1, hours=12)),
    ("PT4S", timedelta(seconds=4)),
    ("PT1.5S", timedelta(seconds=1.5)),
    ("PT90M", timedelta(minutes=90)),
    ("P2W", timedelta(weeks=2)),
    (" PT1H ", timedelta(hours=1)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert leave_settings.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "72H", "PT72", "P1Y", "P1M", "PT-1H", "pt72h", "P1.5D",
                                  "PT1H30", "3 days", "P1D1H"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        leave_settings.parse_duration(text)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEAVE_APPROVAL_TIMEOUT", "LEAVE_REMINDER_ENABLED", "LEAVE_MAX_DAYS", "LEAVE_RETRY_FIRST_INTERVAL_MS",
                 "LEAVE_RETRY_MAX_ATTEMPTS", "LEAVE_EMAIL_FROM", "LEAVE_APPROVER_IDENTITY"):
        monkeypatch.delenv(name, raising=False)
    assert leave_settings.approval_timeout() == timedelta(hours=72)
    assert leave_settings.reminder_enabled() is True
    assert leave_settings.max_days() == 30
    assert leave_settings.retry_settings() == {"firstRetryIntervalMs": 2000, "maxAttempts": 3}
    assert leave_settings.email_sender() == "leave@example.com"
    assert leave_settings.approver_identity() == "body"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVAL_TIMEOUT", "PT4S")
    monkeypatch.setenv("LEAVE_REMINDER_ENABLED", "false")
    monkeypatch.setenv("LEAVE_MAX_DAYS", "10")
    assert leave_settings.approval_timeout() == timedelta(seconds=4)
    assert leave_settings.reminder_enabled() is False
    assert leave_settings.max_days() == 10


@pytest.mark.parametrize(("name", "value"), [
    ("LEAVE_APPROVAL_TIMEOUT", "72h"), ("LEAVE_APPROVAL_TIMEOUT", "PT0S"), ("LEAVE_APPROVAL_TIMEOUT", "P400D"),
    ("LEAVE_REMINDER_ENABLED", "maybe"), ("LEAVE_MAX_DAYS", "0"), ("LEAVE_MAX_DAYS", "ten"),
])
def test_bad_settings_are_configuration_errors(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    reader = {"LEAVE_APPROVAL_TIMEOUT": leave_settings.approval_timeout,
              "LEAVE_REMINDER_ENABLED": leave_settings.reminder_enabled,
              "LEAVE_MAX_DAYS": leave_settings.max_days}[name]
    with pytest.raises(SettingError, match=name):
        reader()
