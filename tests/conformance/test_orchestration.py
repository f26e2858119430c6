"""Orchestration semantics of the extension's out-of-process shim and DurableTask.Core."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.engine import InstanceExists
from devhost.history import EventType, event, parse_time
from devhost.store import InstanceRecord
from devhost.table_store import TableInstanceStore
from devhost.testing import LocalDurableHost
from devhost.transport import Message

APP = Path(__file__).resolve().parent / "app"


@pytest.fixture(params=["in-process", "worker"])
def real_worker(request: pytest.FixtureRequest) -> bool:
    return request.param == "worker"


async def test_after_the_last_failed_attempt_a_timer_fires_at_once(real_worker: bool) -> None:
    """DurableTask.Core RetryInterceptor.Invoke: a timer of the retry interval after a failed attempt that
    may be retried; after the last one a timer at CurrentUtcDateTime ("Dummy timer for back-compat"), then
    the task fails. So the instance fails without waiting another interval."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("RetriesThenFails")
        await host.advance(timedelta(hours=1, seconds=1))
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Failed"
    failed = [e for e in record.history if e["EventType"] == EventType.TaskFailed]
    timers = [e for e in record.history if e["EventType"] == EventType.TimerCreated]
    assert len(failed) == 2 and len(timers) == 2
    first_delay = parse_time(timers[0]["FireAt"]) - parse_time(failed[0]["Timestamp"])
    assert timedelta(minutes=59) < first_delay <= timedelta(hours=1)
    assert parse_time(timers[1]["FireAt"]) - parse_time(failed[1]["Timestamp"]) <= timedelta(seconds=1)


async def test_an_event_goes_to_the_newest_waiter_of_its_name(real_worker: bool) -> None:
    """DurableOrchestrationContext.WaitForExternalEvent keeps the waiters of a name on a stack, so RaiseEvent
    completes the newest. Here that finishes the top-level task_any, so the shim goes on to schedule the next
    action; were the oldest served, its task_all would still wait for "Other" and nothing more would run."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("NewestWaiterWins")
        await host.idle()
        await host.raise_event(instance_id, "Go", "now")
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Completed"
    assert host.output(record) == ["newer", "DONE"]


async def test_an_event_wait_beside_a_failed_activity_keeps_the_instance_running(real_worker: bool) -> None:
    """OutOfProcOrchestrationShim.ProcessAsyncActionsV2 awaits each action; a task_all is Task.WhenAll, which
    waits for every child even after one failed. So the SDK's error is acted on only when the event comes."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("EventBesideAFailure")
        await host.idle()
        record = await host.status(instance_id)
        assert record is not None and record.runtime_status == "Running"
        await host.raise_event(instance_id, "Late", "at last")
        record = await host.wait(instance_id, timeout=10)
    assert record.runtime_status == "Failed"
    assert "Activity function 'AlwaysFails' failed" in host.output(record)


def kinds(record: InstanceRecord) -> list[str]:
    return [EventType(e["EventType"]).name for e in record.history]


def raised(host: LocalDurableHost, instance_id: str, name: str, data: object) -> Message:
    """An EventRaised message as the HTTP API's raiseEvent sends a JSON body (the orchestrator gets the value)."""
    return Message(instance_id, event(EventType.EventRaised, host.clock.now(), Name=name, Input=json.dumps(data)))


