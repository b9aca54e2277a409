"""Each validation error: take a valid record set, break one thing, see that error."""

from __future__ import annotations

import re

import nacl.bindings
import pytest

from meshpantry.core import ingest
from meshpantry.core import validation as v
from meshpantry.core.lamport import check_lamport
from meshpantry.core.membership import join_message
from meshpantry.core.state import RecordStatus, build_state
from protocol.limits import MAX_FUTURE_SKEW_MS, MAX_LAMPORT_LEAD

from .records import DAY_MS, TestNeighbourhood, fork_of, insert_step, reseal


@pytest.fixture
def nb() -> TestNeighbourhood:
    nb = TestNeighbourhood()
    nb.join(2, name="Bea")
    nb.join(3, name="Cy")
    return nb


def chain_of(nb: TestNeighbourhood, seed: int) -> list:
    device = nb.devices[seed]
    return sorted((r for r in nb.records if r.author == device.public), key=lambda r: r.seq)


def rejection(nb: TestNeighbourhood, record, records=None) -> v.ValidationError:
    state = build_state(nb.records if records is None else records, nb.id)
    assert state.status(record.id) is RecordStatus.REJECTED, state.status(record.id)
    return state.rejected[record.id]


def test_a_valid_chain_passes_check_chain_link(nb):
    """Every record of a valid chain passes check_chain_link against the one before."""
    previous = None
    for record in chain_of(nb, 1):
        v.check_chain_link(record, previous)
        previous = record


def test_seq_not_incremental(nb):
    first, second = chain_of(nb, 2)[:2]
    skipped = reseal(nb.devices[2], second, seq=3)
    with pytest.raises(v.SeqNotIncremental) as info:
        v.check_chain_link(skipped, first)
    assert (info.value.expected, info.value.found) == (2, 3)


def test_seq_not_incremental_without_previous(nb):
    second = chain_of(nb, 2)[1]
    with pytest.raises(v.SeqNotIncremental) as info:
        v.check_chain_link(second, None)
    assert info.value.data == {"expected": 1, "found": 2}


def test_prev_mismatch(nb):
    first, second = chain_of(nb, 2)[:2]
    wrong = reseal(nb.devices[2], second, prev=bytes(32))
    with pytest.raises(v.PrevMismatch) as info:
        v.check_chain_link(wrong, first)
    assert info.value.expected == first.id and info.value.found == bytes(32)


def test_lamport_not_increasing(nb):
    first, second = chain_of(nb, 2)[:2]
    stale = reseal(nb.devices[2], second, lamport=first.lamport)
    with pytest.raises(v.LamportNotIncreasing) as info:
        v.check_chain_link(stale, first)
    assert info.value.data == {"previous": first.lamport, "found": first.lamport}


def test_fork_detected_by_state(nb):
    """A second record at a held seq is a fork; from that seq on nothing of the author counts."""
    bea = nb.devices[2]
    profile = chain_of(nb, 2)[1]
    offer = nb.offer(bea, "eggs", 6, "items")
    fork = fork_of(bea, profile, {"name": "Not Bea"})
    state = build_state([*nb.records, fork], nb.id)
    (found,) = state.forks
    assert found == v.ForkDetected(bea.public, profile.seq, (profile.id, fork.id))
    for record in (profile, fork, offer):
        assert state.rejected[record.id] == found
    assert state.status(chain_of(nb, 2)[0].id) is RecordStatus.COUNTED  # the join before the fork
    assert offer.id not in state.offers


def test_chain_broken_after_a_bad_link(nb):
    bea = nb.devices[2]
    first, second = chain_of(nb, 2)[:2]
    bad = reseal(bea, second, prev=bytes(32))
    later = reseal(bea, second, seq=3, prev=bad.id, lamport=second.lamport + 1, body={"name": "B"})
    records = [r for r in nb.records if r.id != second.id] + [bad, later]
    state = build_state(records, nb.id)
    assert state.rejected[bad.id] == v.PrevMismatch(first.id, bytes(32))
    assert state.rejected[later.id] == v.ChainBroken(bea.public, 3, 2)


