"""The attack suite's closing table: each attack, what the node did, and the
numbers measured (probe delay, RSS before and at most, records held).

``python -m tests.attacks.report`` runs the suite and prints the table (the
same table ends every pytest run that collected an attack).
"""

from __future__ import annotations

import sys


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
