"""The extension's HTTP management API (src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs, dev)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from devhost.testing import LocalDurableHost

WEBHOOK = "/runtime/webhooks/durabletask"


async def wait_for(host: LocalDurableHost, instance_id: str, status: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        record = await host.status(instance_id)
        if record is not None and record.runtime_status == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{instance_id} never became {status}")


async def test_a_start_body_that_is_not_json_is_refused_before_anything_starts(http_host: LocalDurableHost) -> None:
    """HandleStartOrchestratorRequestAsync: JsonReaderException -> 400 "Invalid JSON content", no instance."""
    async with aiohttp.ClientSession() as http, http.post(
            f"{http_host.base_url}{WEBHOOK}/orchestrators/Echo/not-json", data="{broken") as response:
        assert response.status == 400
        assert (await response.json())["Message"] == "Invalid JSON content"
    assert await http_host.status("not-json") is None


async def test_start_with_timeout_and_polling_interval_answers_the_output_when_done(
        http_host: LocalDurableHost) -> None:
    """WaitForCompletionOrCreateCheckStatusResponseAsync: both parameters given and Completed in time ->
    200 with the output alone; only `timeout` -> the usual 202 (Azure Storage has no poll-free wait)."""
    base = f"{http_host.base_url}{WEBHOOK}/orchestrators/Echo"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}?timeout=10&pollingInterval=0.05", json={"city": "Rome"}) as response:
            assert response.status == 200
            assert await response.json() == {"city": "Rome"}
            assert "Location" not in response.headers
        async with http.post(f"{base}?timeout=10", json={"city": "Rome"}) as response:
            assert response.status == 202
        async with http.post(f"{base}?timeout=1&pollingInterval=2", json={"city": "Rome"}) as response:
            assert response.status == 400
            assert "should be bigger than retry timeout" in (await response.json())["ExceptionMessage"]


async def test_start_over_a_running_instance_fails_with_the_providers_exception(http_host: LocalDurableHost) -> None:
    """DurableTask.AzureStorage CreateTaskOrchestrationAsync throws OrchestrationAlreadyExistsException for a
    dedupe status; HttpApiHandler does not catch it, so the answer is the generic 500."""
    url = f"{http_host.base_url}{WEBHOOK}/orchestrators/Waiter/busy"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=None) as response:
            assert response.status == 202
        await wait_for(http_host, "busy", "Running")
        async with http.post(url, json=None) as response:
            assert response.status == 500
            body = await response.json()
        assert body["Message"] == "Something went wrong while processing your request"
        assert body["ExceptionMessage"] == "An Orchestration instance with the status Running already exists."


async def test_restart_answers_as_the_extension_does(http_host: LocalDurableHost) -> None:
    """HandleRestartInstanceRequestAsync: unknown id -> 400 "InstanceId does not match a valid orchestration
    instance."; a same-id restart of a running instance -> 500 (OrchestrationAlreadyExistsException)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{http_host.base_url}{WEBHOOK}/instances/nobody/restart") as response:
            assert response.status == 400
            assert (await response.json())["Message"] == "InstanceId does not match a valid orchestration instance."
        instance_id = await http_host.start("Waiter", None, "waiting")
        await wait_for(http_host, instance_id, "Running")
        async with http.post(f"{http_host.base_url}{WEBHOOK}/instances/waiting/restart"
                             "?restartWithNewInstanceId=false") as response:
            assert response.status == 500


async def test_query_ignores_values_it_cannot_parse_and_shows_input_by_default(http_host: LocalDurableHost) -> None:
    """HandleGetStatusRequestAsync (query): TryParse everywhere, so a bad value is ignored, never a 400;
    ShowInput defaults to true; runtime statuses are parsed case-sensitively."""
    url = f"{http_host.base_url}{WEBHOOK}/instances"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{http_host.base_url}{WEBHOOK}/orchestrators/Echo/echoed", json={"echo": 1}) as started:
            assert started.status == 202
        await http_host.wait("echoed")
        async with http.get(url, params={"createdTimeFrom": "yesterday", "top": "many",
                                         "runtimeStatus": "completed,Bogus"}) as response:
            assert response.status == 200
            [row] = [r for r in await response.json() if r["instanceId"] == "echoed"]
        assert row["input"] == {"echo": 1}
        async with http.get(url, params={"runtimeStatus": "Running"}) as response:
            assert [r for r in await response.json() if r["instanceId"] == "echoed"] == []


async def test_suspend_and_resume_keep_their_reason_as_output_and_log_a_refusal(
        http_host: LocalDurableHost, caplog: pytest.LogCaptureFixture) -> None:
    """AzureTableTrackingStore.UpdateStateAsync stores the suspend/resume reason as Output; DurableClient
    logs "Cannot suspend orchestration instance in the Suspended state." (Host.Triggers.DurableTask) and
    throws InvalidOperationException (500) for a second suspend."""
    instance_id = await http_host.start("Waiter", None, "paused")
    await wait_for(http_host, instance_id, "Running")
    base = f"{http_host.base_url}{WEBHOOK}/instances/paused"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/suspend?reason=maintenance") as response:
            assert response.status == 202
        await wait_for(http_host, instance_id, "Suspended")
        async with http.get(base) as response:
            assert (await response.json())["output"] == "maintenance"
        with caplog.at_level(logging.WARNING, logger="Host.Triggers.DurableTask"):
            async with http.post(f"{base}/suspend?reason=again") as response:
                assert response.status == 500
        assert "Cannot suspend orchestration instance in the Suspended state.. InstanceId: paused." in caplog.text
        async with http.post(f"{base}/resume?reason=done") as response:
            assert response.status == 202
        await wait_for(http_host, instance_id, "Running")
        async with http.get(base) as response:
            assert (await response.json())["output"] == "done"


