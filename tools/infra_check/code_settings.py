"""Which app settings the app's code reads: found by parsing its sources, not by importing them.

A setting counts as read when the app's code (the packages in APP_PACKAGES)
  - calls `get_str("NAME", ...)`, `get_int("NAME", ...)` or `get_decimal("NAME", ...)`
    (common/settings.py), under any import name;
  - calls `os.environ.get("NAME")`, `os.getenv("NAME")` or indexes `os.environ["NAME"]`;
  - defines a module constant whose name ends with `_SETTING` and whose value is a string
    (for example `CONNECTION_OVERRIDE_SETTING = "APP_STORAGE_CONNECTION"`);
  - defines, in a module that imports common.settings or common.retry, a module constant holding a
    `("NAME", default)` pair, the form handed to `get_str(*pair)` (for example
    `PRODUCTS_TABLE = ("PRODUCTS_TABLE", "Products")`).
Names built at run time (f-strings such as f"{prefix}__accountName") are not settings of the app:
they belong to the identity-based connection that infra/main.bicep configures.

`default` is the literal default the code falls back to, when it can be read from the source.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("common", "activities", "clients", "orchestrators", "orders", "batch", "leave", "maintenance")
SETTINGS_MODULE = "common.settings"
# Modules whose importers name settings as `("NAME", default)` pairs (common.retry reads them as such).
PAIR_READERS = (SETTINGS_MODULE, "common.retry")
GETTERS = {"get_str", "get_int", "get_decimal"}
SETTING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
PAIR_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# Settings the platform owns: the Functions host, App Service, and the identity-based storage
# connection (AzureWebJobsStorage and AzureWebJobsStorage__*) that main.bicep sets from the resources.
PLATFORM_PREFIXES = ("AzureWebJobsStorage", "FUNCTIONS_", "WEBSITE_")



class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT = _NoDefault()


@dataclass(frozen=True)
class SettingUse:
    name: str
    path: str  # relative to the repository root
    line: int
    default: object = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


def is_platform_setting(name: str) -> bool:
    return name.startswith(PLATFORM_PREFIXES)


def app_sources(root: Path = ROOT) -> list[Path]:
    return sorted(path for package in APP_PACKAGES for path in (root / package).rglob("*.py"))


def _literal(node: ast.expr | None, constants: dict[str, object]) -> object:
    """The value of a literal, of a module constant, or of integer arithmetic on them (16 * 1024)."""
    if node is None:
        return _NO_DEFAULT
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id, _NO_DEFAULT)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add, ast.Sub)):
        left, right = _literal(node.left, constants), _literal(node.right, constants)
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(node.op, ast.Mult):
                return left * right
            return left + right if isinstance(node.op, ast.Add) else left - right
    return _NO_DEFAULT


def _is_os_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def _imports_settings(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in (*PAIR_READERS, "common") and (
            node.module in PAIR_READERS or any(alias.name == "settings" for alias in node.names)
        ):
            return True
        if isinstance(node, ast.Import) and any(alias.name == SETTINGS_MODULE for alias in node.names):
            return True
    return False


def _getter_names(tree: ast.Module) -> set[str]:
    """Local names of get_str / get_int / get_decimal, including `from common.settings import get_int as gi`."""
    names = set(GETTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SETTINGS_MODULE:
            names.update(alias.asname for alias in node.names if alias.name in GETTERS and alias.asname)
    return names


def _module_constants(tree: ast.Module, root: Path) -> dict[str, object]:
    """The module's literal constants, and those it imports by name from another module of the app
    (`from common.retry import DEFAULT_MAX_ATTEMPTS`), so a default defined once is still read."""
    constants: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in APP_PACKAGES:
            source = root.joinpath(*node.module.split(".")).with_suffix(".py")
            if source.is_file():
                imported = _module_constants(ast.parse(source.read_text(encoding="utf-8")), root)
                constants.update({alias.asname or alias.name: imported[alias.name]
                                  for alias in node.names if alias.name in imported})
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _literal(node.value, constants)
            if value is not _NO_DEFAULT:
                constants[node.targets[0].id] = value
    return constants


def _uses_in_module(path: Path, root: Path) -> Iterator[SettingUse]:
    relative = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    constants = _module_constants(tree, root)
    getters = _getter_names(tree)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            reads_environ = isinstance(func, ast.Attribute) and (
                (called == "get" and _is_os_environ(func.value))
                or (called == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os")
            )
            if called in getters or reads_environ:
                default = _literal(node.args[1], constants) if len(node.args) > 1 else _NO_DEFAULT
                yield SettingUse(first.value, relative, node.lineno, default)
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                yield SettingUse(key.value, relative, node.lineno)

    pairs_are_settings = _imports_settings(tree)
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        target, value = node.targets[0].id, node.value
        if target.endswith("_SETTING") and isinstance(value, ast.Constant) and isinstance(value.value, str):
            yield SettingUse(value.value, relative, node.lineno)
        elif pairs_are_settings and isinstance(value, ast.Tuple) and len(value.elts) == 2:
            name = value.elts[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and PAIR_NAME.fullmatch(name.value):
                yield SettingUse(name.value, relative, node.lineno, _literal(value.elts[1], constants))


def setting_uses(root: Path = ROOT) -> list[SettingUse]:
    """Every place the app's code reads an app setting, in file and line order."""
    uses = [use for path in app_sources(root) for use in _uses_in_module(path, root)]
    bad = [use for use in uses if not SETTING_NAME.fullmatch(use.name)]
    if bad:
        raise ValueError(f"not app-setting names: {bad}")
    return uses


def settings_read_by_code(root: Path = ROOT) -> set[str]:
    """Names of the app settings the app's code reads, platform-owned ones included."""
    return {use.name for use in setting_uses(root)}


def app_settings_read_by_code(root: Path = ROOT) -> set[str]:
    """The settings the deployment must provide: those read by the code, less the platform's."""
    return {name for name in settings_read_by_code(root) if not is_platform_setting(name)}


def code_defaults(root: Path = ROOT) -> dict[str, set[str]]:
    """For each setting, the literal defaults the code falls back to, as app-setting strings."""
    defaults: dict[str, set[str]] = {}
    for use in setting_uses(root):
        if use.has_default and use.default is not None:
            value = use.default
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            defaults.setdefault(use.name, set()).add(text)
    return defaults