def test_genesis_not_first(nb):
    founder = nb.founder
    moved = reseal(founder, nb.genesis, seq=2, prev=chain_of(nb, 1)[0].id, lamport=2)
    with pytest.raises(v.GenesisNotFirst) as info:
        v.check_chain_link(moved, chain_of(nb, 1)[0])
    assert info.value.seq == 2


def test_time_in_future(nb):
    record = nb.records[-1]
    now = record.time - MAX_FUTURE_SKEW_MS - 1
    with pytest.raises(v.TimeInFuture) as info:
        ingest.check_time(record, now)
    assert info.value.data == {"time": record.time, "now": now, "limit": MAX_FUTURE_SKEW_MS}
    ingest.check_time(record, now + 1)  # exactly at the limit is fine


def test_lamport_too_far_ahead(nb):
    record = nb.records[-1]
    reach = record.lamport - MAX_LAMPORT_LEAD - 1
    with pytest.raises(v.LamportTooFarAhead) as info:
        check_lamport(record, reach)
    assert info.value.data == {"lamport": record.lamport, "reach": reach, "lead": MAX_LAMPORT_LEAD}
    check_lamport(record, reach + 1)  # exactly at the lead is fine


def test_wrong_neighbourhood(nb):
    record = chain_of(nb, 2)[1]
    elsewhere = reseal(nb.devices[2], record, neighbourhood=bytes(32))
    with pytest.raises(v.WrongNeighbourhood) as info:
        ingest.check_neighbourhood(elsewhere, nb.id)
    assert info.value.found == bytes(32)
    assert rejection(nb, elsewhere, [*nb.records, elsewhere]) == info.value


def test_not_member(nb):
    stranger = nb.device(9)
    offer = nb.offer(stranger, "plums", 3, "kg")
    assert rejection(nb, offer) == v.NotMember(stranger.public)


def test_revoked(nb):
    bea = nb.devices[2]
    kept = nb.offer(bea, "eggs", 6, "items")
    nb.revoke(nb.founder, bea, after_seq=kept.seq)
    cut = nb.offer(bea, "spam", 1, "items")
    state = build_state(nb.records, nb.id)
    assert state.rejected[cut.id] == v.Revoked(bea.public, kept.seq, cut.seq)
    assert kept.id in state.offers and bea.public not in state.members
    assert state.households[bea.public].revoked


def test_bad_join_proof(nb):
    invite, secret = nb.invite(nb.founder)
    wrong = nacl.bindings.crypto_sign(join_message(nb.id, nb.device(8).public), secret)[:64]
    join = nb.write(nb.device(7), "join", {"invite": invite.id, "proof": wrong})
    assert rejection(nb, join) == v.BadJoinProof(invite.id, nb.devices[7].public)


def test_invite_expired(nb):
    expires = nb.clock + DAY_MS
    invite, secret = nb.invite(nb.founder, expires=expires)
    nb.tick(2 * DAY_MS)
    join = nb.join_with(7, invite, secret)
    assert rejection(nb, join) == v.InviteExpired(invite.id, expires, join.time)


def test_invite_exhausted(nb):
    invite, secret = nb.invite(nb.founder, uses=1)
    first = nb.join_with(7, invite, secret)
    second = nb.join_with(8, invite, secret)
    state = build_state(nb.records, nb.id)
    assert state.status(first.id) is RecordStatus.COUNTED
    assert state.rejected[second.id] == v.InviteExhausted(invite.id, 1)


