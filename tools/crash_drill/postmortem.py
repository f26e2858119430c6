"""What is left in storage when instances do not finish: written to a file before the private Azurite goes away.

The status API hides scheduling events and says nothing about queues, so this reads the task hub
directly: every `{hub}Instances` row, the raw `{hub}History` partitions (sentinel and scheduling
events included) of the unfinished instances and of their sub-orchestrations, and each task hub
queue's message count with the messages visible now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.table_store import sanitize_key


def dump(connection_string: str, hub: str, unfinished: list[str], path: Path) -> None:
    tables = TableServiceClient.from_connection_string(connection_string)
    instances = [dict(row) for row in tables.get_table_client(f"{hub}Instances").list_entities()]
    ids = {i["PartitionKey"] for i in instances}
    related = sorted(key for key in ids if any(key == u or key.startswith(sanitize_key(u) + ":") for u in unfinished))
    history = tables.get_table_client(f"{hub}History")
    histories = {key: [dict(row) for row in history.query_entities("PartitionKey eq @pk", parameters={"pk": key})]
                 for key in related}
    queues: dict[str, Any] = {}
    service = QueueServiceClient.from_connection_string(connection_string)
    for queue in service.list_queues(name_starts_with=hub.lower()):
        client = service.get_queue_client(queue.name)
        queues[queue.name] = {
            "approximate_count": client.get_queue_properties().approximate_message_count,
            "visible": [message.content for message in client.peek_messages(max_messages=32)],
        }
    path.write_text(json.dumps({"instances": instances, "histories": histories, "queues": queues}, indent=1,
                               default=str))
