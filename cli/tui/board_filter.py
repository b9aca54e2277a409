"""Filtering the board in the UI, without a round trip to the node.

The board holds every open offer the node listed (already sorted); typing in
the filter narrows that list here, with the same rules as the node's
``offer_list``: ``text`` found in item, note or area; carrying ``tag``; listing
none of the ``allergen_free`` allergens; all case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class BoardFilter:
    """What the reader asked to see. Empty fields filter nothing."""

    text: str = ""
    tag: str = ""
    allergen_free: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.text.strip() or self.tag.strip() or self.allergen_free)

    def describe(self) -> str:
        parts = []
        if self.text.strip():
            parts.append(f"“{self.text.strip()}”")
        if self.tag.strip():
            parts.append(f"tag {self.tag.strip()}")
        if self.allergen_free:
            parts.append("free of " + ", ".join(self.allergen_free))
        return "; ".join(parts) or "all offers"


def apply_filter(offers: Iterable[dict], wanted: BoardFilter) -> list[dict]:
    """The offers (board dicts) that pass ``wanted``, in their given order."""
    if wanted.empty:
        return list(offers)
    needle = wanted.text.strip().casefold()
    tag = wanted.tag.strip().casefold()
    avoid = {a.casefold() for a in wanted.allergen_free}
    kept = []
    for offer in offers:
        if needle and not any(
            needle in (offer.get(name) or "").casefold() for name in ("item", "note", "area")
        ):
            continue
        if tag and tag not in {t.casefold() for t in offer.get("tags") or ()}:
            continue
        if avoid and avoid & {a.casefold() for a in offer.get("allergens") or ()}:
            continue
        kept.append(offer)
    return kept
