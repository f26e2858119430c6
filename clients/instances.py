"""What the HTTP starters ask the Durable host about one instance, answered the same way everywhere.

Starting a workflow under a fixed instance id is idempotent only if an existing instance
is found first (and again when the start fails: a concurrent request may have won):
the caller then gets 409 with the instance's status URL instead of a second workflow.
If the host cannot be asked, nothing is started and the caller gets 503.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from common.http import RequestError, WorkflowUnavailable

log = logging.getLogger("clients")


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
