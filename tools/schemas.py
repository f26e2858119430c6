"""SchemaStore's schemas for host.json and local.settings.json, cached in `.cache/schemas/` for the tests.

    python -m tools.schemas          (run by `make setup`)

Taken from the project's shared folder beside the repository when it is there (CI has it, as do the
project's own machines), else downloaded from SchemaStore. When neither works the cache stays empty and
`tests/test_config_files.py` skips its schema checks, saying why (outside CI; in CI a missing schema fails).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "schemas"
SHARED = ROOT.parent / "shared" / "schemas"
SCHEMAS = {
    "host.schema.json": "https://json.schemastore.org/host.json",
    "local.settings.schema.json": "https://json.schemastore.org/local.settings.json",
}


def find(name: str) -> Path | None:
    """Where a schema is: the cache, else the shared folder; None when neither has it."""
    for folder in (CACHE, SHARED):
        if (folder / name).is_file():
            return folder / name
    return None


def cache(timeout: float = 10) -> list[str]:
    """Fill the cache; returns one line per schema that could not be had."""
    CACHE.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, url in SCHEMAS.items():
        target = CACHE / name
        if (SHARED / name).is_file():
            shutil.copyfile(SHARED / name, target)
            continue
        if target.is_file():
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a fixed https URL
                target.write_bytes(response.read())
        except OSError as error:
            problems.append(f"{name}: not in {SHARED} and {url} could not be read ({error})")
    return problems


def main() -> int:
    problems = cache()
    for problem in problems:
        print(f"tools.schemas: {problem}; the host.json / local.settings.json schema tests will be skipped",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
