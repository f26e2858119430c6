"""Property-based tests (hypothesis) of the request validators in common/*_requests.py and read_json_body.

For any JSON-like input a validator either returns a well-formed request or raises the app's
`RequestError` (a 4xx whose response is the JSON error shape), never another exception; valid
input built from the documented rules is accepted and normalised as documented; and no blob name
or prefix the batch validator accepts can leave the input container.

Examples are few (200 per property) and there is no deadline, so the suite stays fast and never
flaky on a busy machine; `database=None` keeps hypothesis from writing `.hypothesis/` into the
working tree (a failure prints the falsifying example and a reproduction blob instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from batch.requests import (
    MAX_NAME_LENGTH,
    blob_name_problem,
    parse_batch_request,
    parse_file_list,
    validate_batch_id,
    validate_prefix,
)
from common.http import RequestError, read_json_body
from common.validation import ID_PATTERN, validate_email
from leave.requests import (
    INSTANCE_ID_PATTERN,
    RESULTS,
    Decision,
    LeaveRequest,
    parse_decision,
    parse_leave_request,
)
from orders.catalog import Product
from orders.requests import (
    MAX_ITEMS,
    MAX_QUANTITY,
    NewOrderRequest,
    RequestedItem,
    is_order_reference,
    parse_new_order,
    price_items,
    validate_items,
    validate_order_id,
)


def validate_customer_email(value: Any) -> str:
    """The order's e-mail rule, as the order validator applies it."""
    return validate_email(value, "customerEmail")


PROPERTY = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TODAY = date(2030, 6, 15)

# --- strategies ---------------------------------------------------------------------------------

# Any character, surrogates included: `\udXXX` escapes in a JSON body decode to them.
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=30) | any_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)

ids = st.from_regex(ID_PATTERN, fullmatch=True)
label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[A-Za-z0-9_-]{1,10}){0,2}", fullmatch=True),
    st.lists(label, min_size=1, max_size=3),
    st.from_regex(r"[A-Za-z]{2,10}", fullmatch=True),
)
padding = st.sampled_from(["", " ", "\t", " \n "])  # surrounding whitespace the validators strip
padded_emails = st.builds(lambda before, address, after: before + address + after, padding, emails, padding)
lines = st.lists(st.tuples(ids, st.integers(1, MAX_QUANTITY)), min_size=1, max_size=MAX_ITEMS, unique_by=lambda t: t[0])


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: often a valid one, otherwise anything JSON (so deeper checks are reached too)."""
    return st.one_of(valid, json_values)


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """JSON objects with any subset of `fields` (valid or not) and sometimes an extra key; or any JSON at all."""
    known = st.fixed_dictionaries({}, optional={name: maybe(valid) for name, valid in fields.items()})
    extra = st.dictionaries(st.text(max_size=10), json_values, max_size=2)
    return st.one_of(known, st.builds(lambda a, b: {**b, **a}, known, extra), json_values)


# Blob name material: ordinary characters, and the pieces of traversal and encoding tricks.
safe_char = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\%")
segment = st.text(safe_char, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
valid_names = st.lists(segment, min_size=1, max_size=6).map("/".join).filter(
    lambda name: name.strip() and not name.endswith(".") and len(name) <= MAX_NAME_LENGTH)
TOKENS = ["a", "b", "é", " ", ".", "..", "/", "//", "\\", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%00", "%25",
          "\x00", "\x1f", "\x7f", "\x85", "\u202e", "\u200b", "\ud800", "\U0001f600"]
tricky_names = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=20).map("".join),
    any_text,
    st.builds(lambda n, tail: "a" * n + tail, st.integers(1000, 1100), st.sampled_from(["", "/", "/..", "."])),
)

instance_ids = st.from_regex(INSTANCE_ID_PATTERN, fullmatch=True)
reasons = st.text(max_size=1000).filter(lambda text: text.strip())


# --- helpers --------------------------------------------------------------------------------------


def outcome(validate: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`validate(...)`'s result, or the RequestError it raised (any other exception fails the test)."""
    try:
        return validate(*args, **kwargs)
    except RequestError as error:
        assert 400 <= error.status < 500, error.status
        assert isinstance(error.message, str) and error.message.strip()
        assert error.field is None or isinstance(error.field, str)
        body = json.loads(error.to_response().get_body())  # the response is the app's JSON error shape
        assert body["error"] == error.message and body["field"] == error.field
        return error


