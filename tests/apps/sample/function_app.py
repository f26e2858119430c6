"""A small app that exercises the local host's Durable semantics in tests."""

import logging
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
FLAKY_CALLS: dict[str, int] = {}


@app.route(route="start/{name}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], req.route_params.get("instance_id"), body)
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    found = await client.get_status(req.route_params["instance_id"], show_input=True)
    if found.runtime_status is None:
        return func.HttpResponse("{}", status_code=404, mimetype="application/json")
    return func.HttpResponse(
        f'{{"runtimeStatus": "{found.runtime_status.value}"}}', mimetype="application/json"
    )


@app.orchestration_trigger(context_name="context")
def Chain(context: df.DurableOrchestrationContext):
    name = context.get_input()
    first = yield context.call_activity("Hello", name)
    second = yield context.call_activity("Hello", first)
    context.set_custom_status({"done": 2})
    return second


@app.orchestration_trigger(context_name="context")
def FanOut(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("Square", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def Approval(context: df.DurableOrchestrationContext):
    hours = context.get_input() or 72
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=hours))
    decision = context.wait_for_external_event("Decision")
    winner = yield context.task_any([decision, timer])
    if winner == decision:
        timer.cancel()
        return {"decision": decision.result}
    return {"decision": "expired"}


@app.orchestration_trigger(context_name="context")
def LateWaiter(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=5))
    value = yield context.wait_for_external_event("Early")
    return value


@app.orchestration_trigger(context_name="context")
def Failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("Explode", "bad")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def CallsMissing(context: df.DurableOrchestrationContext):
    yield context.call_activity("NoSuchActivity", None)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def Parent(context: df.DurableOrchestrationContext):
    child_id = f"{context.instance_id}-child"
    value = yield context.call_sub_orchestrator("Chain", "sub", child_id)
    return value


@app.orchestration_trigger(context_name="context")
def Counter(context: df.DurableOrchestrationContext):
    count = context.get_input() or 0
    if count >= 3:
        return count
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    context.continue_as_new(count + 1)
    return None


@app.orchestration_trigger(context_name="context")
def Waiter(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Go")
    return value


@app.orchestration_trigger(context_name="context")
def UsesEntity(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Counter", "one")
    value = yield context.call_entity(entity, "get")
    return value


@app.activity_trigger(input_name="name")
def Hello(name: str) -> str:
    logging.getLogger("sample").info("greeting %s", name)
    return f"Hello {name}"


@app.activity_trigger(input_name="value")
async def Square(value: int) -> int:
    return value * value


@app.activity_trigger(input_name="value")
def Explode(value: str) -> None:
    raise ValueError(f"cannot handle {value}")


@app.orchestration_trigger(context_name="context")
def Echo(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def LongTimer(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=10))
    return "woke"


@app.orchestration_trigger(context_name="context")
def AllWithFailure(context: df.DurableOrchestrationContext):
    tasks = [context.call_activity("Explode", "x"), context.call_activity("Gate", "slow")]
    try:
        yield context.task_all(tasks)
    except Exception as error:
        return f"caught: {str(error).splitlines()[0]}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def AnyWithActivity(context: df.DurableOrchestrationContext):
    event = context.wait_for_external_event("Go")
    work = context.call_activity("Gate", "any")
    winner = yield context.task_any([event, work])
    return "event" if winner == event else "activity"


@app.orchestration_trigger(context_name="context")
def ParentWithRetry(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
    value = yield context.call_sub_orchestrator_with_retry("FlakyChild", retry, None, f"{context.instance_id}-c")
    return value


@app.orchestration_trigger(context_name="context")
def FlakyChild(context: df.DurableOrchestrationContext):
    attempt = yield context.call_activity("CountCalls", context.instance_id)
    if attempt < 2:
        raise ValueError(f"child attempt {attempt} failed")
    return f"child ok after {attempt}"


@app.orchestration_trigger(context_name="context")
def CallsMissingChild(context: df.DurableOrchestrationContext):
    yield context.call_sub_orchestrator("NoSuchOrchestrator", None)
    return "unreachable"


GATES: dict[str, "object"] = {}


@app.activity_trigger(input_name="name")
async def Gate(name: str) -> str:
    import asyncio

    gate = GATES.setdefault(name, asyncio.Event())
    await gate.wait()
    return f"gate {name} opened"


@app.activity_trigger(input_name="key")
def CountCalls(key: str) -> int:
    FLAKY_CALLS[key] = FLAKY_CALLS.get(key, 0) + 1
    return FLAKY_CALLS[key]


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
def EveryFiveMinutes(timer: func.TimerRequest) -> None:
    TICKS.append(timer.past_due)


TICKS: list[bool] = []


@app.orchestration_trigger(context_name="context")
def SlidingWindow(context: df.DurableOrchestrationContext):
    """Two timers at a time, refilled as each fires: a sliding window built on task_any."""
    hours = context.get_input()
    begin = context.current_utc_datetime

    def timer(index: int):
        return context.create_timer(context.current_utc_datetime + timedelta(hours=hours[index]))

    running = {timer(0): 0, timer(1): 1}
    next_index, fired = 2, []
    while running:
        done = yield context.task_any(list(running))
        fired.append([running.pop(done), (context.current_utc_datetime - begin).total_seconds() / 3600])
        if next_index < len(hours):
            running[timer(next_index)] = next_index
            next_index += 1
    return fired


@app.orchestration_trigger(context_name="context")
def Naps(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("Nap", i) for i in range(count)])
    return sum(results)


@app.activity_trigger(input_name="value")
def Nap(value: int) -> int:
    """A slow activity (0.2 s), to have work in flight."""
    import time

    time.sleep(0.2)
    return value


@app.orchestration_trigger(context_name="context")
def CollectEvents(context: df.DurableOrchestrationContext):
    """Wait for `count` events named "E", one after another; returns how many came. Every episode takes
    0.3 s more (a stand-in for a large replay, so the host holds many received messages for a while):
    a test app's shortcut, never a pattern for an orchestrator."""
    time.sleep(0.3)
    count = int(context.get_input() or 0)
    for _ in range(count):
        yield context.wait_for_external_event("E")
    return count
