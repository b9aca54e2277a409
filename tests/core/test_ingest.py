"""The ingest pipeline: one ordered list of checks, one error type per check.

Each test takes a valid record, breaks one thing, and sees that check's error;
the order tests break two things at once and see the earlier check's error.
"""

from __future__ import annotations

import pytest

from meshpantry.core import ingest
from meshpantry.core.lamport import LamportReach, reach_of
from meshpantry.core.validation import LamportTooFarAhead, NotAdmitted, TimeInFuture, WrongNeighbourhood
from meshpantry.core.waiting import WaitingRoom
from protocol import Record
from protocol.envelope import assemble
from protocol.errors import BadSignature, DecodeError, Malformed, NonCanonical, TooLarge
from protocol.limits import MAX_FUTURE_SKEW_MS, MAX_LAMPORT_LEAD, MAX_RECORD_BYTES

from .logs import ListLog
from .records import TestNeighbourhood, fork_of, reseal


@pytest.fixture
def nb() -> TestNeighbourhood:
    nb = TestNeighbourhood()
    nb.join(2, name="Bea")
    return nb


def forged(record: Record) -> bytes:
    """``record`` with one bit of its signature flipped."""
    signature = bytearray(record.signature)
    signature[3] ^= 1
    return assemble(record.payload, bytes(signature))


def check(nb: TestNeighbourhood, raw: bytes, now: int | None = None) -> Record:
    return ingest.check_record(raw, neighbourhood=nb.id, now=nb.clock if now is None else now)


# -- steps 1-4, one error type each ----------------------------------------------------


def test_a_valid_record_passes_every_stateless_check(nb):
    for record in nb.records:
        assert check(nb, record.raw) == record


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"\x00" * (MAX_RECORD_BYTES + 1), TooLarge),
        (b"\x93\x01\x02\x03", Malformed),
        (b"\xd9\x01a", NonCanonical),
    ],
)
def test_step_1_decode(nb, raw, error):
    with pytest.raises(error):
        check(nb, raw)


def test_step_2_neighbourhood(nb):
    bea = nb.devices[2]
    elsewhere = reseal(bea, nb.offer(bea, "leeks"), neighbourhood=bytes(32))
    with pytest.raises(WrongNeighbourhood) as caught:
        check(nb, elsewhere.raw)
    assert caught.value.data == {"expected": nb.id, "found": bytes(32)}


def test_step_2_neighbourhood_of_a_genesis_is_its_id(nb):
    other = TestNeighbourhood(name="Oak Road")
    with pytest.raises(WrongNeighbourhood) as caught:
        check(nb, other.genesis.raw)
    assert caught.value.found == other.id


def test_step_3_time_bound(nb):
    record = nb.offer(nb.devices[2], "plums")
    now = record.time - MAX_FUTURE_SKEW_MS - 1
    with pytest.raises(TimeInFuture) as caught:
        check(nb, record.raw, now=now)
    assert caught.value.data == {"time": record.time, "now": now, "limit": MAX_FUTURE_SKEW_MS}
    assert check(nb, record.raw, now=now + 1) == record  # exactly at the limit is fine


def test_step_4_signature(nb):
    record = nb.offer(nb.devices[2], "kale")
    with pytest.raises(BadSignature):
        check(nb, forged(record))


def test_the_checks_run_in_order(nb):
    """A record breaking two rules fails the earlier check."""
    bea = nb.devices[2]
    offer = nb.offer(bea, "beans")
    far = reseal(bea, offer, neighbourhood=bytes(32), time=offer.time + 10 * MAX_FUTURE_SKEW_MS)
    with pytest.raises(WrongNeighbourhood):  # 2 before 3
        check(nb, forged(far))
    late = reseal(bea, offer, time=offer.time + 10 * MAX_FUTURE_SKEW_MS)
    with pytest.raises(TimeInFuture):  # 3 before 4
        check(nb, forged(late), now=offer.time)
    with pytest.raises(DecodeError):  # 1 before everything
        check(nb, forged(late)[:-1])


def test_forgery_marks_the_sender_and_clock_or_membership_do_not():
    assert ingest.is_forgery(BadSignature(b"x" * 32))
    assert ingest.is_forgery(Malformed("x"))
    assert ingest.is_forgery(WrongNeighbourhood(b"a", b"b"))
    assert not ingest.is_forgery(TimeInFuture(2, 1, 0))
    assert not ingest.is_forgery(NotAdmitted(b"a", "offer", True))


# -- steps 5-9 over a record log --------------------------------------------------------


def test_a_neighbourhood_in_writing_order_is_logged_whole(nb):
    log = ListLog(nb.id)
    report = log.ingest(nb.records, now=nb.clock)
    assert log.log == nb.records and report.added == [r.id for r in nb.records]
    assert report.logged == nb.records and log.appends == 1
    assert (report.duplicates, report.waiting, report.rejected, report.forks) == (0, 0, [], [])


