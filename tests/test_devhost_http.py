"""The local host over HTTP: HTTP triggers, the durableClient binding and the management API."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.spawn import RunningHost, start_devhost, wait_for_status
from tools.azurite import Azurite

SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": "SampleHttpHub"}
    running = start_devhost(SAMPLE_APP, tmp_path_factory.mktemp("devhost") / "host.log", env)
    yield running
    running.stop()


def start(host: RunningHost, name: str, body: object = None, instance_id: str = "") -> requests.Response:
    url = f"{host.base_url}/api/start/{name}" + (f"/{instance_id}" if instance_id else "")
    return requests.post(url, json=body, timeout=10)


def test_banner_lists_functions_and_says_it_is_not_the_functions_host(host: RunningHost) -> None:
    log = host.log()
    assert "NOT the Azure Functions host" in log
    assert "/api/start/{name}/{instance_id?}" in log
    assert "Chain: orchestrationTrigger" in log


def test_check_status_response_through_the_sdk_client(host: RunningHost) -> None:
    response = start(host, "Chain", "Tokyo")
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    assert body["statusQueryGetUri"].startswith(f"{host.base_url}{WEBHOOK}/instances/{body['id']}?taskHub=")
    final = wait_for_status(body["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == "Hello Hello Tokyo"
    assert final["customStatus"] == {"done": 2}
    assert final["name"] == "Chain" and final["instanceId"] == body["id"]
    assert final["createdTime"].endswith("Z") and final["lastUpdatedTime"].endswith("Z")


def test_sdk_client_status_call_uses_rpc_base_url(host: RunningHost) -> None:
    body = start(host, "Chain", "x").json()
    wait_for_status(body["statusQueryGetUri"])
    response = requests.get(f"{host.base_url}/api/status/{body['id']}", timeout=10)
    assert response.json() == {"runtimeStatus": "Completed"}
    assert requests.get(f"{host.base_url}/api/status/nope", timeout=10).status_code == 404


def test_status_codes_and_history(host: RunningHost) -> None:
    body = start(host, "Waiter", None, "http-waiter-1").json()
    status_url = body["statusQueryGetUri"]
    running = requests.get(status_url, timeout=10)
    assert running.status_code == 202
    assert running.headers["Retry-After"] == "5"
    assert running.json()["runtimeStatus"] in ("Pending", "Running")

    event_url = body["sendEventPostUri"].replace("{eventName}", "Go")
    not_json = requests.post(event_url, data="not json", headers={"Content-Type": "text/plain"}, timeout=10)
    assert not_json.status_code == 400
    assert requests.post(event_url, json={"go": True}, timeout=10).status_code == 202
    final = wait_for_status(status_url)
    assert final["output"] == {"go": True}  # a raw JSON body arrives as the JSON value
    assert requests.post(event_url, json={}, timeout=10).status_code == 410

    with_history = requests.get(status_url + "&showHistory=true&showHistoryOutput=true", timeout=10).json()
    kinds = [e["EventType"] for e in with_history["historyEvents"]]
    assert kinds == ["ExecutionStarted", "EventRaised", "ExecutionCompleted"]
    assert with_history["historyEvents"][-1]["Result"] == {"go": True}

    unknown = f"{host.base_url}{WEBHOOK}/instances/does-not-exist"
    assert requests.get(unknown, timeout=10).status_code == 404
    assert requests.post(unknown + "/raiseEvent/Go", json={}, timeout=10).status_code == 404
    assert requests.post(unknown + "/terminate", timeout=10).status_code == 404


def test_terminate_and_purge(host: RunningHost) -> None:
    body = start(host, "Waiter", None, "http-waiter-2").json()
    terminate = body["terminatePostUri"].replace("{text}", "stop")
    assert requests.post(terminate, timeout=10).status_code == 202
    final = wait_for_status(body["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Terminated" and final["output"] == "stop"
    assert requests.post(terminate, timeout=10).status_code == 410
    purge = requests.delete(body["purgeHistoryDeleteUri"], timeout=10)
    assert purge.status_code == 200 and purge.json() == {"instancesDeleted": 1}
    assert requests.get(body["statusQueryGetUri"], timeout=10).status_code == 404
    assert requests.delete(body["purgeHistoryDeleteUri"], timeout=10).status_code == 404


def test_start_through_the_management_api(host: RunningHost) -> None:
    response = requests.post(f"{host.base_url}{WEBHOOK}/orchestrators/Echo/api-start-1", json={"city": "Oslo"},
                             timeout=10)
    assert response.status_code == 202
    assert response.json()["id"] == "api-start-1"
    assert wait_for_status(response.json()["statusQueryGetUri"])["output"] == {"city": "Oslo"}
    missing = requests.post(f"{host.base_url}{WEBHOOK}/orchestrators/Nope", json=1, timeout=10)
    assert missing.status_code == 400
    assert "doesn't exist" in missing.json()["ExceptionMessage"]


def test_query_pages_with_continuation_token(host: RunningHost) -> None:
    for i in range(3):
        wait_for_status(start(host, "Chain", "p", f"page-{i}").json()["statusQueryGetUri"])
    url = f"{host.base_url}{WEBHOOK}/instances?instanceIdPrefix=page-&top=2&runtimeStatus=Completed"
    first = requests.get(url, timeout=10)
    assert first.status_code == 200 and len(first.json()) == 2
    token = first.headers["x-ms-continuation-token"]
    second = requests.get(url, headers={"x-ms-continuation-token": token}, timeout=10)
    assert len(second.json()) == 1 and "x-ms-continuation-token" not in second.headers
    ids = {item["instanceId"] for item in first.json() + second.json()}
    assert ids == {"page-0", "page-1", "page-2"}


def test_unknown_route_and_method(host: RunningHost) -> None:
    assert requests.get(f"{host.base_url}/api/nothing-here", timeout=10).status_code == 404
    assert requests.get(f"{host.base_url}/api/start/Chain", timeout=10).status_code == 405


def raw_request(host: RunningHost, head: str, body: bytes = b"", *, close_early: bool = False) -> bytes:
    """Send bytes as they are (no client library fixes the Host header or the body) and read the answer."""
    port = int(host.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        if close_early:
            time.sleep(0.2)
            return b""
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
        return answer


@pytest.mark.parametrize("value", ["bad host[", "127.0.0.1:99999", "x:y:z", "a b"])
def test_an_invalid_host_header_is_400_before_any_function_runs(host: RunningHost, value: str) -> None:
    """Kestrel refuses a Host header that is not host[:port] with 400; here the HTTP trigger built its
    durableClient binding from it and failed with 500."""
    answer = raw_request(host, f"POST /api/start/Echo HTTP/1.1\nHost: {value}\nContent-Length: 2\n"
                               "Content-Type: application/json\nConnection: close\n", b"{}")
    status, _, rest = answer.partition(b"\r\n")
    assert status.split()[1] == b"400", answer[:300]
    assert b"Invalid Host header" in rest


def test_a_body_that_does_not_decode_is_400_and_a_real_gzip_body_is_read(host: RunningHost) -> None:
    plain = requests.post(f"{host.base_url}/api/start/Echo", data=b'{"a": 1}', timeout=10,
                          headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert plain.status_code == 400
    assert "could not be decoded as Content-Encoding 'gzip'" in plain.json()["Message"]
    managed = requests.post(f"{host.base_url}{WEBHOOK}/orchestrators/Echo", data=b'{"a": 1}', timeout=10,
                            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert managed.status_code == 400
    packed = requests.post(f"{host.base_url}/api/start/Echo", data=gzip.compress(b'{"a": 1}'), timeout=10,
                           headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert packed.status_code == 202
    assert "Traceback" not in host.log()


def test_a_client_that_goes_away_mid_body_is_one_log_line(host: RunningHost) -> None:
    before = host.log()
    for path in ("/api/start/Echo", f"{WEBHOOK}/orchestrators/Echo"):
        raw_request(host, f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 1000\n"
                          "Content-Type: application/json\n", b'{"a":', close_early=True)
    for _ in range(100):
        added = host.log()[len(before):]
        if added.count("the client went away before its request body arrived") == 2:
            break
        time.sleep(0.05)
    assert added.count("the client went away before its request body arrived") == 2, added
    assert "Traceback" not in added


def test_a_body_that_cannot_be_read_is_400(host: RunningHost) -> None:
    """A chunked body whose chunk size is not a number: the server refuses it with 400 before any function
    runs, and the host logs one warning line for it, not the parser's traceback."""
    before = host.log()
    answer = raw_request(host, "POST /api/start/Echo HTTP/1.1\nHost: 127.0.0.1\nTransfer-Encoding: chunked\n"
                               "Content-Type: application/json\nConnection: close\n", b"zz\r\n{}\r\n0\r\n\r\n")
    status, _, rest = answer.partition(b"\r\n")
    assert status.split()[1] == b"400", answer[:300]
    for _ in range(50):
        added = host.log()[len(before):]
        if "Refused a malformed request" in added:
            break
        time.sleep(0.05)
    assert "Refused a malformed request" in added and "Traceback" not in added