async def test_an_orchestrator_failure_is_stored_as_raw_text(real_worker: bool) -> None:
    """OutOfProcOrchestrationShim.ScheduleDurableTaskEvents throws OrchestrationFailureException(
    "Orchestrator function '<name>' failed: <the SDK's error>"); TaskOrchestrationContext.FailOrchestration puts
    that message into ExecutionCompleted.Result, and AzureTableTrackingStore.UpdateStateAsync copies
    `FailureDetails?.ToString() ?? Result` into Output: raw text, not a JSON string, and no FailureDetails
    without ErrorPropagationMode.UseFailureDetails (the extension leaves the default)."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        record = await host.wait(await host.start("FailsAfterAnActivity"), timeout=10)
    assert record.runtime_status == "Failed"
    assert record.output == "Orchestrator function 'FailsAfterAnActivity' failed: the order was lost"
    completed = next(e for e in record.history if e["EventType"] == EventType.ExecutionCompleted)
    assert completed["Result"] == record.output
    assert completed.get("FailureDetails") is None


async def test_a_call_of_an_unknown_activity_is_dropped_and_the_instance_waits(
        real_worker: bool, caplog: pytest.LogCaptureFixture) -> None:
    """DurableOrchestrationContext.CallDurableTaskFunctionAsync calls ThrowIfFunctionDoesNotExist before it
    schedules anything, in an async method: a faulted task, no sequence number used.
    OutOfProcOrchestrationShim.ProcessAsyncActionsV2 awaits it in a try/catch that silently ignores it and goes
    on. So the known sibling is task 0 and runs, nothing fails, and the instance stays Running for good."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("CallsAnUnknownActivityBesideAKnownOne")
        await host.idle()
        record = await host.status(instance_id)
    assert record is not None and record.runtime_status == "Running"
    scheduled = [(e["Name"], e["EventId"]) for e in record.history if e["EventType"] == EventType.TaskScheduled]
    assert scheduled == [("Shout", 0)]
    assert [e["TaskScheduledId"] for e in record.history if e["EventType"] == EventType.TaskCompleted] == [0]
    assert "ExecutionCompleted" not in kinds(record)
    assert any("NoSuchActivity" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


async def test_a_call_of_an_unknown_sub_orchestrator_leaves_the_parent_running(real_worker: bool) -> None:
    """The same path for CallSubOrchestratorAsync (ThrowIfFunctionDoesNotExist with the orchestrator kind):
    no SubOrchestrationInstanceCreated, no failure, the parent waits."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("CallsAnUnknownSubOrchestrator")
        await host.idle()
        record = await host.status(instance_id)
    assert record is not None and record.runtime_status == "Running"
    assert kinds(record) == ["OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]


async def test_continue_as_new_starts_the_next_generation_in_the_same_work_item(real_worker: bool) -> None:
    """TaskOrchestrationDispatcher.OnProcessWorkItemAsync runs the next generation in its do-while loop: a new
    history of OrchestratorStarted, the new ExecutionStarted, the carried-over events and OrchestratorCompleted
    (the ContinueAsNew event stays in memory), `runtimeState.Status ?? carryOverStatus` for the custom status.
    An EventRaised processed after ContinueAsNew moves to the next generation (TaskOrchestrationContext.
    HandleEventRaisedEvent -> AddEventToNextIteration; AzureStorageOrchestrationServiceSettings.
    EventBehaviourForContinueAsNew = Carryover). UpdateStateAsync sets CreatedTime from the new ExecutionStarted;
    Generation counts re-creations of the id (CreateTaskOrchestrationAsync), not continuations."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("Generations")
        await host.idle()
        first = await host.status(instance_id)
        host.clock.advance(timedelta(minutes=5))
        # Both events in one batch: the first ends generation 0, the second is carried over to generation 1.
        await host.engine.transport.send([raised(host, instance_id, "Next", "first"),
                                          raised(host, instance_id, "Next", "second")])
        record = await host.wait(instance_id, timeout=10)
    assert first is not None and record.runtime_status == "Completed"
    assert host.output(record) == [1, "second"]
    assert record.custom_status == '{"generation":0}'
    assert kinds(record)[:4] == ["OrchestratorStarted", "ExecutionStarted", "EventRaised", "OrchestratorCompleted"]
    assert kinds(record).count("ExecutionStarted") == 1
    assert [e["OrchestrationStatus"] for e in record.history if e["EventType"] == EventType.ExecutionCompleted] == [
        "Completed"]
    assert record.execution_id != first.execution_id
    assert record.created_time - first.created_time >= timedelta(minutes=5)
    assert record.generation == first.generation == 0


async def test_starting_a_finished_instance_id_again_counts_a_generation(real_worker: bool) -> None:
    """AzureStorageOrchestrationService.CreateTaskOrchestrationAsync: `executionStartedEvent.Generation =
    existingInstance.State.Generation + 1` when the id is used again (0 for a new id)."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        first = await host.wait(await host.start("ShoutOnce", instance_id="again"), timeout=10)
        second = await host.wait(await host.start("ShoutOnce", instance_id="again"), timeout=10)
    assert (first.generation, second.generation) == (0, 1)
    started = next(e for e in second.history if e["EventType"] == EventType.ExecutionStarted)
    assert started["Generation"] == 1


async def test_new_events_are_stamped_when_the_reply_is_processed(real_worker: bool) -> None:
    """HistoryEvent's constructors set `Timestamp = DateTime.UtcNow`, and TaskOrchestrationDispatcher builds
    TaskScheduledEvent, ExecutionCompletedEvent and OrchestratorCompletedEvent from the orchestrator's actions
    after it ran. Only OrchestratorStarted carries the episode's start (the orchestrator's CurrentUtcDateTime),
    so an episode that takes 5 s shows its work scheduled 5 s after it started."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        run = host.engine.functions.orchestrator

        async def slow(name: str, payload: dict[str, Any]) -> Any:
            reply = await run(name, payload)
            host.clock.advance(timedelta(seconds=5))
            return reply

        host.engine.functions.orchestrator = slow  # type: ignore[method-assign]
        record = await host.wait(await host.start("ShoutOnce"), timeout=10)
    at = {kind: [parse_time(e["Timestamp"]) for e in record.history if EventType(e["EventType"]).name == kind]
          for kind in ("OrchestratorStarted", "TaskScheduled", "ExecutionCompleted", "OrchestratorCompleted")}
    assert at["TaskScheduled"][0] - at["OrchestratorStarted"][0] == timedelta(seconds=5)
    assert at["ExecutionCompleted"][0] - at["OrchestratorStarted"][1] == timedelta(seconds=5)
    assert [t - s for t, s in zip(at["OrchestratorCompleted"], at["OrchestratorStarted"], strict=True)] == [
        timedelta(seconds=5)] * 2


