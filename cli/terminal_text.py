"""Text other households wrote, made safe to show in a terminal.

Every text field of a record (an item name, a note, a story, a household's
name) was typed by someone else, on some other device, and reaches this
terminal as it was signed. Printed raw, an escape sequence in an item name
would recolour, clear or retitle the reader's terminal, move the cursor over
other rows, or (through bidirectional overrides) show text in an order other
than the one stored. :func:`terminal_safe` is the one function every text from
a record passes through before the command line or the terminal UI shows it:

* C0 and C1 control characters (ESC, BEL, backspace, carriage return, DEL,
  ...) and the Unicode controls that reorder or break lines (bidirectional
  embeddings, overrides and isolates, line and paragraph separators) are
  shown as visible escapes (``\\x1b``, ``\\u202e``): nothing is hidden and
  nothing acts on the terminal;
* a line break is kept only where the caller shows multi-line text
  (``newlines=True``); in a table cell it is an escape too, so a name cannot
  fake rows of its own.

Textual markup is not interpreted either: the terminal UI shows record text as
:class:`rich.text.Text`, never as a markup string, so ``[bold]`` in a name is
the seven characters it is.
"""

from __future__ import annotations

import re
from typing import TypeVar

#: C0 controls, DEL and C1 controls; the Arabic letter mark, LRM/RLM, line and
#: paragraph separators, bidirectional embeddings and overrides (LRE, RLE,
#: PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")

T = TypeVar("T")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, *, newlines: bool = False) -> str:
    """``text`` with every character that would act on a terminal shown as a
    visible escape; line breaks kept when ``newlines``."""
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def terminal_safe_tree(value: T, *, newlines: bool = True) -> T:
    """``value`` (an answer of the node: maps, lists, text, numbers) with
    :func:`terminal_safe` applied to every text in it, keys included."""
    if isinstance(value, str):
        return terminal_safe(value, newlines=newlines)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {  # type: ignore[return-value]
            terminal_safe_tree(k, newlines=newlines): terminal_safe_tree(v, newlines=newlines)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(terminal_safe_tree(v, newlines=newlines) for v in value)  # type: ignore[return-value]
    return value
