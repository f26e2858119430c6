"""BatchProcessing_Client: the HTTP starter of the batch workflow.

    POST /api/BatchProcessing_Client  ["file1.txt", "file2.txt", "file3.txt"]      the named blobs
    POST /api/BatchProcessing_Client  {"files": [...], "batchId"?: "..."}          the same
    POST /api/BatchProcessing_Client  {"prefix": "incoming/", "batchId"?: "..."}   every blob under the prefix

Names are blobs in the input container (`BATCH_INPUT_CONTAINER`, default `batch-input`).
Answers 202 with the check-status payload; the instance id is `batch-{batchId}` (a new
random batchId unless one is given: naming the batch makes the start idempotent, and a
second start of a batch that exists, running or finished, gets 409 with its status URL).

Bad input is 400 `{"error", "field"}` and starts nothing (rules in `batch.requests`):
no body, a body of another shape, an empty list, a name that is not a string or not a
valid blob name (path traversal included), a prefix that matches nothing, more files than
`BATCH_MAX_FILES` (default 10000, counted after duplicates are dropped). Listing storage
that is down is 503; a misconfigured app setting is 500.

Chunk size, parallel chunks and the retry policy come from app settings read here and
passed in, because orchestrators must not read settings.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from batch import settings as batch_settings
from batch import store as batch_store
from batch.contract import CLIENT, ORCHESTRATOR
from batch.requests import BatchRequest, batch_instance_id, parse_batch_request
from common.http import RequestError, WorkflowUnavailable, answer, read_json_body
from common.instances import Refusal, claim_instance, refuse_if_started, start_claimed

bp = df.Blueprint()
log = logging.getLogger("batch")

# 10,000 names of up to 1,024 characters fit; a longer body is 413.
MAX_BODY_BYTES = 12 * 1024 * 1024



@bp.function_name(CLIENT)
@bp.route(route=CLIENT, methods=["POST"])
@bp.durable_client_input(client_name="client")
async def batch_processing_client(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Check the request, resolve the files, and start the batch."""
    return await answer(_start(req, client), storage="Blob storage", log=log)


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    request = parse_batch_request(read_json_body(req, max_bytes=MAX_BODY_BYTES))
    limit = batch_settings.max_files()
    orchestration_input = {
        "chunkSize": batch_settings.chunk_size(),
        "maxParallelChunks": batch_settings.max_parallel_chunks(),
        "retry": batch_settings.retry_settings(),
    }
    files = await _resolve_files(request, limit)
    instance_id = batch_instance_id(request.batch_id)
    already: Refusal = {"message": f"Batch {request.batch_id} already exists.", "field": "batchId"}
    claim = await claim_instance(req, client, instance_id, **already)
    try:
        await start_claimed(client, claim, ORCHESTRATOR,
                            {"batchId": request.batch_id, "files": files, **orchestration_input})
    except Exception as error:
        await refuse_if_started(req, client, instance_id, **already)  # started some other way meanwhile
        raise WorkflowUnavailable("Could not start the batch; try again later.") from error
    log.info("batch %s: started %s with %d files", request.batch_id, instance_id, len(files),
             extra={"batch_id": request.batch_id, "instance_id": instance_id})
    return client.create_check_status_response(req, instance_id)


async def _resolve_files(request: BatchRequest, limit: int) -> list[str]:
    if request.files is not None:
        if len(request.files) > limit:
            raise RequestError(f"The batch names {len(request.files)} files; at most {limit} are allowed "
                               "(BATCH_MAX_FILES).", "files", count=len(request.files), limit=limit)
        return list(request.files)
    container = batch_settings.container_name(batch_settings.INPUT_CONTAINER)
    prefix = request.prefix or ""  # parse_batch_request gives files or a prefix, never neither
    names = await asyncio.to_thread(batch_store.list_inputs, prefix, limit + 1)
    if not names:
        raise RequestError(f"No blobs in container {container} start with {request.prefix!r}.", "prefix")
    if len(names) > limit:
        raise RequestError(f"More than {limit} blobs in container {container} start with {request.prefix!r} "
                           "(BATCH_MAX_FILES); use a narrower prefix.", "prefix", limit=limit)
    return names
