"""Whole numbers as people type them on the command line, bounded.

Python reads ``99999999999999999999999`` as an integer like any other; a
record field or a control request cannot carry one past 2^63 - 1, and a
quantity is at most ``MAX_QUANTITY``. Each numeric argument is read by
:func:`whole_number`, so a number out of range is a usage error (exit 2) that
names the range, before anything is sent to the node or signed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from protocol.limits import MAX_COUNTER, MAX_QUANTITY


def whole_number(low: int = -MAX_COUNTER - 1, high: int = MAX_COUNTER, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse ``type`` reading an integer in ``low..high`` (by default
    any 64-bit integer: what the command means by it is checked later, with
    that check's own message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} is {low} to {high}, not {text}")
        return value

    return parse


def quantity(text: str) -> int:
    """A quantity in the stated unit: a whole number in 1..MAX_QUANTITY."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (use a smaller unit: 1.5 kg is 1500 g)") from None
    if value < 1:
        raise argparse.ArgumentTypeError("quantities are at least 1")
    if value > MAX_QUANTITY:
        raise argparse.ArgumentTypeError(f"quantities are at most {MAX_QUANTITY} (use a larger unit)")
    return value
