"""One start per workflow instance id: an atomic claim in Azure Storage before the Durable start.

The HTTP starters derive instance ids from business ids (an order, a batch, a leave request), so two
identical requests target one instance. Asking the Durable host whether the instance exists and then
starting it is check-then-act: both requests see nothing and both start (in Azure both get 202 as well:
the storage provider dedupes the executions, not the answers). So a starter first claims the id in the
`WorkflowStarts` table with an insert-if-absent; exactly one request wins and starts, the others get 409.

A claim is `Starting` while its request works and `Started` once the host accepted the start. It holds
others off only while it is `Starting` and younger than CLAIM_TTL: after that the instance's own existence
is the guard (the starters ask the host first), and a new claim may replace the old one under its ETag. So
a request that crashed between claim and start is repaired by the same request sent again once the claim
went stale, and an id whose instance was purged can be started again where the scenario allows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from common.resources import WORKFLOW_STARTS_TABLE, find_row, table

# A start (claim, one storage write, the host's queue message and row) takes well under a second; a claim
# left by a request that crashed is free again after this.
CLAIM_TTL = timedelta(seconds=10)
STARTING = "Starting"
STARTED = "Started"
_ROW = ""


@dataclass(frozen=True)
class StartClaim:
    """This request's right to start `instance_id` (its token and the row's ETag as written)."""

    instance_id: str
    token: str
    etag: str
    replaced: bool = False  # it took over a Started or stale claim (a start may have finished meanwhile)


class ClaimHeld(Exception):
    """Another request is starting this instance right now."""

    def __init__(self, instance_id: str, claimed_at: datetime):
        super().__init__(f"Another request is starting workflow {instance_id} (since {claimed_at.isoformat()}).")
        self.instance_id = instance_id
        self.claimed_at = claimed_at


def claim_start(instance_id: str, *, now: datetime | None = None) -> StartClaim:
    """Claim `instance_id` for this request; ClaimHeld when another request holds a live claim."""
    moment = now or datetime.now(UTC)
    token = uuid.uuid4().hex
    entity: dict[str, Any] = {"PartitionKey": instance_id, "RowKey": _ROW, "State": STARTING, "Token": token,
                              "ClaimedAt": moment}
    starts = table(WORKFLOW_STARTS_TABLE)
    try:
        written = starts.create_entity(entity)
        return StartClaim(instance_id, token, written["etag"])
    except ResourceExistsError:
        pass
    current = find_row(starts, instance_id, _ROW)
    if current is None:  # released meanwhile: try once more from the start
        return claim_start(instance_id, now=now)
    claimed_at = _utc(current.get("ClaimedAt"))
    if current.get("State") == STARTING and moment - claimed_at < CLAIM_TTL:
        raise ClaimHeld(instance_id, claimed_at)
    try:  # a Started claim (the caller found no instance) or a stale one: replace it, under its ETag
        written = starts.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                       match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError) as error:
        raise ClaimHeld(instance_id, moment) from error
    return StartClaim(instance_id, token, written["etag"], replaced=True)


def mark_started(claim: StartClaim) -> None:
    """The host accepted the start: the claim no longer holds anyone off."""
    try:
        table(WORKFLOW_STARTS_TABLE).update_entity(
            {"PartitionKey": claim.instance_id, "RowKey": _ROW, "State": STARTED}, mode=UpdateMode.MERGE,
            etag=claim.etag, match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError):
        pass  # replaced after it went stale: the instance exists, which is what guards it now


def release(claim: StartClaim) -> None:
    """The start failed: free the id at once (only this request's own claim)."""
    try:
        table(WORKFLOW_STARTS_TABLE).delete_entity(claim.instance_id, _ROW, etag=claim.etag,
                                                   match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError):
        pass


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
