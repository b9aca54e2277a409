"""What the log keeps of a device whose records do not count (its cut):
a spent invite's joiner, a revoked device, a device linked by either.

::

    invite (uses 1) ──▶ join Bea (counts) ──▶ join Eve (c higher: spent)
    Eve: offer, offer, ... ──▶ at most MAX_UNCOUNTED_SEQS kept, then NotCounted
"""

from __future__ import annotations

import random

from meshpantry.core.admission import Admissions
from meshpantry.core.admission import Membership
from meshpantry.core.membership import MAX_EXTRA_JOINS, MAX_UNCOUNTED_SEQS, Admission
from meshpantry.core.state import build_state
from meshpantry.core.validation import NotAdmitted, NotCounted

from .logs import ListLog
from .records import TestNeighbourhood, fork_of


def spent_invite(extra_joiners: int = 1) -> tuple[TestNeighbourhood, list]:
    """Founder invites once; Bea joins, then ``extra_joiners`` more join
    with the same code, each after the last (higher ``c``)."""
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder, uses=1)
    nb.join_with(2, invite, secret)
    for seed in range(10, 10 + extra_joiners):
        nb.join_with(seed, invite, secret)
    return nb, [nb.devices[s] for s in range(10, 10 + extra_joiners)]


def kept(log: ListLog, author: bytes) -> list:
    return [r for r in log.log if r.author == author]


def test_a_spent_invites_joiner_gets_its_join_and_a_budget_of_records_no_more():
    nb, (eve,) = spent_invite()
    offers = [nb.offer(eve, f"spam {i}") for i in range(MAX_UNCOUNTED_SEQS + 40)]
    log = ListLog(nb.id)
    report = log.ingest(nb.records, nb.clock)
    assert len(kept(log, eve.public)) == 1 + MAX_UNCOUNTED_SEQS  # the join, then seqs 2..33
    refused = [r.error for r in report.rejected]
    assert len(refused) == 40 and all(isinstance(e, NotCounted) for e in refused)
    assert refused[0].data == {"author": eve.public, "after_seq": 1, "seq": 2 + MAX_UNCOUNTED_SEQS,
                               "budget": MAX_UNCOUNTED_SEQS}
    state = build_state(log.log, nb.id)
    assert eve.public not in state.members and offers[0].id not in state.counted


def test_verdicts_past_the_cut_are_limited_then_rejected_and_never_admit():
    nb, (eve,) = spent_invite()
    log = ListLog(nb.id)
    log.ingest(nb.records, nb.clock)
    for _ in range(MAX_UNCOUNTED_SEQS + 1):
        nb.offer(eve)
    membership = log.admissions.membership
    verdicts = [membership.admits(r) for r in nb.records[-MAX_UNCOUNTED_SEQS - 1:]]
    assert verdicts == [Admission.LIMITED] * MAX_UNCOUNTED_SEQS + [Admission.REJECT]


def test_a_device_past_its_cut_keeps_one_record_per_seq():
    """Forks at a seq past the cut are refused: the budget counts records."""
    nb, (eve,) = spent_invite()
    offer = nb.offer(eve, "first")
    twins = [fork_of(eve, offer, {"item": f"twin {i}", "quantity": 1, "unit": "kg"}) for i in range(5)]
    log = ListLog(nb.id)
    report = log.ingest([*nb.records, *twins], nb.clock)
    assert [r for r in log.log if r.author == eve.public and r.seq == offer.seq] == [offer]
    assert len(report.rejected) == 5 and not log.forks


def test_a_member_revoked_keeps_a_budget_past_after_seq():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    nb.revoke(nb.founder, bea, after_seq=3)
    late = [nb.offer(bea, f"late {i}") for i in range(MAX_UNCOUNTED_SEQS + 10)]
    log = ListLog(nb.id)
    report = log.ingest(nb.records, nb.clock)
    assert max(r.seq for r in kept(log, bea.public)) == 3 + MAX_UNCOUNTED_SEQS
    assert len(report.rejected) == len(late) - (3 + MAX_UNCOUNTED_SEQS - late[0].seq + 1)
    assert {type(r.error) for r in report.rejected} == {NotCounted}


