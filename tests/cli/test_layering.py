"""The node and everything under meshpantry/ stand on their own: the command
line and the terminal UI (``cli``) use them, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

import meshpantry


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_under_meshpantry_imports_cli():
    offenders = {}
    for path in sorted(Path(meshpantry.__file__).parent.rglob("*.py")):
        bad = sorted(n for n in imports_of(path) if n == "cli" or n.startswith("cli."))
        if bad:
            offenders[str(path)] = bad
    assert offenders == {}
