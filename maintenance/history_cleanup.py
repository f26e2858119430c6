"""HistoryCleanup: purge the Durable history of instances that finished long ago.

A timer-triggered client function (it has the `durableClient` binding, like the HTTP
starters in this package). Every run it purges the instance row and the whole history of
each instance that

* is Completed, Failed or Terminated (Running, Pending and Suspended instances are never
  touched), and
* was last updated (that is: finished) more than `HISTORY_RETENTION_DAYS` days ago
  (default 30). The query asks the host for instances *created* before that moment (the
  filter the management API has); an instance created before it but finished since is kept
  until it, too, has been finished for the whole retention period.

It logs the purged instance ids (in lines of at most 50) and the counts per status.
Sub-orchestrations (a batch's chunks) are instances of their own and are purged by the
same rule. First, leave requests whose workflow ended without a decision (terminated, failed or
purged by hand) are cancelled (`leave.settlement`), so no request waits for ever. Other
business data (orders, batch reports) is not touched: this
purges only the task hub's `{hub}Instances` / `{hub}History` rows and large-message blobs.

App settings:

| setting                    | default       | meaning                                                   |
|----------------------------|---------------|-----------------------------------------------------------|
| `HISTORY_RETENTION_DAYS`   | `30`          | keep finished instances this many days after they finish  |
| `HISTORY_CLEANUP_SCHEDULE` | `0 0 3 * * *` | NCRONTAB (seconds first; UTC unless WEBSITE_TIME_ZONE)    |

The schedule is read when the app is indexed (function_app.py is imported by the worker,
with the app settings in its environment), not with the host's `%SETTING%` syntax: a
`%...%` schedule has no default in the Functions host (a missing setting is an indexing
error) and the project's local host does not resolve it. Changing the setting restarts the
app in Azure, so the new schedule applies at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from common.logging import log_fields
from common.settings import get_int, get_str
from leave.settlement import settle_ended_requests

bp = df.Blueprint()
log = logging.getLogger("maintenance")

FUNCTION_NAME = "HistoryCleanup"
RETENTION_SETTING = "HISTORY_RETENTION_DAYS"
SCHEDULE_SETTING = "HISTORY_CLEANUP_SCHEDULE"
DEFAULT_RETENTION_DAYS = 30
DEFAULT_SCHEDULE = "0 0 3 * * *"  # 03:00 every day
FINISHED = (OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed,
            OrchestrationRuntimeStatus.Terminated)
# One run purges at most this many instances (the rest follow on the next run), so a first
# run over a long-neglected task hub stays well inside functionTimeout.
MAX_PER_RUN = 20_000
PURGE_CONCURRENCY = 8
IDS_PER_LOG_LINE = 50


def schedule() -> str:
    """The NCRONTAB schedule, from HISTORY_CLEANUP_SCHEDULE (read when the app is indexed)."""
    return get_str(SCHEDULE_SETTING, DEFAULT_SCHEDULE)


def retention() -> timedelta:
    """How long finished instances are kept, from HISTORY_RETENTION_DAYS."""
    return timedelta(days=get_int(RETENTION_SETTING, DEFAULT_RETENTION_DAYS, minimum=1))


def utc_now() -> datetime:
    """The current time (a seam for tests that run the host on a virtual clock)."""
    return datetime.now(UTC)


@dataclass
class CleanupResult:
    """What one run did."""

    cutoff: datetime
    purged: dict[str, str] = field(default_factory=dict)  # instance id -> runtime status
    kept_recent: int = 0  # created before the cutoff but finished after it
    errors: dict[str, str] = field(default_factory=dict)  # instance id -> why its purge failed
    truncated: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.purged.values()).items()))


@bp.function_name(FUNCTION_NAME)
@bp.timer_trigger(arg_name="timer", schedule=schedule(), run_on_startup=False, use_monitor=True)
@bp.durable_client_input(client_name="client")
async def history_cleanup(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Purge the history of instances that finished more than the retention period ago."""
    keep = retention()  # a malformed setting fails the run, visibly, before anything is purged
    cutoff = utc_now() - keep
    if timer.past_due:
        log.info("%s: running late (past due)", FUNCTION_NAME)
    settled = await settle_ended_requests(client)  # before any purge: a purged instance tells nothing more
    if settled:
        log.info("%s: cancelled %d leave request(s) whose workflow ended without a decision", FUNCTION_NAME,
                 len(settled))
    result = await purge_finished_before(client, cutoff)
    report(result, keep)
    if result.errors:
        raise RuntimeError(f"{FUNCTION_NAME}: {len(result.errors)} instance(s) could not be purged; "
                           "they are tried again on the next run.")


