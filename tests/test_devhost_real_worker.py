"""The app runs in Azure's own Python worker library (azure-functions-runtime) over the worker protocol.

These tests hold devhost to the Functions host (Azure/azure-functions-host) where the app meets it:
the handshake and function loading (`GrpcWorkerChannel`), what `func start` prints per invocation
(azure-webjobs-sdk `FunctionInstanceLogger`), the admin API (`HostController.GetHostStatus`,
`FunctionsController.Invoke`) and disabled functions (`HostListenerFactory.IsDisabled`, and the
Durable extension's `TaskNonexistentActivityShim` for an activity that is disabled).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from devhost.rpc import worker_front
from devhost.rpc.channel import WorkerChannel, WorkerStartError
from devhost.spawn import ROOT, start_devhost, wait_for_status
from tools.azurite import free_port

SAMPLE = ROOT / "tests" / "apps" / "sample"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Every function the app defines, with its trigger and other bindings, as the design card names them.
APP_FUNCTIONS = {
    "OrderProcessing_Client": {"httpTrigger", "durableClient", "http"},
    "OrderProcessing_Orchestrator": {"orchestrationTrigger"},
    "CheckInventory": {"activityTrigger"},
    "ProcessPayment": {"activityTrigger"},
    "CreateOrder": {"activityTrigger"},
    "SendConfirmationEmail": {"activityTrigger"},
    "ReleaseInventory": {"activityTrigger"},
    "RefundPayment": {"activityTrigger"},
    "BatchProcessing_Client": {"httpTrigger", "durableClient", "http"},
    "BatchProcessing_Orchestrator": {"orchestrationTrigger"},
    "BatchProcessing_Chunk": {"orchestrationTrigger"},
    "ProcessFile": {"activityTrigger"},
    "WriteChunkReport": {"activityTrigger"},
    "WriteBatchReport": {"activityTrigger"},
    "LeaveApproval_Client": {"httpTrigger", "durableClient", "http"},
    "LeaveApproval_Orchestrator": {"orchestrationTrigger"},
    "SubmitLeaveRequest": {"activityTrigger"},
    "SendApprovalReminder": {"activityTrigger"},
    "ConfirmLeaveDecision": {"activityTrigger"},
    "NotifyApproval": {"activityTrigger"},
    "NotifyRejection": {"activityTrigger"},
    "ExpireLeaveRequest": {"activityTrigger"},
    "SubmitApprovalResult": {"httpTrigger", "durableClient", "http"},
    "HistoryCleanup": {"timerTrigger", "durableClient"},
}

REJECTED_ANNOTATION_APP = '''
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="payload")
def Act(payload: dict[str, Any]) -> dict:
    return payload
'''


async def test_the_whole_app_indexes_and_loads_in_the_real_worker() -> None:
    """GrpcWorkerChannel: init (the library indexes here), FunctionsMetadataRequest, one load per function."""
    channel = WorkerChannel(ROOT)
    try:
        metadata = await channel.start()
    finally:
        await channel.close()
    loaded = {item.name: {binding["type"] for binding in item.bindings} for item in metadata}
    assert loaded == APP_FUNCTIONS
    assert all(item.function_id for item in metadata)


async def test_the_worker_answers_status_requests() -> None:
    """WorkerStatusRequest, the host's health ping: the front answers it without the library."""
    channel = WorkerChannel(SAMPLE)
    try:
        await channel.start()
        assert 0 < await channel.status() < 5
    finally:
        await channel.close()


def test_the_front_takes_the_hosts_worker_arguments_in_both_spellings() -> None:
    """RpcWorkerContext.GetFormattedArguments passes --host/--port/... and the --functions-* forms."""
    legacy = worker_front.parse_args(["--host", "127.0.0.1", "--port", "5001", "--workerId", "w", "--requestId", "r",
                                      "--grpcMaxMessageLength", "2147483647"])
    assert (legacy.host, legacy.port, legacy.worker_id, legacy.request_id) == ("127.0.0.1", 5001, "w", "r")
    both = worker_front.parse_args(["--host", "127.0.0.1", "--port", "5001", "--workerId", "w", "--requestId", "r",
                                    "--grpcMaxMessageLength", "2147483647", "--functions-uri", "http://127.0.0.1:6002/",
                                    "--functions-worker-id", "w2", "--functions-request-id", "r2",
                                    "--functions-grpc-max-message-length", "1048576"])
    assert (both.host, both.port, both.worker_id, both.request_id, both.max_message_length) == (
        "127.0.0.1", 6002, "w2", "r2", 1048576)


