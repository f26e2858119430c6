"""Reach the plain Python function behind a Blueprint registration, to call it directly in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def user_function(blueprint: Any, name: str) -> Callable[..., Any]:
    """The user function registered in `blueprint` under the function name `name`."""
    for builder in blueprint._function_builders:
        function = builder._function
        if function.get_function_name() == name:
            return function.get_user_function()
    raise LookupError(f"No function named {name!r} in the blueprint.")
