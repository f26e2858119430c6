"""Durable entities on the local host, as the Durable extension runs them for Python apps.

The app is tests/apps/entities (a counter and an ordered log). Engine tests run in-process and in Azure's
Python worker; each names the upstream source it reproduces (docs/entities-upstream-notes.md has the reading).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest
import requests

from devhost.config import DurableSettings
from devhost.engine import InvalidRequest
from devhost.entity_state import request_guid, request_message
from devhost.history import EventType, event, parse_time
from devhost.shim import NonDeterminismError, ShimReplay
from devhost.spawn import RunningHost, start_devhost, wait_for_status
from devhost.table_store import TableInstanceStore
from devhost.testing import LocalDurableHost
from devhost.transport import AzureQueueTransport, Message
from tools import azurite as azurite_control

APP = Path(__file__).resolve().parent / "apps" / "entities"
ENTITIES = "/runtime/webhooks/durabletask/entities"


@pytest.fixture(params=["in-process", "worker"])
def real_worker(request: pytest.FixtureRequest) -> bool:
    return request.param == "worker"


def kinds(history: list[dict[str, Any]]) -> list[str]:
    return [EventType(e["EventType"]).name for e in history]


async def test_an_orchestration_signals_and_calls_an_entity(real_worker: bool) -> None:
    """OutOfProcOrchestrationShim (CallEntity, SignalEntity) and TaskEntityShim.ExecuteOutOfProcBatch: a call
    gets the operation's result; an operation that raises answers ResponseMessage{exceptionType: "Error"}, which
    the SDK raises in the orchestrator with the entity's message; the state it changed before raising stays
    (the rollback of RollbackEntityOperationsOnExceptions exists only for in-process .NET entities)."""
    async with LocalDurableHost(APP, real_worker=real_worker) as host:
        record = await host.wait(await host.start("UseCounter", "k1"), timeout=30)
        exists, state = await host.entity_state("Counter", "k1")
    assert record.runtime_status == "Completed", record.output
    assert host.output(record) == {"first": 5, "second": 7, "error": "counter refuses at 7", "third": 1007}
    assert (exists, state) == (True, 1007)


async def test_entity_messages_are_numbered_and_shaped_as_the_extension_sends_them() -> None:
    """DurableOrchestrationContext.CallDurableTaskFunctionAsync (FunctionType.Entity) and SendEntityMessage: each
    call or signal is one DurableTask SendEvent (EventSent, next sequence number, Name "op", InstanceId
    "@counter@key"), its RequestMessage has a deterministic id (NewGuid), the orchestration as parent, `signal`
    only for signals, and the action's input JSON-encoded once more (RequestMessage.SetInput); the response is
    an EventRaised named by that id (WaitForEntityResponse)."""
    async with LocalDurableHost(APP) as host:
        record = await host.wait(await host.start("UseCounter", "k2"), timeout=30)
    sent = [e for e in record.history if e["EventType"] == EventType.EventSent]
    assert [e["EventId"] for e in sent] == list(range(len(sent))) == [0, 1, 2, 3, 4, 5]
    assert {e["Name"] for e in sent} == {"op"} and {e["InstanceId"] for e in sent} == {"@counter@k2"}
    requests_sent = [json.loads(e["Input"]) for e in sent]
    assert [(r["op"], r.get("signal", False)) for r in requests_sent] == [
        ("add", True), ("get", False), ("add", True), ("get", False), ("fail", False), ("get", False)]
    assert requests_sent[0]["input"] == '"5"' and requests_sent[1]["input"] == '"null"'
    assert all(r["parent"] == record.instance_id and r["parentExecution"] == record.execution_id
               for r in requests_sent)
    responses = {e["Name"]: json.loads(e["Input"]) for e in record.history if e["EventType"] == EventType.EventRaised}
    assert set(responses) == {r["id"] for r in requests_sent if not r.get("signal")}
    failed = responses[requests_sent[4]["id"]]
    assert failed["exceptionType"] == "Error" and json.loads(failed["result"]) == "counter refuses at 7"
    assert "exceptionType" not in responses[requests_sent[1]["id"]]


async def test_the_entity_is_an_orchestration_instance_that_continues_as_new() -> None:
    """TaskEntityShim.Execute: each batch commits with ContinueAsNew(SchedulerState), so the instance
    `@counter@key` (also its name) stays Running, its input is the scheduler state, its history only the new
    execution's start, and its custom status TaskEntityShim.GetStatus's EntityStatus."""
    async with LocalDurableHost(APP) as host:
        await host.wait(await host.start("UseCounter", "k3"), timeout=30)
        await host.idle()
        entity = await host.status("@counter@k3")
    assert entity is not None
    assert (entity.name, entity.runtime_status) == ("@counter@k3", "Running")
    assert json.loads(entity.custom_status or "") == {"entityExists": True}
    scheduler = json.loads(entity.input or "")
    assert scheduler["exists"] is True and scheduler["state"] == "1007" and "queue" not in scheduler
    assert list(scheduler["sorter"]["ReceivedFromInstance"]) != []  # the orchestration's messages were sorted
    assert kinds(entity.history) == ["OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]
    assert entity.history[1]["Name"] == "@counter@k3" and entity.history[1]["Input"] == entity.input


async def test_signals_of_one_orchestration_are_applied_in_the_order_sent(real_worker: bool) -> None:
    """MessageSorter.LabelOutgoingMessage / ReceiveInOrder: requests from one sender carry a timestamp and
    their predecessor, and the entity delivers them in that order; twenty signals then a call read back
    in order."""
    async with LocalDurableHost(APP, real_worker=real_worker) as host:
        record = await host.wait(await host.start("AppendInOrder", "log-1"), timeout=30)
    assert host.output(record) == list(range(20))


async def test_calls_to_several_entities_in_one_task_all() -> None:
    """Each entity call is its own SendEvent and response wait; task_all over them completes when every
    response arrived (DurableOrchestrationContext.WaitForEntityResponse under Task.WhenAll)."""
    async with LocalDurableHost(APP) as host:
        record = await host.wait(await host.start("CallInParallel", ["a", "bb", "ccc"]), timeout=30)
    assert host.output(record) == [1, 2, 3]


async def test_concurrent_signals_run_one_batch_at_a_time_and_each_once(real_worker: bool) -> None:
    """EntityMiddleware: the operations of a work item run in ONE invocation of the entity function, and one
    instance has one work item at a time; forty concurrent client signals all apply, in fewer invocations
    than operations, never two batches of the entity at once."""
    async with LocalDurableHost(APP, real_worker=real_worker) as host:
        invoke = host.engine.functions.entity
        in_flight = most = calls = 0

        async def counted(name: str, context_json: str) -> str:
            nonlocal in_flight, most, calls
            in_flight, calls = in_flight + 1, calls + 1
            most = max(most, in_flight)
            try:
                await asyncio.sleep(0.01)
                return await invoke(name, context_json)
            finally:
                in_flight -= 1

        host.engine.functions.entity = counted  # type: ignore[method-assign]
        await asyncio.gather(*(host.signal_entity("Counter", "busy", "add", 1) for _ in range(40)))
        await host.idle()
        assert await host.entity_state("Counter", "busy") == (True, 40)
    assert most == 1 and 1 <= calls < 40


async def test_a_batch_stops_at_the_batch_size_and_the_entity_continues() -> None:
    """EntityMiddleware dequeues at most MaxEntityOperationBatchSize operations (host.json
    durableTask.maxEntityOperationBatchSize); with more waiting it ToBeContinuedWithDelay: `suspended` is
    persisted and a "continue" message to itself resumes the rest in the next work item."""
    settings = dataclasses.replace(DurableSettings(), max_entity_operation_batch_size=3)
    host = LocalDurableHost(APP, settings=settings)
    batches: list[int] = []
    invoke = host.engine.functions.entity

    async def recorded(name: str, context_json: str) -> str:
        batches.append(len(json.loads(context_json)["batch"]))
        return await invoke(name, context_json)

    host.engine.functions.entity = recorded  # type: ignore[method-assign]
    for _ in range(10):  # queued before the host runs: one work item receives all ten
        await host.signal_entity("Counter", "limited", "add", 1)
    async with host:
        await host.idle()
        assert await host.entity_state("Counter", "limited") == (True, 10)
    assert batches == [3, 3, 3, 1]


async def test_the_client_refuses_unknown_entities_and_entity_ids_for_orchestrations() -> None:
    """ThrowIfFunctionDoesNotExist with DurableTaskExtension.GetInvalidEntityFunctionMessage (entity lookup ignores
    case), and DurableClient.StartNewAsync's "Orchestration instance ids must not start with @."
    (ArgumentException with its arguments swapped)."""
    async with LocalDurableHost(APP) as host:
        await host.signal_entity("COUNTER", "any", "reset")  # names are case-insensitive
        with pytest.raises(InvalidRequest) as refused:
            await host.signal_entity("Nope", "k", "add", 1)
        assert str(refused.value) == (  # the name as EntityId keeps it: lower-cased
            "The function 'nope' doesn't exist, is disabled, or is not an entity function. Additional info: "
            "The following are the known entity functions: 'Counter', 'OrderLog'.")
        with pytest.raises(InvalidRequest, match="must not start with @"):
            await host.start("UseCounter", "k", instance_id="@counter@k")
        await host.idle()
        assert await host.entity_state("counter", "any") == (True, 0)


async def test_requests_for_an_entity_function_the_app_no_longer_has_are_not_processed(
        caplog: pytest.LogCaptureFixture) -> None:
    """EntityMiddleware: for an entity whose function is not registered, entityShim.GetFunctionInfo() is null and
    the work item fails before anything is committed (its messages come back for as long as the function is
    missing, nothing is answered): no instance row, and the failure names the function."""
    async with LocalDurableHost(APP) as host:
        message = request_message("add", '"1"', str(uuid.uuid4()), signal=True)
        with caplog.at_level(logging.ERROR, logger="devhost.engine"):
            await host.engine.transport.send([Message("@ghost@k", event(
                EventType.EventRaised, host.clock.now(), Name="op", Input=json.dumps(message)))])
            await host.idle()
        assert await host.status("@ghost@k") is None
    assert any("The function 'ghost' doesn't exist" in (r.exc_text or "") for r in caplog.records)


async def test_entity_routes_of_the_http_api(real_worker: bool) -> None:
    """HttpApiHandler's entities/{entityName?}/{entityKey?} route: GET reads the state (404 when the entity does
    not exist), POST ?op= signals with the body as input (none when empty, parsed when application/json, the
    text as a string otherwise; 400 when the JSON does not parse), DELETE signals "delete", other methods 404;
    GET without a key lists existing entities (fetchState, top, x-ms-continuation-token). A Python entity
    deleted with destruct_on_exit() keeps the state text "null", which the native read reports as existing:
    200 with `null`."""
    async with LocalDurableHost(APP, serve_http=True, real_worker=real_worker) as host:
        base = host.base_url + ENTITIES
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/Counter/h1") as missing:
                assert missing.status == 404 and await missing.text() == ""
            for body in ('"5"', '"2"'):  # the Python entity reads JSON text: a JSON string, as the SDK sends
                async with http.post(f"{base}/Counter/h1?op=add", data=body,
                                     headers={"Content-Type": "application/json"}) as posted:
                    assert posted.status == 202 and await posted.text() == ""
            async with http.post(f"{base}/Counter/h2?op=add", data="3", headers={"Content-Type": "text/plain"}):
                pass  # the text "3" becomes the JSON string "3"
            async with http.post(f"{base}/Counter/h1?op=add", data="{not json",
                                 headers={"Content-Type": "application/json"}) as bad:
                assert bad.status == 400 and "Could not parse JSON content" in (await bad.json())["Message"]
            async with http.post(f"{base}/Nope/h1?op=add") as unknown:
                assert unknown.status == 400 and "'nope' doesn't exist" in (await unknown.json())["Message"]
            async with http.post(f"{base}/Counter?op=add") as keyless:  # EntityId(name, null)
                assert keyless.status == 400 and (await keyless.json()) == {
                    "Message": "Invalid entity id: entity key must not be null. (Parameter 'entityKey')"}
            async with http.post(f"{base}/Counter/a%3Fb?op=add") as bad_key:  # the key "a?b"
                assert bad_key.status == 400 and "Entity keys must not contain" in (await bad_key.json())["Message"]
            async with http.post(f"{base}/Counter/?op=reset") as empty_key:  # "$" is the empty key for GET only
                assert empty_key.status == 400
            async with http.put(f"{base}/Counter/h1") as put:
                assert put.status == 404
            await host.idle()
            async with http.get(f"{base}/counter/h1") as read:
                assert read.status == 200 and await read.json() == 7
            await host.signal_entity("Counter", "", "add", 9)
            await host.idle()
            async with http.get(f"{base}/counter/$") as empty:
                assert empty.status == 200 and await empty.json() == 9
            async with http.get(f"{base}/Counter?fetchState=true") as listed:
                assert listed.status == 200 and listed.headers["x-ms-continuation-token"] == ""
                entities = await listed.json()
            assert sorted((e["entityId"]["key"], e["state"]) for e in entities) == [("", 9), ("h1", 7), ("h2", 3)]
            assert all(e["entityId"]["name"] == "counter" and e["lastOperationTime"].endswith("Z") for e in entities)
            async with http.get(f"{base}?top=1") as first_page:
                token = first_page.headers["x-ms-continuation-token"]
                assert len(await first_page.json()) == 1 and token
            async with http.get(f"{base}?top=2", headers={"x-ms-continuation-token": token}) as second_page:
                assert [e["state"] for e in await second_page.json()] == [None, None]
                assert second_page.headers["x-ms-continuation-token"] == ""
            async with http.delete(f"{base}/Counter/h2") as deleted:
                assert deleted.status == 202
            await host.idle()
            async with http.get(f"{base}/counter/h2") as gone:
                assert gone.status == 200 and await gone.text() == "null"
            async with http.get(f"{base}/counter") as after:  # no longer listed: its status has no entityExists
                assert sorted(e["entityId"]["key"] for e in await after.json()) == ["", "h1"]


async def test_the_sdk_client_signals_and_reads_entities(real_worker: bool) -> None:
    """DurableOrchestrationClient.signal_entity / read_entity_state call the extension's entity routes at the
    binding's rpcBaseUrl: POST entities/{name}/{key}?op= (202), GET entities/{name}/{key} (200 or 404)."""
    async with LocalDurableHost(APP, serve_http=True, real_worker=real_worker) as host, aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(f"{host.base_url}/api/counter/c1/add", json=4) as signalled:
                assert signalled.status == 202, await signalled.text()
        await host.idle()
        async with http.get(f"{host.base_url}/api/counter/c1") as read:
            assert await read.json() == {"exists": True, "state": 12}
        async with http.get(f"{host.base_url}/api/counter/never") as never:
            assert await never.json() == {"exists": False, "state": None}


