"""Checking the new-meal form as the user types (inline validation).

:func:`check_meal` turns the form's raw text into the arguments of the node's
``meal_add`` plus a message per wrong field. Times read like the command
line's (:func:`cli.when.parse_when`), need lines like its ``--need``
(:func:`cli.commands_swaps.parse_need`). It never raises.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Callable, TypeVar

from cli.commands_swaps import parse_need
from cli.when import BadTime, parse_when
from protocol import limits

from .offer_rules import OfferCheck as FormCheck

#: The record schema's own bounds: the form says so before the node refuses.
MAX_LABEL_BYTES = limits.MAX_LABEL_BYTES
MAX_NOTE_BYTES = limits.MAX_TEXT_BYTES
MAX_QUANTITY = limits.MAX_QUANTITY
MAX_NEEDS = limits.MAX_LIST_ITEMS

FIELDS = ("dish", "time", "place", "needs", "note")

#: What one line of a list field parses to.
Line = TypeVar("Line")


def lines_of(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``text`` as (1-based line number, stripped line)."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def parsed_lines(
    text: str,
    parse: Callable[[str], Line],
    error_of: Callable[[int, Line], str | None],
    example: str,
) -> tuple[list[Line], str | None]:
    """Parse every non-blank line of ``text`` with ``parse`` (which raises
    ``argparse.ArgumentTypeError`` on a bad line) and check it with
    ``error_of(number, parsed)``. Returns the parsed lines up to the first
    bad one and that line's message (``example`` says what a line looks
    like), or all of them and None."""
    parsed: list[Line] = []
    for number, line in lines_of(text):
        try:
            value = parse(line)
        except argparse.ArgumentTypeError:
            return parsed, f"line {number}: {example}"
        error = error_of(number, value)
        if error:
            return parsed, error
        parsed.append(value)
    return parsed, None


def label_error(text: str, missing: str) -> str | None:
    """What is wrong with a required short label, or None."""
    if not text:
        return missing
    if len(text.encode()) > MAX_LABEL_BYTES:
        return f"at most {MAX_LABEL_BYTES} bytes"
    return None


def need_error(number: int, need: dict) -> str | None:
    """What is wrong with one parsed need line, or None."""
    if need["quantity"] < 1:
        return f"line {number}: a quantity of at least 1"
    if need["quantity"] > MAX_QUANTITY:
        return f"line {number}: at most {MAX_QUANTITY}"
    if len(need["item"].encode()) > MAX_LABEL_BYTES or len(need["unit"].encode()) > MAX_LABEL_BYTES:
        return f"line {number}: item and unit at most {MAX_LABEL_BYTES} bytes each"
    return None


def check_meal(raw: dict[str, str], now_ms: int) -> FormCheck:
    """Check the form's text (names in :data:`FIELDS`; ``needs`` one
    ``QUANTITY UNIT ITEM`` a line) at clock ``now_ms``. Returns args and errors."""
    result = FormCheck()
    text = {name: (raw.get(name) or "") for name in FIELDS}
    for name, missing in (("dish", "what will you cook?"), ("place", "where do you eat?")):
        value = text[name].strip()
        error = label_error(value, missing)
        if error:
            result.errors[name] = error
        result.args[name] = value
    when = text["time"].strip()
    if not when:
        result.errors["time"] = "when? e.g. tomorrow 18:00"
    else:
        now = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).astimezone()
        try:
            result.args["time"] = parse_when(when, now)
        except BadTime:
            result.errors["time"] = "e.g. tomorrow 18:00, 2026-12-01 19:30, +2h"
        else:
            if result.args["time"] < now_ms:
                result.errors["time"] = "that is already past"
    needs, error = parsed_lines(text["needs"], parse_need, need_error, "QUANTITY UNIT ITEM, e.g. 500 g rice")
    if error:
        result.errors["needs"] = error
    elif len(needs) > MAX_NEEDS:
        result.errors["needs"] = f"at most {MAX_NEEDS} lines"
    result.args["needs"] = needs
    note = text["note"].strip()
    if note:
        if len(note.encode()) > MAX_NOTE_BYTES:
            result.errors["note"] = f"at most {MAX_NOTE_BYTES} bytes"
        result.args["note"] = note
    return result