async def purge_finished_before(client: df.DurableOrchestrationClient, cutoff: datetime,
                                *, limit: int = MAX_PER_RUN) -> CleanupResult:
    """Purge every Completed/Failed/Terminated instance last updated before `cutoff`.

    The management API answers a query with one page (the SDK does not follow continuation
    tokens), so the query is repeated: each round purges what it returned, and the next round
    sees the rest. It stops when a round brings nothing new to purge."""
    result = CleanupResult(cutoff=cutoff)
    skipped: set[str] = set()
    gate = asyncio.Semaphore(PURGE_CONCURRENCY)

    async def purge(instance_id: str, status: str) -> None:
        async with gate:
            try:
                outcome = await client.purge_instance_history(instance_id)
            except Exception as error:  # one bad instance must not stop the rest
                result.errors[instance_id] = f"{type(error).__name__}: {error}"
                return
        if outcome.instances_deleted:
            result.purged[instance_id] = status

    while True:
        page = await client.get_status_by(created_time_to=cutoff, runtime_status=list(FINISHED))
        due: list[tuple[str, str]] = []
        for status in page:
            instance_id = status.instance_id
            if not instance_id or instance_id in skipped or instance_id in result.purged:
                continue
            runtime = status.runtime_status.name if status.runtime_status else ""
            if runtime not in {s.name for s in FINISHED}:  # never trust a filter with a running instance
                skipped.add(instance_id)
                continue
            finished = _utc(status.last_updated_time)
            if finished is None or finished > cutoff:
                result.kept_recent += 1
                skipped.add(instance_id)
                continue
            due.append((instance_id, runtime))
        room = limit - len(result.purged) - len(result.errors)
        if len(due) > room:
            due, result.truncated = due[:room], True
        if not due:
            return result
        await asyncio.gather(*(purge(instance_id, runtime) for instance_id, runtime in due))
        skipped.update(instance_id for instance_id, _ in due)  # asked once per run, whatever the answer
        if result.truncated:
            return result


def report(result: CleanupResult, keep: timedelta) -> None:
    """Log what was purged: counts first, then the ids in lines of at most IDS_PER_LOG_LINE."""
    cutoff = result.cutoff.isoformat(timespec="seconds")
    counts = ", ".join(f"{status} {count}" for status, count in result.counts.items()) or "none"
    log_fields(log, "%s: purged %d instance(s) that finished before %s (%s); kept %d finished later",
               FUNCTION_NAME, len(result.purged), cutoff, counts, result.kept_recent,
               purged_count=len(result.purged), retention_days=keep.days, cutoff=cutoff)
    ids = sorted(result.purged)
    for start in range(0, len(ids), IDS_PER_LOG_LINE):
        log.info("%s: purged %s", FUNCTION_NAME, ", ".join(ids[start:start + IDS_PER_LOG_LINE]))
    if result.truncated:
        log.warning("%s: stopped after %d instances; the next run continues", FUNCTION_NAME, MAX_PER_RUN)
    for instance_id, error in sorted(result.errors.items()):
        log.error("%s: could not purge %s: %s", FUNCTION_NAME, instance_id, error)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
