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
