"""Import a Python v2 app and index its functions with the library's own indexing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Function:
    """One indexed function: its name, trigger binding and, in-process, the callable the worker would invoke.

    With the real worker the host never imports the app: `callable` is None and `function_id` is the
    id the worker's FunctionMetadataResponse gave it.
    """

    name: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    callable: Callable[..., Any] | None = None
    function_id: str | None = None

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    def binding(self, binding_type: str) -> dict[str, Any] | None:
        """The first binding of a type, if the function has one."""
        return next((b for b in self.bindings if b.get("type") == binding_type), None)


@dataclass
class FunctionIndex:
    """The app's functions grouped the way the Durable extension addresses them."""

    http: list[Function] = field(default_factory=list)
    orchestrators: dict[str, Function] = field(default_factory=dict)
    activities: dict[str, Function] = field(default_factory=dict)
    entities: dict[str, Function] = field(default_factory=dict)
    timers: list[Function] = field(default_factory=list)
    other: list[Function] = field(default_factory=list)
    # Functions an `AzureWebJobs.<name>.Disabled` setting turned off (lower-cased names): still
    # indexed and loaded, as the host does, but no trigger listens for them.
    disabled: frozenset[str] = frozenset()

    def is_disabled(self, fn: Function) -> bool:
        return fn.name.lower() in self.disabled

    def all(self) -> list[Function]:
        """Every indexed function, whatever its trigger."""
        return [*self.http, *self.orchestrators.values(), *self.activities.values(), *self.entities.values(),
                *self.timers, *self.other]

    def named(self, name: str) -> Function | None:
        """A function by its function name (not its durable alias), case-insensitively as the host looks it up."""
        return next((fn for fn in self.all() if fn.name.lower() == name.lower()), None)


def load_app(app_dir: Path, module: str = "function_app") -> Any:
    """Import `function_app.py` from `app_dir` and return its `FunctionApp` instance.

    The app folder goes on sys.path, as the worker does, so the app's own packages
    import. A second app in the same process (tests) gets a module name of its own.
    """
    app_dir = app_dir.resolve()
    path = app_dir / f"{module}.py"
    if not path.exists():
        raise RuntimeError(f"No {module}.py in {app_dir}.")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    loaded = sys.modules.get(module)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path:
        mod = loaded
    else:
        name = module if loaded is None else f"{module}__{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    import azure.functions as func

    apps = [value for value in vars(mod).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        raise RuntimeError(f"{module}.py must define exactly one FunctionApp/DFApp instance, found {len(apps)}.")
    return apps[0]


def index_functions(app: Any) -> FunctionIndex:
    """Classify `app.get_functions()` by trigger, addressing durable functions as the extension does."""
    import json

    cached = getattr(app, "_devhost_index", None)
    if cached is not None:  # get_functions() may only run once per app object
        return cached
    index = classify(
        Function(fn.get_function_name(), {}, json.loads(fn.get_function_json())["bindings"], fn.get_user_function())
        for fn in app.get_functions()
    )
    app._devhost_index = index
    return index


def classify(functions: Iterable[Function], disabled: frozenset[str] = frozenset()) -> FunctionIndex:
    """Group functions by trigger (the trigger binding is found here); `disabled` holds lower-cased names."""
    index = FunctionIndex(disabled=disabled)
    for entry in functions:
        trigger = next((b for b in entry.bindings if b.get("type", "").endswith("Trigger")), None)
        if trigger is None:
            continue
        entry.trigger = trigger
        kind = trigger["type"]
        if kind == "httpTrigger":
            index.http.append(entry)
        elif kind == "orchestrationTrigger":
            index.orchestrators[trigger.get("orchestration") or entry.name] = entry
        elif kind == "activityTrigger":
            index.activities[trigger.get("activity") or entry.name] = entry
        elif kind == "entityTrigger":
            index.entities[trigger.get("entityName") or entry.name] = entry
        elif kind == "timerTrigger":
            index.timers.append(entry)
        else:
            index.other.append(entry)
    return index


def user_function(blueprint: Any, name: str) -> Callable[..., Any]:
    """The plain Python function registered in `blueprint` (or an app) under the function name `name`, to call it
    directly (unit tests, benchmarks) without a host."""
    for builder in blueprint._function_builders:
        function = builder._function
        if function.get_function_name() == name:
            return function.get_user_function()
    raise LookupError(f"No function named {name!r} in the blueprint.")
