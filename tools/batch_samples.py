"""Upload sample files for the batch workflow into the input container.

    python -m tools.batch_samples [--count N] [--invalid-ratio 0.1] [--prefix incoming/] [--seed 1] [--clean]

Always uploads the original example, three valid files in three formats at the top of the
input container (`BATCH_INPUT_CONTAINER`, default `batch-input`):

    file1.txt   CSV with a header row
    file2.txt   a JSON array of records
    file3.txt   JSON Lines

plus N synthetic files under the prefix (default 10, `incoming/synthetic-00001.csv` ...,
CSV, JSON, JSON Lines and .txt in turn), of which about `--invalid-ratio` are broken on
purpose (a zero quantity, an unknown currency, a missing column, an impossible date,
Latin-1 bytes, an empty file). The same `--seed` gives the same files. `--clean` first
deletes every blob under the prefix, so the prefix holds exactly the N new files.

Settings come from the environment, then from `local.settings.json` `Values` (the
environment wins, as with the Functions host), like `python -m tools.seed`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

from azure.core.exceptions import AzureError

from batch.requests import validate_prefix
from batch.settings import INPUT_CONTAINER, container_name
from batch.store import input_container
from common.http import RequestError
from common.settings import SettingError
from common.storage import StorageConfigurationError
from devhost.config import load_local_settings

ROOT = Path(__file__).resolve().parent.parent
HEADER = "id,date,customerEmail,sku,description,quantity,unitPrice,currency"

ORIGINALS: dict[str, str] = {
    "file1.txt": (
        f"{HEADER}\n"
        "S-1001,2024-03-01,ann@example.com,WIDGET-1,Widget,2,25.00,EUR\n"
        '"S-1002",2024-03-01,,CABLE-1,"USB-C cable, 2 m",5,9.99,EUR\n'
        "S-1003,2024-03-02,bob@example.com,MONITOR-1,Monitor,1,349.00,USD\n"
    ),
    "file2.txt": json.dumps([
        {"id": "S-2001", "date": "2024-03-03", "customerEmail": "cid@example.com", "sku": "GADGET-1",
         "description": "Gadget", "quantity": 1, "unitPrice": 99.00, "currency": "GBP"},
        {"id": "S-2002", "date": "2024-03-03", "sku": "WIDGET-1", "quantity": 10, "unitPrice": "24.50",
         "currency": "EUR"},
    ], indent=2) + "\n",
    "file3.txt": "".join(json.dumps(record) + "\n" for record in [
        {"id": "S-3001", "date": "2024-03-04", "customerEmail": "dan@example.com", "sku": "LAPTOP-1",
         "description": "Laptop", "quantity": 1, "unitPrice": 1299.00, "currency": "CHF"},
        {"id": "S-3002", "date": "2024-03-04", "sku": "CABLE-1", "quantity": 3, "unitPrice": 9.99, "currency": "CHF"},
        {"id": "S-3003", "date": "2024-03-05", "customerEmail": "eve@example.com", "sku": "MONITOR-1",
         "quantity": 2, "unitPrice": "329.00", "currency": "JPY"},
    ]),
}
ORIGINAL_RECORDS = {"file1.txt": 3, "file2.txt": 2, "file3.txt": 3}

_SKUS = ("WIDGET-1", "GADGET-1", "LAPTOP-1", "CABLE-1", "MONITOR-1")
_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
_EXTENSIONS = ("csv", "json", "jsonl", "txt")
_DEFECTS = ("quantity", "currency", "column", "date", "encoding", "empty")


@dataclass
class Uploaded:
    """What was uploaded: every name with the outcome ProcessFile should report for it."""

    container: str
    expected: dict[str, str] = field(default_factory=dict)  # name -> succeeded | invalid | empty
    records: dict[str, int] = field(default_factory=dict)  # valid name -> record count
    deleted: int = 0


def synthetic_file(index: int, extension: str, rng: random.Random, defect: str | None) -> tuple[bytes, int]:
    """One generated file's bytes and its record count; `defect` breaks it on purpose."""
    if defect == "empty":
        return b"", 0
    records = []
    for row in range(rng.randint(5, 20)):
        records.append({
            "id": f"G{index:05d}-{row:03d}", "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "customerEmail": f"customer{rng.randint(1, 999)}@example.com" if rng.random() < 0.7 else None,
            "sku": rng.choice(_SKUS), "description": None, "quantity": rng.randint(1, 20),
            "unitPrice": f"{rng.randint(100, 99999) / 100:.2f}", "currency": rng.choice(_CURRENCIES),
        })
    bad = rng.randrange(len(records))
    if defect == "quantity":
        records[bad]["quantity"] = 0
    elif defect == "currency":
        records[bad]["currency"] = "EURO"
    elif defect == "date":
        records[bad]["date"] = "2024-02-30"
    if extension in ("csv", "txt"):
        lines = [HEADER]
        for record in records:
            cells = ["" if record[key] is None else str(record[key]) for key in HEADER.split(",")]
            if defect == "column" and record is records[bad]:
                cells = cells[:-1]
            lines.append(",".join(cells))
        text = "\n".join(lines) + "\n"
    else:
        if defect == "column":
            del records[bad]["currency"]
        compact = [{key: value for key, value in record.items() if value is not None} for record in records]
        text = json.dumps(compact, indent=1) if extension == "json" else "".join(
            json.dumps(record) + "\n" for record in compact)
    data = text.encode("utf-8")
    if defect == "encoding":
        data = data.replace(b"@example.com", "@exämple.com".encode("latin-1"), 1)
        if b"\xe4" not in data:
            data += "é".encode("latin-1")
    return data, len(records)


