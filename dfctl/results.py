"""What the workflows left in the app's storage, without Storage Explorer: a batch's report (with its
quarantine errors) and the e-mails a workflow wrote to the outbox.

Container names come from the same settings the app reads (`batch.settings`, `common.resources`),
so `dfctl report` and `dfctl outbox` look where the app wrote.
"""

from __future__ import annotations

import json
from typing import Any

from batch.settings import QUARANTINE_CONTAINER, REPORTS_CONTAINER
from batch.store import error_report_name, report_blob_name
from common.resources import OUTBOX_CONTAINER
from common.settings import get_str
from dfctl.errors import NOT_FOUND, CliError
from dfctl.settings import StorageTarget
from dfctl.storage import storage_errors

BATCH_PREFIX = "batch-"


def batch_id_of(name: str) -> str:
    """The batch id of `name`, which may be the batch's instance id (`batch-<id>`)."""
    return name[len(BATCH_PREFIX):] if name.startswith(BATCH_PREFIX) else name


def _read(target: StorageTarget, setting: tuple[str, str], blob: str) -> bytes | None:
    from azure.core.exceptions import ResourceNotFoundError

    with storage_errors(target):
        try:
            return target.blob_service().get_container_client(get_str(*setting)).download_blob(blob).readall()
        except ResourceNotFoundError:
            return None


def batch_report(target: StorageTarget, name: str, *, with_errors: bool = False) -> dict[str, Any]:
    """The batch's report (`{batchId}/report.json`); with `with_errors`, each rejected file's problems too."""
    batch_id = batch_id_of(name)
    data = _read(target, REPORTS_CONTAINER, report_blob_name(batch_id))
    if data is None:
        raise CliError(f"No report for batch {batch_id} in {get_str(*REPORTS_CONTAINER)} (yet).", NOT_FOUND,
                       hint=f"A batch writes its report when it finishes: `python -m dfctl status "
                            f"{BATCH_PREFIX}{batch_id}`.")
    report = json.loads(data)
    if with_errors:
        for entry in report.get("files") or []:
            if entry.get("outcome") in ("invalid", "empty"):
                blob = entry.get("errorReport") or error_report_name(entry["file"])
                found = _read(target, QUARANTINE_CONTAINER, blob)
                entry["errors"] = (json.loads(found).get("errors") or []) if found else []
    return report


def outbox_messages(target: StorageTarget, instance_id: str) -> list[tuple[str, str]]:
    """The e-mails a workflow wrote, as (blob name, text): an order's confirmation (`order-<id>`), a leave
    request's approval request, reminder and outcome (`leave-<id>`)."""
    from azure.core.exceptions import ResourceNotFoundError

    if instance_id.startswith("order-"):
        prefix = f"orders/{instance_id[len('order-'):]}/"
    elif instance_id.startswith("leave-"):
        prefix = f"leave/{instance_id}/"
    else:
        raise CliError(f"{instance_id} is not an order (order-...) or a leave request (leave-...): only those "
                       "workflows write e-mails.", NOT_FOUND)
    with storage_errors(target):
        container = target.blob_service().get_container_client(get_str(*OUTBOX_CONTAINER))
        try:
            names = sorted(container.list_blob_names(name_starts_with=prefix))
            return [(name, container.download_blob(name).readall().decode("utf-8", "replace")) for name in names]
        except ResourceNotFoundError:
            return []