def path_is_safe(name: str) -> bool:
    """No control characters, backslash, leading '/', or '.'/'..' segment."""
    return (not any(ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in name) and "\\" not in name
            and not name.startswith("/") and not {".", ".."} & set(name.split("/")))


def assert_safe_blob_name(name: Any) -> None:
    assert isinstance(name, str) and 1 <= len(name) <= MAX_NAME_LENGTH
    assert path_is_safe(name), name
    assert path_is_safe(unquote(name)), name  # not after one round of %-decoding either
    assert "" not in name.split("/"), name
    name.encode("utf-8")  # valid Unicode text: no unpaired surrogates


def request(body: bytes, content_type: str | None = "application/json") -> func.HttpRequest:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return func.HttpRequest("POST", "http://localhost:7071/api/x", body=body, headers=headers)


# --- orders ---------------------------------------------------------------------------------------


@PROPERTY
@given(bodies({"orderId": ids | st.integers(min_value=0), "customerEmail": padded_emails,
               "items": lines.map(lambda ls: [{"sku": s, "quantity": q} for s, q in ls])}))
def test_the_order_validator_returns_a_request_or_a_request_error(body: Any) -> None:
    assert isinstance(is_order_reference(body), bool)
    result = outcome(parse_new_order, body)
    if isinstance(result, RequestError):
        return
    assert isinstance(result, NewOrderRequest)
    assert ID_PATTERN.fullmatch(result.order_id)
    assert validate_customer_email(result.customer_email) == result.customer_email
    assert 1 <= len(result.items) <= MAX_ITEMS and len({i.sku for i in result.items}) == len(result.items)
    assert all(ID_PATTERN.fullmatch(i.sku) and 1 <= i.quantity <= MAX_QUANTITY for i in result.items)


@PROPERTY
@given(json_values)
def test_each_order_field_validator_returns_a_value_or_a_request_error(value: Any) -> None:
    for validate in (validate_order_id, validate_customer_email, validate_items):
        outcome(validate, value)


@PROPERTY
@given(ids | st.integers(min_value=0, max_value=10**63), padded_emails, lines)
def test_a_valid_new_order_is_accepted_and_normalised(order_id: str | int, email: str,
                                                      items: list[tuple[str, int]]) -> None:
    body = {"orderId": order_id, "customerEmail": email, "items": [{"sku": s, "quantity": q} for s, q in items]}
    assert parse_new_order(body) == NewOrderRequest(
        str(order_id), email.strip(), tuple(RequestedItem(s, q) for s, q in items))


@PROPERTY
@given(lines, st.sets(ids))
def test_pricing_names_the_first_unknown_sku_or_prices_every_line(items: list[tuple[str, int]],
                                                                  extra: set[str]) -> None:
    requested = [RequestedItem(s, q) for s, q in items]
    known = {s for s, _ in items[::2]} | extra
    catalogue = {sku: Product(sku, sku, Decimal("1.50")) for sku in known}
    result = outcome(price_items, requested, catalogue)
    unknown = [index for index, line in enumerate(requested) if line.sku not in known]
    if unknown:
        assert isinstance(result, RequestError) and result.field == f"items[{unknown[0]}].sku"
    else:
        assert [(line.sku, line.quantity, line.unit_price) for line in result] == [
            (s, q, Decimal("1.50")) for s, q in items]


# --- batch ----------------------------------------------------------------------------------------


