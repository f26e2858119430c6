"""Leave requests whose workflow ended without a decision get a final status.

The leave workflow decides every request it runs to its end (Approved, Rejected or Expired). An operator
can still end it early: terminate it, or purge it while it waits, and a workflow can fail. Its row would then
say Pending for ever, and a later start with the same `requestId` would find the id free once the history is
gone. HistoryCleanup calls `settle_ended_requests` on every run, before it purges: each open request whose
instance is Terminated, Failed or gone becomes Cancelled (a final status: the starter answers 409 for it).
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from common.clock import utc_now_iso
from common.instances import instance_status
from leave import store as leave_store

log = logging.getLogger("leave")

ENDED = (OrchestrationRuntimeStatus.Terminated, OrchestrationRuntimeStatus.Failed)


async def settle_ended_requests(client: df.DurableOrchestrationClient) -> dict[str, str]:
    """Cancel every open request whose workflow is Terminated, Failed or purged; returns id -> why."""
    settled: dict[str, str] = {}
    for record in await asyncio.to_thread(leave_store.open_requests):
        status = await instance_status(client, record.instance_id)
        if status is None:
            why = f"its workflow {record.instance_id} was purged before it decided"
        elif status.runtime_status in ENDED:
            why = f"its workflow {record.instance_id} was {status.runtime_status.name} before it decided"
        else:
            continue
        cancelled = await asyncio.to_thread(leave_store.cancel, record.request_id, why, utc_now_iso())
        if cancelled.status is leave_store.LeaveStatus.CANCELLED:
            settled[record.request_id] = why
            log.info("leave %s: cancelled, %s", record.request_id, why, extra={"request_id": record.request_id})
    return settled