def test_step_5_duplicates_are_counted_not_logged(nb):
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    offer = nb.offer(nb.devices[2], "eggs")
    report = log.ingest([nb.records[1], offer, offer], now=nb.clock)
    assert report.added == [offer.id] and report.duplicates == 2
    assert log.log.count(offer) == 1


def test_steps_2_and_3_run_again_on_checked_records(nb):
    """Checked elsewhere, on another clock: the receiver's own bound still holds."""
    bea = nb.devices[2]
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    late = nb.offer(bea, "figs", time=nb.clock + 2 * MAX_FUTURE_SKEW_MS)
    elsewhere = reseal(bea, nb.offer(bea, "pears"), neighbourhood=bytes(32))
    report = log.ingest([late, elsewhere], now=nb.clock)
    assert [(r.index, type(r.error)) for r in report.rejected] == [(0, TimeInFuture), (1, WrongNeighbourhood)]
    assert report.added == []


def test_step_6_and_7_records_wait_for_membership_then_count(nb):
    """cy's offer, then her join, then the invite: all three end in the log."""
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    offer = nb.offer(nb.devices[3], "apples")
    log = ListLog(nb.id)
    log.ingest([r for r in nb.records if r not in (invite, join, offer)], now=nb.clock)
    first = log.ingest([offer, join], now=nb.clock)
    assert (first.added, first.waiting) == ([], 2) and log.room.ids() == [offer.id, join.id]
    second = log.ingest([invite], now=nb.clock)
    assert second.added == [invite.id, join.id, offer.id] and second.waiting == 0
    assert log.waiting == {} and len(log.room) == 0


def test_step_6_a_bad_proof_is_not_admitted_even_after_waiting(nb):
    invite, _ = nb.invite(nb.founder)
    _, wrong_secret = nb.invite(nb.founder)
    bad = nb.join_with(7, invite, wrong_secret)
    log = ListLog(nb.id)
    log.ingest([r for r in nb.records if r is not invite], now=nb.clock)
    report = log.ingest([invite], now=nb.clock)
    assert report.added == [invite.id]
    assert [(r.index, r.error) for r in report.rejected] == [(None, NotAdmitted(bad.author, "join", False))]


def test_step_7_the_room_is_bounded_oldest_first(nb):
    stranger = nb.device(20)
    notes = [nb.offer(stranger, f"note {i}") for i in range(4)]
    log = ListLog(nb.id, WaitingRoom(per_author=3, total=10))
    log.ingest([r for r in nb.records if r not in notes], now=nb.clock)
    report = log.ingest(notes, now=nb.clock)
    assert report.dropped_waiting == 1 and report.waiting == 3
    assert log.room.ids() == [r.id for r in notes[1:]] and set(log.waiting) == set(log.room.ids())


def test_step_8_a_fork_is_logged_as_evidence_not_refused(nb):
    bea = nb.devices[2]
    offer = nb.offer(bea, "leeks")
    twin = fork_of(bea, offer, {"item": "onions", "quantity": 1, "unit": "kg"})
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    report = log.ingest([twin], now=nb.clock)
    assert report.added == [twin.id]
    assert report.forks == [ingest.Fork(bea.public, offer.seq, offer.id, twin.id)] == log.forks


def test_step_8_a_record_after_a_gap_or_a_bad_link_is_logged(nb):
    """The link is judged by the views: refusing it would depend on arrival order."""
    bea = nb.devices[2]
    first, second, third = (nb.offer(bea, f"item {i}") for i in range(3))
    log = ListLog(nb.id)
    log.ingest([r for r in nb.records if r not in (second, third)], now=nb.clock)
    bad_link = reseal(bea, third, prev=bytes(32))
    report = log.ingest([bad_link], now=nb.clock)
    assert report.added == [bad_link.id] and report.rejected == []


def test_admit_waiting_after_membership_grew_elsewhere(nb):
    """An own invite (learned outside an ingest) lets the join that waited in."""
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    log = ListLog(nb.id)
    log.ingest([r for r in nb.records if r not in (invite, join)], now=nb.clock)
    assert log.ingest([join], now=nb.clock).waiting == 1
    log.log.append(invite)  # as a store's append_own would
    assert ingest.learn_own(log.admissions, invite)
    report = ingest.admit_waiting(log, log.admissions, log.room)
    assert report.added == [join.id] and log.log[-1] == join


# -- own records ----------------------------------------------------------------------------


