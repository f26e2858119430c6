"""How the HTTP starters start a workflow under a fixed instance id: once, whatever the concurrency.

1. Ask the host whether the instance exists: if so, 409 with its status URL.
2. Claim the id atomically in storage (`common.start_claims`): of simultaneous identical requests exactly
   one wins; the others get 409 with the same status URL.
3. When the claim replaced an older one, ask the host again (a start that finished between 1 and 2); then
   start, then mark the claim started;
   a start that fails releases the claim, so the same request may simply be sent again.
If the host cannot be asked, nothing is started and the caller gets 503.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypedDict

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from common.http import RequestError, WorkflowUnavailable
from common.start_claims import ClaimHeld, StartClaim, claim_start, mark_started, release

log = logging.getLogger("clients")


class Refusal(TypedDict):
    """The 409 a starter answers when its workflow already exists: the message and the field it names."""

    message: str
    field: str


async def instance_status(client: df.DurableOrchestrationClient, instance_id: str, *,
                          show_input: bool = False) -> DurableOrchestrationStatus | None:
    """The instance's status, or None when there is no such instance; WorkflowUnavailable when the host fails."""
    try:
        status = await client.get_status(instance_id, show_input=show_input)
    except Exception as error:
        raise WorkflowUnavailable("The workflow service is unavailable; try again later.") from error
    if status is None or status.runtime_status is None:
        return None
    return status


async def refuse_if_started(req: func.HttpRequest, client: df.DurableOrchestrationClient, instance_id: str, *,
                            message: str, field: str) -> None:
    """409 (`message`, naming `field`) when the instance exists, whatever its state; nothing otherwise."""
    status = await instance_status(client, instance_id)
    if status is None:
        return
    log.info("workflow %s already exists (%s)", instance_id, status.runtime_status.name,
             extra={"instance_id": instance_id})
    raise RequestError(
        message, field, status=409, instanceId=instance_id, runtimeStatus=status.runtime_status.name,
        statusQueryGetUri=client.get_client_response_links(req, instance_id)["statusQueryGetUri"],
    )


async def claim_instance(req: func.HttpRequest, client: df.DurableOrchestrationClient, instance_id: str, *,
                         message: str, field: str, checked: bool = False) -> StartClaim:
    """Steps 1-3 up to the start: 409 (`message`, naming `field`) unless this request may start `instance_id`.
    `checked`: the caller has just asked the host (step 1) itself."""
    if not checked:
        await refuse_if_started(req, client, instance_id, message=message, field=field)
    try:
        claim = await asyncio.to_thread(claim_start, instance_id)
    except ClaimHeld as held:
        log.info("workflow %s is being started by another request", instance_id, extra={"instance_id": instance_id})
        raise RequestError(
            message, field, status=409, instanceId=instance_id, runtimeStatus="Pending",
            statusQueryGetUri=client.get_client_response_links(req, instance_id)["statusQueryGetUri"],
        ) from held
    if not claim.replaced:  # a fresh claim: nobody started this id since step 1 without claiming it first
        return claim
    try:
        await refuse_if_started(req, client, instance_id, message=message, field=field)
    except RequestError:
        await asyncio.to_thread(mark_started, claim)  # the instance is the guard again
        raise
    except BaseException:
        await asyncio.to_thread(release, claim)
        raise
    return claim


async def start_claimed(client: df.DurableOrchestrationClient, claim: StartClaim, orchestrator: str,
                        client_input: Any) -> None:
    """Start the claimed instance; a failed start releases the claim (and raises)."""
    try:
        await client.start_new(orchestrator, claim.instance_id, client_input)
    except BaseException:
        await asyncio.to_thread(release, claim)
        raise
    await asyncio.to_thread(mark_started, claim)
