"""The `durableClient` binding value, built as the Durable extension builds it.

The SDK's `DurableOrchestrationClient` parses this JSON: it builds check-status
responses from `managementUrls` (swapping in the request's origin) and sends its
own calls to `rpcBaseUrl`. So both must point at this host's management API.
"""

from __future__ import annotations

import json
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask/"
CONNECTION = "Storage"


def required_query(hub: str) -> str:
    """The query string every management URL carries (no `code`: keys are not required locally)."""
    return f"taskHub={quote(hub)}&connection={CONNECTION}"


def management_urls(origin: str, hub: str, instance_id: str) -> dict[str, str]:
    """The check-status payload for one instance (`create_check_status_response`'s body)."""
    base = f"{origin}{WEBHOOK_PATH}/instances/{quote(instance_id, safe='')}"
    query = required_query(hub)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{base}?{query}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{base}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{base}?{query}",
        "restartPostUri": f"{base}/restart?{query}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
    }


def client_binding_json(origin: str, rpc_origin: str, hub: str) -> str:
    """The JSON string the worker passes for a `durableClient` input binding."""
    base = f"{origin}{WEBHOOK_PATH}"
    query = required_query(hub)
    urls = management_urls(origin, hub, "INSTANCEID")
    return json.dumps({
        "taskHubName": hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&{query}"
            ),
        },
        "managementUrls": {**urls, "id": "INSTANCEID"},
        "baseUrl": base,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": f"{rpc_origin}{RPC_PATH}",
        "httpBaseUrl": "",
    })
