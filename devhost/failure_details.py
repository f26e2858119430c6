"""`TaskFailed.Details` of a failed activity, as the Durable extension writes it.

The extension's TaskActivityShim throws `TaskFailureException(reason, Utils.SerializeCause(exception,
ErrorDataConverter))`, where the exception is the plain `System.Exception` that OutOfProcExceptionHelpers
builds around the friendly message, with the host's `RpcException` as its inner exception. The error data
converter is Newtonsoft with `TypeNameHandling.Objects` and a resolver that only drops `TargetSite`
(ErrorSerializerSettingsFactory), and the activity dispatcher keeps Details (`IncludeDetails = true`). So:

* the outer exception is `[Serializable]`, written through `Exception.GetObjectData`: ClassName, Message,
  Data, InnerException, HelpURL, StackTraceString, RemoteStackTraceString, RemoteStackIndex, ExceptionMethod,
  HResult, Source, WatsonBuckets; it was never thrown, so it has no stack and no source;
* the RpcException is not `[Serializable]`: Newtonsoft writes its public properties, Message, Data (an empty
  ListDictionaryInternal), InnerException, HelpLink, Source, HResult, StackTrace.

The SDK raises `Exception(f"{Reason} \\n {Details}")` in the orchestrator, so this is what an orchestrator's
`except` sees after the first line. The host's own stack trace (the RpcException's StackTrace) depends on the
host's build; it is given as the frame every out-of-process invocation fails in.
"""

from __future__ import annotations

from typing import Any

from .history import to_json

COR_E_EXCEPTION = -2146233088  # System.Exception's HResult
HOST_FRAME = ("   at Microsoft.Azure.WebJobs.Script.Description.WorkerFunctionInvoker.InvokeCore("
              "Object[] parameters, FunctionInvocationContext context)")


def activity_failure_details(friendly_message: str, rpc_message: str) -> str:
    """The Details JSON for an activity whose worker reported `rpc_message` (the RpcException's message,
    `Result: Failure\\nException: ...\\nStack: ...`) and whose friendly message the extension cut out of it."""
    inner: dict[str, Any] = {
        "$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script",
        "Message": rpc_message,
        "Data": {"$type": "System.Collections.ListDictionaryInternal, System.Private.CoreLib"},
        "InnerException": None,
        "HelpLink": None,
        "Source": "System.Private.CoreLib",
        "HResult": COR_E_EXCEPTION,
        "StackTrace": HOST_FRAME,
    }
    outer: dict[str, Any] = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": friendly_message,
        "Data": None,
        "InnerException": inner,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": COR_E_EXCEPTION,
        "Source": None,
        "WatsonBuckets": None,
    }
    return to_json(outer)
