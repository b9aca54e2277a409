"""Communal meals: needs against pledges."""

from __future__ import annotations

from meshpantry.core.state import build_state

from .records import DAY_MS, TestNeighbourhood


def test_pledges_cover_needs_and_the_rest_shows_missing():
    nb = TestNeighbourhood()
    bea, cy = nb.join(2, name="Bea"), nb.join(3, name="Cy")
    when = nb.clock + DAY_MS
    meal = nb.meal(nb.founder, "stone soup", [("onions", 6, "pcs"), ("stock", 3, "l"), ("bread", 2, "loaves")], when=when)
    p1 = nb.pledge(bea, meal, "Onions ", 4, "PCS")
    p2 = nb.pledge(cy, meal, "onions", 3, "pcs")
    p3 = nb.pledge(nb.founder, meal, "stock", 1, "l")
    extra = nb.pledge(cy, meal, "cake", 1, "items")
    view = build_state(nb.records, nb.id).meals[meal.id]
    onions, stock, bread = view.needs
    assert (onions.pledged, onions.missing, onions.covered, onions.pledges) == (7, 0, True, (p1.id, p2.id))
    assert (stock.pledged, stock.missing, stock.pledges) == (1, 2, (p3.id,))
    assert (bread.pledged, bread.missing) == (0, 2)
    assert [n.item for n in view.missing] == ["stock", "bread"]
    assert view.extras == (extra.id,) and len(view.pledges) == 4
    assert not view.is_past(when) and view.is_past(when + 1)


def test_a_repeated_need_line_shares_its_pledges_in_order():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    meal = nb.meal(nb.founder, "feast", [("rice", 2, "kg"), ("rice", 2, "kg")])
    nb.pledge(bea, meal, "rice", 3, "kg")
    first, second = build_state(nb.records, nb.id).meals[meal.id].needs
    assert (first.pledged, first.missing, second.pledged, second.missing) == (2, 0, 1, 1)


def test_a_pledge_waits_for_its_meal():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    meal = nb.meal(nb.founder, "soup", [("leeks", 2, "pcs")])
    pledge = nb.pledge(bea, meal, "leeks", 2, "pcs")
    state = build_state([r for r in nb.records if r.id != meal.id], nb.id)
    assert state.waiting[pledge.id] == meal.id and pledge.id not in state.pledges
