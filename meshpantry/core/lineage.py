"""A recipe's family: what a variation starts from, the book's family trees,
and the recipes born in an outage.

* A variation (``adapted_from``) starts from its parent: the parent's
  ingredient lines and steps, as the neighbourhood has shaped them when the
  variation is written, unless the cook gives their own
  (:func:`variation_start`). The variation's record carries them, so it reads
  the same on every device whatever happens to the parent later.
* The book's lineage (:func:`family_trees`): every recipe under the one it
  was adapted from; a recipe whose parent is not in the book (not synced
  yet) heads its own tree.
* Born in the outage (:func:`born_in_outage`): tagged so (the tag
  :data:`OUTAGE_TAG`), or created while this device knew the neighbourhood
  was cut off (an outage span of its outage clock, :mod:`.outage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .recipes import RecipeView

OUTAGE_TAG = "born in the outage"


def variation_start(
    parent: RecipeView, ingredients: Sequence[dict[str, Any]], steps: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ingredient lines and steps a variation of ``parent`` is written
    with: each of the two the cook gave, else the parent's."""
    if not ingredients:
        ingredients = [
            {k: v for k, v in (("item", line.item), ("amount", line.amount), ("unit", line.unit), ("note", line.note))
             if v is not None}
            for line in parent.ingredients
        ]
    if not steps:
        steps = [step.text for step in parent.steps]
    return list(ingredients), list(steps)


@dataclass
class Family:
    """One recipe of a family tree, and the variations adapted from it."""

    recipe: dict[str, Any]
    variations: list["Family"] = field(default_factory=list)


def family_trees(recipes: Iterable[dict[str, Any]]) -> list[Family]:
    """The book's recipes as trees (recipe dicts as the reading layer writes
    them: ``id``, ``title``, ``adapted_from``), roots and variations in
    title order. Every recipe appears exactly once."""
    by_id = {r["id"]: Family(r) for r in recipes}
    roots: list[Family] = []
    for family in by_id.values():
        parent = (family.recipe.get("adapted_from") or {}).get("id")
        if parent in by_id and parent != family.recipe["id"]:
            by_id[parent].variations.append(family)
        else:
            roots.append(family)

    def order(families: list[Family]) -> list[Family]:
        families.sort(key=lambda f: (f.recipe["title"].casefold(), f.recipe["id"]))
        for f in families:
            order(f.variations)
        return families

    return order(roots)


def born_in_outage(recipe: dict[str, Any], spans: Sequence[tuple[int, int | None]] = ()) -> bool:
    """Tagged as born in the outage, or created within one of ``spans``
    ((began, ended or None while it lasts), ms)."""
    if any(t.casefold() == OUTAGE_TAG for t in recipe.get("tags") or ()):
        return True
    created = recipe.get("created")
    return created is not None and any(
        began <= created and (ended is None or created <= ended) for began, ended in spans)
