"""`python -m dfctl` end to end: the real app on `python -m devhost` with Azurite, the CLI as a subprocess.

What an operator does: start workflows, watch them, list, terminate, purge, inspect the task hub's
tables, and the exit codes scripts rely on when something is wrong (unknown instance, wrong URL,
missing key, unreachable storage).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devhost.spawn import ROOT, RunningHost, start_devhost
from dfctl import errors
from tools import azurite as azurite_control
from tools.azurite import free_port
from tools.seed import seed

RUN = uuid.uuid4().hex[:8]
HUB = f"Dfctl{RUN}"
DURATION = r"\d+ ms|\d+\.\d\d s"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Env:
    host: RunningHost
    connection: str

    def dfctl(self, *args: str, timeout: float = 60, **env: str) -> Result:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DFCTL_")}
        full_env = {**inherited, "DFCTL_URL": self.host.base_url, "AzureWebJobsStorage": self.connection,
                    "TASKHUB_NAME": HUB, "COLUMNS": "220", **env}
        done = subprocess.run([sys.executable, "-m", "dfctl", *args], cwd=ROOT, env=full_env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def env(azurite: azurite_control.Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    seed()  # the catalogue (idempotent; other modules' stock levels stay as they are)
    settings = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": HUB,
                "ORDER_RETRY_FIRST_INTERVAL_MS": "100", "BATCH_RETRY_FIRST_INTERVAL_MS": "100"}
    running = start_devhost(ROOT, tmp_path_factory.mktemp("dfctl") / "host.log", settings)
    yield Env(running, azurite.connection_string)
    running.stop()


@pytest.fixture(scope="module")
def order(env: Env) -> str:
    """An order started with dfctl and watched to completion with `status --watch`."""
    order_id = f"DFCTL-{RUN}"
    started = env.dfctl("start", "order", "--order-id", order_id, "--email", "ops@example.com",
                        "--item", "CABLE-1=2", "--item", "WIDGET-1=1")
    assert started.code == errors.OK, started.err
    assert f"started order: order-{order_id}" in started.out
    watched = env.dfctl("status", f"order-{order_id}", "--watch", "--interval", "0.1", "--timeout", "30")
    assert watched.code == errors.OK, watched.out + watched.err
    assert "Completed" in watched.out and f"Order {order_id} processed successfully." in watched.out
    return f"order-{order_id}"


def test_help_everywhere() -> None:
    from dfctl.cli import main

    done = subprocess.run([sys.executable, "-m", "dfctl", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0
    assert "exit codes:" in done.stdout and "inspect" in done.stdout
    bare = subprocess.run([sys.executable, "-m", "dfctl"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert bare.returncode == errors.USAGE
    for command in (["start"], ["start", "order"], ["start", "batch"], ["start", "leave"], ["approve"], ["reject"],
                    ["status"], ["list"], ["terminate"], ["raise"], ["purge"], ["inspect"], ["report"], ["outbox"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])  # INSTANCE_ID missing: argparse's usage error
    assert exit_info.value.code == errors.USAGE


def test_order_start_watch_and_a_second_start(env: Env, order: str) -> None:
    again = env.dfctl("start", "order", "--order-id", order.removeprefix("order-"))
    assert again.code == errors.REFUSED
    assert "409" in again.err and "already has a workflow" in again.err
    bad = env.dfctl("start", "order", "--order-id", "X-1", "--email", "a@example.com", "--item", "WIDGET-1=0")
    assert bad.code == errors.REFUSED and "quantity" in bad.err
    usage = env.dfctl("start", "order", "--email", "a@example.com")
    assert usage.code == errors.USAGE


def test_a_leave_request_with_its_own_id_is_started_once(env: Env) -> None:
    request_id = f"dfctl-{RUN}"
    args = ["start", "leave", "--employee-id", "E-9", "--employee-email", "emp@example.com", "--approver-email",
            "boss@example.com", "--start-date", "2030-05-01", "--end-date", "2030-05-02", "--reason", "own id",
            "--request-id", request_id]
    first = env.dfctl(*args, "--json")
    assert first.code == errors.OK and json.loads(first.out)["id"] == f"leave-{request_id}"
    again = env.dfctl(*args)
    assert again.code == errors.REFUSED and "409" in again.err


def test_the_order_confirmation_is_in_the_outbox(env: Env, order: str) -> None:
    mails = env.dfctl("outbox", order)
    assert mails.code == errors.OK, mails.err
    assert f"orders/{order.removeprefix('order-')}/confirmation.eml" in mails.out


def test_list_with_filters(env: Env, order: str) -> None:
    listed = env.dfctl("list", "--prefix", order, "--status", "Completed", "--json")
    assert listed.code == errors.OK, listed.err
    items = json.loads(listed.out)
    assert [i["instanceId"] for i in items] == [order]
    assert items[0]["runtimeStatus"] == "Completed"
    table = env.dfctl("list", "--prefix", "order-DFCTL", "--created-from", "1h")
    assert table.code == errors.OK and order in table.out and "OrderProcessing_Orchestrator" in table.out
    none = env.dfctl("list", "--prefix", order, "--status", "Running", "--json")
    assert json.loads(none.out) == []
    wrong = env.dfctl("list", "--status", "Sleeping")
    assert wrong.code == errors.USAGE and "Unknown status" in wrong.err


def test_terminate_watch_purge_and_not_found(env: Env) -> None:
    leave = env.dfctl("start", "leave", "--employee-id", "E-9", "--employee-email", "emp@example.com",
                      "--approver-email", "boss@example.com", "--start-date", "2030-03-02", "--end-date",
                      "2030-03-04", "--reason", "dfctl test", "--json")
    assert leave.code == errors.OK, leave.err
    instance_id = json.loads(leave.out)["id"]
    running = env.dfctl("purge", instance_id)  # the management API answers 412 for an unfinished instance
    assert running.code == errors.REFUSED and "Only orchestrations in a terminal state" in running.err
    everything = env.dfctl("purge", "--created-from", "1d", "--status", "Running")
    assert everything.code == errors.USAGE and "Only finished instances are purged" in everything.err

    terminated = env.dfctl("terminate", instance_id, "--reason", "changed plans")
    assert terminated.code == errors.OK, terminated.err
    watched = env.dfctl("status", instance_id, "--watch", "--interval", "0.1", "--timeout", "30")
    assert watched.code == errors.WORKFLOW_FAILED and "Terminated" in watched.out
    assert env.dfctl("terminate", instance_id).code == errors.REFUSED  # 410: already finished

    purged = env.dfctl("purge", instance_id, "--json")
    assert purged.code == errors.OK and json.loads(purged.out)["instancesDeleted"] == 1
    gone = env.dfctl("status", instance_id)
    assert gone.code == errors.NOT_FOUND and f"No instance {instance_id}" in gone.err
    assert env.dfctl("purge", instance_id).code == errors.NOT_FOUND
    assert env.dfctl("terminate", "no-such-instance").code == errors.NOT_FOUND
    assert env.dfctl("raise", "no-such-instance", "Go", "--data", "{}").code == errors.NOT_FOUND


def test_a_purge_by_filter_shows_what_it_would_delete_and_needs_a_yes(env: Env) -> None:
    """The management API's purge by filter deletes everything that matches at once; dfctl lists the matches
    first and, without a terminal to ask, purges only with --yes."""
    leave = env.dfctl("start", "leave", "--employee-id", "E-7", "--employee-email", "emp@example.com",
                      "--approver-email", "boss@example.com", "--start-date", "2030-06-02", "--end-date",
                      "2030-06-03", "--reason", "dfctl purge", "--json")
    instance_id = json.loads(leave.out)["id"]
    assert env.dfctl("terminate", instance_id).code == errors.OK
    status = json.loads(env.dfctl("status", instance_id, "--watch", "--interval", "0.1", "--json").out)
    since = status["createdTime"]
    refused = env.dfctl("purge", "--created-from", since)
    assert refused.code == errors.USAGE and "add --yes" in refused.err
    assert instance_id in refused.err and "Completed, Failed, Terminated" in refused.err
    assert env.dfctl("status", instance_id).code == errors.OK  # still there
    done = env.dfctl("purge", "--created-from", since, "--yes")
    assert done.code == errors.OK and "purged" in done.out
    assert env.dfctl("status", instance_id).code == errors.NOT_FOUND


def test_leave_approval(env: Env) -> None:
    leave = env.dfctl("start", "leave", "--employee-id", "E-8", "--employee-email", "emp@example.com",
                      "--approver-email", "boss@example.com", "--start-date", "2030-04-01", "--end-date",
                      "2030-04-02", "--reason", "dfctl approve", "--json")
    instance_id = json.loads(leave.out)["id"]
    wrong = env.dfctl("approve", instance_id, "--approver", "someone@example.com")
    assert wrong.code == errors.REFUSED and "403" in wrong.err
    approved = env.dfctl("approve", instance_id, "--approver", "boss@example.com", "--comment", "enjoy",
                         "--wait", "--interval", "0.1", "--timeout", "30")
    assert approved.code == errors.OK, approved.out + approved.err
    assert "Leave request approved." in approved.out
    mails = env.dfctl("outbox", instance_id)
    assert mails.code == errors.OK, mails.err
    assert f"leave/{instance_id}/approval-request.eml" in mails.out and f"leave/{instance_id}/approved.eml" in mails.out
    again = env.dfctl("reject", instance_id, "--approver", "boss@example.com")
    assert again.code == errors.REFUSED and "409" in again.err
    unknown = env.dfctl("approve", "leave-00000000000000000000000000000000", "--approver", "boss@example.com")
    assert unknown.code == errors.NOT_FOUND


def test_batch_upload_start_and_progress(env: Env, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,date,sku,quantity,unitPrice,currency\nr1,2026-01-02,WIDGET-1,2,9.99,EUR\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,date,sku,quantity,unitPrice,currency\nr1,2026-01-02,WIDGET-1,0,9.99,EUR\n")
    done = env.dfctl("start", "batch", str(good), str(bad), "--blob-prefix", f"dfctl-{RUN}/", "--batch-id",
                     f"dfctl-{RUN}", "--wait", "--interval", "0.1", "--timeout", "60")
    assert done.code == errors.OK, done.out + done.err
    assert "uploaded 2 file(s) to batch-input" in done.out
    assert f"started batch: batch-dfctl-{RUN}" in done.out
    assert re.search(r"batch-dfctl-\w+: Completed 2/2 \(succeeded 1, invalid 1\)", done.out), done.out
    assert "Completed Completed" not in done.out  # the step is not repeated when it is the status

    listed = env.dfctl("list", "--prefix", f"batch-dfctl-{RUN}")
    assert f"batch-dfctl-{RUN}" in listed.out and ":chunk-" not in listed.out
    assert "1 sub-orchestration(s) hidden" in listed.out
    assert ":chunk-" in env.dfctl("list", "--prefix", f"batch-dfctl-{RUN}", "--all").out

    report = env.dfctl("report", f"batch-dfctl-{RUN}", "--errors")
    assert report.code == errors.OK, report.err
    assert "2 file(s) (succeeded 1, invalid 1)" in report.out
    assert f"dfctl-{RUN}/bad.csv (invalid, errors/dfctl-{RUN}/bad.csv.errors.json):" in report.out
    assert "line 2, record 1, field quantity:" in report.out
    as_json = json.loads(env.dfctl("report", f"dfctl-{RUN}", "--json").out)
    assert [f["outcome"] for f in as_json["files"]] == ["succeeded", "invalid"]
    assert env.dfctl("report", "no-such-batch").code == errors.NOT_FOUND

    inspected = env.dfctl("inspect", f"batch-dfctl-{RUN}")
    assert inspected.code == errors.OK, inspected.err
    assert re.search(rf"batch-dfctl-{RUN}:chunk-[0-9a-f]{{8}}-00000: Completed, 3 activities", inspected.out)
    assert "ProcessFile" in inspected.out and "WriteBatchReport" in inspected.out

    missing = env.dfctl("start", "batch", str(tmp_path / "nope.csv"))
    assert missing.code == errors.USAGE and "No such file" in missing.err


def test_inspect_reads_the_task_hub_tables(env: Env, order: str, tmp_path: Path) -> None:
    picture = tmp_path / "order.png"
    shown = env.dfctl("inspect", order, "--png", str(picture))
    assert shown.code == errors.OK, shown.err
    for activity in ("CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail"):
        row = next(line for line in shown.out.splitlines() if f" {activity} " in line and "activity" in line)
        assert re.search(rf"\b1 │ +({DURATION}) │ Completed", row), row
    assert "4 attempts, 0 failed, 0 retries" in shown.out
    assert picture.stat().st_size > 0 and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    as_json = json.loads(env.dfctl("inspect", order, "--json").out)
    activities = [s for s in as_json["spans"] if s["kind"] == "activity"]
    assert [s["name"] for s in activities] == ["CheckInventory", "ProcessPayment", "CreateOrder",
                                               "SendConfirmationEmail"]
    assert all(s["durationSeconds"] >= 0 and s["outcome"] == "Completed" for s in activities)
    assert as_json["runtimeStatus"] == "Completed"

    listed = env.dfctl("inspect", "--prefix", "order-DFCTL", "--status", "Completed")
    assert listed.code == errors.OK and order in listed.out and f"{HUB}Instances" in listed.out


def test_inspect_errors(env: Env) -> None:
    unknown = env.dfctl("inspect", "no-such-instance")
    assert unknown.code == errors.NOT_FOUND and "No instance no-such-instance" in unknown.err
    no_hub = env.dfctl("inspect", "--hub", "NoSuchHub")
    assert no_hub.code == errors.NOT_FOUND and HUB in no_hub.err  # the hint lists the hubs that exist
    port = free_port()
    unreachable = env.connection.replace(re.search(r"TableEndpoint=http://127.0.0.1:(\d+)", env.connection)
                                         .group(1), str(port))
    down = env.dfctl("inspect", "--connection", unreachable)
    assert down.code == errors.USAGE and "Cannot reach" in down.err


def test_wrong_url_and_missing_key(env: Env) -> None:
    refused = env.dfctl("status", "anything", "--url", f"http://127.0.0.1:{free_port()}")
    assert refused.code == errors.USAGE and "Cannot connect" in refused.err
    nonsense = env.dfctl("list", "--url", "localhost:7071")
    assert nonsense.code == errors.USAGE and "Not an http(s) URL" in nonsense.err

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        denied = env.dfctl("status", "order-1", "--url", url)
        assert denied.code == errors.UNAUTHORIZED
        assert "401 Unauthorized" in denied.err and "without a key" in denied.err and "--key" in denied.err
        keyed = env.dfctl("start", "order", "--order-id", "1", "--url", url, DFCTL_KEY="wrong")
        assert keyed.code == errors.UNAUTHORIZED and "with the key given" in keyed.err
    finally:
        server.shutdown()
        server.server_close()