async def test_purges_treat_an_entity_as_an_instance_that_is_always_running() -> None:
    """AzureTableTrackingStore.PurgeInstanceHistoryAsync: by id any instance goes, an entity too (HttpApiHandler.
    HandleDeleteHistoryByIdRequestAsync has no status check for '@' ids); by filter only the terminal statuses of
    the list count, and an entity is always Running, so purging Completed instances leaves it. The instance query
    lists entities as Running orchestrations (the extension excludes them only on its gRPC path)."""
    instances = "/runtime/webhooks/durabletask/instances"
    async with LocalDurableHost(APP, serve_http=True) as host, aiohttp.ClientSession() as http:
        await host.wait(await host.start("UseCounter", "p1", instance_id="use-p1"), timeout=30)
        await host.idle()
        async with http.get(f"{host.base_url}{instances}") as listed:
            rows = {row["instanceId"]: row["runtimeStatus"] for row in await listed.json()}
        assert rows == {"use-p1": "Completed", "@counter@p1": "Running"}
        async with http.delete(f"{host.base_url}{instances}/?createdTimeFrom=2000-01-01T00:00:00Z"
                               "&runtimeStatus=Completed") as by_filter:
            assert await by_filter.json() == {"instancesDeleted": 1}
        assert await host.entity_state("Counter", "p1") == (True, 1007)
        async with http.delete(f"{host.base_url}{instances}/@counter@p1") as by_id:
            assert await by_id.json() == {"instancesDeleted": 1}
        async with http.get(f"{host.base_url}{ENTITIES}/Counter/p1") as gone:
            assert gone.status == 404