def test_a_replica_that_stored_records_before_the_revoke_keeps_them_and_refuses_what_follows():
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    early = [nb.offer(bea) for _ in range(MAX_UNCOUNTED_SEQS + 5)]
    revoke = nb.revoke(nb.founder, bea, after_seq=1)
    later = [nb.offer(bea) for _ in range(3)]
    log = ListLog(nb.id)
    log.ingest([r for r in nb.records if r is not revoke and r not in later], nb.clock)
    assert all(r in log.log for r in early)
    report = log.ingest([revoke, *later], nb.clock)
    assert len(report.rejected) == 3 and revoke in log.log


def test_a_device_linked_or_invited_by_an_uncounted_joiner_is_not_admitted():
    nb, (eve,) = spent_invite()
    tablet = nb.link(eve, 30)
    invite, secret = nb.invite(eve)
    nb.join_with(31, invite, secret)
    mallory = nb.devices[31]
    offers = [nb.offer(tablet), nb.offer(mallory)]
    log = ListLog(nb.id)
    log.ingest(nb.records, nb.clock)
    membership = log.admissions.membership
    assert membership.admits(offers[0]) is Admission.WAIT  # the link taught nothing
    assert membership.admits(offers[1]) is Admission.WAIT  # nor did Eve's invite
    assert tablet.public not in membership.households and mallory.public not in membership.households


def test_an_invite_keeps_at_most_its_uses_plus_the_extra_joins():
    nb, joiners = spent_invite(extra_joiners=MAX_EXTRA_JOINS + 3)
    log = ListLog(nb.id)
    report = log.ingest(nb.records, nb.clock)
    joins = [r for r in log.log if r.kind == "join"]
    assert len(joins) == 1 + MAX_EXTRA_JOINS
    assert [type(r.error) for r in report.rejected] == [NotAdmitted] * 3


def test_an_expired_join_is_refused_outright():
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder, expires=nb.clock + 1)
    nb.tick(10)
    join = nb.join_with(2, invite, secret)
    membership = Membership(nb.id)
    for record in nb.records[:-1]:
        membership.add(record)
    assert membership.admits(join) is Admission.REJECT


def test_the_first_join_in_c_order_counts_whichever_arrived_first():
    """Two joins with one use: the replica that logged the later one first
    cuts it as soon as the earlier arrives; both replicas then agree."""
    nb, (eve,) = spent_invite()
    bea_join = next(r for r in nb.records if r.kind == "join")
    offers = [nb.offer(eve) for _ in range(3)]
    first, second = ListLog(nb.id), ListLog(nb.id)
    first.ingest(nb.records, nb.clock)
    second.ingest([r for r in nb.records if r is not bea_join], nb.clock)
    assert all(r in second.log for r in offers)  # Eve counted there, until...
    second.ingest([bea_join], nb.clock)
    extra = nb.offer(eve)
    for log in (first, second):
        assert log.admissions.membership.cuts() == {eve.public: 1}
        assert log.admissions.admits(extra) is Admission.LIMITED


def test_replicas_holding_the_same_membership_records_give_the_same_verdicts():
    nb, (eve, eve2) = spent_invite(extra_joiners=2)
    bea = nb.devices[2]
    nb.revoke(nb.founder, bea, after_seq=2)
    probes = [nb.offer(d) for d in (bea, eve, eve2, nb.founder) for _ in range(3)]
    membership_records = [r for r in nb.records if r.kind not in ("offer", "household")]
    verdicts = set()
    for seed in range(6):
        shuffled = list(membership_records)
        random.Random(seed).shuffle(shuffled)
        admissions = Admissions(nb.id)
        admissions.replay(shuffled)
        verdicts.add(tuple(admissions.admits(p) for p in probes))
    assert len(verdicts) == 1


