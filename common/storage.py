"""One factory for the app's own Azure Storage clients.

Locally the connection is a connection string (Azurite's
`UseDevelopmentStorage=true` or an explicit one). In Azure there are no keys:
the app uses identity-based connections, configured the way the Functions host
configures its own (`<prefix>__accountName`, `<prefix>__credential`,
`<prefix>__clientId`, or `<prefix>__blobServiceUri` / `__tableServiceUri`).

The app's data lives in the task hub's storage account (`AzureWebJobsStorage`)
unless the setting `APP_STORAGE_CONNECTION` names another connection prefix.
Clients are created once per process and reused, as the SDK recommends.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

DEFAULT_CONNECTION = "AzureWebJobsStorage"
CONNECTION_OVERRIDE_SETTING = "APP_STORAGE_CONNECTION"

_DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class StorageConfigurationError(RuntimeError):
    """No usable storage connection is configured."""


def connection_prefix() -> str:
    """The name of the connection (app-setting prefix) that holds the app's data."""
    return os.environ.get(CONNECTION_OVERRIDE_SETTING, "").strip() or DEFAULT_CONNECTION


def _connection_string(prefix: str) -> str | None:
    value = os.environ.get(prefix, "").strip()
    if not value:
        return None
    if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
        # Spell the emulator out so every SDK client agrees on 127.0.0.1 endpoints.
        return _DEVELOPMENT_STORAGE
    return value


def _service_uri(prefix: str, service: str) -> str:
    explicit = os.environ.get(f"{prefix}__{service}ServiceUri", "").strip()
    if explicit:
        return explicit
    account = os.environ.get(f"{prefix}__accountName", "").strip()
    if not account:
        raise StorageConfigurationError(
            f"No storage connection configured: set {prefix} (a connection string) or "
            f"{prefix}__accountName / {prefix}__{service}ServiceUri (identity-based)."
        )
    return f"https://{account}.{service}.core.windows.net"


def _credential(prefix: str) -> Any:
    """Entra ID credential for identity-based connections, as the host resolves them."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    client_id = os.environ.get(f"{prefix}__clientId", "").strip()
    if os.environ.get(f"{prefix}__credential", "").strip().lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


@cache
def _table_service(prefix: str, conn: str | None) -> TableServiceClient:
    if conn:
        return TableServiceClient.from_connection_string(conn)
    return TableServiceClient(endpoint=_service_uri(prefix, "table"), credential=_credential(prefix))


@cache
def _blob_service(prefix: str, conn: str | None) -> BlobServiceClient:
    if conn:
        return BlobServiceClient.from_connection_string(conn)
    return BlobServiceClient(account_url=_service_uri(prefix, "blob"), credential=_credential(prefix))


def table_service() -> TableServiceClient:
    """The table service client for the app's data (cached per connection)."""
    prefix = connection_prefix()
    return _table_service(prefix, _connection_string(prefix))


def blob_service() -> BlobServiceClient:
    """The blob service client for the app's data (cached per connection)."""
    prefix = connection_prefix()
    return _blob_service(prefix, _connection_string(prefix))
