"""Pin everything the deployed app installs: `python -m tools.lock` (`make lock`).

requirements.txt has two parts. Above the marker line: the app's direct dependencies,
pinned by hand. Below it: every package those pull in, at the versions pip resolves for
them now (Python 3.13 on Linux, what the Function App runs), so a remote build installs
exactly what the tests ran against. pip resolves with `--dry-run --report`: no
pip-tools needed. Run after changing a direct pin, then `make setup test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
MARKER = "# --- locked below: everything the lines above pull in (`make lock` writes it; do not edit) ---"


def split(text: str) -> tuple[list[str], list[str]]:
    """(the hand-written lines above the marker, the locked pins below it)."""
    lines = text.splitlines()
    if MARKER not in lines:
        return lines, []
    at = lines.index(MARKER)
    return lines[:at], [line for line in lines[at + 1:] if line.strip() and not line.startswith("#")]


def direct_pins(head: list[str]) -> list[str]:
    return [line.split("#")[0].strip() for line in head if line.split("#")[0].strip()]


def render(head: list[str], resolved: dict[str, str]) -> str:
    """requirements.txt with `resolved` (name -> version) locked below the marker, direct ones left out."""
    direct = {pin.split("==")[0].lower() for pin in direct_pins(head)}
    locked = sorted((name for name in resolved if name.lower() not in direct), key=str.lower)
    body = [f"{name}=={resolved[name]}" for name in locked]
    return "\n".join([*head, MARKER, *body]) + "\n"


def resolve(pins: list[str], python: str = sys.executable) -> dict[str, str]:
    """What pip would install for `pins` into an empty environment: name -> version."""
    with tempfile.TemporaryDirectory() as folder:
        wanted, report = Path(folder) / "direct.txt", Path(folder) / "report.json"
        wanted.write_text("\n".join(pins) + "\n", encoding="utf-8")
        subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
                        "--ignore-installed", "--report", str(report), "-r", str(wanted)],
                       check=True, stderr=subprocess.DEVNULL)
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in items}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if requirements.txt is not up to date")
    args = parser.parse_args(argv)
    current = REQUIREMENTS.read_text(encoding="utf-8")
    head, _ = split(current)
    wanted = render(head, resolve(direct_pins(head)))
    if args.check:
        print("requirements.txt is up to date" if wanted == current else "requirements.txt is stale: run make lock")
        return 0 if wanted == current else 1
    REQUIREMENTS.write_text(wanted, encoding="utf-8")
    print(f"requirements.txt: {len(split(wanted)[1])} packages locked below the direct pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
