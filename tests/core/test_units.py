"""The units table: compatible units convert exactly, others never do."""

from fractions import Fraction

import pytest

from meshpantry.core.units import IncompatibleUnits, compatible, convert, describe, dimension


@pytest.mark.parametrize("quantity, have, want, expected", [
    (1, "kg", "g", 1000),
    (2500, "g", "KG", Fraction(5, 2)),
    (1, "l", "ml", 1000),
    (3, "tbsp", "tsp", 9),
    (2, "cups", "ml", 500),
    (1, "lb", "g", Fraction("453.59237")),
    (1, "dozen", "items", 12),
    (2, " Pinch ", "pinch", 2),
])
def test_compatible_units_convert_exactly(quantity, have, want, expected):
    assert convert(quantity, have, want) == expected


@pytest.mark.parametrize("have, want", [
    ("kg", "items"), ("g", "ml"), ("cup", "g"), ("pinch", "g"), ("handful", "pinch"),
])
def test_incompatible_units_are_refused(have, want):
    assert not compatible(have, want)
    with pytest.raises(IncompatibleUnits, match="does not convert"):
        convert(1, have, want)


def test_units_are_described_for_messages():
    assert [describe(u) for u in ("kg", "tbsp", "items", "pinch")] == [
        "a weight", "a volume", "a count", "a unit of its own"]
    assert dimension("Litres") == "volume" and dimension("pinch") is None
