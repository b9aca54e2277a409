"""The outage clock: when the island began, when it ended, what arrived."""

from __future__ import annotations

from meshpantry.core.outage import OutageClock, arrived_while_apart, hours_since, perishable
from tests.core.records import TestNeighbourhood

MIN = 60_000


def test_the_outage_begins_when_the_last_member_was_in_reach():
    """
    t=0 reachable | t=1 alone | t=10 still alone (< 15 min) | t=16: began at 1
    """
    clock = OutageClock().observe(0, True)
    clock = clock.observe(1 * MIN, False)
    assert clock.alone_since == MIN and not clock.in_outage
    clock = clock.observe(10 * MIN, False)
    assert not clock.in_outage
    clock = clock.observe(16 * MIN, False, after_ms=15 * MIN)
    assert clock.in_outage and clock.began == MIN


def test_a_short_gap_is_no_outage():
    clock = OutageClock().observe(0, False).observe(5 * MIN, True).observe(6 * MIN, False)
    assert clock.observe(20 * MIN, False, after_ms=15 * MIN).began is None


def test_members_returning_end_it_and_keep_when_it_began():
    clock = OutageClock(began=5, ended=None).observe(100 * MIN, True)
    assert clock.began == 5 and clock.ended == 100 * MIN and not clock.in_outage
    assert clock.observe(101 * MIN, True) == clock


def test_a_restart_in_the_dark_keeps_the_outage():
    """A clock loaded from the settings (no alone_since) stays in its outage."""
    clock = OutageClock(began=5).observe(10 * MIN, False, after_ms=MIN)
    assert clock.in_outage and clock.began == 5


def test_the_next_outage_begins_afresh():
    clock = OutageClock(began=5, ended=50).observe(60 * MIN, False).observe(90 * MIN, False, after_ms=15 * MIN)
    assert clock.began == 60 * MIN and clock.ended is None


def test_hours_and_perishables():
    assert hours_since(None, 5) is None and hours_since(0, 90 * MIN) == 1.5
    assert perishable({"best_before": 5}) and perishable({"tags": ["Chilled"]})
    assert not perishable({"tags": ["tins"], "best_before": None})


def test_what_arrived_while_apart_counts_the_others_news():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    offer = nb.offer(bea, "milk", 2, "l")
    claim = nb.claim(nb.founder, offer, 1)
    nb.accept(bea, claim, 1)
    mine = nb.offer(nb.founder, "eggs", 6, "pc")
    counts = arrived_while_apart(nb.records[-4:], {nb.founder.public})
    assert counts == {"claims_decided": 1, "offers": 1, "total": 2}
    assert mine not in nb.records[-4:-1]
