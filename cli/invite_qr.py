"""An invite code as a QR code drawn with text, for a phone to scan off a
terminal (the command line's ``invite create`` and the UI's Invite tab).

The code's text is encoded as it is (byte mode, error correction level L:
the screen is clean and near), so any scanner reads back the very string
``meshpantry join`` takes. Each character cell draws two modules, one above
the other, with the upper-half block and explicit black and white colours:
modules come out square (a cell is about twice as tall as wide) and dark on
light whatever the terminal's own colours, which scanners need.
"""

from __future__ import annotations

import io

import segno
from rich.console import Console
from rich.text import Text

#: Light modules around the code: the standard asks for 4; 2 is what phone
#: scanners need in practice on a terminal, and saves four rows.
QUIET_ZONE = 2
_DARK, _LIGHT = "black", "white"


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of ``text`` as rows of modules (True = dark), quiet zone included."""
    code = segno.make(text, error="l", micro=False)
    return [[bool(module) for module in row] for row in code.matrix_iter(scale=1, border=QUIET_ZONE)]


def qr_text(text: str) -> Text:
    """The QR code of ``text`` as Rich text: one line per two module rows."""
    rows = qr_matrix(text)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    out = Text(no_wrap=True, overflow="crop")
    for top, bottom in zip(rows[::2], rows[1::2]):
        for upper, lower in zip(top, bottom):
            out.append("▀", style=f"{_DARK if upper else _LIGHT} on {_DARK if lower else _LIGHT}")
        out.append("\n")
    out.rstrip()
    return out


def qr_ansi(text: str) -> str:
    """The QR code of ``text`` for a terminal, with ANSI colours."""
    buffer = io.StringIO()
    width = len(qr_matrix(text)[0])
    Console(file=buffer, force_terminal=True, color_system="standard", width=width + 1,
            legacy_windows=False).print(qr_text(text))
    return buffer.getvalue()
