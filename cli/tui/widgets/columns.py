"""Table columns that fit the terminal: at 80 columns nothing that matters is
cut to a stub ("Elm St sou", "The Nguyen"), and at 120 the room goes to the
columns that use it.

A table names its columns as :class:`Col` (key, label, the width it never
goes below, and its share of any room left); :func:`fit` gives each column's
width for a table of a given width, and :func:`add_columns` /
:func:`refit` set them on a Textual ``DataTable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from textual.widgets import DataTable

#: Cells a column takes beyond its width (DataTable's padding on both sides).
PADDING = 2
#: Kept free at the table's right for its vertical scrollbar.
SCROLLBAR = 2


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    minimum: int  #: never narrower (the label or the usual value fits)
    share: int = 0  #: parts of the room left over this column takes


def fit(columns: Sequence[Col], width: int) -> list[int]:
    """Each column's width in a table ``width`` cells wide: its minimum, plus
    the room left shared out by ``share`` (whole cells, the remainder to the
    first columns that share)."""
    room = width - SCROLLBAR - PADDING * len(columns) - sum(c.minimum for c in columns)
    shares = sum(c.share for c in columns)
    widths = [c.minimum for c in columns]
    if room <= 0 or shares == 0:
        return widths
    given = 0
    for i, column in enumerate(columns):
        extra = room * column.share // shares
        widths[i] += extra
        given += extra
    for i, column in enumerate(columns):
        if given >= room:
            break
        if column.share:
            widths[i] += 1
            given += 1
    return widths


def add_columns(table: DataTable, columns: Sequence[Col], width: int) -> None:
    for column, size in zip(columns, fit(columns, width)):
        table.add_column(column.label, key=column.key, width=size)


def refit(table: DataTable, columns: Sequence[Col], width: int, rows: Sequence[tuple[str, tuple]]) -> bool:
    """Give ``table`` the widths for ``width`` when they differ from its own,
    drawing ``rows`` (key, cells) again with the cursor kept; True if it did."""
    wanted = fit(columns, width)
    if [c.width for c in table.columns.values()] == wanted:
        return False
    from .pane import keep_cursor, selected_key

    key = selected_key(table)
    table.clear(columns=True)
    add_columns(table, columns, width)
    for row_key, cells in rows:
        table.add_row(*cells, key=row_key)
    keep_cursor(table, key)
    return True