async def test_an_activity_failure_reaches_the_orchestrator_as_the_sdk_raises_it(real_worker: bool) -> None:
    """TaskActivityShim.RunAsync: `TaskFailureException("Activity function '<name>' failed: <friendly message>",
    Utils.SerializeCause(exception, ErrorDataConverter))`; the friendly message is cut out of the host's
    RpcException text by OutOfProcExceptionHelpers (keeping its leading space), the exception is a plain
    System.Exception around that RpcException, serialized by Newtonsoft with TypeNameHandling.Objects
    (ErrorSerializerSettingsFactory). The SDK's TaskOrchestrationExecutor.set_task_value raises
    `Exception(f"{Reason} \\n {Details}")`, which the orchestrator's failure message carries."""
    async with LocalDurableHost(APP, virtual_clock=True, real_worker=real_worker) as host:
        instance_id = await host.start("FailsWithTheActivity")
        record = await host.wait(instance_id, timeout=10)
    failed = next(e for e in record.history if e["EventType"] == EventType.TaskFailed)
    assert failed["Reason"] == "Activity function 'AlwaysFails' failed:  RuntimeError: cannot handle x"
    details = json.loads(failed["Details"])
    assert list(details) == ["$type", "ClassName", "Message", "Data", "InnerException", "HelpURL", "StackTraceString",
                             "RemoteStackTraceString", "RemoteStackIndex", "ExceptionMethod", "HResult", "Source",
                             "WatsonBuckets"]
    assert details["$type"] == "System.Exception, System.Private.CoreLib"
    assert details["Message"] == " RuntimeError: cannot handle x"
    inner = details["InnerException"]
    assert inner["$type"].startswith("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, ")
    assert inner["Message"].startswith("Result: Failure\nException: RuntimeError: cannot handle x\nStack: ")
    assert failed["Details"] == json.dumps(details, separators=(",", ":"), ensure_ascii=False)
    assert host.output(record) == ("Orchestrator function 'FailsWithTheActivity' failed: "
                                   f"{failed['Reason']} \n {failed['Details']}")


async def test_a_start_whose_row_was_never_written_is_dropped_and_may_be_repeated() -> None:
    """AzureStorageOrchestrationService.CreateTaskOrchestrationAsync sends the start message, then
    SetNewExecutionAsync writes the row. OrchestrationSessionManager.DedupeExecutionStartedMessagesAsync defers
    a top-level start whose row does not name it and discards it at DequeueCount 10 ("the client would have
    observed a failure and will know to retry"); the repeated start runs."""
    async with LocalDurableHost(APP, virtual_clock=True) as host:
        store = host.engine.store
        write_row = store.start_execution

        async def dies_before_the_row(record: InstanceRecord, etag: str | None) -> bool:
            raise ConnectionError("the host died before the Pending row was written")

        store.start_execution = dies_before_the_row  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await host.start("ShoutOnce", instance_id="orphan-1")
        store.start_execution = write_row  # type: ignore[method-assign]
        for _ in range(12):
            await host.advance(timedelta(seconds=1))
        assert await host.status("orphan-1") is None
        assert host.engine.transport.pending() == 0  # dropped, not deferred for ever
        record = await host.wait(await host.start("ShoutOnce", instance_id="orphan-1"), timeout=10)
    assert record.runtime_status == "Completed" and host.output(record) == "ONCE"


async def test_concurrent_starts_of_one_id_run_one_execution(storage_connection: str) -> None:
    """SetNewExecutionAsync inserts the Pending row (or replaces it with If-Match) and swallows 409/412, so of
    simultaneous starts of one id exactly one row is written; DedupeExecutionStartedMessagesAsync drops the
    others' start messages. Every start that passed the dedupe-status check returns (202 over HTTP, as in
    Azure), the others meet OrchestrationAlreadyExistsException; one execution runs, none is left Pending."""
    host = LocalDurableHost(APP)
    host.engine.store = TableInstanceStore(storage_connection, f"C{uuid.uuid4().hex[:8]}")
    ids = [f"twin-{n}" for n in range(5)]
    async with host:
        for instance_id in ids:
            outcomes = await asyncio.gather(*(host.start("ShoutOnce", instance_id=instance_id) for _ in range(20)),
                                            return_exceptions=True)
            assert all(o == instance_id or isinstance(o, InstanceExists) for o in outcomes), outcomes
            assert outcomes.count(instance_id) >= 1
        for instance_id in ids:
            await host.wait(instance_id, timeout=30)
        await host.idle()
        records = [await host.status(instance_id) for instance_id in ids]
    for record in records:
        assert record is not None
        assert record.runtime_status == "Completed" and host.output(record) == "ONCE"
        started = [e for e in record.history if e["EventType"] == EventType.ExecutionStarted]
        assert [e["OrchestrationInstance"]["ExecutionId"] for e in started] == [record.execution_id]
        assert kinds(record).count("TaskScheduled") == 1
