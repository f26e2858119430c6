"""Where dfctl finds the app and the task hub: options first, then the environment, then the app folder.

* App URL: `--url`, else `DFCTL_URL`, else http://localhost:<Host.LocalHttpPort of local.settings.json, or 7071>.
* Keys: `--key`/`DFCTL_KEY` (a function or host key, sent as `x-functions-key` to /api/ functions and as
  `code=` to the Durable management API) and `--system-key`/`DFCTL_SYSTEM_KEY` for the management API
  when it needs another key than the functions (in Azure: the `durabletask_extension` system key; the
  `_master` host key works for both).
* Storage: `--account NAME` (Entra ID sign-in with DefaultAzureCredential), else `--connection`, else the
  `AzureWebJobsStorage` setting (environment, then local.settings.json `Values`, as the hosts read it),
  either a connection string or `AzureWebJobsStorage__accountName` (identity-based).
* Task hub: `--hub`, else `TASKHUB_NAME`, else host.json's `extensions.durableTask.hubName`, else `TestHubName`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dfctl.errors import USAGE, CliError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 7071
STORAGE_SETTING = "AzureWebJobsStorage"
APP_STORAGE_SETTING = "APP_STORAGE_CONNECTION"  # names the connection that holds the app's own data


def app_data_connection_setting() -> str:
    """The setting (connection prefix) of the app's data, as common/storage.py picks it."""
    return os.environ.get(APP_STORAGE_SETTING, "").strip() or STORAGE_SETTING


def app_dir(explicit: Path | None = None) -> Path:
    """The app folder: `--app-dir`, else the current folder when it holds an app, else this repository."""
    if explicit is not None:
        return explicit.resolve()
    here = Path.cwd()
    if (here / "host.json").exists() or (here / "local.settings.json").exists():
        return here
    return ROOT


def load_app_settings(folder: Path) -> None:
    """Apply local.settings.json `Values` where the environment has no value (as the hosts do)."""
    from devhost.config import load_local_settings

    try:
        load_local_settings(folder)
    except (OSError, ValueError) as error:
        raise CliError(f"Cannot read {folder / 'local.settings.json'}: {error}", USAGE) from error


def default_url(folder: Path) -> str:
    port = DEFAULT_PORT
    path = folder / "local.settings.json"
    if path.exists():
        try:
            port = int((json.loads(path.read_text(encoding="utf-8-sig")).get("Host") or {}).get("LocalHttpPort")
                       or DEFAULT_PORT)
        except (ValueError, OSError, AttributeError):
            port = DEFAULT_PORT
    return f"http://localhost:{port}"


def hub_name(explicit: str | None, folder: Path) -> str:
    if explicit:
        return explicit
    from devhost.config import DurableSettings

    return os.environ.get("TASKHUB_NAME", "").strip() or DurableSettings.from_host_json(folder).hub_name


@dataclass(frozen=True)
class StorageTarget:
    """How to reach the task hub's storage account."""

    connection_string: str | None = None
    account: str | None = None
    client_id: str | None = None

    @property
    def description(self) -> str:
        if self.account:
            return f"storage account {self.account} (Entra ID)"
        parts = dict(p.split("=", 1) for p in (self.connection_string or "").split(";") if "=" in p)
        endpoint = parts.get("TableEndpoint") or parts.get("BlobEndpoint")
        return endpoint or f"storage account {parts.get('AccountName', '?')}"

    def _options(self) -> dict[str, Any]:
        # Fail fast from a terminal: two quick retries instead of the SDK's default of ten seconds and more.
        return {"retry_total": 2, "retry_backoff_factor": 0.4, "connection_timeout": 5, "read_timeout": 60}

    def _credential(self) -> Any:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as error:  # pragma: no cover - azure-identity is in requirements.txt
            raise CliError("--account needs the azure-identity package.", USAGE) from error
        return DefaultAzureCredential(managed_identity_client_id=self.client_id)

    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        if self.account:
            return TableServiceClient(f"https://{self.account}.table.core.windows.net",
                                      credential=self._credential(), **self._options())
        return TableServiceClient.from_connection_string(self._connection(), **self._options())

    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        if self.account:
            return BlobServiceClient(f"https://{self.account}.blob.core.windows.net",
                                     credential=self._credential(), **self._options())
        return BlobServiceClient.from_connection_string(self._connection(), **self._options())

    def _connection(self) -> str:
        if not self.connection_string:
            raise ValueError("A storage target needs a connection string or an account name.")
        return self.connection_string


def storage_target(connection: str | None, account: str | None, setting: str = STORAGE_SETTING) -> StorageTarget:
    """The storage account from `--account`, `--connection` or the app's connection setting `setting`
    (a connection string, or `<setting>__accountName` for an identity-based connection)."""
    from devhost.config import DEVELOPMENT_STORAGE

    if account:
        return StorageTarget(account=account)
    value = (connection or os.environ.get(setting, "")).strip()
    if not value:
        identity_account = os.environ.get(f"{setting}__accountName", "").strip()
        if identity_account:
            client_id = os.environ.get(f"{setting}__clientId", "").strip() or None
            return StorageTarget(account=identity_account, client_id=client_id)
        raise CliError(
            "No storage account given.", USAGE,
            hint=f"Pass --connection CONNECTION_STRING or --account NAME, or set {setting} "
                 "(local.settings.json has it for Azurite).")
    if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
        return StorageTarget(connection_string=DEVELOPMENT_STORAGE)
    if "=" not in value:
        raise CliError("The storage connection must be a connection string (Key=Value;...).", USAGE,
                       hint="For a storage account with Entra ID sign-in use --account NAME.")
    return StorageTarget(connection_string=value)
