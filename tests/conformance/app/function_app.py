"""Orchestrations that pin one behaviour of the Durable extension each (tests/conformance)."""


import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def RetriesThenFails(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=3_600_000, max_number_of_attempts=2)
    yield context.call_activity_with_retry("AlwaysFails", options, "x")


@app.activity_trigger(input_name="value")
def AlwaysFails(value: str) -> str:
    raise RuntimeError(f"cannot handle {value}")


@app.orchestration_trigger(context_name="context")
def NewestWaiterWins(context: df.DurableOrchestrationContext):
    older = context.wait_for_external_event("Go")
    other = context.wait_for_external_event("Other")
    newer = context.wait_for_external_event("Go")
    winner = yield context.task_any([context.task_all([older, other]), newer])
    shouted = yield context.call_activity("Shout", "done")
    return ["newer" if winner == newer else "older", shouted]


@app.activity_trigger(input_name="value")
def Shout(value: str) -> str:
    return value.upper()


@app.orchestration_trigger(context_name="context")
def EventBesideAFailure(context: df.DurableOrchestrationContext):
    yield context.task_all([context.call_activity("AlwaysFails", "x"), context.wait_for_external_event("Late")])


@app.orchestration_trigger(context_name="context")
def FailsAfterAnActivity(context: df.DurableOrchestrationContext):
    yield context.call_activity("Shout", "first")
    raise ValueError("the order was lost")


@app.orchestration_trigger(context_name="context")
def CallsAnUnknownActivityBesideAKnownOne(context: df.DurableOrchestrationContext):
    unknown, known = context.call_activity("NoSuchActivity", "x"), context.call_activity("Shout", "a")
    results = yield context.task_all([unknown, known])
    return results


@app.orchestration_trigger(context_name="context")
def CallsAnUnknownSubOrchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("NoSuchOrchestrator", None)
    return result


@app.orchestration_trigger(context_name="context")
def Generations(context: df.DurableOrchestrationContext):
    """Generation 0 sets a custom status and continues as new after its first event; generation 1 sets
    none and returns what it received."""
    generation = context.get_input() or 0
    if generation == 0:
        context.set_custom_status({"generation": 0})
    received = yield context.wait_for_external_event("Next")
    if generation >= 1:
        return [generation, received]
    context.continue_as_new(generation + 1)
    return None


@app.orchestration_trigger(context_name="context")
def ShoutOnce(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("Shout", "once")
    return result


@app.orchestration_trigger(context_name="context")
def FailsWithTheActivity(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("AlwaysFails", "x")
    return result
