"""A recipe's family: variations start from their parent, the book's trees,
and the recipes born in the outage."""

from __future__ import annotations

from meshpantry.core.lineage import born_in_outage, family_trees, variation_start
from meshpantry.core.state import build_state
from tests.core.records import TestNeighbourhood


def test_a_variation_starts_from_its_parents_lines_and_steps():
    nb = TestNeighbourhood()
    soup = nb.write(nb.founder, "recipe", {
        "title": "Leek soup", "steps": ["Sweat the leeks", "Add stock"],
        "ingredients": [{"item": "leeks", "amount": "4"}, {"item": "butter", "note": "or oil"}]})
    parent = build_state(nb.records, nb.id).recipes[soup.id]
    ingredients, steps = variation_start(parent, [], [])
    assert ingredients == [{"item": "leeks", "amount": "4"}, {"item": "butter", "note": "or oil"}]
    assert steps == ["Sweat the leeks", "Add stock"]
    mine = variation_start(parent, [{"item": "potatoes"}], [])
    assert mine == ([{"item": "potatoes"}], ["Sweat the leeks", "Add stock"])  # what the cook gives wins


def r(rid, title, parent=None, **kw):
    return {"id": rid, "title": title, "adapted_from": {"id": parent, "title": "?"} if parent else None, **kw}


def test_family_trees_put_every_recipe_under_its_parent_once():
    """
    Stew ─┬─ Outage stew ── Candle stew
          └─ Bean stew          Orphan (parent not synced)   Bread
    """
    book = [r("c", "Candle stew", "b"), r("a", "Stew"), r("b", "Outage stew", "a"), r("d", "Bean stew", "a"),
            r("e", "Orphan", "zz"), r("f", "Bread")]
    trees = family_trees(book)
    shape = [(t.recipe["title"], [(v.recipe["title"], [w.recipe["title"] for w in v.variations]) for v in t.variations])
             for t in trees]
    assert shape == [("Bread", []), ("Orphan", []), ("Stew", [("Bean stew", []), ("Outage stew", ["Candle stew"])])]


def test_born_in_the_outage_by_tag_or_by_the_outage_clock():
    assert born_in_outage({"tags": ["Born in the outage"], "created": 1})
    assert born_in_outage({"tags": [], "created": 50}, [(10, 100)])
    assert born_in_outage({"tags": [], "created": 500}, [(10, None)])  # the outage lasts
    assert not born_in_outage({"tags": ["soup"], "created": 5}, [(10, 100)])
