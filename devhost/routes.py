"""HTTP trigger route templates, as the Functions host matches them.

Supports literal segments, `{name}`, optional `{name?}`, constraints such as
`{id:int}` or `{id:alpha}`, and a trailing catch-all `{*rest}`. Matching is
case-insensitive for literals, as in ASP.NET routing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM = re.compile(r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[^}?]+))?(?P<opt>\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}


@dataclass(frozen=True)
class RouteTemplate:
    """A compiled route template."""

    template: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters when `path` (without the route prefix) matches, else None."""
        found = self.pattern.fullmatch(path.strip("/"))
        if not found:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items() if v is not None}


def _literal(char: str) -> str:
    """One literal character, matched case-insensitively."""
    if char.isalpha():
        return f"[{re.escape(char.lower())}{re.escape(char.upper())}]"
    return re.escape(char)


def compile_route(template: str) -> RouteTemplate:
    """Turn a Functions route template into a regular expression."""
    parts: list[str] = []
    params: list[str] = []
    segments = [s for s in template.strip("/").split("/") if s]
    for position, segment in enumerate(segments):
        param = _PARAM.match(segment)
        if not param:
            parts.append("/" + "".join(_literal(c) for c in segment))
            continue
        name = param.group("name")
        params.append(name)
        constraint = param.group("constraint")
        if param.group("star"):
            body = r".*"
        elif constraint and constraint.split("(")[0] in _CONSTRAINTS:
            body = _CONSTRAINTS[constraint.split("(")[0]]
        else:
            body = r"[^/]+"
        optional = bool(param.group("opt")) or bool(param.group("star"))
        if optional and position == len(segments) - 1:
            parts.append(f"(?:/(?P<{name}>{body}))?")
        else:
            parts.append(f"/(?P<{name}>{body})")
    regex = "".join(parts)
    if regex.startswith("/"):
        regex = regex[1:]
    elif regex.startswith("(?:/"):
        regex = "(?:" + regex[4:]
    return RouteTemplate(template, re.compile(regex), tuple(params))
