"""Checking the offer form as the user types (inline validation).

:func:`check_offer` turns the form's raw text into the arguments of the node's
``offer_add`` plus a message per field that is wrong. It never raises: the
form shows the messages beside the fields and keeps what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from cli.when import BadTime, parse_when
from protocol import limits

from .answers import Args
from .show import split_labels

#: The record schema's own bounds: the form says so before the node refuses.
MAX_LABEL_BYTES = limits.MAX_LABEL_BYTES
MAX_NOTE_BYTES = limits.MAX_TEXT_BYTES
MAX_QUANTITY = limits.MAX_QUANTITY

FIELDS = ("item", "quantity", "unit", "best_before", "pickup_from", "pickup_until", "area", "tags", "allergens", "note")


@dataclass
class OfferCheck:
    """``args`` for ``offer_add`` when ``errors`` is empty."""

    args: Args = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_offer(raw: dict[str, str], now_ms: int) -> OfferCheck:
    """Check the form's text fields (names in :data:`FIELDS`) at clock ``now_ms``."""
    result = OfferCheck()
    text = {name: (raw.get(name) or "").strip() for name in FIELDS}
    if not text["item"]:
        result.errors["item"] = "what are you offering?"
    elif len(text["item"].encode()) > MAX_LABEL_BYTES:
        result.errors["item"] = f"at most {MAX_LABEL_BYTES} bytes"
    result.args["item"] = text["item"]
    if not text["quantity"]:
        result.errors["quantity"] = "how many (a whole number)?"
    elif not text["quantity"].isdigit() or int(text["quantity"]) < 1:
        result.errors["quantity"] = "a whole number of at least 1"
    elif int(text["quantity"]) > MAX_QUANTITY:
        result.errors["quantity"] = f"at most {MAX_QUANTITY}"
    else:
        result.args["quantity"] = int(text["quantity"])
    if not text["unit"]:
        result.errors["unit"] = "a unit: kg, jar, loaf, portion…"
    elif len(text["unit"].encode()) > MAX_LABEL_BYTES:
        result.errors["unit"] = f"at most {MAX_LABEL_BYTES} bytes"
    result.args["unit"] = text["unit"]
    now = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).astimezone()
    for name in ("best_before", "pickup_from", "pickup_until"):
        if not text[name]:
            continue
        try:
            result.args[name] = parse_when(text[name], now)
        except BadTime:
            result.errors[name] = "e.g. +2d, tomorrow 18:00, 2026-12-01"
    if "best_before" in result.args and result.args["best_before"] < now_ms:
        result.errors["best_before"] = "that is already past"
    if "pickup_until" in result.args:
        if result.args["pickup_until"] < now_ms:
            result.errors["pickup_until"] = "that is already past"
        elif result.args["pickup_until"] < result.args.get("pickup_from", 0):
            result.errors["pickup_until"] = "ends before pickup starts"
    if text["area"]:
        result.args["area"] = text["area"]
    if text["tags"]:
        result.args["tags"] = split_labels(text["tags"])
    if text["allergens"]:
        result.args["allergens"] = split_labels(text["allergens"])
    if text["note"]:
        if len(text["note"].encode()) > MAX_NOTE_BYTES:
            result.errors["note"] = f"at most {MAX_NOTE_BYTES} bytes"
        result.args["note"] = text["note"]
    return result
