"""The entity scheduler's data, held to the extension's EntityScheduler sources (devhost/entity_state.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from devhost.entity_state import (
    InvalidEntityId,
    MessageSorter,
    SchedulerState,
    parse_scheduler_id,
    parse_ticks,
    request_guid,
    request_message,
    round_trip,
    scheduler_id,
    state_exists,
    ticks,
    ticks_json,
    validate_entity_id,
    validate_signal_key,
)

NOW = datetime(2024, 10, 23, 16, 58, 46, 123456, tzinfo=UTC)


def sent(sorter: MessageSorter, op: str, at: datetime, parent: str = "orch-1") -> dict[str, object]:
    message = request_message(op, None, str(uuid.uuid4()), signal=True, parent=parent, typed=True)
    sorter.label_outgoing(message, "@counter@k", at)
    return message


def test_scheduler_ids_lower_case_the_name_and_split_at_the_second_at() -> None:
    """EntityId's constructor: EntityName = name.ToLowerInvariant(), the key as given (not null);
    EntityId.GetEntityIdFromSchedulerId splits at IndexOf('@', 1), so a key may contain '@'."""
    assert scheduler_id("Counter", "Key@Part") == "@counter@Key@Part"
    assert parse_scheduler_id("@counter@Key@Part") == ("counter", "Key@Part")
    with pytest.raises(InvalidEntityId):
        parse_scheduler_id("counter")
    with pytest.raises(InvalidEntityId, match="entity key must not be null"):
        validate_entity_id("counter", None)
    validate_entity_id("counter", "")  # the empty key is a key
    with pytest.raises(InvalidEntityId, match="must not contain"):
        validate_signal_key("a/b")  # DurableClient.SignalEntityAsyncInternal: no / \ # ? or control characters


def test_request_ids_are_name_based_guids_of_instance_time_and_counter() -> None:
    """DurableOrchestrationContext.NewGuid: GuidManager.CreateDeterministicGuid(UrlNamespaceValue,
    "{InstanceId}_{CurrentUtcDateTime:o}_{newGuidCounter}"): SHA-1, version 5, in namespace
    9e952959-5e33-4daf-827f-2fa12937b875; ':o' writes seven fraction digits."""
    assert round_trip(NOW) == "2024-10-23T16:58:46.1234560Z"
    expected = uuid.uuid5(uuid.UUID("9e952959-5e33-4daf-827f-2fa12937b875"), "orch-1_2024-10-23T16:58:46.1234560Z_3")
    assert request_guid("orch-1", NOW, 3) == str(expected)
    assert uuid.UUID(request_guid("orch-1", NOW, 3)).version == 5
    assert request_guid("orch-1", NOW, 4) != request_guid("orch-1", NOW, 3)


def test_times_are_written_as_newtonsoft_writes_datetime() -> None:
    """Newtonsoft's ISO format: trailing zeros of the fraction dropped; DateTime.MinValue bare."""
    assert ticks_json(0) == "0001-01-01T00:00:00"
    assert ticks_json(ticks(NOW)) == "2024-10-23T16:58:46.123456Z"
    assert ticks_json(ticks(NOW.replace(microsecond=0))) == "2024-10-23T16:58:46Z"
    assert parse_ticks("2024-10-23T16:58:46.1234567Z") == ticks(NOW) + 7
    assert parse_ticks(ticks_json(ticks(NOW) + 1)) == ticks(NOW) + 1


def test_request_messages_leave_out_defaults_and_carry_the_sorter_fields() -> None:
    """RequestMessage.cs: `signal`, `input`, `parent`, `parentExecution` are left out when default; Timestamp and
    Predecessor (PascalCase, no JsonProperty name) are always written; the orchestration's converter adds $type."""
    client = request_message("add", '"5"', "id-1", signal=True)
    assert client == {"op": "add", "signal": True, "input": '"5"', "id": "id-1",
                      "Timestamp": "0001-01-01T00:00:00", "Predecessor": "0001-01-01T00:00:00"}
    call = request_message("get", None, "id-2", signal=False, parent="orch", parent_execution="exec", typed=True)
    assert list(call) == ["$type", "op", "id", "parent", "parentExecution", "Timestamp", "Predecessor"]
    assert call["$type"].startswith("Microsoft.Azure.WebJobs.Extensions.DurableTask.RequestMessage, ")


def test_outgoing_labels_are_monotonic_per_destination() -> None:
    """MessageSorter.LabelOutgoingMessage: Timestamp = now, but one tick after the last message to the same
    destination when the clock did not move; Predecessor = that last timestamp."""
    sorter = MessageSorter()
    first, second = sent(sorter, "a", NOW), sent(sorter, "b", NOW)
    assert first["Predecessor"] == "0001-01-01T00:00:00"
    assert parse_ticks(second["Timestamp"]) == parse_ticks(first["Timestamp"]) + 1
    assert second["Predecessor"] == first["Timestamp"]


def test_the_receiver_drops_duplicates_and_waits_for_predecessors() -> None:
    """MessageSorter.ReceiveInOrder: a message whose Timestamp is not after the sender's Last was delivered
    already (dropped); one whose Predecessor was not delivered yet is buffered and delivered after it;
    client signals (no parent) pass through untouched."""
    sender = MessageSorter()
    one, two, three = sent(sender, "1", NOW), sent(sender, "2", NOW), sent(sender, "3", NOW + timedelta(seconds=1))
    receiver = MessageSorter()
    assert receiver.receive_in_order(two) == []  # its predecessor "1" has not arrived
    assert [m["op"] for m in receiver.receive_in_order(one)] == ["1", "2"]
    assert receiver.receive_in_order(one) == []  # redelivered: a duplicate
    assert [m["op"] for m in receiver.receive_in_order(three)] == ["3"]
    client = request_message("x", None, "c", signal=True)
    assert receiver.receive_in_order(client) == [client]
    assert receiver.receive_in_order(client) == [client]


def test_scheduler_state_round_trips_with_defaults_left_out() -> None:
    """SchedulerState.cs (DefaultValueHandling.Ignore on every member, the sorter always present) and
    TaskEntityShim.GetStatus (EntityStatus: entityExists, queueSize, lockedBy, defaults left out)."""
    assert SchedulerState().to_json() == '{"sorter":{}}'
    assert SchedulerState().status() == "{}"
    state = SchedulerState(exists=True, state="5", queue=[{"op": "add", "id": "x"}])
    state.sorter.receive_in_order(sent(MessageSorter(), "a", NOW))
    again = SchedulerState.from_input(state.to_json())
    assert again == state
    assert json.loads(again.status()) == {"entityExists": True, "queueSize": 1}
    assert list(json.loads(state.to_json())) == ["exists", "state", "queue", "sorter"]


def test_a_state_of_null_text_still_counts_as_existing() -> None:
    """ClientEntityHelpers.GetEntityState (DurableTask.AzureStorage's native entity read, which the extension
    uses for Azure Storage): existence is `state != null`; the Python SDK's destruct_on_exit() stores the text
    "null", so such an entity reads as existing with a null state (200 `null` over HTTP)."""
    assert state_exists('{"state":"null","sorter":{}}') == (True, "null")
    assert state_exists('{"sorter":{}}') == (False, None)
    assert state_exists(None) == (False, None)
