"""OrderProcessing_Client: the HTTP starter of the order workflow.

    POST /api/OrderProcessing_Client?orderId=12345     start an existing Pending order
    POST /api/OrderProcessing_Client  {"orderId": ..., "customerEmail": ..., "items": [{"sku", "quantity"}]}
                                                       place a new order (priced from the catalogue), start it
GET behaves like POST; a body of only {"orderId": ...} works like the query parameter.

Answers 202 with the check-status payload. Bad input is a 4xx JSON body
{"error", "field"} (rules in `orders.requests`) and writes nothing. One
workflow per order, ever: the instance id is derived from the order id, and an
order that already has an instance (running or finished), already exists with other
content (new order), or is no longer Pending gets 409. Placing the same new order again
after an attempt that stored it but never started its workflow (the host went down in
between) starts the stored order, so a client may simply repeat a request that got no
answer. Storage or Durable host trouble is 503.

The activities' retry policy comes from the app settings
`ORDER_RETRY_FIRST_INTERVAL_MS` (default 2000) and `ORDER_RETRY_MAX_ATTEMPTS`
(default 3), read here and passed in because orchestrators must not read settings.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from common.http import RequestError, WorkflowUnavailable, answer, read_json_body
from common.instances import Refusal, claim_instance, refuse_if_started, start_claimed
from common.logging import mask_email
from common.start_claims import release
from orders.catalog import get_products
from orders.contract import CLIENT, ORCHESTRATOR, OrderInput
from orders.requests import (
    NewOrderRequest,
    is_order_reference,
    order_instance_id,
    parse_new_order,
    price_items,
    validate_order_id,
)
from orders.settings import retry_settings
from orders.store import (
    Order,
    OrderExistsError,
    OrderItem,
    OrderStatus,
    create_order,
    delete_order,
    find_order,
    new_order,
)

bp = df.Blueprint()
log = logging.getLogger("orders")





@bp.function_name(CLIENT)
@bp.route(route=CLIENT, methods=["GET", "POST"])
@bp.durable_client_input(client_name="client")
async def order_processing_client(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Validate the request, store a new order if one is given, and start its workflow."""
    return await answer(_start(req, client), storage="Order storage", log=log)


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = read_json_body(req)
    retry = retry_settings()  # a configuration error must surface before anything is written
    query_id = req.params.get("orderId")
    request: NewOrderRequest | None = None
    if body is None or is_order_reference(body):
        order_id = validate_order_id(body["orderId"] if body else query_id)
    else:
        request = parse_new_order(body)
        order_id = request.order_id
    if query_id is not None and query_id != order_id:
        raise RequestError(
            f"orderId differs between the query ({query_id}) and the body ({order_id}).", "orderId")

    instance_id = order_instance_id(order_id)
    already: Refusal = {"message": f"Order {order_id} already has a workflow.", "field": "orderId"}
    await refuse_if_started(req, client, instance_id, **already)  # an order with a workflow: its status URL
    priced = await asyncio.to_thread(_check_startable, order_id, request)  # bad input writes nothing
    claim = await claim_instance(req, client, instance_id, checked=True, **already)
    try:
        created = await asyncio.to_thread(_prepare_order, order_id, request, priced)
    except BaseException:
        await asyncio.to_thread(release, claim)
        raise
    try:
        await start_claimed(client, claim, ORCHESTRATOR, OrderInput(orderId=order_id, retry=retry))
    except Exception as error:
        if created:  # leave nothing behind, so the same request can simply be retried
            await asyncio.to_thread(delete_order, order_id)
        await refuse_if_started(req, client, instance_id, **already)  # started some other way meanwhile
        message = f"Could not start the workflow for order {order_id}; try again later."
        raise WorkflowUnavailable(message) from error
    log.info("order %s: started workflow %s", order_id, instance_id,
             extra={"order_id": order_id, "instance_id": instance_id})
    return client.create_check_status_response(req, instance_id)


def _check_startable(order_id: str, request: NewOrderRequest | None) -> list[OrderItem] | None:
    """Read-only checks before anything is written: the stored order exists and is Pending, or the new
    order's items are in the catalogue (its priced items are returned)."""
    if request is not None:
        return price_items(request.items, get_products(item.sku for item in request.items))
    order = find_order(order_id)
    if order is None:
        raise RequestError(f"Order {order_id} does not exist.", "orderId")
    if order.status is not OrderStatus.PENDING:
        raise RequestError(
            f"Order {order_id} is {order.status.value}; only Pending orders can be processed.",
            "orderId", status=409, orderStatus=order.status.value)
    return None


def _prepare_order(order_id: str, request: NewOrderRequest | None, items: list[OrderItem] | None) -> bool:
    """Check the stored order again (or store the new one), under the start claim. True when this call created it."""
    if request is None or items is None:
        _check_startable(order_id, None)
        return False
    try:
        create_order(new_order(order_id, request.customer_email, items))
    except OrderExistsError as error:
        if _is_unstarted_copy(find_order(order_id), request):
            log.info("order %s: stored by an earlier attempt that never started it", order_id,
                     extra={"order_id": order_id})
            return False
        raise RequestError(str(error), "orderId", status=409) from error
    log.info("order %s: created for %s", order_id, mask_email(request.customer_email),
             extra={"order_id": order_id})
    return True


def _is_unstarted_copy(order: Order | None, request: NewOrderRequest) -> bool:
    """Whether the stored order is this request, still Pending (the caller checked it has no workflow yet)."""
    if order is None or order.status is not OrderStatus.PENDING or order.customer_email != request.customer_email:
        return False
    return sorted((i.sku, i.quantity) for i in order.items) == sorted((i.sku, i.quantity) for i in request.items)
