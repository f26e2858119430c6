"""The curl examples of README.md, parsed so tests can send them to a running host."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass
class CurlCall:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    data: str | None = None


def curl_calls(section: str) -> list[CurlCall]:
    """Every `curl` command in the bash blocks under the README heading `section`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(section)
    following = re.search(r"\n#{2,3} ", text[start + len(section):])
    body = text[start : start + len(section) + following.start()] if following else text[start:]
    calls = []
    for block in re.findall(r"```bash\n(.*?)```", body, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("curl "):
                calls.append(_parse(shlex.split(line)[1:]))
    return calls


def _parse(args: list[str]) -> CurlCall:
    call = CurlCall("GET", "")
    it = iter(args)
    for arg in it:
        if arg == "-X":
            call.method = next(it)
        elif arg == "-H":
            name, _, value = next(it).partition(":")
            call.headers[name.strip()] = value.strip()
        elif arg == "-d":
            call.data = next(it)
            if call.method == "GET":
                call.method = "POST"
        elif arg.startswith("-"):
            continue
        else:
            call.url = arg
    return call


def bash_blocks(section: str) -> list[str]:
    """The bash blocks under the README heading `section`, as written."""
    text = README.read_text(encoding="utf-8")
    start = text.index(section)
    following = re.search(r"\n#{2,3} ", text[start + len(section):])
    body = text[start : start + len(section) + following.start()] if following else text[start:]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)
