"""Listings a page at a time: ``--limit N``, ``--after CURSOR``, ``--all-pages``.

One page by default (the first :data:`~meshpantry.pantry.paging.DEFAULT_PAGE`
rows); the cursor of the next page goes to stderr for people and into the
``next`` field of ``--json`` output for scripts. ``--all-pages`` asks the node
page by page and prints each page as it comes: rows stream out while the node
never builds one answer too large for the control socket.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Iterator

from meshpantry.pantry.paging import DEFAULT_PAGE, MAX_PAGE

from .output import jsonable, note
from .terminal_text import terminal_safe

Page = dict[str, object]
#: Asks for the page after a cursor (None: the first page).
Fetch = Callable[[str | None], Page]


def page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"a page holds 1 to {MAX_PAGE} rows")
    return value


def add_paging(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--limit", type=page_size, default=DEFAULT_PAGE,
                   help=f"{what} per page (default {DEFAULT_PAGE}, at most {MAX_PAGE})")
    p.add_argument("--after", metavar="CURSOR", help="continue after this cursor (the 'next' of the page before)")
    p.add_argument("--all-pages", action="store_true", help="every page, one after another (for scripts)")


def pages(fetch: Fetch, after: str | None) -> Iterator[Page]:
    """The page after ``after``, then each following page until the last."""
    while True:
        page = fetch(after)
        yield page
        after = page.get("next")  # type: ignore[assignment]
        if after is None:
            return


def emit_paged(args: argparse.Namespace, fetch: Fetch, rows_key: str,
               render: Callable[[list[dict]], str], empty: str, command: str) -> None:
    """Print one page (or every page with ``--all-pages``) of a listing whose
    pages hold their rows under ``rows_key``."""
    if not args.all_pages:
        page = fetch(args.after)
        rows = page[rows_key]
        assert isinstance(rows, list)
        if args.json:
            _dump(page)
        else:
            print(terminal_safe(render(rows), newlines=True) if rows else empty)
        if page.get("next") and not args.json:
            note(f"more: {command} --after {page['next']} (or --all-pages)")
        return
    if args.json:
        # One JSON document, written a page at a time.
        sys.stdout.write(f'{{"{rows_key}": [')
        first = True
        for page in pages(fetch, args.after):
            for row in page[rows_key]:  # type: ignore[union-attr]
                sys.stdout.write(("\n  " if first else ",\n  ") + json.dumps(row, sort_keys=True, default=jsonable))
                first = False
        sys.stdout.write('\n], "next": null}\n')
        return
    shown = 0
    for page in pages(fetch, args.after):
        rows = page[rows_key]
        assert isinstance(rows, list)
        if rows:
            print(terminal_safe(render(rows), newlines=True))
            shown += len(rows)
    if not shown:
        print(empty)


def _dump(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=jsonable)
    sys.stdout.write("\n")
