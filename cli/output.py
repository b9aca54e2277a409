"""Printing results: human tables by default, JSON with ``--json``.

Whatever is printed for people passes through
:func:`~.terminal_text.terminal_safe` (text from records was written by other
households); JSON escapes control characters itself."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import Callable, Iterable, Sequence

from .terminal_text import terminal_safe


def emit(args: Namespace, value: object, render: Callable[..., str] | None = None) -> None:
    """Print ``value`` as JSON when ``--json`` was given, else through ``render``."""
    if getattr(args, "json", False):
        json.dump(value, sys.stdout, indent=2, sort_keys=True, default=jsonable)
        sys.stdout.write("\n")
        return
    text = render(value) if render else _plain(value)
    if text:
        print(terminal_safe(text, newlines=True))


def jsonable(value: object) -> object:
    """``json.dump``'s ``default``: bytes as hex, sets and tuples as lists."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _plain(value: object) -> str:
    if isinstance(value, dict):
        width = max((len(str(k)) for k in value), default=0)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in value.items())
    return str(value)


def table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    rows = [["" if c is None else terminal_safe(str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def short(hex_id: str | None) -> str:
    return (hex_id or "")[:10]


def note(message: str) -> None:
    """A line for the user on stderr (stdout stays clean for scripts)."""
    print(terminal_safe(message, newlines=True), file=sys.stderr)


def waiting_words(r: dict) -> str | None:
    """What to print for a record saved but not counted yet (its author's
    membership has not reached this device): None for any other answer."""
    if r.get("status") != "waiting":
        return None
    return f"{r.get('kind', 'record')} {short(r.get('id'))} saved; {r.get('note') or 'it counts once this device has synced'}"
