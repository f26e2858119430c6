"""App settings of the leave-approval workflow, and the ISO 8601 durations they use.

| setting                          | default             | meaning                                              |
|----------------------------------|---------------------|------------------------------------------------------|
| `LEAVE_APPROVAL_TIMEOUT`         | `PT72H`             | how long the approver has to decide (ISO 8601)       |
| `LEAVE_REMINDER_ENABLED`         | `true`              | remind the approver once, halfway to the deadline    |
| `LEAVE_MAX_DAYS`                 | `30`                | the longest leave one request may ask for (days)     |
| `LEAVE_RETRY_FIRST_INTERVAL_MS`  | `2000`              | activity retries: first interval                     |
| `LEAVE_RETRY_MAX_ATTEMPTS`       | `3`                 | activity retries: attempts in all                    |
| `LEAVE_REQUESTS_TABLE`           | `LeaveRequests`     | the table of leave requests                          |
| `LEAVE_EMAIL_FROM`               | `leave@example.com` | sender of the workflow's e-mails                     |
| `LEAVE_APPROVER_IDENTITY`        | `body`              | who decides: `body` (the request's `approver`) or    |
|                                  |                     | `signed-in-user` (App Service Authentication)        |
| `LEAVE_APPROVAL_BASE_URL`        | the app's address   | where links in approval e-mails point, e.g.          |
|                                  | (`WEBSITE_HOSTNAME`)| `https://hr.example.com` behind a custom domain      |

Only the HTTP starter and activities read these; the orchestrator gets the values in its input.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from common.retry import DEFAULT_FIRST_RETRY_INTERVAL_MS, DEFAULT_MAX_ATTEMPTS, read_retry_policy
from common.settings import SettingError, get_int, get_str

LEAVE_REQUESTS_TABLE = ("LEAVE_REQUESTS_TABLE", "LeaveRequests")
DEFAULT_TIMEOUT = "PT72H"
DEFAULT_MAX_DAYS = 30
DEFAULT_SENDER = "leave@example.com"
APPROVER_FROM_BODY = "body"
APPROVER_SIGNED_IN = "signed-in-user"
ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (the default)
LOCAL_HOSTNAME = "localhost:7071"  # WEBSITE_HOSTNAME as Core Tools (and devhost) set it on the default port
# Longer deadlines are possible for Durable timers, but a year is far beyond any approval policy.
MAX_TIMEOUT = timedelta(days=365)

# PnW | PnDTnHnMnS with every part optional but at least one present; fractions only on seconds.
# Years and months are refused: their length depends on the calendar.
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_duration(text: str) -> timedelta:
    """A strict ISO 8601 duration (`PT72H`, `P3D`, `P1DT12H`, `PT4S`, `P2W`) as a timedelta; ValueError if not one."""
    if not isinstance(text, str):
        raise ValueError(f"Not an ISO 8601 duration: {text!r}")
    match = _DURATION.fullmatch(text.strip())
    parts = match.groupdict() if match else {}
    if not match or not any(parts.values()) or text.strip().endswith("T"):
        raise ValueError(f"Not an ISO 8601 duration of the form PnDTnHnMnS: {text!r}")
    seconds = Decimal((parts["seconds"] or "0").replace(",", "."))
    return timedelta(
        weeks=int(parts["weeks"] or 0), days=int(parts["days"] or 0), hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0), seconds=float(seconds),
    )


def approval_timeout() -> timedelta:
    """`LEAVE_APPROVAL_TIMEOUT`: how long the approver has, positive and at most a year."""
    raw = get_str("LEAVE_APPROVAL_TIMEOUT", DEFAULT_TIMEOUT)
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        raise SettingError(f"App setting LEAVE_APPROVAL_TIMEOUT must be an ISO 8601 duration such as PT72H, "
                           f"got {raw!r}") from exc
    if value <= timedelta(0) or value > MAX_TIMEOUT:
        raise SettingError(f"App setting LEAVE_APPROVAL_TIMEOUT must be longer than zero and at most P365D, "
                           f"got {raw!r}")
    return value


def reminder_enabled() -> bool:
    """`LEAVE_REMINDER_ENABLED`: whether the approver gets one reminder halfway to the deadline."""
    raw = get_str("LEAVE_REMINDER_ENABLED", "true").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingError(f"App setting LEAVE_REMINDER_ENABLED must be true or false, got {raw!r}")


def max_days() -> int:
    """`LEAVE_MAX_DAYS`: the longest leave (calendar days, both ends included) one request may ask for."""
    return get_int("LEAVE_MAX_DAYS", DEFAULT_MAX_DAYS, minimum=1)


RETRY_FIRST_INTERVAL_MS = ("LEAVE_RETRY_FIRST_INTERVAL_MS", DEFAULT_FIRST_RETRY_INTERVAL_MS)
RETRY_MAX_ATTEMPTS = ("LEAVE_RETRY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def retry_settings() -> dict[str, int]:
    """The orchestrator's retry options for activities."""
    return read_retry_policy(RETRY_FIRST_INTERVAL_MS, RETRY_MAX_ATTEMPTS)


def email_sender() -> str:
    """`LEAVE_EMAIL_FROM`: the From address of the workflow's e-mails."""
    return get_str("LEAVE_EMAIL_FROM", DEFAULT_SENDER)


def approver_identity() -> str:
    """`LEAVE_APPROVER_IDENTITY`: where SubmitApprovalResult takes the approver from.

    `body`: the `approver` the caller states (function keys prove no identity, see SECURITY.md).
    `signed-in-user`: the user App Service Authentication signed in (`X-MS-CLIENT-PRINCIPAL-NAME`),
    for apps with Authentication turned on; without it anybody could send that header.
    """
    raw = get_str("LEAVE_APPROVER_IDENTITY", APPROVER_FROM_BODY).lower()
    if raw not in (APPROVER_FROM_BODY, APPROVER_SIGNED_IN):
        raise SettingError(f"App setting LEAVE_APPROVER_IDENTITY must be {APPROVER_FROM_BODY} or "
                           f"{APPROVER_SIGNED_IN}, got {raw!r}")
    return raw


def app_base_url() -> str:
    """The app's own public address, for links in e-mails: `LEAVE_APPROVAL_BASE_URL`, else `WEBSITE_HOSTNAME`
    (which Azure sets to the app's host name, and Core Tools and devhost to `localhost:<port>`; https, but
    http for a local host). Never the request's Host header: anyone who can start a request would choose where
    the approver's link points."""
    configured = get_str("LEAVE_APPROVAL_BASE_URL", "")
    if configured:
        parts = urlsplit(configured)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise SettingError(f"App setting LEAVE_APPROVAL_BASE_URL must be an http(s) URL without query, "
                               f"e.g. https://hr.example.com; got {configured!r}")
        return configured.rstrip("/")
    host = get_str("WEBSITE_HOSTNAME", LOCAL_HOSTNAME)
    scheme = "http" if host.split(":")[0] in ("localhost", "127.0.0.1") else "https"
    return f"{scheme}://{host}"


def function_url(function_route: str) -> str:
    """The public URL of one of the app's HTTP functions (no key: none is ever copied into an e-mail)."""
    return f"{app_base_url()}/{ROUTE_PREFIX}/{function_route}"