def test_own_records_get_the_neighbourhood_and_chain_checks(nb):
    """check_own: same error types as a peer's record gets for those rules."""
    from meshpantry.core.validation import PrevMismatch, SeqNotIncremental

    bea = nb.devices[2]
    first = nb.offer(bea, "leeks")
    head = (first.seq, first.id)
    second = nb.offer(bea, "beans")
    ingest.check_own(second, neighbourhood=nb.id, head=head)
    with pytest.raises(SeqNotIncremental) as caught:
        ingest.check_own(first, neighbourhood=nb.id, head=head)  # its seq again: a fork
    assert caught.value.data == {"expected": first.seq + 1, "found": first.seq}
    with pytest.raises(PrevMismatch):
        ingest.check_own(reseal(bea, second, prev=bytes(32)), neighbourhood=nb.id, head=head)
    with pytest.raises(WrongNeighbourhood):
        ingest.check_own(reseal(bea, second, neighbourhood=bytes(32)), neighbourhood=nb.id, head=head)
    with pytest.raises(WrongNeighbourhood):  # a second genesis
        ingest.check_own(TestNeighbourhood(name="Oak Road", founder=2).genesis, neighbourhood=nb.id, head=(0, None))
    ingest.check_own(nb.genesis, neighbourhood=None, head=(0, None))  # founding


# -- step 5b: the Lamport bound -----------------------------------------------------------

TOP = 2**63 - 1


def test_step_5b_a_counter_past_the_lead_is_refused_not_logged(nb):
    """c = 2^63 - 1 from a member would leave no counter for anyone's next record."""
    bea = nb.devices[2]
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    reach = log.lamport_reach()
    exhausting = reseal(bea, nb.offer(bea, "plums"), lamport=TOP)
    report = log.ingest([exhausting], now=nb.clock)
    assert report.added == []
    assert [r.error for r in report.rejected] == [LamportTooFarAhead(TOP, reach, MAX_LAMPORT_LEAD)]
    assert not ingest.is_forgery(report.rejected[0].error)  # the receiver may only lack records


def test_step_5b_exactly_at_the_lead_is_logged_and_the_batch_climbs(nb):
    """Within one batch, each logged record moves the bound (records of a
    catch-up arrive in one batch)."""
    bea = nb.devices[2]
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    reach = log.lamport_reach()
    first = reseal(bea, nb.offer(bea, "a"), lamport=reach + MAX_LAMPORT_LEAD)
    second = reseal(bea, nb.offer(bea, "b"), lamport=reach + 2 * MAX_LAMPORT_LEAD, prev=first.id)
    third = reseal(bea, nb.offer(bea, "c"), lamport=reach + 4 * MAX_LAMPORT_LEAD)
    report = log.ingest([first, second, third], now=nb.clock)
    assert report.added == [first.id, second.id]
    assert [(r.index, type(r.error)) for r in report.rejected] == [(2, LamportTooFarAhead)]
    assert log.lamport_reach() == reach + 2 * MAX_LAMPORT_LEAD


def test_step_5b_holds_for_a_revoked_member_and_a_spent_invite(nb):
    """Records the log keeps though they never count are bounded all the same."""
    invite, secret = nb.invite(nb.founder, uses=1)
    nb.join_with(3, invite, secret)
    bea = nb.devices[2]
    nb.revoke(nb.founder, bea, after_seq=1)
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    revoked = reseal(bea, nb.offer(bea, "late"), lamport=TOP)
    spent = reseal(nb.device(9), nb.join_with(9, invite, secret), lamport=TOP)
    report = log.ingest([revoked, spent], now=nb.clock)
    assert report.added == []
    assert [type(r.error) for r in report.rejected] == [LamportTooFarAhead] * 2


def test_the_reach_ignores_a_counter_beyond_it_and_depends_only_on_the_set():
    lead = MAX_LAMPORT_LEAD
    counters = [1, 2, 5, lead + 5, TOP, 3 * lead]
    assert reach_of(counters) == lead + 5
    assert reach_of(reversed(counters)) == lead + 5
    grown = LamportReach()
    for counter in counters:
        grown.add(counter)
    assert (grown.reach, grown.beyond) == (lead + 5, 2)
    grown.add(2 * lead)  # bridges the gap to 3 * lead
    assert (grown.reach, grown.beyond) == (3 * lead, 1)
    assert reach_of([]) == 0 and reach_of([lead + 1]) == 0


# -- verdicts handed on from the gossip decision ----------------------------------------------


def admitted_ingest(log: ListLog, records: list[Record], now: int) -> ingest.IngestReport:
    return ingest.ingest_checked(
        log, log.admissions, log.room, records, neighbourhood=log.neighbourhood, now=now, admitted=True
    )