@PROPERTY
@given(st.one_of(
    bodies({"files": st.lists(valid_names | tricky_names, min_size=1, max_size=5), "prefix": valid_names,
            "batchId": ids}),
    st.lists(valid_names | tricky_names | json_scalars, max_size=5),
))
def test_the_batch_validator_returns_a_request_or_a_request_error(body: Any) -> None:
    result = outcome(parse_batch_request, body)
    if isinstance(result, RequestError):
        return
    assert (result.files is None) != (result.prefix is None)
    assert validate_batch_id(result.batch_id) == result.batch_id
    for name in result.files or ():
        assert_safe_blob_name(name)
    if result.prefix is not None:
        assert_safe_blob_name(result.prefix.removesuffix("/") if len(result.prefix) > 1 else result.prefix)


@PROPERTY
@given(tricky_names | valid_names | json_scalars)
@example("%2e%2e/outbox/x")
@example("..\\x")
@example("a" * (MAX_NAME_LENGTH + 1))
@example("file\ud800.csv")
def test_every_accepted_blob_name_stays_inside_the_container(name: Any) -> None:
    problem = blob_name_problem(name)
    assert problem is None or (isinstance(problem, str) and problem)
    if problem is None:
        assert_safe_blob_name(name)
    listed = outcome(parse_file_list, [name], "files")
    assert isinstance(listed, RequestError) == (problem is not None)
    prefix = outcome(validate_prefix, name)
    if not isinstance(prefix, RequestError):
        assert_safe_blob_name(prefix.removesuffix("/") if len(prefix) > 1 else prefix)
    outcome(validate_batch_id, name)


@PROPERTY
@given(st.lists(valid_names, min_size=1, max_size=10), st.none() | ids)
def test_a_valid_file_list_is_accepted_in_order_without_duplicates(names: list[str], batch_id: str | None) -> None:
    body: Any = names + names[:2] if batch_id is None else {"files": names + names[:2], "batchId": batch_id}
    request = parse_batch_request(body)
    assert request.files == tuple(dict.fromkeys(names)) and request.prefix is None
    if batch_id is None:
        assert re.fullmatch(r"[0-9a-f]{32}", request.batch_id)
    else:
        assert request.batch_id == batch_id


@PROPERTY
@given(valid_names, st.booleans())
def test_a_valid_prefix_is_accepted_as_given(name: str, folder: bool) -> None:
    prefix = name + "/" if folder else name
    request = parse_batch_request({"prefix": prefix})
    assert request.prefix == prefix and request.files is None


# --- leave ----------------------------------------------------------------------------------------

leave_dates = st.dates(min_value=TODAY - timedelta(days=30), max_value=TODAY + timedelta(days=400)).map(date.isoformat)


@PROPERTY
@given(bodies({"employeeId": ids, "employeeEmail": padded_emails, "approverEmail": padded_emails,
               "startDate": leave_dates, "endDate": leave_dates, "reason": reasons, "requestId": ids}),
       st.integers(1, 60))
def test_the_leave_validator_returns_a_request_or_a_request_error(body: Any, max_days: int) -> None:
    result = outcome(parse_leave_request, body, today=TODAY, max_days=max_days)
    if isinstance(result, RequestError):
        return
    assert isinstance(result, LeaveRequest)
    assert TODAY <= result.start_date <= result.end_date and 1 <= result.days <= max_days
    assert result.approver_email.lower() != result.employee_email.lower()
    assert result.reason == result.reason.strip() and 1 <= len(result.reason) <= 1000
    # The instance id is generated, or `leave-` and the caller's id: always a safe, valid instance id.
    assert result.instance_id is None or (result.instance_id == f"leave-{body['requestId']}"
                                          and INSTANCE_ID_PATTERN.fullmatch(result.instance_id))


