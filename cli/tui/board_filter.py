"""What the reader asked the board to show.

The node does the filtering (``offer_page``: ``search`` found in item, note or
area; carrying ``tag``; listing none of the ``free_of`` allergens; all
case-insensitive) and sends only the first rows the board draws, so a board of
ten thousand offers opens and narrows as fast as a board of ten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from meshpantry.control.frames import Wire


@dataclass(frozen=True)
class BoardFilter:
    """Empty fields filter nothing."""

    text: str = ""
    tag: str = ""
    allergen_free: tuple[str, ...] = field(default_factory=tuple)
    area: str = ""  #: only offers in this area (the household's own, toggled with ``a``)

    @property
    def empty(self) -> bool:
        return not (self.text.strip() or self.tag.strip() or self.allergen_free or self.area.strip())

    def args(self) -> dict[str, Wire]:
        """The filter as ``offer_page`` arguments (empty fields left out)."""
        args: dict[str, Wire] = {}
        if self.text.strip():
            args["search"] = self.text.strip()
        if self.tag.strip():
            args["tag"] = self.tag.strip()
        if self.allergen_free:
            args["free_of"] = list(self.allergen_free)
        if self.area.strip():
            args["area"] = self.area.strip()
        return args

    def describe(self) -> str:
        parts = []
        if self.text.strip():
            parts.append(f"“{self.text.strip()}”")
        if self.tag.strip():
            parts.append(f"tag {self.tag.strip()}")
        if self.allergen_free:
            parts.append("free of " + ", ".join(self.allergen_free))
        if self.area.strip():
            parts.append(f"in {self.area.strip()}")
        return "; ".join(parts) or "all offers"