def test_step_6_verdicts_handed_on_are_not_asked_again(nb):
    """A gossip decision that accepted a message asked admission of every
    record; its ingest trusts those verdicts (admission never shrinks)."""
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    asked = []
    admits = log.admissions.membership.admits
    log.admissions.membership.admits = lambda record: asked.append(record) or admits(record)
    offers = [nb.offer(nb.devices[2], item) for item in ("leeks", "beans")]
    report = admitted_ingest(log, offers, nb.clock)
    assert report.added == [r.id for r in offers] and asked == []


def _batches(nb: TestNeighbourhood) -> list[tuple[list[Record], list[Record]]]:
    """(log before, batch) pairs, every batch admitted by the log before it:
    plain records, a fork of a logged record, a duplicate inside the batch,
    a record held already, a membership record with a record it admits,
    a record after the batch's own fork, and one failing step 3."""
    bea = nb.devices[2]
    base = list(nb.records)
    offer = nb.offer(bea, "leeks")
    twin = fork_of(bea, offer, {"item": "onions", "quantity": 1, "unit": "kg"})
    more = [nb.offer(bea, f"item {i}") for i in range(3)]
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    late = nb.offer(bea, "figs", time=nb.clock + 2 * MAX_FUTURE_SKEW_MS)
    return [
        (base, [offer, *more]),
        (base + [offer], [twin, *more]),
        (base, [offer, more[0], offer]),
        (base + [offer], [offer, *more]),
        (base, [invite, join, *more]),
        (base, [offer, twin, more[1]]),
        (base, [more[0], late, more[2]]),
    ]


def test_an_admitted_batch_gets_the_report_it_gets_record_by_record(nb):
    """The batched steps 8-9 log, count and keep evidence exactly as the
    record-by-record steps do."""
    for before, batch in _batches(nb):
        apart, together = ListLog(nb.id), ListLog(nb.id)
        for log in (apart, together):
            log.ingest(before, now=nb.clock)
        expected = apart.ingest(batch, now=nb.clock)
        found = admitted_ingest(together, batch, nb.clock)
        assert found == expected
        assert (together.log, together.forks) == (apart.log, apart.forks)


def test_step_5b_holds_for_verdicts_handed_on_from_the_gossip_decision(nb):
    """The gossip decision does not bound counters: an admitted batch still
    takes step 5b, whole (the batched steps) or record by record."""
    bea = nb.devices[2]
    for with_extra in (False, True):
        log = ListLog(nb.id)
        log.ingest(nb.records, now=nb.clock)
        reach = log.lamport_reach()
        extra = [nb.offer(bea, "figs")] if with_extra else []
        exhausting = reseal(bea, nb.offer(bea, "plums"), lamport=TOP)
        report = admitted_ingest(log, [*extra, exhausting], nb.clock)
        assert report.added == [r.id for r in extra]
        assert [type(r.error) for r in report.rejected] == [LamportTooFarAhead]
        assert log.lamport_reach() == max([reach, *(r.lamport for r in extra)])


def test_records_after_an_admitted_batch_see_its_seqs(nb):
    """Records an intake takes after a batch it logged whole (by
    log_admitted) see that batch's (author, seq): a repeat is a duplicate
    and another record at one of its seqs is a fork."""
    bea = nb.devices[2]
    log = ListLog(nb.id)
    log.ingest(nb.records, now=nb.clock)
    offers = [nb.offer(bea, item) for item in ("leeks", "beans")]
    twin = fork_of(bea, offers[1], {"item": "onions", "quantity": 1, "unit": "kg"})
    intake = ingest.Intake(log, log.admissions, log.room, nb.clock)
    intake.log_admitted(offers)
    intake.take(None, offers[0])
    intake.take(None, twin)
    report = intake.finish()
    assert report.added == [offers[0].id, offers[1].id, twin.id]
    assert report.duplicates == 1
    assert report.forks == [ingest.Fork(bea.public, offers[1].seq, offers[1].id, twin.id)]


def test_steps_2_and_3_of_a_message_fail_on_its_first_bad_record(nb):
    """check_decoded_all judges a message's records in order: the first
    failing record's error, whichever check it fails."""
    bea = nb.devices[2]
    good = nb.offer(bea, "leeks")
    elsewhere = reseal(bea, nb.offer(bea, "kale"), neighbourhood=bytes(32))
    late = nb.offer(bea, "figs", time=nb.clock + 2 * MAX_FUTURE_SKEW_MS)
    ingest.check_decoded_all([good, good], neighbourhood=nb.id, now=nb.clock)
    ingest.check_decoded_all([], neighbourhood=nb.id, now=nb.clock)
    with pytest.raises(WrongNeighbourhood):
        ingest.check_decoded_all([good, elsewhere, late], neighbourhood=nb.id, now=nb.clock)
    with pytest.raises(TimeInFuture):
        ingest.check_decoded_all([good, late, elsewhere], neighbourhood=nb.id, now=nb.clock)
