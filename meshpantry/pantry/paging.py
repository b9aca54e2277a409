"""Pages of a listing, and the cursors that continue it.

A listing (the board, the claims, the meals, the recipe book) is sorted by a
key that ends in the record id, so no two rows share a key. A page is the
first ``limit`` rows whose key is greater than the cursor's; the cursor of
the next page is the key of the last row shown. So:

* the order is total (ties on expiry, time or title fall back to the id), and
  paging through never shows a row twice or skips one that stayed in place;
* rows that arrive while a reader pages land where their key puts them: after
  the cursor they are shown on a later page, before it they wait for the next
  reading from the top. A page request never starts over or shifts.

Cursors are opaque text for the user (``--after CURSOR``): URL-safe base64 of
a small JSON array ``[listing, key...]``. A cursor names its listing and
order, so one from another listing or sort is refused, not misread.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from .errors import InvalidInput

Row = TypeVar("Row")
#: One row's sort key: numbers and text, ending in the row's id (hex).
Key = tuple[int | str, ...]

#: Rows per page when the reader names no limit: a screenful and a half.
DEFAULT_PAGE = 50
#: The most rows one page may ask for. A board row is ~600 bytes, so this
#: keeps a page near 3 MB, far under the control socket's frame limit.
MAX_PAGE = 5000
#: Longer text than any cursor this module writes (titles are bounded by
#: the record limits); refuses junk before decoding it.
MAX_CURSOR_CHARS = 2048


@dataclass(frozen=True)
class Page(Generic[Row]):
    """``rows`` in order; ``next`` continues after them (None: nothing more)."""

    rows: list[Row]
    next: str | None


def check_limit(limit: object) -> int:
    """``limit`` as a page size. Raises :class:`InvalidInput` unless it is a
    whole number from 1 to :data:`MAX_PAGE`."""
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return limit


def encode_cursor(listing: str, key: Key) -> str:
    text = json.dumps([listing, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(listing: str, cursor: str) -> Key:
    """The key a cursor of ``listing`` holds. Raises :class:`InvalidInput`
    for text that is not such a cursor."""
    bad = InvalidInput("after", "not a cursor of this listing; use the 'next' value a page returned")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if (not isinstance(value, list) or len(value) < 2 or value[0] != listing
            or not all(type(part) in (int, str) for part in value[1:])):
        raise bad
    return tuple(value[1:])


def page(rows: Sequence[Row], key: Callable[[Row], Key], listing: str, limit: int, after: str | None) -> Page[Row]:
    """The page of ``rows`` (sorted by ``key``, ascending, keys unique) that
    follows the cursor ``after`` (from the start when None), at most ``limit``
    rows. ``listing`` names the listing and its order in the cursors."""
    limit = check_limit(limit)
    start = 0
    if after is not None:
        mark = decode_cursor(listing, after)
        try:
            start = _first_after(rows, key, mark)
        except TypeError:  # a key of another shape: a cursor of another order
            raise InvalidInput("after", "not a cursor of this listing; use the 'next' value a page returned") from None
    shown = list(rows[start:start + limit])
    more = start + limit < len(rows)
    return Page(shown, encode_cursor(listing, key(shown[-1])) if more and shown else None)


def _first_after(rows: Sequence[Row], key: Callable[[Row], Key], mark: Key) -> int:
    """Index of the first row whose key is greater than ``mark`` (binary search)."""
    low, high = 0, len(rows)
    while low < high:
        middle = (low + high) // 2
        if key(rows[middle]) <= mark:
            low = middle + 1
        else:
            high = middle
    return low
