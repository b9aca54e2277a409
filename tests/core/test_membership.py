"""Who counts: genesis, invites (uses, expiry), device links, admins, revocations, households."""

from __future__ import annotations

import random

from meshpantry.core.state import RecordStatus, build_state
from meshpantry.core.validation import InviteExhausted, NotMember, Revoked

from .records import TestNeighbourhood


def test_founder_and_joiners_form_households():
    nb = TestNeighbourhood(name="Elm Street")
    bea = nb.join(2, name="Bea")
    bea2 = nb.link(bea, 3)
    nb.household(bea2, "Bea & Bo", area="North")
    state = build_state(nb.records, nb.id)
    assert state.name == "Elm Street" and state.founder == nb.founder.public
    assert list(state.households) == [nb.founder.public, bea.public]
    household = state.households[bea.public]
    assert household.devices == (bea.public, bea2.public)
    assert (household.name, household.area) == ("Bea & Bo", "North")
    assert state.household_of(bea2.public) == bea.public
    assert state.admins == {nb.founder.public} and state.members == {nb.founder.public, bea.public, bea2.public}


def test_everything_waits_for_the_genesis():
    nb = TestNeighbourhood()
    nb.join(2, name="Bea")
    state = build_state(nb.records[1:], nb.id)
    assert set(state.waiting.values()) == {nb.id} and not state.counted
    assert len(state.waiting) == len(nb.records) - 1


def test_a_join_waits_for_its_invite_and_counts_when_it_arrives():
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(2, invite, secret)
    offer = nb.offer(nb.devices[2])
    without = build_state([r for r in nb.records if r.id != invite.id], nb.id)
    assert without.waiting[join.id] == invite.id and without.waiting[offer.id] == invite.id
    state = build_state(nb.records, nb.id)
    assert state.status(join.id) is RecordStatus.COUNTED and offer.id in state.offers


def test_an_invites_uses_go_to_the_first_joins_in_lamport_order():
    """Three devices join on a two-use invite from separate islands: the same two count everywhere."""
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder, uses=2)
    before = list(nb.records)
    joins = [nb.join_with(seed, invite, secret, observe=before) for seed in (4, 5, 6)]
    expected = sorted(joins, key=lambda j: (j.lamport, j.id))
    for order in range(4):
        records = list(nb.records)
        random.Random(order).shuffle(records)
        state = build_state(records, nb.id)
        assert [state.status(j.id) for j in expected] == [RecordStatus.COUNTED] * 2 + [RecordStatus.REJECTED]
        assert state.rejected[expected[2].id] == InviteExhausted(invite.id, 2)


def test_a_linked_founder_device_is_an_admin_and_can_revoke():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    tablet = nb.link(nb.founder, 7)
    offer = nb.offer(bea)
    nb.revoke(tablet, bea, after_seq=offer.seq)
    spam = nb.offer(bea, "spam", 1, "items")
    state = build_state(nb.records, nb.id)
    assert state.admins == {nb.founder.public, tablet.public}
    assert offer.id in state.offers and spam.id not in state.offers
    assert state.rejected[spam.id] == Revoked(bea.public, offer.seq, spam.seq)


def test_a_revoked_inviter_cannot_bring_people_in_after_the_cut():
    """Revocation is retroactive past after_seq, even for records ordered before the revoke."""
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    cut = bea.head.seq
    invite, secret = nb.invite(bea)
    join = nb.join_with(8, invite, secret)
    nb.revoke(nb.founder, bea, after_seq=cut)
    state = build_state(nb.records, nb.id)
    assert state.rejected[invite.id] == Revoked(bea.public, cut, invite.seq)
    assert state.status(join.id) is RecordStatus.REJECTED
    assert nb.devices[8].public not in state.members


def test_a_device_with_no_path_in_is_not_a_member():
    nb = TestNeighbourhood()
    stranger = nb.device(9)
    record = nb.household(stranger, "Mallory")
    state = build_state(nb.records, nb.id)
    assert state.rejected[record.id] == NotMember(stranger.public)
    assert stranger.public not in state.households


def test_a_linked_devices_records_wait_while_the_link_waits():
    """Bea's link of her tablet sits behind a gap in her chain: the tablet's records wait too."""
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    gap = nb.offer(bea)
    tablet = nb.link(bea, 3)
    offer = nb.offer(tablet, "pears", 2, "kg")
    state = build_state([r for r in nb.records if r.id != gap.id], nb.id)
    assert state.waiting[offer.id] == gap.id
    assert build_state(nb.records, nb.id).status(offer.id) is RecordStatus.COUNTED


def test_a_device_revoked_from_its_first_record_counts_for_nothing():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    nb.revoke(nb.founder, bea, after_seq=0)
    offer = nb.offer(bea)
    state = build_state(nb.records, nb.id)
    assert state.rejected[offer.id] == Revoked(bea.public, 0, offer.seq)
    assert bea.public not in state.members


def test_admission_learns_from_every_kind_that_decides_who_counts():
    """Admission learns revokes too: a revoked device's records past its
    ``after_seq`` are kept only within a budget (test_admission_cuts)."""
    from meshpantry.core.admission import Membership
    from meshpantry.core.membership import ADMISSION_KINDS, COUNTING_KINDS

    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    tablet = nb.link(nb.founder, 7)
    nb.offer(bea)
    revoke = nb.revoke(tablet, bea, after_seq=0)
    membership = Membership(nb.id)
    for record in nb.records[:-1]:
        assert membership.admits(record).value == "admit"
        membership.add(record)
    assert membership.admits(revoke).value == "admit" and not membership.add(revoke)
    assert bea.public in membership.households  # still admissible, but cut at 0
    assert membership.cuts() == {bea.public: 0}
    assert ADMISSION_KINDS == COUNTING_KINDS
