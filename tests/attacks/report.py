"""The attack suite's closing table: each attack, what the node did, and the
numbers measured (probe delay, RSS before and at most, records held).

``python -m tests.attacks.report`` runs the suite and prints the table (the
same table ends every pytest run that ran an attack: each outcome is a JSON
line in the file :data:`ENV` names, set once per run by ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

#: The environment variable naming this run's report file.
ENV = "MESHPANTRY_ATTACKS_REPORT"


def save(outcome) -> None:
    """Append ``outcome`` to this run's report file (if the run has one)."""
    path = os.environ.get(ENV)
    if not path:
        return
    row = {k: v for k, v in vars(outcome).items() if k != "numbers"}
    row["numbers"] = {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                      for k, v in outcome.numbers.items() if not callable(v)}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def load(path: str | Path) -> list:
    """The outcomes saved in ``path``, in test order."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows = [SimpleNamespace(**json.loads(line)) for line in lines if line.strip()]
    return sorted(rows, key=lambda r: r.test)


def table(results) -> str:
    rows = [("family", "attack", "result", "what the node did", "logged", "numbers")]
    for outcome in results:
        rows.append((outcome.family, outcome.attack, outcome.status, outcome.did, outcome.logged,
                     ", ".join(f"{k}={v}" for k, v in outcome.numbers.items())))
    widths = [min(max(len(str(r[i])) for r in rows), cap) for i, cap in enumerate((10, 38, 18, 48, 100, 200))]
    lines = []
    for row in rows:
        lines.append("  ".join(str(cell)[:w].ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def main() -> int:
    import pytest

    return pytest.main(["tests/attacks", "-q", "-p", "no:randomly", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
