"""Where the app's business data lives, and creating it on first use.

App settings (all optional; the defaults suit local development):

| setting             | default     | holds                                                  |
|---------------------|-------------|--------------------------------------------------------|
| `PRODUCTS_TABLE`    | `Products`  | the catalogue: one row per SKU with name and price     |
| `INVENTORY_TABLE`   | `Inventory` | per SKU partition: the stock row and one row per order |
|                     |             | that reserved it                                       |
| `ORDERS_TABLE`      | `Orders`    | one row per order                                      |
| `PAYMENTS_TABLE`    | `Payments`  | at most one payment per order                          |
| `OUTBOX_CONTAINER`  | `outbox`    | rendered e-mails waiting to be sent                    |
| `WORKFLOW_STARTS_TABLE` | `WorkflowStarts` | one claim per started instance id (`common.start_claims`) |

Tables and the container are created lazily and idempotently: the first use in a
process creates them if missing, and the process remembers that it did, so
steady-state calls cost no extra round trip. The memory is keyed by storage
endpoint, so pointing the app at another account creates them there too.
"""

from __future__ import annotations

import threading

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity
from azure.storage.blob import ContainerClient

from common.settings import get_str
from common.storage import blob_service, table_service

PRODUCTS_TABLE = ("PRODUCTS_TABLE", "Products")
INVENTORY_TABLE = ("INVENTORY_TABLE", "Inventory")
ORDERS_TABLE = ("ORDERS_TABLE", "Orders")
PAYMENTS_TABLE = ("PAYMENTS_TABLE", "Payments")
OUTBOX_CONTAINER = ("OUTBOX_CONTAINER", "outbox")
WORKFLOW_STARTS_TABLE = ("WORKFLOW_STARTS_TABLE", "WorkflowStarts")

_created: set[tuple[str, str]] = set()
_lock = threading.Lock()


def table(setting: tuple[str, str]) -> TableClient:
    """The client for the table named by `(setting name, default)`, created if missing."""
    service = table_service()
    name = get_str(*setting)
    client = service.get_table_client(name)
    key = (service.url, name)
    if key not in _created:
        with _lock:
            if key not in _created:
                service.create_table_if_not_exists(name)
                _created.add(key)
    return client


def find_row(client: TableClient, partition_key: str, row_key: str) -> TableEntity | None:
    """The row with these keys (its ETag in `.metadata`), or None when there is none."""
    try:
        return client.get_entity(partition_key, row_key)
    except ResourceNotFoundError:
        return None


def container(setting: tuple[str, str] = OUTBOX_CONTAINER) -> ContainerClient:
    """The client for the blob container named by `(setting name, default)`, created if missing."""
    service = blob_service()
    name = get_str(*setting)
    client = service.get_container_client(name)
    key = (service.url, name)
    if key not in _created:
        with _lock:
            if key not in _created:
                try:
                    client.create_container()
                except ResourceExistsError:
                    pass
                _created.add(key)
    return client
