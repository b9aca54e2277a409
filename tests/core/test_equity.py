"""Fair share: least received lately goes first, identically on every node."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.equity import FAIR_SHARE_WINDOW_MS, fair_share, is_oversubscribed, received_lately
from meshpantry.core.state import build_state

from .records import DAY_MS, TestNeighbourhood


def give(nb: TestNeighbourhood, giver, receiver, times: int = 1) -> None:
    """``receiver`` gets ``times`` accepted claims on ``giver``'s small offers."""
    for _ in range(times):
        offer = nb.offer(giver, "beans", 1, "kg")
        nb.accept(giver, nb.claim(receiver, offer, 1), 1)


def test_least_received_goes_first():
    """Bea received twice lately, Cy once, Dee never: 4 kg for three asking 3 each."""
    nb = TestNeighbourhood()
    bea, cy, dee = (nb.join(seed, name=name) for seed, name in ((2, "Bea"), (3, "Cy"), (4, "Dee")))
    give(nb, nb.founder, bea, 2)
    give(nb, nb.founder, cy, 1)
    offer = nb.offer(nb.founder, "potatoes", 4, "kg")
    claims = {d.public: nb.claim(d, offer, 3) for d in (bea, cy, dee)}
    state = build_state(nb.records, nb.id)
    assert is_oversubscribed(state, offer.id)
    assert received_lately(state, offer.id) == {bea.public: 2, cy.public: 1}
    shares = fair_share(state, offer.id)
    assert [s.household for s in shares] == [dee.public, cy.public, bea.public]
    assert [s.suggested for s in shares] == [3, 1, 0]
    assert [s.claim for s in shares] == [claims[h].id for h in (dee.public, cy.public, bea.public)]


def test_equals_split_evenly_and_nobody_gets_more_than_asked():
    nb = TestNeighbourhood()
    households = [nb.join(seed) for seed in (2, 3, 4)]
    offer = nb.offer(nb.founder, "apples", 10, "items")
    asks = [1, 8, 8]
    for device, ask in zip(households, asks):
        nb.claim(device, offer, ask)
    shares = {s.household: s.suggested for s in fair_share(build_state(nb.records, nb.id), offer.id)}
    assert shares[households[0].public] == 1
    assert sorted([shares[households[1].public], shares[households[2].public]]) == [4, 5]
    assert sum(shares.values()) == 10


def test_only_the_window_before_the_offer_counts():
    """A gift 31 days before the offer, or after it, is not 'lately'."""
    nb = TestNeighbourhood()
    bea, cy = nb.join(2, name="Bea"), nb.join(3, name="Cy")
    give(nb, nb.founder, bea, 1)
    nb.tick(FAIR_SHARE_WINDOW_MS + DAY_MS)
    give(nb, nb.founder, cy, 1)
    offer = nb.offer(nb.founder, "leeks", 2, "pcs")
    give(nb, nb.founder, bea, 3)  # after the offer: not part of its window
    state = build_state(nb.records, nb.id)
    assert received_lately(state, offer.id) == {cy.public: 1}


def test_a_household_splitting_its_request_gains_nothing():
    nb = TestNeighbourhood()
    bea, cy = nb.join(2, name="Bea"), nb.join(3, name="Cy")
    offer = nb.offer(nb.founder, "eggs", 6, "items")
    for _ in range(3):
        nb.claim(bea, offer, 2)
    nb.claim(cy, offer, 6)
    totals: dict[bytes, int] = {}
    for share in fair_share(build_state(nb.records, nb.id), offer.id):
        totals[share.household] = totals.get(share.household, 0) + share.suggested
    assert totals == {bea.public: 3, cy.public: 3}


@settings(max_examples=50, deadline=None)
@given(
    quantity=st.integers(1, 20),
    asks=st.lists(st.integers(1, 8), min_size=1, max_size=5),
    history=st.lists(st.integers(0, 4), min_size=5, max_size=5),
    shuffle=st.randoms(use_true_random=False),
)
def test_fair_share_is_deterministic_and_favours_the_least_received(quantity, asks, history, shuffle):
    """Any arrival order gives the same suggestion; it never exceeds what remains; a
    household that received less is never served after one that received more while
    it still wants more."""
    nb = TestNeighbourhood()
    devices = [nb.join(10 + i) for i in range(len(asks))]
    for device, times in zip(devices, history):
        give(nb, nb.founder, device, times)
    offer = nb.offer(nb.founder, "rice", quantity, "kg")
    for device, ask in zip(devices, asks):
        nb.claim(device, offer, ask)
    records = list(nb.records)
    shares = fair_share(build_state(records, nb.id), offer.id)
    shuffle.shuffle(records)
    assert fair_share(build_state(records, nb.id), offer.id) == shares
    assert sum(s.suggested for s in shares) == min(quantity, sum(asks))
    for better, worse in zip(shares, shares[1:]):
        assert better.received <= worse.received
        if worse.suggested > 0 and better.received < worse.received:
            assert better.suggested == better.requested


def test_same_records_same_suggestion_on_every_node():
    nb = TestNeighbourhood()
    devices = [nb.join(seed) for seed in range(2, 8)]
    offer = nb.offer(nb.founder, "flour", 7, "kg")
    for device in devices:
        nb.claim(device, offer, 2)
    suggestions = set()
    for node in range(5):
        records = list(nb.records)
        random.Random(node).shuffle(records)
        suggestions.add(fair_share(build_state(records, nb.id), offer.id))
    assert len(suggestions) == 1