def test_an_annotation_the_worker_rejects_stops_the_host_with_the_workers_message(tmp_path: Path) -> None:
    """As `func start` does: the worker's FunctionLoadError in the WorkerInitResponse, then a non-zero exit.

    The real worker refuses a PEP 585 generic such as dict[str, Any] on a binding parameter; an
    in-process host would have run it.
    """
    (tmp_path / "function_app.py").write_text(REJECTED_ANNOTATION_APP, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "--app-dir", str(tmp_path), "--port", str(free_port()), "--state", "memory"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert ("FunctionLoadError: cannot load the Act function: binding payload has invalid non-type annotation "
            "dict[str, typing.Any]") in done.stderr + done.stdout


async def test_start_up_fails_for_the_rejected_annotation_with_the_load_error(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(REJECTED_ANNOTATION_APP, encoding="utf-8")
    channel = WorkerChannel(tmp_path)
    try:
        with pytest.raises(WorkerStartError, match="binding payload has invalid non-type annotation"):
            await channel.start()
    finally:
        await channel.close()


@pytest.fixture
def sample_host(tmp_path: Path):
    host = start_devhost(SAMPLE, tmp_path / "host.log", {}, extra_args=["--state", "memory"])
    try:
        yield host
    finally:
        host.stop()


def wait_for_log(host, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, host.log())
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no line matching {pattern!r} in:\n{host.log()[-4000:]}")


def start(base_url: str, name: str, body: object) -> str:
    response = requests.post(f"{base_url}/api/start/{name}", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["statusQueryGetUri"]


def test_each_invocation_prints_the_hosts_executing_and_executed_lines(sample_host) -> None:
    """FunctionInstanceLogger: Executing/Executed per invocation, category Function.<name>; reasons from
    FunctionStartedMessageExtensions.FormatReason (HTTP = host call, Durable triggers = (null))."""
    final = wait_for_status(start(sample_host.base_url, "Chain", "Rome"), timeout=60)
    assert final["output"] == "Hello Hello Rome"
    started = wait_for_log(sample_host, rf"Executing 'Functions\.Hello' \(Reason='\(null\)', Id=({UUID})\)")
    invocation = started.group(1)
    wait_for_log(sample_host, rf"Executed 'Functions\.Hello' \(Succeeded, Id={invocation}, Duration=\d+ms\)")
    wait_for_log(sample_host, r"Executing 'Functions\.start' \(Reason='This function was programmatically called "
                              rf"via the host APIs\.', Id={UUID}\)")
    wait_for_log(sample_host, rf"Executed 'Functions\.Chain' \(Succeeded, Id={UUID}, Duration=\d+ms\)")
    # The app's own log line, sent by the worker as an RpcLog of the invocation, in Function.<name>.User.
    wait_for_log(sample_host, r"Function\.Hello\.User: greeting Rome")


def test_a_failing_activity_reports_failed_and_the_extensions_reason(sample_host) -> None:
    """TaskActivityShim: `Activity function '<name>' failed: <friendly message>`, the friendly message cut
    out of the host's RpcException text by OutOfProcExceptionHelpers (it keeps the host's leading space)."""
    final = wait_for_status(start(sample_host.base_url, "Failing", None), timeout=60)
    assert final["runtimeStatus"] == "Failed"
    assert "Activity function 'Explode' failed:  ValueError: cannot handle bad" in final["output"]
    wait_for_log(sample_host, rf"Executed 'Functions\.Explode' \(Failed, Id={UUID}, Duration=\d+ms\)")


def test_host_status_answers_running(sample_host) -> None:
    """HostController.GetHostStatus: HostStatus with `state` Running once the host is up."""
    body = requests.get(f"{sample_host.base_url}/admin/host/status", timeout=10).json()
    assert body["state"] == "Running"
    assert {"id", "version", "instanceId", "computerName", "processUptime"} <= set(body)


def test_the_admin_api_runs_a_timer_function_now(sample_host) -> None:
    """FunctionsController.Invoke: 202 and the function runs; 404 for none; 400 without a body."""
    url = f"{sample_host.base_url}/admin/functions/EveryFiveMinutes"
    assert requests.post(url, json={"input": ""}, timeout=10).status_code == 202
    wait_for_log(sample_host, r"Executing 'Functions\.EveryFiveMinutes' \(Reason='This function was "
                              rf"programmatically called via the host APIs\.', Id={UUID}\)")
    wait_for_log(sample_host, rf"Executed 'Functions\.EveryFiveMinutes' \(Succeeded, Id={UUID}, Duration=\d+ms\)")
    assert requests.post(f"{sample_host.base_url}/admin/functions/NoSuchFunction", json={"input": ""},
                         timeout=10).status_code == 404
    assert requests.post(url, timeout=10).status_code == 400


def test_a_disabled_activity_fails_its_task_and_a_disabled_http_function_is_not_served(tmp_path: Path) -> None:
    """HostListenerFactory.IsDisabled (AzureWebJobs.<name>.Disabled, or with underscores): no listener.
    The extension fails a scheduled disabled activity (TaskNonexistentActivityShim, isDisabled)."""
    env = {"AzureWebJobs.Hello.Disabled": "true", "AzureWebJobs_status_Disabled": "1"}
    host = start_devhost(SAMPLE, tmp_path / "host.log", env, extra_args=["--state", "memory"])
    try:
        final = wait_for_status(start(host.base_url, "Chain", "Rome"), timeout=60)
        assert final["runtimeStatus"] == "Failed"
        assert "Activity function 'Hello' failed: Activity function 'Hello' is disabled." in final["output"]
        assert requests.get(f"{host.base_url}/api/status/{uuid.uuid4().hex}", timeout=10).status_code == 404
        assert "Function 'Functions.Hello' is disabled" in host.log()
        assert "Activity function 'Hello' was scheduled but is disabled. Failing the activity." in host.log()
    finally:
        host.stop()


def test_host_json_log_levels_filter_the_invocation_lines(tmp_path: Path) -> None:
    """host.json logging.logLevel applies by category prefix: "Function": "Warning" hides Executing lines
    and the app's Information logs, but not the worker's failures."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(SAMPLE / "function_app.py", app / "function_app.py")
    (app / "host.json").write_text('{"version": "2.0", "logging": {"logLevel": {"Function": "Warning"}}}',
                                   encoding="utf-8")
    host = start_devhost(app, tmp_path / "host.log", {}, extra_args=["--state", "memory"])
    try:
        assert wait_for_status(start(host.base_url, "Chain", "Rome"), timeout=60)["output"] == "Hello Hello Rome"
        wait_for_status(start(host.base_url, "Failing", None), timeout=60)
        wait_for_log(host, rf"Executed 'Functions\.Explode' \(Failed, Id={UUID}")
        assert "Executing 'Functions." not in host.log()
        assert "greeting Rome" not in host.log()
    finally:
        host.stop()


def test_history_cleanup_runs_on_demand_through_the_admin_api(azurite, tmp_path: Path) -> None:
    """The app's own timer function, run as Core Tools users run it: POST /admin/functions/HistoryCleanup.
    Its durableClient binding and its log lines go through the worker (Function.HistoryCleanup.User)."""
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": f"Admin{uuid.uuid4().hex[:8]}"}
    host = start_devhost(ROOT, tmp_path / "host.log", env)
    try:
        response = requests.post(f"{host.base_url}/admin/functions/HistoryCleanup", json={"input": ""}, timeout=10)
        assert response.status_code == 202
        wait_for_log(host, r"Function\.HistoryCleanup\.User: HistoryCleanup: purged 0 instance\(s\) that finished")
        wait_for_log(host, rf"Executed 'Functions\.HistoryCleanup' \(Succeeded, Id={UUID}, Duration=\d+ms\)")
    finally:
        host.stop()


def test_the_worker_cost_benchmark_runs() -> None:
    """bench.worker_invocation (the figures in the README) still runs: a few calls, no timing asserted."""
    done = subprocess.run([sys.executable, "-m", "bench.worker_invocation", "--calls", "3"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "worker start-up, this app" in done.stdout
    assert re.search(r"activity: worker median [\d.]+ ms", done.stdout)
    assert re.search(r"orchestrator: worker median [\d.]+ ms", done.stdout)
