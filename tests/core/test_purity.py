"""The pure core performs no IO: nothing under protocol/ or meshpantry/core/
imports a clock, randomness, sockets, files or an event loop."""

from __future__ import annotations

import ast
from pathlib import Path

import meshpantry.core
import protocol

#: Modules whose use would bring IO, wall time or randomness into the core.
FORBIDDEN = {"trio", "libp2p", "sqlite3", "time", "random", "os", "socket", "asyncio", "threading"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_and_protocol_import_no_io():
    offenders = {}
    for package in (meshpantry.core, protocol):
        for path in sorted(Path(package.__file__).parent.rglob("*.py")):
            bad = imported_roots(path) & FORBIDDEN
            if bad and path.name != "make_vectors.py":  # the vector script writes files by design
                offenders[str(path)] = sorted(bad)
    assert offenders == {}