def test_invite_cancelled(nb):
    """
    invite (3 uses) ── join A ── cancel (uses 1) ── join B
    A (counted when the cancel was written) counts; B does not; a stranger
    household's cancel of someone else's invite does not count.
    """
    invite, secret = nb.invite(nb.founder, uses=3)
    first = nb.join_with(7, invite, secret)
    cancel = nb.write(nb.founder, "invite_cancel", {"invite": invite.id, "uses": 1, "reason": "not needed"})
    second = nb.join_with(8, invite, secret)
    state = build_state(nb.records, nb.id)
    assert state.status(first.id) is RecordStatus.COUNTED and state.status(cancel.id) is RecordStatus.COUNTED
    assert state.rejected[second.id] == v.InviteCancelled(invite.id, cancel.id)
    other, other_secret = nb.invite(nb.founder, uses=1)
    stranger = nb.devices[2]
    meddling = nb.write(stranger, "invite_cancel", {"invite": other.id, "uses": 0})
    state = build_state(nb.records, nb.id)
    assert isinstance(state.rejected[meddling.id], v.NotAuthorised)
    late = nb.join_with(9, other, other_secret)
    assert build_state(nb.records, nb.id).status(late.id) is RecordStatus.COUNTED


def test_not_authorised_offer_update(nb):
    bea = nb.devices[2]
    offer = nb.offer(nb.founder)
    update = nb.update_offer(bea, offer, quantity=50)
    assert rejection(nb, update) == v.NotAuthorised("offer_update", bea.public, nb.founder.public)


def test_not_authorised_decision_cancel_handover_revoke(nb):
    """Only the offerer decides, only the claimant cancels, only those two hand over, only admins revoke."""
    bea, cy = nb.devices[2], nb.devices[3]
    offer = nb.offer(nb.founder)
    claim = nb.claim(bea, offer, 2)
    decision = nb.accept(cy, claim, 2)
    cancel = nb.cancel(cy, claim)
    nb.accept(nb.founder, claim, 2)
    handover = nb.handover(cy, claim)
    revoke = nb.revoke(bea, cy, after_seq=1)
    state = build_state(nb.records, nb.id)
    assert state.rejected[decision.id] == v.NotAuthorised("claim_decision", cy.public, nb.founder.public)
    assert state.rejected[cancel.id] == v.NotAuthorised("claim_cancel", cy.public, bea.public)
    assert state.rejected[handover.id] == v.NotAuthorised("handover", cy.public, nb.founder.public)
    assert state.rejected[revoke.id] == v.NotAuthorised("revoke", bea.public, nb.founder.public)
    assert state.claims[claim.id].status.value == "accepted"


def test_wrong_referent_kind(nb):
    meal = nb.meal(nb.founder)
    claim = nb.write(nb.devices[2], "claim", {"offer": meal.id, "quantity": 1})
    assert rejection(nb, claim) == v.WrongReferentKind("offer", meal.id, "offer", "meal")


def test_reference_not_causal(nb):
    """A claim whose counter is not above its offer's cannot have seen the offer."""
    bea = nb.devices[2]
    for _ in range(5):
        nb.household(nb.founder, "Ada")
    offer = nb.offer(nb.founder)
    claim = nb.claim(bea, offer, 1, observe=False)
    assert claim.lamport < offer.lamport
    assert rejection(nb, claim) == v.ReferenceNotCausal(offer.id, offer.lamport, claim.lamport)


def test_referent_rejected(nb):
    offer = nb.offer(nb.device(9), "plums", 3, "kg")  # by a stranger: does not count
    claim = nb.claim(nb.devices[2], offer, 1)
    assert rejection(nb, claim) == v.ReferentRejected(offer.id)


def test_unknown_element(nb):
    recipe = nb.recipe(nb.founder, steps=["boil", "eat"])
    edit = nb.edit_recipe(nb.devices[2], recipe, ops=[insert_step("salt", (recipe.id, 5))])
    assert rejection(nb, edit) == v.UnknownElement("steps", (recipe.id, 5))


