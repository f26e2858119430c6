"""Decoding payloads that crossed the Durable SDK client.

`DurableOrchestrationClient.start_new` and `raise_event` JSON-encode their payloads,
and the status API may hand the input back encoded once more (SDK issue #295), so a
value can arrive as an object, as JSON text, or as JSON text of JSON text.
"""

from __future__ import annotations

import json
from typing import Any


def decode_payload(value: Any) -> Any:
    """Undo the SDK client's JSON encoding (once or twice); other values pass unchanged.

    Text that is not JSON gives None: a payload is never a bare string here.
    """
    for _ in range(2):
        if not isinstance(value, str | bytes):
            break
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value
