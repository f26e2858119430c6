"""HTTP calls to the app: its starters under /api/ and the Durable management API.

Keys: a function key goes to /api/ functions as the `x-functions-key` header; the management
API (`/runtime/webhooks/durabletask/...`) gets `code=<key>` as the URLs the extension hands out
do. Locally (devhost, `func start`) no key is needed.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from dfctl.errors import NOT_FOUND, REFUSED, SERVER_ERROR, UNAUTHORIZED, USAGE, CliError

WEBHOOK = "/runtime/webhooks/durabletask"
PAGE_SIZE = 100
_KEY_IN_QUERY = re.compile(r"([?&;]code=)[^&#\s'\")]+", re.IGNORECASE)


@dataclass
class AppClient:
    """The app at `url` (e.g. http://localhost:7071 or https://<app>.azurewebsites.net)."""

    url: str
    key: str | None = None
    system_key: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"Not an http(s) URL: {self.url!r}", USAGE, hint="Pass --url like http://localhost:7071.")
        self._session = requests.Session()

    # -- transport ------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, params=params, headers=headers, timeout=self.timeout,
                                             **kwargs)
        except requests.ConnectionError as error:
            raise CliError(f"Cannot connect to {self.url}: {_reason(error)}", USAGE,
                           hint="Is the app running (`make run`, `func start`)? Check --url or DFCTL_URL.") from error
        except requests.Timeout as error:
            raise CliError(f"{self.url} did not answer within {self.timeout:g} s.", USAGE) from error
        except requests.RequestException as error:
            raise CliError(f"Request to {self.url} failed: {redact_keys(str(error))}", USAGE) from error
        if response.status_code == 401:
            used = "with the key given" if self._has_key(url) else "without a key"
            raise CliError(f"401 Unauthorized from {_path(url)} ({used}).", UNAUTHORIZED, hint=(
                "Pass a function key with --key or DFCTL_KEY (Azure portal > the function app > App keys; "
                "`az functionapp keys list`). The management API needs the durabletask_extension system key "
                "or the _master key (--system-key or DFCTL_SYSTEM_KEY)."))
        if response.status_code >= 500:
            raise CliError(f"{response.status_code} from {_path(url)}: {_error_text(response)}", SERVER_ERROR)
        return response

    def _has_key(self, url: str) -> bool:
        return bool(self.system_key or self.key) if WEBHOOK in url else bool(self.key)

    def function(self, method: str, route: str, *, params: dict[str, Any] | None = None,
                 body: Any = None) -> requests.Response:
        """Call an HTTP-triggered function at /api/<route>."""
        headers = {"x-functions-key": self.key} if self.key else {}
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            headers["Content-Type"] = "application/json"
        return self._send(method, f"{self.url}/api/{route}", params=params, headers=headers, **kwargs)

    def webhook(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, body: Any = None) -> requests.Response:
        """Call the Durable management API at /runtime/webhooks/durabletask/<path>."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        code = self.system_key or self.key
        if code:
            params["code"] = code
        headers = dict(headers or {})
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            headers["Content-Type"] = "application/json"
        return self._send(method, f"{self.url}{WEBHOOK}/{path}", params=params, headers=headers, **kwargs)

    # -- management API -------------------------------------------------------------------

    def status(self, instance_id: str, *, history: bool = False, show_input: bool = True) -> dict[str, Any] | None:
        """The instance's status JSON, or None when it does not exist."""
        params = {"showHistory": "true", "showHistoryOutput": "true"} if history else {}
        if not show_input:  # a batch's input names every file: not worth fetching on every poll
            params["showInput"] = "false"
        response = self.webhook("GET", f"instances/{_segment(instance_id)}", params=params)
        if response.status_code == 404:
            return None
        expect(response, 200, 202)
        return json_body(response)

    def query(self, *, statuses: list[str] | None = None, prefix: str | None = None,
              created_from: str | None = None, created_to: str | None = None,
              top: int | None = None) -> list[dict[str, Any]]:
        """Instances matching the filters, following continuation tokens until `top` are found."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page_size = min(PAGE_SIZE, top - len(found)) if top else PAGE_SIZE
            params = {"runtimeStatus": ",".join(statuses) if statuses else None, "instanceIdPrefix": prefix,
                      "createdTimeFrom": created_from, "createdTimeTo": created_to, "top": str(page_size)}
            response = self.webhook("GET", "instances", params=params,
                                    headers={"x-ms-continuation-token": token} if token else None)
            if response.status_code == 400:
                raise CliError(f"The app rejected the query: {_error_text(response)}", REFUSED)
            expect(response, 200)
            found += json_body(response) or []
            token = response.headers.get("x-ms-continuation-token")
            if not token or (top and len(found) >= top) or _empty_token(token):
                return found[:top] if top else found

    def terminate(self, instance_id: str, reason: str) -> requests.Response:
        return self.webhook("POST", f"instances/{_segment(instance_id)}/terminate", params={"reason": reason})

    def raise_event(self, instance_id: str, event: str, data: Any) -> requests.Response:
        return self.webhook("POST", f"instances/{_segment(instance_id)}/raiseEvent/{_segment(event)}", body=data)

    def purge(self, instance_id: str) -> requests.Response:
        return self.webhook("DELETE", f"instances/{_segment(instance_id)}")

    def purge_by(self, *, created_from: str, created_to: str | None, statuses: list[str] | None) -> requests.Response:
        params = {"createdTimeFrom": created_from, "createdTimeTo": created_to,
                  "runtimeStatus": ",".join(statuses) if statuses else None}
        return self.webhook("DELETE", "instances", params=params)


def expect(response: requests.Response, *statuses: int) -> None:
    """Raise a CliError for an answer other than `statuses` (404 -> not found, 4xx -> refused)."""
    if response.status_code in statuses:
        return
    text = _error_text(response)
    where = _path(response.url)
    if response.status_code == 404:
        raise CliError(f"Not found: {where}" + (f": {text}" if text else ""), NOT_FOUND)
    if 400 <= response.status_code < 500:
        raise CliError(f"{response.status_code} from {where}: {text}", REFUSED)
    raise CliError(f"Unexpected {response.status_code} from {where}: {text}", SERVER_ERROR)


def json_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as error:
        raise CliError(f"{_path(response.url)} answered {response.status_code} with a body that is not JSON: "
                       f"{response.text[:200]!r}", SERVER_ERROR) from error


def _error_text(response: requests.Response) -> str:
    """The app's `{"error": ...}` / the host's `{"Message": ...}`, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, str):  # the management API's answers made with CreateResponse(status, "text")
        return body
    if isinstance(body, dict):
        message = body.get("error") or body.get("Message") or body.get("message")
        if message:
            field = body.get("field")
            return f"{message}" + (f" (field: {field})" if field else "")
    return json.dumps(body)[:300]


def _segment(value: str) -> str:
    return quote(value, safe="")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path or url


def redact_keys(text: str) -> str:
    """`text` with the value of every `code=` query parameter (a function or system key) replaced by `***`.

    requests and urllib3 put the full URL, query included, into their error messages; the
    management API's key travels in that query, and an error message ends up in terminals and CI logs.
    """
    return _KEY_IN_QUERY.sub(r"\1***", text)


def _reason(error: requests.ConnectionError) -> str:
    text = redact_keys(str(error))
    for marker in ("Connection refused", "Name or service not known", "nodename nor servname", "timed out",
                   "No route to host", "getaddrinfo failed", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200]


def _empty_token(token: str) -> bool:
    """The extension sends `bnVsbA==` ("null") when there is no next page."""
    try:
        return base64.b64decode(token).decode() in ("", "null")
    except ValueError:
        return False
