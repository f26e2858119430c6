"""The outbox: outgoing e-mail, written as blobs for a mail sender to pick up.

Messages are RFC 5322 `.eml` blobs in the `OUTBOX_CONTAINER` container (default `outbox`, see
`common.resources`), one per message. Each workflow names its messages after its own ids
(`orders/{orderId}/confirmation.eml`, `leave/{requestId}/...`) and renders them from stored data
alone, so writing again overwrites the same blob with the same bytes: at-least-once activity
execution cannot produce two different e-mails.
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings

from common.resources import container


def write_message(name: str, content: bytes) -> str:
    """Put a rendered message into the outbox under `name` (replacing one of that name); returns the name."""
    container().upload_blob(name, content, overwrite=True,
                            content_settings=ContentSettings(content_type="message/rfc822"))
    return name


def read_message(name: str) -> bytes:
    """The bytes of an outbox blob."""
    return container().download_blob(name).readall()


def delete_message(name: str) -> None:
    """Remove an outbox blob if present (resets of sample data only)."""
    try:
        container().delete_blob(name)
    except ResourceNotFoundError:
        pass
