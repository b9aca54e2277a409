"""Cookable now: the recipe book against what is to hand.

What is to hand is the household's own pantry list (kept on the device,
never gossiped: :mod:`meshpantry.pantry.larder`) and the live offers of the
board. For each recipe, each ingredient line is matched in this order:

1. the pantry list: the household has it;
2. a live offer with something left: a neighbour has it (the offer is named,
   so it can be claimed);
3. a substitute the recipe records for the line (its note, ``or margarine``,
   ``or oil, or lard``), looked up the same way;
4. otherwise the line is **missing**.

A recipe with nothing missing can be cooked now. Recipes are ordered: ready
first, then by fewest missing lines, then those needing fewest offers, then
by title. Amounts are not compared (units differ from kitchen to kitchen:
a cup of flour against a 1 kg bag); the offer's remaining quantity is shown
beside the line for the cook to judge.

Items match by words, case and plural aside: ``flour`` matches ``plain
flour`` and ``Tomatoes`` matches ``tomato``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_OR = re.compile(r"^\s*(?:or|instead:?|swap(?: for)?:?)\s+", re.IGNORECASE)


def words(item: str) -> frozenset[str]:
    """The item's words, casefolded, a plural ``s``/``es`` dropped."""
    out = set()
    for word in _WORD.findall(item.casefold()):
        if len(word) > 4 and word.endswith("oes"):
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return frozenset(out)


def same_food(wanted: str, have: str) -> bool:
    """``wanted`` and ``have`` name the same food: the words of one are all
    among the other's (``flour`` / ``plain flour``)."""
    a, b = words(wanted), words(have)
    return bool(a and b) and (a <= b or b <= a)


def substitutes(note: str | None) -> list[str]:
    """The substitutes an ingredient line's note records: ``or margarine``,
    ``or oil, or lard``, ``instead: oat milk``. Other notes record none."""
    if not note or not _OR.match(note):
        return []
    parts = re.split(r",|;|\bor\b", _OR.sub("", note, count=1), flags=re.IGNORECASE)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class Offered:
    """A live offer, as the board shows it."""

    id: str
    item: str
    remaining: int
    unit: str
    household_name: str
    mine: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """One ingredient line and where it can come from."""

    item: str
    amount: str | None
    unit: str | None
    source: str  #: "pantry", "offer" or "missing"
    use: str | None = None  #: the substitute used, when the line's own item is not to hand
    offer: Offered | None = None  #: the offer it can come from (source "offer")


@dataclass(frozen=True, slots=True)
class Cookable:
    recipe: str  #: recipe id
    title: str
    lines: tuple[Line, ...]

    @property
    def missing(self) -> list[str]:
        return [line.item for line in self.lines if line.source == "missing"]

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def substitutions(self) -> list[tuple[str, str]]:
        return [(line.item, line.use) for line in self.lines if line.use is not None]

    @property
    def offers_needed(self) -> int:
        return sum(1 for line in self.lines if line.source == "offer")


def _find(item: str, pantry: Sequence[str], offers: Sequence[Offered]) -> tuple[str, Offered | None] | None:
    if any(same_food(item, have) for have in pantry):
        return "pantry", None
    found = [o for o in offers if o.remaining > 0 and same_food(item, o.item)]
    if found:
        found.sort(key=lambda o: (not o.mine, -o.remaining, o.id))  # own first: no claim needed
        return "offer", found[0]
    return None


def match_recipe(recipe: Mapping, pantry: Sequence[str], offers: Sequence[Offered]) -> Cookable:
    """``recipe`` as the reading layer writes it (``id``, ``title``,
    ``ingredients`` with ``item``, ``amount``, ``unit``, ``note``)."""
    lines = []
    for ingredient in recipe.get("ingredients") or ():
        item = ingredient["item"]
        amount, unit = ingredient.get("amount"), ingredient.get("unit")
        found = _find(item, pantry, offers)
        use = None
        if found is None:
            for substitute in substitutes(ingredient.get("note")):
                found = _find(substitute, pantry, offers)
                if found is not None:
                    use = substitute
                    break
        if found is None:
            lines.append(Line(item, amount, unit, "missing"))
        else:
            lines.append(Line(item, amount, unit, found[0], use, found[1]))
    return Cookable(recipe["id"], recipe["title"], tuple(lines))


def cookable(recipes: Iterable[Mapping], pantry: Sequence[str], offers: Sequence[Offered]) -> list[Cookable]:
    """Every recipe with ingredients, matched and ordered (see the module's rules)."""
    matched = [match_recipe(r, pantry, offers) for r in recipes if r.get("ingredients")]
    matched.sort(key=lambda c: (not c.ready, len(c.missing), c.offers_needed, c.title.casefold(), c.recipe))
    return matched