async def test_entities_keep_their_state_in_the_task_hub(storage_connection: str) -> None:
    """DurableTask.AzureStorage: the entity's row in {hub}Instances holds the scheduler state as Input and its
    requests travel as EventRaised "op" messages on the control queues, so a new host on the same hub reads the
    state and goes on from it."""
    hub = f"E{uuid.uuid4().hex[:8]}"

    def on_storage(host: LocalDurableHost) -> LocalDurableHost:
        host.engine.store = TableInstanceStore(storage_connection, hub)
        host.engine.transport = AzureQueueTransport(storage_connection, hub, host.clock)
        return host

    async def state_becomes(host: LocalDurableHost, expected: int) -> None:
        for _ in range(200):  # queue messages: idle() cannot see them in flight
            if await host.entity_state("Counter", "kept") == (True, expected):
                return
            await asyncio.sleep(0.05)
        assert await host.entity_state("Counter", "kept") == (True, expected)

    async with on_storage(LocalDurableHost(APP)) as host:
        await host.wait(await host.start("UseCounter", "kept"), timeout=60)
        await host.signal_entity("Counter", "kept", "add", 3)
        await state_becomes(host, 1010)
    async with on_storage(LocalDurableHost(APP)) as host:
        assert await host.entity_state("Counter", "kept") == (True, 1010)
        await host.signal_entity("Counter", "kept", "add", 1)
        await state_becomes(host, 1011)


