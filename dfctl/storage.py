"""Storage calls for dfctl: readable errors, and uploading a batch's input files."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from dfctl.errors import NOT_FOUND, SERVER_ERROR, UNAUTHORIZED, USAGE, CliError
from dfctl.settings import StorageTarget

UPLOAD_THREADS = 8


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def storage_errors(target: StorageTarget) -> Iterator[None]:
    """Turn the Azure SDK's exceptions into one-line messages with the right exit code."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError:
        raise
    except ClientAuthenticationError as error:
        raise CliError(f"{target.description} did not accept the credentials: {first_line(error)}", UNAUTHORIZED,
                       hint=_auth_hint(target)) from error
    except HttpResponseError as error:
        status = error.status_code or 0
        if status in (401, 403):
            raise CliError(f"{target.description} refused access ({status}): {first_line(error)}", UNAUTHORIZED,
                           hint=_auth_hint(target)) from error
        raise CliError(f"{target.description} answered {status}: {first_line(error)}", SERVER_ERROR) from error
    except (ServiceRequestError, ServiceResponseError) as error:
        raise CliError(f"Cannot reach {target.description}: {first_line(error)}", USAGE,
                       hint="Is Azurite running (`make run` starts it)? Check --connection / AzureWebJobsStorage, "
                            "or the account name and your network.") from error


def _auth_hint(target: StorageTarget) -> str:
    if target.account:
        return ("Sign in with `az login` (DefaultAzureCredential). Reading the task hub needs the "
                "'Storage Table Data Reader' role on the account; uploading a batch needs "
                "'Storage Blob Data Contributor'.")
    return "Check the account key or SAS in the connection string."


def upload_files(target: StorageTarget, container: str, files: list[tuple[Path, str]]) -> None:
    """Upload local files as blobs `(path, blob name)` into `container` (created if missing), overwriting."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    service = target.blob_service()
    client = service.get_container_client(container)

    def upload(item: tuple[Path, str]) -> None:
        path, name = item
        with path.open("rb") as data:
            client.upload_blob(name, data, overwrite=True)

    try:
        with storage_errors(target):
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
                list(pool.map(upload, files))
    except ResourceNotFoundError as error:
        raise CliError(f"Container {container} not found in {target.description}.", NOT_FOUND) from error
    finally:
        service.close()