def upload_samples(count: int = 10, invalid_ratio: float = 0.1, prefix: str = "incoming/", seed: int = 1,
                   clean: bool = False) -> Uploaded:
    """Upload the three original files and `count` synthetic ones; returns what to expect of each."""
    if not 0 <= invalid_ratio <= 1:
        raise ValueError("invalid_ratio must be between 0 and 1")
    prefix = validate_prefix(prefix)
    container = input_container()
    uploaded = Uploaded(container.container_name)
    if clean:
        names = list(container.list_blob_names(name_starts_with=prefix))
        for start in range(0, len(names), 256):
            container.delete_blobs(*names[start:start + 256], raise_on_any_failure=False)
        uploaded.deleted = len(names)
    blobs: dict[str, bytes] = {name: text.encode("utf-8") for name, text in ORIGINALS.items()}
    uploaded.expected.update(dict.fromkeys(ORIGINALS, "succeeded"))
    uploaded.records.update(ORIGINAL_RECORDS)
    rng = random.Random(seed)
    invalid = set(rng.sample(range(1, count + 1), round(count * invalid_ratio))) if count else set()
    for index in range(1, count + 1):
        extension = _EXTENSIONS[(index - 1) % len(_EXTENSIONS)]
        defect = _DEFECTS[index % len(_DEFECTS)] if index in invalid else None
        name = f"{prefix}synthetic-{index:05d}.{extension}"
        blobs[name], records = synthetic_file(index, extension, rng, defect)
        uploaded.expected[name] = "empty" if defect == "empty" else "invalid" if defect else "succeeded"
        if not defect:
            uploaded.records[name] = records

    def put(item: tuple[str, bytes]) -> None:
        container.upload_blob(item[0], item[1], overwrite=True)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, blobs.items()))
    return uploaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.batch_samples", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="synthetic files to generate (default 10)")
    parser.add_argument("--invalid-ratio", type=float, default=0.1, help="share of them broken on purpose")
    parser.add_argument("--prefix", default="incoming/", help="where the synthetic files go (default incoming/)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed, the same files")
    parser.add_argument("--clean", action="store_true", help="delete every blob under the prefix first")
    args = parser.parse_args(argv)
    if args.count < 0 or not 0 <= args.invalid_ratio <= 1:
        parser.error("--count must be >= 0 and --invalid-ratio between 0 and 1")
    load_local_settings(ROOT)
    try:
        container = container_name(INPUT_CONTAINER)
        uploaded = upload_samples(args.count, args.invalid_ratio, args.prefix, args.seed, args.clean)
    except (RequestError, SettingError, StorageConfigurationError) as error:
        print(f"batch_samples: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    except AzureError as error:
        print(f"batch_samples: storage is not reachable ({type(error).__name__}); is Azurite running? {error}",
              file=sys.stderr)
        return 1
    if uploaded.deleted:
        print(f"Deleted {uploaded.deleted} blobs under {args.prefix}")
    outcomes = list(uploaded.expected.values())
    print(f"Uploaded {len(outcomes)} files to container {container}: "
          f"{outcomes.count('succeeded')} valid, {outcomes.count('invalid')} invalid, {outcomes.count('empty')} empty")
    for name in ORIGINALS:
        print(f"  {name}")
    if args.count:
        print(f"  {args.prefix}synthetic-00001 ... {args.prefix}synthetic-{args.count:05d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
