"""A small app with Durable entities, for the local host's entity tests (devhost/entities.py).

A counter and an ordered log, called and signalled from orchestrations and from HTTP-triggered clients.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    """add (input), reset, get (result), fail (raises after a change), delete."""
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "get":
        context.set_result(value)
    elif operation == "fail":
        context.set_state(value + 1000)
        raise ValueError(f"counter refuses at {value}")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(value)


@app.entity_trigger(context_name="context", entity_name="OrderLog")
def order_log(context: df.DurableEntityContext) -> None:
    """append (input) keeps the order operations arrive in; get returns the list."""
    entries = context.get_state(list)
    if context.operation_name == "append":
        entries.append(context.get_input())
    context.set_state(entries)
    context.set_result(entries)


@app.orchestration_trigger(context_name="context")
def UseCounter(context: df.DurableOrchestrationContext) -> Any:
    """Signal, call, and call an operation that raises."""
    counter = df.EntityId("Counter", context.get_input())
    context.signal_entity(counter, "add", 5)
    first = yield context.call_entity(counter, "get")
    context.signal_entity(counter, "add", 2)
    second = yield context.call_entity(counter, "get")
    try:
        yield context.call_entity(counter, "fail")
        error = None
    except Exception as exc:  # the entity's error comes back as an exception
        error = str(exc)
    third = yield context.call_entity(counter, "get")
    return {"first": first, "second": second, "error": error, "third": third}


@app.orchestration_trigger(context_name="context")
def AppendInOrder(context: df.DurableOrchestrationContext) -> Any:
    """Twenty signals to one log, then a call: the log has them in the order they were sent."""
    log = df.EntityId("OrderLog", context.get_input())
    for number in range(20):
        context.signal_entity(log, "append", number)
    entries = yield context.call_entity(log, "get")
    return entries


@app.orchestration_trigger(context_name="context")
def CallInParallel(context: df.DurableOrchestrationContext) -> Any:
    """Calls to three counters at once (task_all over entity calls)."""
    keys = context.get_input()
    for key in keys:
        context.signal_entity(df.EntityId("Counter", key), "add", len(key))
    values = yield context.task_all([context.call_entity(df.EntityId("Counter", key), "get") for key in keys])
    return values


@app.route(route="counter/{key}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def SignalCounter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Signal the counter from a client (the body is the input, JSON)."""
    body = req.get_body()
    value = req.get_json() if body else None
    entity = df.EntityId("Counter", req.route_params["key"])
    await client.signal_entity(entity, req.route_params["operation"], value)
    return func.HttpResponse(status_code=202)


@app.route(route="counter/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def ReadCounter(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Read the counter's state from a client."""
    state = await client.read_entity_state(df.EntityId("Counter", req.route_params["key"]))
    import json

    return func.HttpResponse(json.dumps({"exists": state.entity_exists, "state": state.entity_state}),
                             mimetype="application/json")


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def Start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start an orchestration with the body as input."""
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)