@PROPERTY
@given(ids, padded_emails, padded_emails, st.integers(0, 365), st.integers(1, 60), st.data())
def test_a_valid_leave_request_is_accepted_and_normalised(employee_id: str, employee: str, approver: str,
                                                          offset: int, max_days: int, data: st.DataObject) -> None:
    assume(employee.strip().lower() != approver.strip().lower())
    days = data.draw(st.integers(1, max_days))
    reason = data.draw(reasons)
    start = TODAY + timedelta(days=offset)
    end = start + timedelta(days=days - 1)
    body = {"employeeId": employee_id, "employeeEmail": employee, "approverEmail": approver,
            "startDate": start.isoformat(), "endDate": end.isoformat(), "reason": reason}
    request = parse_leave_request(body, today=TODAY, max_days=max_days)
    assert request == LeaveRequest(employee_id, employee.strip(), approver.strip(), start, end, reason.strip())
    assert request.days == days and request.to_json()["days"] == days


@PROPERTY
@given(bodies({"instanceId": instance_ids, "result": st.sampled_from(RESULTS), "approver": padded_emails,
               "comment": st.none() | st.text(max_size=1000)}))
def test_the_decision_validator_returns_a_decision_or_a_request_error(body: Any) -> None:
    result = outcome(parse_decision, body)
    if isinstance(result, RequestError):
        return
    assert isinstance(result, Decision)
    assert INSTANCE_ID_PATTERN.fullmatch(result.instance_id) and result.result in RESULTS
    assert result.comment is None or (result.comment == result.comment.strip() and result.comment)
    json.dumps(result.event_data())


@PROPERTY
@given(instance_ids, st.sampled_from(RESULTS), padded_emails, st.none() | st.text(max_size=1000))
def test_a_valid_decision_is_accepted_and_normalised(instance_id: str, result: str, approver: str,
                                                     comment: str | None) -> None:
    decision = parse_decision({"instanceId": instance_id, "result": result, "approver": approver, "comment": comment})
    expected_comment = comment.strip() or None if comment is not None else None
    assert decision == Decision(instance_id, result, approver.strip(), expected_comment)


@PROPERTY
@given(json_values, st.sampled_from(["employeeEmail", "approverEmail", "approver"]))
def test_the_leave_email_validator_returns_an_address_or_a_request_error(value: Any, field: str) -> None:
    result = outcome(validate_email, value, field)
    if isinstance(result, RequestError):
        assert result.field == field
    else:
        assert result == value.strip() and validate_customer_email(result) == result


# --- read_json_body -------------------------------------------------------------------------------

pathological = st.one_of(
    st.builds(lambda depth, opener: opener * depth, st.integers(1, 40_000), st.sampled_from([b"[", b'{"a":'])),
    st.integers(1, 10_000).map(lambda digits: b"9" * digits),
    st.sampled_from([b'"\\ud800"', b'["ok", "\\udfff"]', b'{"k\\udc00": 1}', b'{"a": ["\\ud83d"]}']),
    st.integers(64 * 1024 - 2, 64 * 1024 + 2).map(lambda size: b" " * size + b"1"),
)
content_types = st.sampled_from([None, "application/json", "application/json; charset=utf-8", "text/json",
                                 "application/merge-patch+json", "application/x-www-form-urlencoded", "text/plain",
                                 "application/xml", "multipart/form-data; boundary=x", "APPLICATION/JSON"])


@PROPERTY
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), pathological),
       content_types)
@example(b"[" * 20_000, "application/json")
@example(b"9" * 5_000, "application/json")
@example(b'{"reason": "x\\ud800"}', "application/json")
def test_read_json_body_returns_a_value_or_a_request_error(body: bytes, content_type: str | None) -> None:
    result = outcome(read_json_body, request(body, content_type))
    if isinstance(result, RequestError):
        assert result.field == "body" and result.status in (400, 413, 415)
    else:
        json.dumps(result, ensure_ascii=False).encode("utf-8")  # plain Unicode text throughout


@PROPERTY
@given(json_values.filter(lambda v: v is not None))
def test_read_json_body_round_trips_json_without_surrogates(value: Any) -> None:
    text = json.dumps(value)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        assert isinstance(outcome(read_json_body, request(text.encode())), RequestError)
        return
    assert json.dumps(read_json_body(request(text.encode()))) == text
