"""Security review (SECURITY.md): dfctl never prints the key it sends.

The management API takes its key as `code=` in the query, and requests / urllib3 put the whole
URL, query included, into their error messages. dfctl's own messages must not pass it on to a
terminal or a CI log. No app is needed: the HTTP session fails before anything is sent.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dfctl.api import AppClient, redact_keys
from dfctl.errors import CliError

KEY = "s3cr3t-Kq9_wQ=="
URL_WITH_KEY = f"/runtime/webhooks/durabletask/instances/order-1?showInput=false&code={KEY}"


def failing_client(monkeypatch: pytest.MonkeyPatch, error: Exception, **keys: str) -> AppClient:
    client = AppClient("https://app.example.net", **keys)

    def request(*args: Any, **kwargs: Any) -> requests.Response:
        raise error

    monkeypatch.setattr(client._session, "request", request)
    return client


@pytest.mark.parametrize("error", [
    # A TLS failure: no marker dfctl recognises, so the first line of the message is shown.
    requests.exceptions.SSLError(
        f"HTTPSConnectionPool(host='app.example.net', port=443): Max retries exceeded with url: {URL_WITH_KEY} "
        "(Caused by SSLError(SSLCertVerificationError(1, 'certificate verify failed')))"),
    requests.exceptions.ConnectionError(
        f"HTTPSConnectionPool(host='app.example.net', port=443): Max retries exceeded with url: {URL_WITH_KEY} "
        "(Caused by ProxyError('Unable to connect to proxy'))"),
    requests.exceptions.ChunkedEncodingError(f"Connection broken while reading {URL_WITH_KEY}"),
    requests.exceptions.TooManyRedirects(f"Exceeded 30 redirects: https://app.example.net{URL_WITH_KEY}"),
], ids=["ssl", "proxy", "chunked", "redirects"])
def test_a_failed_request_does_not_print_the_key(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    client = failing_client(monkeypatch, error, system_key=KEY)
    with pytest.raises(CliError) as raised:
        client.status("order-1")
    shown = f"{raised.value.message}\n{raised.value.hint or ''}"
    assert KEY not in shown and "s3cr3t" not in shown
    assert "code=***" in shown  # the message still says a key was sent


@pytest.mark.parametrize(("text", "redacted"), [
    (f"GET {URL_WITH_KEY}", "GET /runtime/webhooks/durabletask/instances/order-1?showInput=false&code=***"),
    ("https://a.example.net/x?code=abc&taskHub=H", "https://a.example.net/x?code=***&taskHub=H"),
    ("url: '/x?CODE=abc') and /y?code=def#frag", "url: '/x?CODE=***') and /y?code=***#frag"),
    ("no key here: /x?postcode=123&barcode=9", "no key here: /x?postcode=123&barcode=9"),
])
def test_redact_keys(text: str, redacted: str) -> None:
    assert redact_keys(text) == redacted
