"""The Bicep templates under infra/ as pycep-parser 0.7.1 reads them, plus the little evaluation the
tests need: expressions rendered back to Bicep-like text, and the app settings of the function app
resolved to names (app-settings.json included).

pycep represents an expression as nested dicts (`{"operator": ...}`, `{"function": ...}`); an
identifier and a string literal both come out as a plain string, and quoted object keys keep their
quotes ("'azd-service-name'"). `text()` turns an expression into one string such as
`identity.properties.principalId` or `subscription_resource_id(Microsoft.Authorization/roleDefinitions,
roleIds.storageBlobDataOwner)`, which is what the tests compare against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"


def bicep_files(infra: Path = INFRA) -> list[Path]:
    return sorted(infra.rglob("*.bicep"))


@cache
def load(path: Path) -> dict[str, Any]:
    """The template as pycep-parser's JSON; ValueError when pycep cannot parse it."""
    from pycep import BicepParser

    template = BicepParser().parse(text=path.read_text(encoding="utf-8"))
    if not isinstance(template, dict):
        raise ValueError(f"pycep-parser could not parse {path}")
    return dict(template)


def key(name: str) -> str:
    """An object key without the quotes Bicep needs for names like 'azd-service-name'."""
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == "'" else name


def unquote_keys(value: Any) -> Any:
    if isinstance(value, dict) and "operator" not in value and "function" not in value:
        return {key(k): unquote_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unquote_keys(item) for item in value]
    return value


def text(expr: Any) -> str:
    """An expression as one Bicep-like string (functions keep pycep's snake_case names)."""
    if expr is None:
        return "null"
    if isinstance(expr, bool):
        return "true" if expr else "false"
    if isinstance(expr, (int, float, str)):
        return str(expr)
    if isinstance(expr, list):
        return "[" + ", ".join(text(item) for item in expr) + "]"
    if isinstance(expr, dict) and "operator" in expr:
        operator = expr["operator"]
        kind, operands = operator["type"], operator.get("operands") or {}
        if kind == "property_accessor":
            return f"{text(operands['operand_1'])}.{text(operands['operand_2'])}"
        if kind == "conditional":
            return (f"{text(operands['condition'])} ? {text(operands['true_value'])} : "
                    f"{text(operands['false_value'])}")
        if kind == "not":
            return "!" + text(operands.get("bool_value"))
        return f"{kind}(" + ", ".join(text(value) for value in operands.values()) + ")"
    if isinstance(expr, dict) and "function" in expr:
        function = expr["function"]
        parameters = function.get("parameters") or {}
        return f"{function['type']}(" + ", ".join(text(v) for v in parameters.values() if v is not None) + ")"
    if isinstance(expr, dict):
        return "{" + ", ".join(f"{key(k)}: {text(v)}" for k, v in expr.items()) + "}"
    raise TypeError(f"unexpected pycep node: {expr!r}")


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    body: dict[str, Any]  # name, location, properties... with quoted keys unquoted
    condition: Any = None  # `if (...)` expression, None when unconditional
    loop: dict[str, Any] | None = None  # pycep's loop_type when declared with `[for ...]`

    def get(self, dotted: str) -> Any:
        """`properties.siteConfig.minTlsVersion` -> the value, KeyError naming the path when absent."""
        value: Any = self.body
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"{self.symbol} ({self.type}) has no {dotted}")
            value = value[part]
        return value


def resources(template: dict[str, Any], type_: str | None = None) -> list[Resource]:
    """The resources declared (not `existing`) in a template, optionally of one type."""
    found = []
    for symbol, declaration in (template.get("resources") or {}).items():
        if declaration.get("existing") or (type_ and declaration["type"].lower() != type_.lower()):
            continue
        config, condition, loop = declaration["config"], None, None
        if isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config):
            condition, loop, config = config.get("condition"), config.get("loop_type"), config["config"]
        found.append(Resource(symbol, declaration["type"], declaration["api_version"], unquote_keys(config),
                              condition, loop))
    return found


def one(template: dict[str, Any], type_: str) -> Resource:
    matches = resources(template, type_)
    if len(matches) != 1:
        raise AssertionError(f"expected exactly one {type_}, found {[r.symbol for r in matches]}")
    return matches[0]


def variable(template: dict[str, Any], name: str) -> Any:
    variables = template.get("variables") or {}
    if name not in variables:
        raise KeyError(f"no variable {name}")
    return variables[name]["value"]


def parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    parameters = template.get("parameters") or {}
    if name not in parameters:
        raise KeyError(f"no parameter {name}")
    return parameters[name]


def resolve_object(template: dict[str, Any], expr: Any, infra: Path = INFRA) -> dict[str, Any]:
    """Evaluate an object expression built from literals, variables, parameter defaults,
    union() and loadJsonContent(); anything else is an error, so the tests notice a new shape."""
    if isinstance(expr, str):
        if expr in (template.get("variables") or {}):
            return resolve_object(template, variable(template, expr), infra)
        if expr in (template.get("parameters") or {}):
            return resolve_object(template, parameter(template, expr).get("default"), infra)
        raise ValueError(f"cannot resolve {expr!r} to an object")
    if isinstance(expr, dict) and "function" in expr:
        function = expr["function"]
        if function["type"] == "union":
            merged: dict[str, Any] = {}
            for argument in function["parameters"].values():
                merged.update(resolve_object(template, argument, infra))
            return merged
        if function["type"] == "load_json_content" and not function["parameters"].get("json_path"):
            return json.loads((infra / function["parameters"]["file_path"]).read_text(encoding="utf-8"))
        raise ValueError(f"cannot resolve {text(expr)} to an object")
    if isinstance(expr, dict) and "operator" not in expr:
        return unquote_keys(expr)
    raise ValueError(f"cannot resolve {text(expr)} to an object")


def resolve_value(template: dict[str, Any], expr: Any, infra: Path = INFRA) -> Any:
    """`roleIds.storageBlobDataOwner`, `appSettings.OUTBOX_CONTAINER` or a literal -> its value."""
    if isinstance(expr, dict) and expr.get("operator", {}).get("type") == "property_accessor":
        operands = expr["operator"]["operands"]
        owner, member = operands["operand_1"], operands["operand_2"]
        if isinstance(member, str):
            return resolve_object(template, owner, infra)[member]
    if isinstance(expr, (str, int, bool)):
        if isinstance(expr, str) and expr in (template.get("variables") or {}):
            return resolve_value(template, variable(template, expr), infra)
        return expr
    raise ValueError(f"cannot resolve {text(expr)} to a value")


def resolve_list(template: dict[str, Any], expr: Any, infra: Path = INFRA) -> list[Any]:
    """A list variable (or literal) with each item resolved."""
    if isinstance(expr, str) and expr in (template.get("variables") or {}):
        expr = variable(template, expr)
    if not isinstance(expr, list):
        raise ValueError(f"cannot resolve {text(expr)} to a list")
    return [resolve_value(template, item, infra) for item in expr]


def app_settings(template: dict[str, Any], site: Resource, infra: Path = INFRA) -> dict[str, str]:
    """The function app's settings as {name: value as Bicep text}, from siteConfig.appSettings:
    a concat() of name/value lists, each a literal list or a variable holding
    `[for setting in items(<object>): {name: setting.key, value: setting.value}]`."""
    return _settings_list(template, site.get("properties.siteConfig.appSettings"), infra)


def _settings_list(template: dict[str, Any], expr: Any, infra: Path) -> dict[str, str]:
    if isinstance(expr, str) and expr in (template.get("variables") or {}):
        return _settings_list(template, variable(template, expr), infra)
    if isinstance(expr, dict) and expr.get("function", {}).get("type") == "concat":
        settings: dict[str, str] = {}
        for argument in expr["function"]["parameters"].values():
            part = _settings_list(template, argument, infra)
            duplicates = settings.keys() & part.keys()
            if duplicates:
                raise AssertionError(f"app settings set twice: {sorted(duplicates)}")
            settings.update(part)
        return settings
    if isinstance(expr, list):
        return {item["name"]: text(item["value"]) for item in expr}
    if isinstance(expr, dict) and "loop_type" in expr:
        loop, body = expr["loop_type"], expr["config"]
        item = loop["detail"]["item_name"]
        source = loop["detail"]["array_name"]
        if not (isinstance(source, dict) and source.get("function", {}).get("type") == "items"
                and text(body["name"]) == f"{item}.key" and text(body["value"]) == f"{item}.value"):
            raise ValueError(f"unexpected app-settings loop: {text(expr.get('config'))}")
        values = resolve_object(template, source["function"]["parameters"]["arg_1"], infra)
        return {name: text(value) for name, value in values.items()}
    raise ValueError(f"cannot resolve app settings from {text(expr)}")