def test_the_entity_benchmark_runs() -> None:
    """bench.entities (operations per invocation, worker / in-process) still runs: a few signals, no timing
    asserted; it exits non-zero if an operation went missing."""
    done = subprocess.run([sys.executable, "-m", "bench.entities", "--signals", "12", "--entities", "1", "3"],
                          cwd=APP.parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("worker / in-process time:") == 2


# -- a killed host (python -m devhost, the real worker, Azurite) --------------------------------------------


@pytest.fixture()
def host_env(azurite: azurite_control.Azurite) -> Iterator[dict[str, str]]:
    yield {
        "AzureWebJobsStorage": azurite.connection_string,
        "TASKHUB_NAME": f"Ent{uuid.uuid4().hex[:8]}",
        "DEVHOST_VISIBILITY_TIMEOUT_SECONDS": "3",  # a killed host's messages come back after 3 s
    }


def read_counter(host: RunningHost, key: str) -> Any:
    response = requests.get(f"{host.base_url}{ENTITIES}/Counter/{key}", timeout=10)
    return response.json() if response.status_code == 200 else None


def wait_for_counter(host: RunningHost, key: str, at_least: int, timeout: float = 60) -> Any:
    """The counter's value once it has reached `at_least`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read_counter(host, key)
        if value is not None and value >= at_least:
            return value
        time.sleep(0.1)
    raise AssertionError(f"counter {key} is {read_counter(host, key)}, not {at_least}, after {timeout} s")


def kill(host: RunningHost) -> None:
    os.kill(host.process.pid, signal.SIGKILL)
    host.process.wait(timeout=10)


def test_entity_state_survives_a_sigkill_of_the_host(host_env: dict[str, str], tmp_path: Path) -> None:
    """State committed by a batch (the Instances row's Input) outlives a host killed with SIGKILL, and no
    accepted request is lost: those still in the queues are delivered by the next host. Delivery is at least
    once, as in Azure: a client signal whose batch committed just before the kill comes back and runs again
    (MessageSorter.ReceiveInOrder passes client signals through), and an orchestration whose episode sent its
    signals but did not checkpoint sends them again on replay with new ids and timestamps (DurableTask.
    AzureStorage sends an episode's messages before it checkpoints). Each sender's requests still arrive in
    order: the log's first occurrences are 0..19."""
    key = f"kill-{uuid.uuid4().hex[:6]}"
    host = start_devhost(APP, tmp_path / "host-0.log", host_env)
    try:
        for _ in range(25):
            assert requests.post(f"{host.base_url}/api/counter/{key}/add", json=1, timeout=10).status_code == 202
        wait_for_counter(host, key, 25)  # committed (at least once: a lease that ran out can repeat one)
        started = requests.post(f"{host.base_url}/api/start/AppendInOrder", json=f"log-{key}", timeout=10)
        assert started.status_code == 202, started.text
        status_path = urlparse(started.json()["statusQueryGetUri"]).path
        for _ in range(5):
            assert requests.post(f"{host.base_url}/api/counter/{key}/add", json=1, timeout=10).status_code == 202
        kill(host)
        host = start_devhost(APP, tmp_path / "host-1.log", host_env)
        assert read_counter(host, key) >= 25  # what was committed before the kill
        final = wait_for_status(host.base_url + status_path, timeout=90)
        assert final["runtimeStatus"] == "Completed"
        assert list(dict.fromkeys(final["output"])) == list(range(20))
        assert wait_for_counter(host, key, 30) >= 30
    finally:
        host.stop()


# -- the shim's replay of entity actions (no host) -------------------------------------------------------------

T0 = "2024-10-23T16:58:46.123456Z"


def opened() -> list[dict[str, Any]]:
    return [event(EventType.OrchestratorStarted, parse_time(T0)),
            event(EventType.ExecutionStarted, parse_time(T0), Name="Orch", Input=None)]


def replay(actions: list[dict[str, Any]], history: list[dict[str, Any]],
           entities: frozenset[str] = frozenset({"counter"})) -> Any:
    return ShimReplay(actions, "exec-1", activities={"Act"}, orchestrators=set(), entities=entities,
                      instance_id="orch-1").run(history)


SIGNAL = {"actionType": 9, "instanceId": "@counter@k", "operation": "add", "input": "5"}
CALL = {"actionType": 7, "instanceId": "@counter@k", "operation": "get", "input": "null"}


def test_a_signal_and_a_call_take_one_sequence_number_each() -> None:
    """DurableTask.Core TaskOrchestrationContext.SendEvent (idCounter++) for each entity message, as the SDK
    numbers them (upstream SDK test test_signal_entity_sent_and_response_received: signal 0, call 1); the
    request id is NewGuid's, with the episode's CurrentUtcDateTime and the counter."""
    decision = replay([SIGNAL, CALL], opened())
    assert [(e["EventType"], e["EventId"], e["InstanceId"]) for e in decision.new_events] == [
        (EventType.EventSent, 0, "@counter@k"), (EventType.EventSent, 1, "@counter@k")]
    call = json.loads(decision.new_events[1]["Input"])
    assert call["id"] == request_guid("orch-1", parse_time(T0), 1) and "signal" not in call
    assert json.loads(decision.new_events[0]["Input"])["signal"] is True
    assert not decision.all_actions_done  # the call waits for its response


def test_the_response_is_matched_by_the_request_id_in_history() -> None:
    """TaskOrchestrationExecutor (SDK) re-keys a CallEntityAction by EventSent.Input["id"]; the shim does the same,
    so a history whose request id was made elsewhere (another host, another clock) still replays."""
    sent = [event(EventType.EventSent, parse_time(T0), 0, InstanceId="@counter@k", Name="op",
                  Input=json.dumps({"op": "get", "id": "recorded-id"}))]
    response = [event(EventType.OrchestratorStarted, parse_time(T0)),
                event(EventType.EventRaised, parse_time(T0), Name="recorded-id", Input='{"result":"3"}')]
    decision = replay([CALL], opened() + sent + response)
    assert decision.new_events == [] and decision.all_actions_done


def test_a_different_action_where_history_has_an_entity_message_is_non_deterministic() -> None:
    """DurableTask.Core's replay: the event with EventId 0 in history must be the one the orchestrator
    schedules again at 0."""
    sent = [event(EventType.EventSent, parse_time(T0), 0, InstanceId="@counter@k", Name="op",
                  Input=json.dumps({"op": "add", "id": "x"}))]
    activity = {"actionType": 0, "functionName": "Act", "input": "null"}
    with pytest.raises(NonDeterminismError):
        replay([activity], opened() + sent)


def test_an_entity_the_app_does_not_define_sends_nothing() -> None:
    """CallDurableTaskFunctionAsync's ThrowIfFunctionDoesNotExist throws before SendEvent: no sequence number,
    no message; ProcessAsyncActionsV2 swallows the faulted task and goes on, so the next signal gets EventId 0
    (the SDK, whose task never completes, waits for good, as for unknown activities)."""
    decision = replay([{**CALL, "instanceId": "@missing@k"}, SIGNAL], opened())
    assert decision.unknown_functions == ["missing"]
    assert [(e["EventId"], json.loads(e["Input"])["op"]) for e in decision.new_events] == [(0, "add")]
