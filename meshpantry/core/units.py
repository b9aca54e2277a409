"""Units of quantity: which units convert into which, and by how much.

A meal needs "2000 g potatoes" and a household pledges "1 kg potatoes"; both
mean the same amount, and the pledge must cover the need. A pledge of
"2 items" towards potatoes in grams cannot: there is no telling how much
two potatoes weigh. This module is the table that says so.

Rules:

* A unit is read after trimming and case folding (so ``KG`` is ``kg``);
  :data:`UNITS` names each known spelling, with its **dimension** (mass,
  volume, count) and its size in the dimension's base unit (g, ml, item) as
  an exact fraction.
* Two units are **compatible** when both are known and of one dimension, or
  both are unknown and spelled alike. Compatible quantities convert exactly
  (:class:`fractions.Fraction`); converting between incompatible units
  raises :class:`IncompatibleUnits`.
* Units whose size depends on the country or the cook are left out and
  only ever match themselves: a pinch, a handful, a US against an imperial
  pint or fluid ounce.

The table is part of the view rules (SPEC 7.7.7), the same on every node,
which is why it is a table here and not a units library whose definitions
could change between versions and make two nodes disagree on a meal.
"""

from __future__ import annotations

from fractions import Fraction

#: Dimension -> the unit its sizes are given in.
BASE = {"mass": "g", "volume": "ml", "count": "item"}

_MASS = {
    ("mg", "milligram", "milligrams", "milligramme", "milligrammes"): Fraction(1, 1000),
    ("g", "gram", "grams", "gramme", "grammes", "gr"): Fraction(1),
    ("kg", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes", "kgs"): Fraction(1000),
    #: The international avoirdupois ounce and pound (exact, by definition).
    ("oz", "ounce", "ounces"): Fraction("28.349523125"),
    ("lb", "lbs", "pound", "pounds"): Fraction("453.59237"),
}
_VOLUME = {
    ("ml", "millilitre", "millilitres", "milliliter", "milliliters"): Fraction(1),
    ("cl", "centilitre", "centilitres", "centiliter", "centiliters"): Fraction(10),
    ("dl", "decilitre", "decilitres", "deciliter", "deciliters"): Fraction(100),
    ("l", "litre", "litres", "liter", "liters", "ltr"): Fraction(1000),
    #: The metric kitchen spoons and cup (a US cup is 236.6 ml, 5% less: well
    #: inside what a pledge of "2 cups rice" promises).
    ("tsp", "teaspoon", "teaspoons"): Fraction(5),
    ("tbsp", "tablespoon", "tablespoons", "tbs"): Fraction(15),
    ("cup", "cups"): Fraction(250),
}
_COUNT = {
    ("item", "items", "piece", "pieces", "pc", "pcs", "each"): Fraction(1),
    ("dozen",): Fraction(12),
}

#: Known spelling -> (dimension, size in the dimension's base unit).
UNITS: dict[str, tuple[str, Fraction]] = {
    spelling: (dimension, size)
    for dimension, table in (("mass", _MASS), ("volume", _VOLUME), ("count", _COUNT))
    for spellings, size in table.items()
    for spelling in spellings
}


class IncompatibleUnits(ValueError):
    """``have`` cannot be converted into ``want`` (different dimensions, or
    an unknown unit against another unit)."""

    def __init__(self, have: str, want: str) -> None:
        super().__init__(f"{have!r} ({describe(have)}) does not convert into {want!r} ({describe(want)})")
        self.have, self.want = have, want


def normal(unit: str) -> str:
    """The unit as compared: trimmed and case folded."""
    return unit.strip().casefold()


def dimension(unit: str) -> str | None:
    """``"mass"``, ``"volume"``, ``"count"``, or None for a unit not in the table."""
    known = UNITS.get(normal(unit))
    return known[0] if known else None


def unit_key(unit: str) -> str:
    """Equal for two units exactly when they are compatible: the dimension of
    a known unit, else the unit's own spelling (marked so no spelling can
    pass for a dimension)."""
    known = UNITS.get(normal(unit))
    return known[0] if known else "=" + normal(unit)


def compatible(a: str, b: str) -> bool:
    return unit_key(a) == unit_key(b)


def in_base(quantity: int | Fraction, unit: str) -> Fraction:
    """``quantity`` of ``unit`` in its dimension's base unit (an unknown unit
    is its own base)."""
    known = UNITS.get(normal(unit))
    return Fraction(quantity) * (known[1] if known else 1)


def from_base(amount: Fraction, unit: str) -> Fraction:
    """The inverse of :func:`in_base`."""
    known = UNITS.get(normal(unit))
    return amount / (known[1] if known else 1)


def convert(quantity: int | Fraction, have: str, want: str) -> Fraction:
    """``quantity`` of unit ``have`` expressed in unit ``want``, exactly.
    Raises :class:`IncompatibleUnits`."""
    if not compatible(have, want):
        raise IncompatibleUnits(have, want)
    return from_base(in_base(quantity, have), want)


def describe(unit: str) -> str:
    """What kind of amount a unit measures, for messages."""
    found = dimension(unit)
    if found == "mass":
        return "a weight"
    if found == "volume":
        return "a volume"
    if found == "count":
        return "a count"
    return "a unit of its own"
