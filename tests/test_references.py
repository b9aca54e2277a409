"""What the code's docstrings and comments point at exists in the repository.

Three kinds of pointer are checked, in every docstring and comment of the
project's Python files (and file paths in its Markdown documents too):

* a repository path (``tests/core/test_purity.py``, ``protocol/SYNC.md``);
* a Markdown file named alone (``LIBP2P.md``): some file of that name;
* a dotted name in the project's packages (``meshpantry.core.admission.Membership``,
  ``:mod:`.memory_store``` inside ``simulations/sim``): it imports and resolves.

A reference to a file outside the repository is a dangling reference too:
readers of the code cannot open it.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]

#: Directories holding the project's code.
CODE_DIRS = ("meshpantry", "protocol", "simulations", "cli", "tests")

#: Top-level packages whose dotted names are resolved by importing them.
PACKAGES = ("meshpantry", "protocol", "simulations")

REPO_PATH = re.compile(
    r"(?<![\w/.])((?:tests|meshpantry|protocol|simulations|cli|docs|contrib)/[\w/.-]+\.(?:py|md|toml|json))"
)
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")
DOTTED = re.compile(r"(?<![\w.])((?:" + "|".join(PACKAGES) + r")(?:\.\w+)+)")
RELATIVE_MOD = re.compile(r":mod:`~?(\.\w[\w.]*)`")


def _python_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def _markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md") if not {".venv", ".git", "node_modules"} & set(p.parts))


def _prose(path: Path) -> Iterator[str]:
    """Every docstring and comment of a Python file."""
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def _resolves(name: str) -> bool:
    """Whether ``name`` is a module, or an attribute chain inside one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            target = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not (module_name + ".").startswith(error.name + "."):
                raise  # the module exists but imports something missing: a real failure
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def test_every_repository_path_and_markdown_file_named_exists():
    markdown_names = {p.name for p in _markdown_files()}
    missing = []
    for path in _python_files():
        for text in _prose(path):
            missing += [(path, ref) for ref in REPO_PATH.findall(text) if not (ROOT / ref).exists()]
            missing += [(path, ref) for ref in MARKDOWN_NAME.findall(text) if ref not in markdown_names]
    for path in _markdown_files():
        text = path.read_text()
        missing += [(path, ref) for ref in REPO_PATH.findall(text) if not (ROOT / ref).exists()]
    assert not missing, "\n".join(f"{p.relative_to(ROOT)}: {ref}" for p, ref in missing)


def test_every_dotted_module_reference_resolves():
    dangling = []
    for path in _python_files():
        package = _package_of(path)
        for text in _prose(path):
            names = [n.rstrip(".") for n in DOTTED.findall(text)]
            if package.split(".")[0] in PACKAGES:
                names += [package + rel.rstrip(".") for rel in RELATIVE_MOD.findall(text)
                          if not rel.startswith("..")]
            dangling += [(path, name) for name in names if not _resolves(name)]
    assert not dangling, "\n".join(f"{p.relative_to(ROOT)}: {name}" for p, name in dangling)


def test_the_checks_find_a_dangling_reference():
    """The scanner itself: names that do not exist are reported."""
    assert not _resolves("meshpantry.node.no_such_module")
    assert not _resolves("meshpantry.core.membership.NO_SUCH_NAME")
    assert _resolves("meshpantry.core.admission.Membership.admits")
    assert REPO_PATH.findall("see ``tests/test_purity.py``") == ["tests/test_purity.py"]
    assert MARKDOWN_NAME.findall("(see NOTES-ELSEWHERE.md)") == ["NOTES-ELSEWHERE.md"]
