"""Every Bicep file under infra/ parses with tree-sitter-bicep (no Bicep compiler is reachable offline).

A syntax error shows up as an ERROR or MISSING node; the failure names each as file:line:col.
tree-sitter-bicep also rejects constructs the other offline tools (pycep-parser, checkov) cannot read:
typed variables, spread and `extension`, so keeping it green keeps infra/ in the common subset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.infra_check.bicep import INFRA, bicep_files

ROOT = INFRA.parent


def _parser():
    try:
        import tree_sitter
        import tree_sitter_bicep
    except ImportError as error:  # a failure, not a skip: CI must not pass without checking infra/
        pytest.fail(f"{error.name} is missing: `make setup` installs tree-sitter and tree-sitter-bicep "
                    "from requirements-dev.txt")
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def syntax_errors(source: bytes, label: str) -> list[str]:
    """`label:line:col: ERROR|MISSING <text>` for every error node (1-based line and column)."""
    tree = _parser().parse(source)
    problems: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line, column = node.start_point
            kind = f"MISSING {node.type}" if node.is_missing else "ERROR"
            snippet = source[node.start_byte:node.end_byte].decode("utf-8", "replace").splitlines()
            problems.append(f"{label}:{line + 1}:{column + 1}: {kind} {snippet[0][:60] if snippet else ''!r}")
        elif node.has_error:
            stack.extend(reversed(node.children))
    return sorted(problems)


def test_infra_has_bicep_files() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert {"main.bicep", "network.bicep"} <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    errors = syntax_errors(path.read_bytes(), path.relative_to(ROOT).as_posix())
    assert not errors, "Bicep syntax errors:\n" + "\n".join(errors)


def test_the_check_reports_errors_with_positions() -> None:
    """The check itself works: a broken template yields file:line:col."""
    broken = b"param ok string\nresource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n"
    errors = syntax_errors(broken, "broken.bicep")
    assert errors
    assert all(error.startswith("broken.bicep:") for error in errors)
    assert any(error.split(":")[1] in {"2", "3", "4"} for error in errors), errors


def test_the_check_rejects_what_the_other_tools_cannot_read() -> None:
    """Typed variables are newer Bicep that pycep-parser and checkov cannot read: tree-sitter flags them too."""
    assert syntax_errors(b"var names string[] = []\n", "typed.bicep")