def test_unknown_element_makes_the_whole_edit_fail(nb):
    recipe = nb.recipe(nb.founder, steps=["boil"])
    edit = nb.edit_recipe(
        nb.devices[2], recipe, ops=[insert_step("salt", (recipe.id, 0)), insert_step("x", (recipe.id, 3))]
    )
    state = build_state(nb.records, nb.id)
    assert state.rejected[edit.id] == v.UnknownElement("steps", (recipe.id, 3))
    assert [s.text for s in state.recipes[recipe.id].steps] == ["boil"]


def test_offer_withdrawn(nb):
    offer = nb.offer(nb.founder)
    nb.withdraw(nb.founder, offer)
    claim = nb.claim(nb.devices[2], offer, 1)
    assert rejection(nb, claim) == v.OfferWithdrawn(offer.id)


def test_own_offer(nb):
    second_device = nb.link(nb.founder, 5)
    offer = nb.offer(nb.founder)
    claim = nb.claim(second_device, offer, 1)
    assert rejection(nb, claim) == v.OwnOffer(offer.id, nb.founder.public)


def test_accept_exceeds_claim(nb):
    offer = nb.offer(nb.founder, quantity=10)
    claim = nb.claim(nb.devices[2], offer, 2)
    decision = nb.accept(nb.founder, claim, 3)
    assert rejection(nb, decision) == v.AcceptExceedsClaim(claim.id, 2, 3)


def test_claim_closed(nb):
    offer = nb.offer(nb.founder)
    claim = nb.claim(nb.devices[2], offer, 2)
    nb.accept(nb.founder, claim, 2)
    again = nb.decline(nb.founder, claim)
    assert rejection(nb, again) == v.ClaimClosed(claim.id, "claim_decision", "accepted")


def test_not_admitted_a_join_whose_proof_fails(nb):
    """Admission refuses a join signed with the wrong invite key, for good."""
    from .logs import ListLog

    invite, _ = nb.invite(nb.founder)
    _, wrong_secret = nb.invite(nb.founder)
    bad = nb.join_with(7, invite, wrong_secret)
    log = ListLog(nb.id)
    report = log.ingest([r for r in nb.records], now=nb.clock)
    assert [r.error for r in report.rejected] == [v.NotAdmitted(bad.author, "join", False)]
    assert v.NotAdmitted(bad.author, "join", True) != v.NotAdmitted(bad.author, "join", False)


def test_not_counted_a_revoked_devices_records_past_its_budget(nb):
    """Past ``after_seq`` the log keeps MAX_UNCOUNTED_SEQS seqs of a revoked device, then refuses."""
    from meshpantry.core.membership import MAX_UNCOUNTED_SEQS

    from .logs import ListLog

    bea = nb.join(7)
    nb.revoke(nb.founder, bea, after_seq=1)
    late = [nb.offer(bea) for _ in range(MAX_UNCOUNTED_SEQS + 1)]
    report = ListLog(nb.id).ingest(nb.records, now=nb.clock)
    assert [r.error for r in report.rejected] == [
        v.NotCounted(bea.public, 1, late[-1].seq, MAX_UNCOUNTED_SEQS)]


def test_errors_compare_by_type_and_data():
    assert v.NotMember(b"a") == v.NotMember(b"a")
    assert v.NotMember(b"a") != v.NotMember(b"b")
    assert v.SeqNotIncremental(1, 2) != v.PrevMismatch(b"x", None)
    assert len({v.NotMember(b"a"), v.NotMember(b"a")}) == 1


def test_every_validation_error_type_has_a_test_here():
    """Each ValidationError subclass is exercised by name in this module."""
    source = open(__file__).read()
    kinds = [c for c in vars(v).values() if isinstance(c, type) and issubclass(c, v.ValidationError)]
    untested = [
        c.__name__
        for c in kinds
        if c is not v.ValidationError and not re.search(rf"v\.{c.__name__}\b", source)
    ]
    assert untested == []
