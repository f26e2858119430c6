"""Host configuration: app settings from local.settings.json and host.json values.

Settings are applied as the Functions host applies them: `local.settings.json`
`Values` become environment variables unless the environment already has them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HUB_NAME = "TestHubName"
STORAGE_SETTING = "AzureWebJobsStorage"
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")


def load_local_settings(app_dir: Path) -> dict[str, str]:
    """Put `local.settings.json` Values into os.environ where unset; return those applied."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    applied: dict[str, str] = {}
    for key, value in (data.get("Values") or {}).items():
        if key not in os.environ and value is not None:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


def load_host_json(app_dir: Path) -> dict[str, Any]:
    """The app's host.json as a dictionary ({} when there is none)."""
    path = app_dir / "host.json"
    return json.loads(path.read_text(encoding="utf-8-sig")) if path.exists() else {}


_DISABLED_SETTING = re.compile(r"^AzureWebJobs[._](.+)[._]Disabled$", re.IGNORECASE)


def disabled_functions(environ: dict[str, str] | None = None) -> frozenset[str]:
    """Functions (names lower-cased) turned off by an `AzureWebJobs.<FunctionName>.Disabled` setting of true or 1.

    The host reads the setting with `.` or `_` as separator (Linux app settings cannot hold dots),
    case-insensitively; a disabled function is not loaded, so nothing can trigger or call it.
    """
    names = set()
    for key, value in (os.environ if environ is None else environ).items():
        match = _DISABLED_SETTING.match(key)
        if match and str(value).strip().lower() in ("true", "1"):
            names.add(match.group(1).lower())
    return frozenset(names)


class ConfigurationError(RuntimeError):
    """The host cannot start with the current settings."""


def storage_connection_string() -> str:
    """The task hub's storage connection (`AzureWebJobsStorage`), with the emulator shorthand spelled out."""
    value = os.environ.get(STORAGE_SETTING, "").strip()
    if not value:
        raise ConfigurationError(
            f"{STORAGE_SETTING} is not set: put it in local.settings.json (UseDevelopmentStorage=true for Azurite) "
            "or run with --state memory."
        )
    if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
        return DEVELOPMENT_STORAGE
    if "AccountKey=" not in value and "SharedAccessSignature=" not in value:
        raise ConfigurationError(
            f"{STORAGE_SETTING} must be a connection string with a key or SAS for the local host "
            "(identity-based connections are supported by the Azure Functions host only)."
        )
    return value


def resolve_setting_reference(value: str | None) -> str | None:
    """Resolve host.json's `%AppSetting%` syntax against the environment."""
    if value is None:
        return None
    match = _SETTING_REFERENCE.match(value.strip())
    if match:
        return os.environ.get(match.group(1)) or None
    return value


@dataclass(frozen=True)
class DurableSettings:
    """The `extensions.durableTask` values the local host honours."""

    hub_name: str = DEFAULT_HUB_NAME
    control_queue_batch_size: int = 32
    control_queue_buffer_threshold: int = 256  # AzureStorageOptions.ControlQueueBufferThreshold's default
    max_concurrent_activities: int = 10
    max_concurrent_orchestrators: int = 10
    partition_count: int = 4
    overridable_states: str = "NonRunningStates"
    # AzureStorageDurabilityProviderFactory: 5000 (50 on the Consumption plan, which devhost is not).
    max_entity_operation_batch_size: int = 5000

    @classmethod
    def from_host_json(cls, app_dir: Path) -> DurableSettings:
        """Read host.json (if any) and resolve app-setting references."""
        host = load_host_json(app_dir)
        durable = (host.get("extensions") or {}).get("durableTask") or {}
        provider = durable.get("storageProvider") or {}
        hub = resolve_setting_reference(durable.get("hubName")) or DEFAULT_HUB_NAME
        return cls(
            hub_name=hub,
            control_queue_batch_size=int(provider.get("controlQueueBatchSize", 32)),
            control_queue_buffer_threshold=int(provider.get("controlQueueBufferThreshold", 256)),
            max_concurrent_activities=int(durable.get("maxConcurrentActivityFunctions", 10)),
            max_concurrent_orchestrators=int(durable.get("maxConcurrentOrchestratorFunctions", 10)),
            partition_count=int(provider.get("partitionCount", 4)),
            overridable_states=str(durable.get("overridableExistingInstanceStates", "NonRunningStates")),
            max_entity_operation_batch_size=int(durable.get("maxEntityOperationBatchSize", 5000)),
        )
