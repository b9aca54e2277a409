"""Cookable now: recipes against the pantry list and the live offers."""

from __future__ import annotations

from meshpantry.core.cookable import Offered, cookable, match_recipe, same_food, substitutes


def recipe(rid, title, *lines):
    return {"id": rid, "title": title, "ingredients": [
        {"item": item, "amount": None, "unit": None, "note": note} for item, note in lines]}


def test_foods_match_by_words_case_and_plural_aside():
    assert same_food("flour", "Plain flour") and same_food("Tomatoes", "tomato") and same_food("eggs", "egg")
    assert not same_food("rice", "corn flour") and not same_food("", "salt")
    assert same_food("glass noodles", "noodles") and same_food("glass", "glass")


def test_substitutes_are_read_from_the_lines_note():
    assert substitutes("or margarine") == ["margarine"]
    assert substitutes("or oil, or lard") == ["oil", "lard"]
    assert substitutes("instead: oat milk") == ["oat milk"]
    assert substitutes("finely chopped") == [] and substitutes(None) == []


def test_the_pantry_first_then_offers_then_substitutes():
    """
    flour: on the list | butter: none, but its note says 'or margarine', on offer
    onion: nowhere -> missing
    """
    offers = [Offered("o1", "margarine", 250, "g", "Zhengs"), Offered("o2", "onions", 0, "pc", "Lilas")]
    got = match_recipe(recipe("r1", "Pie", ("flour", None), ("butter", "or margarine"), ("onion", None)),
                       ["plain flour"], offers)
    sources = [(line.item, line.source, line.use) for line in got.lines]
    assert sources == [("flour", "pantry", None), ("butter", "offer", "margarine"), ("onion", "missing", None)]
    assert got.missing == ["onion"] and got.substitutions == [("butter", "margarine")] and not got.ready
    assert got.lines[1].offer.id == "o1"  # an offer with nothing left does not count


def test_own_offers_are_preferred_no_claim_needed():
    offers = [Offered("big", "rice", 5000, "g", "Zhengs"), Offered("own", "rice", 100, "g", "Us", mine=True)]
    assert match_recipe(recipe("r", "Rice", ("rice", None)), [], offers).lines[0].offer.id == "own"


def test_ready_recipes_come_first_then_fewest_missing():
    book = [recipe("a", "Zebra cake", ("flour", None)),
            recipe("b", "Apple crumble", ("apples", None), ("flour", None), ("sugar", None)),
            recipe("c", "Broth", ("bones", None)),
            {"id": "d", "title": "No lines", "ingredients": []}]
    order = [(c.title, c.ready, len(c.missing)) for c in cookable(book, ["flour"], [])]
    assert order == [("Zebra cake", True, 0), ("Broth", False, 1), ("Apple crumble", False, 2)]