def test_a_store_reloaded_from_its_log_draws_the_same_line():
    """Bea, revoked from her first record, uses no invite: Eve's join counts."""
    nb, (eve,) = spent_invite()
    nb.revoke(nb.founder, nb.devices[2], after_seq=0)
    log = ListLog(nb.id)
    log.ingest(nb.records, nb.clock)
    reloaded = Admissions(nb.id)
    reloaded.replay(log.log)
    assert reloaded.membership.cuts() == log.admissions.membership.cuts() == {nb.devices[2].public: 0}
    assert eve.public in build_state(log.log, nb.id).members


def test_a_revoke_by_a_non_admin_casts_no_doubt():
    """Only the founding household's revokes can count: a member naming the
    founder in a revoke leaves every verdict as cheap as before."""
    nb = TestNeighbourhood()
    bea = nb.join(2)
    nb.revoke(bea, nb.founder, after_seq=0)
    admissions = Admissions(nb.id)
    admissions.replay(nb.records)
    membership = admissions.membership
    assert not membership.doubtful(nb.founder.public) and membership.cuts() == {}
    assert membership.admits(nb.offer(nb.founder)) is Admission.ADMIT


def test_doubt_follows_the_path_back_to_the_founder():
    nb, (eve,) = spent_invite()
    tablet = nb.link(nb.devices[2], 40)
    admissions = Admissions(nb.id)
    admissions.replay(nb.records)
    membership = admissions.membership
    assert membership.doubtful(eve.public) and membership.doubtful(nb.devices[2].public)  # the crowded invite
    assert membership.doubtful(tablet.public) and not membership.doubtful(nb.founder.public)
    assert membership.cuts() == {eve.public: 1}  # doubt is cheap; the roster decides


def test_a_copy_keeps_the_verdicts_known_and_doubts_on_its_own():
    """A copy answers as the original did (the doubts it was asked about
    come with it), and a revoke it learns casts no doubt on the original."""
    nb = TestNeighbourhood()
    bea = nb.join(2)
    revoke = nb.revoke(nb.founder, bea, after_seq=0)
    admissions = Admissions(nb.id)
    admissions.replay([r for r in nb.records if r is not revoke])
    original = admissions.membership
    assert not original.doubtful(bea.public) and not original.doubtful(nb.founder.public)
    twin = original.copy()
    assert not twin.doubtful(bea.public) and not twin.doubtful(nb.founder.public)
    twin.add(revoke)
    assert twin.doubtful(bea.public) and not original.doubtful(bea.public)
    assert twin.admits(nb.offer(bea)) is not Admission.ADMIT
    assert original.admits(nb.records[-1]) is Admission.ADMIT


def test_a_batch_is_admitted_at_once_only_when_each_record_is_admitted():
    """admits_all says True only when admits gives ADMIT for every record,
    and does for the usual batch (members in no doubt); a spent invite's
    joiner, a device not yet admitted, another neighbourhood's record make
    it False, and so do records it leaves to admits (a member in doubt, a
    genesis); a revoke learned later takes its member out at once."""
    nb, (eve,) = spent_invite()
    bea = nb.join(20)
    stranger = nb.device(30)
    other = TestNeighbourhood(name="Oak Street")
    usual = [nb.offer(nb.founder), nb.offer(bea)]
    unusual = [
        nb.offer(eve), nb.offer(nb.devices[2]), nb.write(stranger, "offer", {"item": "x", "quantity": 1, "unit": "kg"}),
        nb.records[0], other.offer(other.founder),
    ]
    admissions = Admissions(nb.id)
    admissions.replay(nb.records)
    membership = admissions.membership
    assert membership.admits_all(usual) and all(membership.admits(r) is Admission.ADMIT for r in usual)
    for record in unusual:
        assert not membership.admits_all([record]) and not membership.admits_all([*usual, record])
    assert [membership.admits(r) for r in unusual] == [
        Admission.LIMITED, Admission.ADMIT, Admission.WAIT, Admission.ADMIT, Admission.REJECT,
    ]
    admissions.learn(nb.revoke(nb.founder, bea, after_seq=0), admitted=True)
    assert not membership.admits_all([usual[1]]) and membership.admits(usual[1]) is not Admission.ADMIT
    assert membership.admits_all([usual[0]])
