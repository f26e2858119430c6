"""JSON HTTP responses with one error shape for every endpoint.

Errors are `{"error": <message>, "field": <name or null>, ...extra}` so callers
can tell which input was wrong without parsing prose.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

import azure.functions as func

# curl's `-d` sends form-urlencoded by default; accept it when the body is JSON.
_JSON_COMPATIBLE = {"", "application/json", "text/json", "application/x-www-form-urlencoded"}


class RequestError(Exception):
    """A client error to answer with a 4xx JSON body (400 unless told)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400, **extra: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.extra = extra

    def to_response(self) -> func.HttpResponse:
        """The HTTP response that reports this error."""
        return error_response(self.status, self.message, self.field, **self.extra)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """An HTTP response with a JSON body."""
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers or {}
    )


def error_response(status: int, message: str, field: str | None = None, **extra: Any) -> func.HttpResponse:
    """An HTTP error response in the app's single error shape."""
    return json_response(status, {"error": message, "field": field, **extra})


def read_json_body(req: func.HttpRequest, *, max_bytes: int = 64 * 1024) -> Any:
    """The request's JSON body, or a RequestError naming what is wrong with it.

    An empty body reads as None so GET-style calls with only query parameters work.
    """
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise RequestError(f"Request body is larger than {max_bytes} bytes.", "body", status=413)
    if not body.strip():
        return None
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in _JSON_COMPATIBLE and not content_type.endswith("+json"):
        raise RequestError("Request body must be JSON (Content-Type: application/json).", "body", status=415)
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"Request body is not valid JSON: {exc}", "body") from exc
    except RecursionError as exc:
        raise RequestError("Request body is nested too deeply.", "body") from exc
    except ValueError as exc:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise RequestError("Request body has a number with too many digits.", "body") from exc
    if _has_lone_surrogate(value):
        raise RequestError("Request body is not valid JSON: a string has an unpaired surrogate escape "
                           "(\\ud800-\\udfff), which is not Unicode text.", "body")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string that cannot be encoded (an unpaired `\\udXXX` escape)."""
    pending = [value]
    while pending:  # iterative: the value may be nested as deeply as the parser allows
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class WorkflowUnavailable(RuntimeError):
    """The Durable host could not be asked about, or could not start, an instance."""


async def answer(work: Awaitable[func.HttpResponse], *, storage: str, log: logging.Logger) -> func.HttpResponse:
    """Await an HTTP starter's work and map failures to the app's JSON errors, never a bare 500.

    `storage` names what is unavailable in the 503 message (e.g. "Order storage").
    """
    from azure.core.exceptions import AzureError

    from common.settings import SettingError
    from common.storage import StorageConfigurationError

    try:
        return await work
    except RequestError as error:
        return error.to_response()
    except SettingError as error:
        log.error("misconfigured: %s", error)
        return error_response(500, f"Server configuration error: {error}")
    except (AzureError, StorageConfigurationError):
        log.exception("%s unavailable", storage)
        return error_response(503, f"{storage} is unavailable; try again later.", None)
    except WorkflowUnavailable as error:
        log.exception("durable host unavailable")
        return error_response(503, str(error), None)
