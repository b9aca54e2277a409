"""The outage in the terminal UI: the header says how long the island has
lasted, the board shows it beside perishables and filters to the own area."""

from __future__ import annotations

from cli.tui.board_filter import BoardFilter
from cli.tui.screens.board import offer_row, outage_words
from cli.tui.widgets.badge import ISLAND, LIVE, badge_words

OUTAGE = {"in_outage": True, "began": 1, "ended": None, "hours": 5.5, "arrived": None}


def test_the_header_counts_the_outage_hours():
    assert badge_words(ISLAND, {"outage": OUTAGE}) == " ▲ ISLAND · outage 5.5 h "
    assert "no neighbour reachable" in badge_words(ISLAND, {"outage": {**OUTAGE, "in_outage": False}})


def test_the_header_shows_the_catch_up():
    status = {"connected": ["p"], "outage": {**OUTAGE, "in_outage": False, "ended": 9, "catching_up": True, "behind": 40}}
    assert badge_words(LIVE, status) == " ● LIVE · catching up: 40 to come "


def test_a_perishable_row_shows_hours_without_power():
    row = {"id": "ab", "item": "milk", "remaining": 2, "unit": "l", "best_before": 10_000_000, "pickup_until": None,
           "area": None, "tags": [], "household_name": "Okafors", "expiring_soon": False, "outage_hours": 5.5}
    assert "⏻5.5h" in offer_row(row, 0)[2].plain
    assert "⏻" not in offer_row({**row, "outage_hours": None}, 0)[2].plain
    assert "outage for 5.5 h" in outage_words(OUTAGE) and outage_words(None) == ""


def test_the_own_area_filter_goes_to_the_node():
    wanted = BoardFilter(area="Elm St north")
    assert wanted.args() == {"area": "Elm St north"} and not wanted.empty
    assert wanted.describe() == "in Elm St north"


def test_the_mesh_tab_says_what_arrived_while_apart():
    from cli.tui.screens.mesh import mesh_summary

    status = {"records": 9, "connected": ["p"], "outage": {
        "in_outage": False, "began": 1_780_000_000_000, "ended": 1_780_007_200_000, "hours": 2.0,
        "arrived": {"offers": 3, "claims_decided": 1, "recipes": 1, "stories": 2, "total": 7}}}
    text = mesh_summary(status).plain
    assert "last outage" in text and "(2.0 h)" in text
    assert "while apart 3 offers, 1 claim decided, 1 recipe, 2 stories" in text
    assert "outage" not in mesh_summary({"records": 1}).plain
