"""The sync core and its wire codec do no IO: no clock, randomness or sockets."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"trio", "libp2p", "sqlite3", "time", "random", "os", "socket", "asyncio", "threading"}
MODULES = sorted((ROOT / "meshpantry" / "core" / "sync").glob("*.py")) + [ROOT / "protocol" / "sync.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_pure_module_imports_nothing_that_does_io(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
