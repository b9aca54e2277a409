"""An offer names allergens from the labelled fourteen: "none" or a typo is
refused with what to do, and other words for an allergen become its name, so
a neighbour's ``--free-of`` filter finds every offer it should hide."""

from __future__ import annotations

from meshpantry.core.allergens import ALLERGENS, UnknownAllergen, allergen
from meshpantry.exit_codes import ExitCode


def test_none_is_not_an_allergen(founded):
    code, _, err = founded.run("offer", "add", "bread", "1", "loaf", "--allergen", "none")
    assert code == ExitCode.REFUSED and "leave the allergen out" in err
    assert founded.json("offer", "list")["offers"] == []


def test_a_word_that_names_no_allergen_is_refused_with_the_list(founded):
    code, _, err = founded.run("offer", "add", "bread", "1", "loaf", "--allergen", "nutz")
    assert code == ExitCode.REFUSED and "'nutz' is not one of the allergens" in err and "peanuts" in err


def test_other_words_become_the_allergen_and_the_filter_finds_them(founded):
    offer = founded.json("offer", "add", "cheese", "1", "kg", "--allergen", "Dairy", "--allergen", "wheat")
    assert offer["allergens"] == ["gluten", "milk"]
    assert founded.json("offer", "list", "--free-of", "milk")["offers"] == []
    code, _, err = founded.run("offer", "update", offer["id"][:10], "--allergen", "n/a")
    assert code == ExitCode.REFUSED and "leave the allergen out" in err


def test_every_allergen_names_itself_and_case_and_spaces_do_not_matter():
    assert all(allergen(name) == name for name in ALLERGENS)
    assert allergen("  Tree   NUTS ") == "nuts"
    try:
        allergen("none")
    except UnknownAllergen:
        pass
    else:
        raise AssertionError("'none' was taken as an allergen")
