"""The allergens an offer may name: the fourteen that food labels across Europe
must declare, under the words households use for them.

A free-text allergen list lets "none" or a typo ("nutz") pass as an allergen,
and a neighbour filtering with ``--free-of nuts`` then misses the offer. So an
offer names allergens from this list only; an empty list means none.
"""

from __future__ import annotations

#: Each allergen's name on the wire, and the other words that mean it.
ALLERGENS: dict[str, tuple[str, ...]] = {
    "celery": ("celeriac",),
    "gluten": ("wheat", "rye", "barley", "oats", "spelt", "cereals"),
    "crustaceans": ("shellfish", "shrimp", "prawns", "crab", "lobster"),
    "eggs": ("egg",),
    "fish": (),
    "lupin": ("lupine",),
    "milk": ("dairy", "lactose"),
    "molluscs": ("mussels", "oysters", "squid", "clams"),
    "mustard": (),
    "nuts": ("tree nuts", "nut", "almonds", "hazelnuts", "walnuts", "cashews", "pecans", "pistachios"),
    "peanuts": ("peanut", "groundnuts"),
    "sesame": ("sesame seeds",),
    "soya": ("soy", "soybeans"),
    "sulphites": ("sulfites", "sulphur dioxide", "sulfur dioxide"),
}

_NAMES = {word: name for name, words in ALLERGENS.items() for word in (name, *words)}

#: Words that mean "no allergens": said by leaving the allergen out.
_NONE = frozenset({"none", "no", "n/a", "na", "nil", "nothing", "-"})


class UnknownAllergen(ValueError):
    """A word that names none of :data:`ALLERGENS`; the message says what to do."""


def allergen(word: str) -> str:
    """The allergen ``word`` names (case and spaces ignored). Raises
    :class:`UnknownAllergen`."""
    key = " ".join(word.lower().split())
    if key in _NONE:
        raise UnknownAllergen(f"'{word}' is not an allergen: leave the allergen out when the food has none")
    try:
        return _NAMES[key]
    except KeyError:
        raise UnknownAllergen(
            f"'{word}' is not one of the allergens labels declare: {', '.join(ALLERGENS)}"
        ) from None
