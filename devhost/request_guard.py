"""What the host's web server answers before a request reaches a function or the management API.

Kestrel, the Functions host's server, refuses a request whose Host header is not a host[:port] with 400
("Invalid Host header"), before any middleware runs. A body that cannot be read is the client's fault too:
one whose Content-Encoding does not decode is 400; a client that goes away before its body arrived gets
nothing, and the host notes it in one line (no traceback: nothing is wrong with the host).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger("devhost.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# RFC 3986 host (reg-name with percent-encodings, IPv4, or a bracketed IPv6 literal) and an optional port,
# as Kestrel's HttpUtilities.IsHostHeaderValid accepts it.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::(\d{1,5}))?")


def host_problem(value: str | None) -> str | None:
    """Why a Host header is not a valid host[:port], or None when it is (a missing one is allowed)."""
    if value is None:
        return None
    match = _HOST.fullmatch(value)
    if match is None:
        return "not a host name or address with an optional port"
    if match.group(1) is not None and int(match.group(1)) > 65535:
        return "the port is greater than 65535"
    return None


def _bad_request(message: str) -> web.Response:
    return web.json_response({"Message": message}, status=400)


def _unreadable(request: web.Request, message: str) -> web.Response:
    """400, and the connection ends with it: the rest of a body that cannot be read is not drained."""
    request.content.feed_eof()
    response = _bad_request(message)
    response.force_close()
    return response


class _ClientErrorsInOneLine(logging.Filter):
    """aiohttp refuses a malformed request itself (an unknown Content-Encoding, a broken request line) and logs
    the parser's traceback as an error; it is the client's mistake, so one warning line without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "Refused a malformed request: %s", (" ".join(str(error).split()),), None, None)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Install the filter on aiohttp's server logger (once)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ClientErrorsInOneLine) for f in server_log.filters):
        server_log.addFilter(_ClientErrorsInOneLine())


@web.middleware
async def request_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a bad Host header; turn an unreadable body into 400, and a vanished client into one log line."""
    problem = host_problem(request.headers.get("Host"))
    if problem:
        return _bad_request(f"Invalid Host header: {problem}.")
    try:
        return await handler(request)
    except RequestPayloadError as error:
        if isinstance(error.__cause__, ContentEncodingError) or "content-encoding" in str(error).lower():
            encoding = request.headers.get("Content-Encoding", "")
            return _unreadable(request, f"The request body could not be decoded as Content-Encoding '{encoding}'.")
        return _unreadable(request, f"The request body could not be read: {' '.join(str(error).split())}")
    except ConnectionResetError:
        log.info("%s %s: the client went away before its request body arrived", request.method, request.path)
        return web.Response(status=400)