async def test_raise_event_checks_the_instance_before_the_content(http_host: LocalDurableHost) -> None:
    """HandleRaiseEventRequestAsync: 404 unknown, 410 finished, then 400 for a media type other than
    application/json ("Only application/json request content is supported"), 400 "Invalid JSON content"."""
    finished = await http_host.start("Echo", 1, "done-already")
    await http_host.wait(finished)
    waiting = await http_host.start("Waiter", None, "listening")
    await wait_for(http_host, waiting, "Running")
    base = f"{http_host.base_url}{WEBHOOK}/instances"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/nobody/raiseEvent/Go", data="not json", headers={"Content-Type": "text/plain"}) \
                as response:
            assert response.status == 404
        async with http.post(f"{base}/done-already/raiseEvent/Go", data="x", headers={"Content-Type": "text/plain"}) \
                as response:
            assert response.status == 410
        async with http.post(f"{base}/listening/raiseEvent/Go", data='"x"', headers={"Content-Type": "text/json"}) \
                as response:
            assert response.status == 400
            assert (await response.json())["Message"] == "Only application/json request content is supported"
        async with http.post(f"{base}/listening/raiseEvent/Go", data="{bad",
                             headers={"Content-Type": "application/json"}) as response:
            assert response.status == 400
            assert (await response.json())["Message"] == "Invalid JSON content"
        async with http.post(f"{base}/listening/raiseEvent/Go", json="now") as response:
            assert response.status == 202
    record = await http_host.wait(waiting)
    assert http_host.output(record) == "now"


async def test_purge_by_id_refuses_an_instance_that_has_not_finished(http_host: LocalDurableHost) -> None:
    """HandleDeleteHistoryByIdRequestAsync with extension PR #3311 (2026-01): for an id not starting with '@',
    GetStatusAsync first: null -> 404 with no body; not Completed, Failed, Terminated or Canceled -> 412 with
    the JSON string "Only orchestrations in a terminal state can be purged, ..."; else 200 and the
    PurgeHistoryResult ({"instancesDeleted": 1})."""
    instances = f"{http_host.base_url}{WEBHOOK}/instances"
    async with aiohttp.ClientSession() as http:
        async with http.delete(f"{instances}/nobody") as response:
            assert response.status == 404 and await response.read() == b""
        await http_host.start("Waiter", None, "still-waiting")
        await wait_for(http_host, "still-waiting", "Running")
        async with http.delete(f"{instances}/still-waiting") as response:
            assert response.status == 412
            assert await response.json() == ("Only orchestrations in a terminal state can be purged, but the "
                                             "orchestration with instance ID still-waiting has status Running")
        assert await http_host.status("still-waiting") is not None
        await http_host.raise_event("still-waiting", "Go", 1)
        await http_host.wait("still-waiting", timeout=10)
        async with http.delete(f"{instances}/still-waiting") as response:
            assert response.status == 200 and await response.json() == {"instancesDeleted": 1}
    assert await http_host.status("still-waiting") is None


async def test_purge_by_filter_follows_the_provider(http_host: LocalDurableHost) -> None:
    """HandleDeleteHistoryWithFiltersRequestAsync: createdTimeFrom is required (400, the JSON string "Please
    provide value for 'createdTimeFrom' parameter."), createdTimeTo defaults to now, instanceIdPrefix is not
    read, 0 deleted -> 404. AzureTableTrackingStore.PurgeInstanceHistoryAsync keeps only the terminal
    statuses of runtimeStatus, and with none left adds no status condition at all: every instance created in
    the range is purged, running ones included."""
    instances = f"{http_host.base_url}{WEBHOOK}/instances"
    since = "createdTimeFrom=2000-01-01T00:00:00Z"
    async with aiohttp.ClientSession() as http:
        async with http.delete(f"{instances}?runtimeStatus=Completed") as response:
            assert response.status == 400
            assert await response.json() == "Please provide value for 'createdTimeFrom' parameter."
        await http_host.wait(await http_host.start("Echo", {"n": 1}, "done-1"), timeout=10)
        await http_host.start("Waiter", None, "waiting-1")
        await wait_for(http_host, "waiting-1", "Running")
        async with http.delete(f"{instances}?{since}&runtimeStatus=Failed") as response:
            assert response.status == 404
        async with http.delete(f"{instances}?{since}&runtimeStatus=Completed,Running"
                               "&instanceIdPrefix=nothing-matches") as response:
            assert response.status == 200 and await response.json() == {"instancesDeleted": 1}
        assert await http_host.status("done-1") is None and await http_host.status("waiting-1") is not None
        async with http.delete(f"{instances}?{since}&runtimeStatus=Running") as response:
            assert response.status == 200 and await response.json() == {"instancesDeleted": 1}
    assert await http_host.status("waiting-1") is None
