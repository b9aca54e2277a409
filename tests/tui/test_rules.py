"""The UI's pure parts: form checks, board filter, badge state, bars, times."""

from __future__ import annotations

from cli.tui.board_filter import BoardFilter
from cli.tui.offer_rules import check_offer
from cli.tui.show import relative, span
from cli.tui.widgets.badge import ISLAND, LIVE, OFFLINE, STARTING, badge_state
from cli.tui.widgets.coverage import coverage_bar

NOW = 1_795_608_000_000


def test_offer_check_names_each_bad_field():
    """Each wrong field gets its own message; nothing raises."""
    result = check_offer({"item": "", "quantity": "0", "unit": "kg", "best_before": "soonish"}, NOW)
    assert set(result.errors) == {"item", "quantity", "best_before"}
    assert not result.ok


def test_offer_check_builds_offer_add_arguments():
    result = check_offer({"item": " plums ", "quantity": "4", "unit": "kg", "best_before": "+2d",
                          "tags": "Fruit, fresh", "allergens": ""}, NOW)
    assert result.ok
    assert result.args["item"] == "plums" and result.args["quantity"] == 4
    assert result.args["best_before"] == NOW + 2 * 24 * 3_600_000
    assert result.args["tags"] == ["fresh", "fruit"] and "allergens" not in result.args


def test_offer_check_refuses_past_and_inverted_times():
    result = check_offer({"item": "x", "quantity": "1", "unit": "kg", "best_before": "2020-01-01",
                          "pickup_from": "+3h", "pickup_until": "+1h"}, NOW)
    assert result.errors["best_before"] == "that is already past"
    assert result.errors["pickup_until"] == "ends before pickup starts"


def test_board_filter_becomes_offer_list_arguments():
    """Empty fields are left out; the description names what is filtered."""
    wanted = BoardFilter(text=" plum ", tag="", allergen_free=("gluten", "nuts"))
    assert wanted.args() == {"search": "plum", "free_of": ["gluten", "nuts"]}
    assert wanted.describe() == "“plum”; free of gluten, nuts"
    assert BoardFilter().args() == {} and BoardFilter().empty


def test_badge_states_are_distinct():
    assert badge_state({"island": False, "connected": ["p"]}, True) == LIVE
    assert badge_state({"island": True, "connected": []}, True) == ISLAND
    assert badge_state({"island": None, "connected": []}, True) == ISLAND
    assert badge_state(None, True) == STARTING
    assert badge_state({"island": False, "connected": ["p"]}, False) == OFFLINE


def test_coverage_bar_caps_at_full():
    assert coverage_bar(3, 4).plain == "███████░░░  75%"
    assert coverage_bar(9, 4).plain == "██████████ 100%"
    assert coverage_bar(0, 0).plain.endswith("100%")


def test_relative_times():
    assert relative(NOW + 5 * 3_600_000, NOW) == "in 5h"
    assert relative(NOW - 30 * 60_000, NOW) == "30m ago"
    assert relative(None, NOW) == "-"
    assert span(2 * 86_400_000 + 12 * 3_600_000) == "2d 12h"


def test_sync_progress_reads_the_nodes_sync_events():
    from cli.tui.screens.mesh import sync_line, sync_progress
    from meshpantry.control.events import SyncEvent

    peer = {"peer": "12D3KooWBirch", "connected": True, "last_sync": None}
    running = SyncEvent(peer="12D3KooWBirch", active=True, received=120, expected=400, behind=280)
    ended = SyncEvent(peer="12D3KooWBirch", active=False, received=400, expected=400, behind=0, ok=True)
    assert sync_progress(running, peer) == "120/400 ▇░░░"
    assert sync_progress(ended, peer) == "up to date"
    assert sync_progress(None, {**peer, "syncing": True}) == "syncing…"
    assert sync_progress(None, peer) == "-"
    # in words, not field dumps ("active False, ... ok True")
    assert sync_line(ended) == "sync with ooWBirch: done, 400 records received, up to date"
    assert sync_line(running) == "sync with ooWBirch: running, 120 of 400 records"
    counted = SyncEvent(peer="12D3KooWBirch", active=False, received=12, expected=12, behind=0, ok=True,
                        records_in=12, records_out=3)
    assert sync_line(counted) == "sync with ooWBirch: done, 12 records in, 3 out, up to date"
    failed = SyncEvent(peer="12D3KooWBirch", active=False, received=5, expected=40, behind=35, ok=False)
    assert sync_line(failed) == "sync with ooWBirch: failed, 5 records received, 35 still to fetch"


def test_a_sync_that_gave_way_reads_as_no_failure():
    """A session that ended unanswered because one side gave way to another
    session (the sync turns' rule 5) is no failure on either side: the log
    line says so, not "failed"."""
    from cli.tui.screens.mesh import sync_line
    from meshpantry.control.events import SyncEvent

    ours = SyncEvent(peer="12D3KooWBirch", active=False, received=0, expected=0, behind=0, ok=False,
                     ended="gave way", records_in=0, records_out=0)
    theirs = SyncEvent(peer="12D3KooWBirch", active=False, received=0, expected=0, behind=0, ok=False,
                       ended="withdrawn", records_in=0, records_out=0)
    assert sync_line(ours) == "sync with ooWBirch: gave way to another member's session here; starts again shortly"
    assert sync_line(theirs) == ("sync with ooWBirch: the peer gave way to another session before an answer; "
                                 "it starts again shortly")
    failed = SyncEvent(peer="12D3KooWBirch", active=False, received=0, expected=0, behind=0, ok=False,
                       ended="failed", records_in=0, records_out=0)
    assert sync_line(failed) == "sync with ooWBirch: failed, 0 records in, 0 out"
