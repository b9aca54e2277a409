"""The offers board: allocation, overdraw, updates, cancels, handovers, expiry, queries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.board import ClaimStatus
from meshpantry.core.state import build_state

from .records import DAY_MS, TestNeighbourhood


def neighbourhood(claimants: int = 3) -> tuple[TestNeighbourhood, list]:
    nb = TestNeighbourhood()
    return nb, [nb.join(10 + i, name=f"H{i}") for i in range(claimants)]


def test_an_overdrawing_accept_shows_as_refused():
    """5 kg offered, 3 + 3 accepted: the second accept (in lamport order) is refused."""
    nb, (bea, cy, _) = neighbourhood()
    offer = nb.offer(nb.founder, quantity=5)
    first, second = nb.claim(bea, offer, 3), nb.claim(cy, offer, 3)
    nb.accept(nb.founder, first, 3)
    nb.accept(nb.founder, second, 3)
    state = build_state(nb.records, nb.id)
    assert state.claims[first.id].status is ClaimStatus.ACCEPTED
    assert state.claims[second.id].status is ClaimStatus.REFUSED
    assert (state.offers[offer.id].allocated, state.offers[offer.id].remaining) == (3, 2)


def test_islands_accepting_apart_agree_after_rejoining():
    """Two devices of the offerer accept different claims while cut off from each other.

        island 1: ada  accepts bea 4 ──┐
                                       ├── rejoin: one accepted, one refused, same everywhere
        island 2: ada' accepts cy  4 ──┘
    """
    nb, (bea, cy, _) = neighbourhood()
    ada2 = nb.link(nb.founder, 2)
    offer = nb.offer(nb.founder, quantity=5)
    c1, c2 = nb.claim(bea, offer, 4), nb.claim(cy, offer, 4)
    before = list(nb.records)
    d1 = nb.accept(nb.founder, c1, 4, observe=before)
    d2 = nb.accept(ada2, c2, 4, observe=before)
    island1 = [r for r in nb.records if r.id != d2.id]
    island2 = [r for r in nb.records if r.id != d1.id]
    assert build_state(island1, nb.id).claims[c1.id].status is ClaimStatus.ACCEPTED
    assert build_state(island2, nb.id).claims[c2.id].status is ClaimStatus.ACCEPTED
    merged_a = build_state(island1 + island2, nb.id)
    merged_b = build_state(island2 + island1, nb.id)
    assert merged_a == merged_b
    first, _ = sorted((d1, d2), key=lambda d: (d.lamport, d.id))
    winner = c1 if first is d1 else c2
    loser = c2 if winner is c1 else c1
    assert merged_a.claims[winner.id].status is ClaimStatus.ACCEPTED
    assert merged_a.claims[loser.id].status is ClaimStatus.REFUSED
    assert merged_a.offers[offer.id].allocated == 4


@settings(max_examples=80, deadline=None)
@given(
    quantity=st.integers(1, 12),
    asks=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=6),
    new_quantity=st.one_of(st.none(), st.integers(1, 12)),
)
def test_allocation_never_exceeds_the_quantity(quantity, asks, new_quantity):
    """Any claims, any accepts, even a quantity lowered afterwards: allocated <= quantity,
    and the refused decisions are exactly those that did not fit, in order."""
    nb, households = neighbourhood(len(asks))
    offer = nb.offer(nb.founder, quantity=quantity)
    claims = []
    for device, (ask, grant) in zip(households, asks):
        claim = nb.claim(device, offer, ask)
        nb.accept(nb.founder, claim, min(ask, grant))
        claims.append((claim, min(ask, grant)))
    if new_quantity is not None:
        nb.update_offer(nb.founder, offer, quantity=new_quantity)
    state = build_state(nb.records, nb.id)
    view = state.offers[offer.id]
    final = new_quantity or quantity
    assert view.quantity == final and 0 <= view.allocated <= final
    left = final
    for claim, grant in claims:
        expected = ClaimStatus.ACCEPTED if grant <= left else ClaimStatus.REFUSED
        left -= grant if expected is ClaimStatus.ACCEPTED else 0
        assert state.claims[claim.id].status is expected
    assert view.remaining == left


def test_lowering_the_quantity_refuses_decisions_that_no_longer_fit():
    nb, (bea, cy, _) = neighbourhood()
    offer = nb.offer(nb.founder, quantity=10)
    c1, c2 = nb.claim(bea, offer, 4), nb.claim(cy, offer, 4)
    nb.accept(nb.founder, c1, 4)
    nb.accept(nb.founder, c2, 4)
    nb.update_offer(nb.founder, offer, quantity=5)
    state = build_state(nb.records, nb.id)
    assert [state.claims[c].status for c in (c1.id, c2.id)] == [ClaimStatus.ACCEPTED, ClaimStatus.REFUSED]
    assert state.offers[offer.id].remaining == 1


def test_a_refused_claim_can_be_accepted_again_once_it_fits():
    nb, (bea, cy, _) = neighbourhood()
    offer = nb.offer(nb.founder, quantity=5)
    c1, c2 = nb.claim(bea, offer, 4), nb.claim(cy, offer, 4)
    nb.accept(nb.founder, c1, 4)
    nb.accept(nb.founder, c2, 4)
    nb.accept(nb.founder, c2, 1)
    state = build_state(nb.records, nb.id)
    assert state.claims[c2.id].status is ClaimStatus.ACCEPTED
    assert state.claims[c2.id].accepted_quantity == 1 and state.offers[offer.id].remaining == 0


def test_cancel_frees_the_allocation_and_handover_needs_both_sides():
    nb, (bea, cy, _) = neighbourhood()
    offer = nb.offer(nb.founder, quantity=5)
    c1, c2 = nb.claim(bea, offer, 5), nb.claim(cy, offer, 5)
    nb.accept(nb.founder, c1, 5)
    nb.cancel(bea, c1)
    nb.accept(nb.founder, c2, 5, pickup=b"sealed pickup note")
    nb.handover(cy, c2)
    half = build_state(nb.records, nb.id)
    nb.handover(nb.founder, c2)
    late_cancel = nb.cancel(cy, c2)
    state = build_state(nb.records, nb.id)
    assert state.claims[c1.id].status is ClaimStatus.CANCELLED
    assert half.claims[c2.id].confirmed_by_claimant and not half.claims[c2.id].completed
    claim = state.claims[c2.id]
    assert claim.completed and claim.pickup == b"sealed pickup note" and claim.accepted_quantity == 5
    assert late_cancel.id in state.rejected and state.offers[offer.id].remaining == 0


def test_handover_of_a_claim_not_accepted_does_not_count():
    nb, (bea, _, _) = neighbourhood()
    offer = nb.offer(nb.founder)
    claim = nb.claim(bea, offer, 1)
    handover = nb.handover(bea, claim)
    state = build_state(nb.records, nb.id)
    assert handover.id in state.rejected
    assert not state.claims[claim.id].confirmed_by_claimant


def test_concurrent_updates_are_last_writer_wins_per_field():
    """Two devices of one household edit different and the same fields at once."""
    nb, _ = neighbourhood(1)
    ada2 = nb.link(nb.founder, 2)
    offer = nb.offer(nb.founder, note="from the garden", quantity=5)
    before = list(nb.records)
    u1 = nb.update_offer(nb.founder, offer, observe=before, quantity=3, note="ripe")
    u2 = nb.update_offer(ada2, offer, observe=before, quantity=4)
    state = build_state(reversed(nb.records), nb.id)
    winner = max((u1, u2), key=lambda u: (u.lamport, u.author, u.id))
    assert state.offers[offer.id].quantity == winner.body["quantity"]
    assert state.offers[offer.id].note == "ripe"


def test_expiry_is_read_time_and_the_board_filters_and_sorts():
    nb, (bea, _, _) = neighbourhood()
    now = nb.clock
    soon = nb.offer(nb.founder, "milk", 2, "l", best_before=now + DAY_MS, allergens=["lactose"], tags=["dairy"])
    later = nb.offer(bea, "bread", 1, "items", pickup_until=now + 3 * DAY_MS, note="sourdough", tags=["Bakery"])
    never = nb.offer(bea, "rice", 2, "kg", area="North")
    gone = nb.offer(nb.founder, "jam", 1, "items")
    nb.withdraw(nb.founder, gone)
    state = build_state(nb.records, nb.id)
    ids = lambda offers: [o.id for o in offers]  # noqa: E731
    assert ids(state.board(now)) == [soon.id, later.id, never.id]
    assert ids(state.board(now + 2 * DAY_MS)) == [later.id, never.id]
    assert state.offers[soon.id].is_expired(now + DAY_MS + 1) and not state.offers[soon.id].is_expired(now)
    assert ids(state.board(now, text="SOUR")) == [later.id]
    assert ids(state.board(now, text="north")) == [never.id]
    assert ids(state.board(now, tag="bakery")) == [later.id]
    assert ids(state.board(now, allergen_free=["Lactose"])) == [later.id, never.id]
    assert ids(state.board(now, sort="newest")) == [never.id, later.id, soon.id]
    assert gone.id in ids(state.board(now, include_closed=True))


def test_offers_without_a_date_come_after_the_dated_ones_newest_first():
    """By expiry, undated offers follow the dated ones, newest first (they
    were ordered by id, which a reader sees as no order at all)."""
    nb, (bea, _, _) = neighbourhood()
    now = nb.clock
    old = nb.offer(bea, "rice", 2, "kg", time=now - 3 * DAY_MS)
    dated = nb.offer(nb.founder, "milk", 2, "l", best_before=now + DAY_MS)
    new = nb.offer(nb.founder, "oats", 1, "kg", time=now - DAY_MS)
    middle = nb.offer(bea, "beans", 1, "kg", time=now - 2 * DAY_MS)
    state = build_state(nb.records, nb.id)
    assert [o.id for o in state.board(now)] == [dated.id, new.id, middle.id, old.id]
