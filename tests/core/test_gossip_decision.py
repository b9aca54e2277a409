"""The gossip decision and gap detection of the core (:mod:`meshpantry.core.gossip`):
what a replica does with one gossip message, whoever runs it."""

from __future__ import annotations

import msgpack
import pytest

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.gossip import (
    GAP_LOOKUP_RECORDS,
    Verdict,
    check_shared,
    decide,
    missing_before,
)
from meshpantry.core.ingest import check_record
from meshpantry.core.membership import Admission
from meshpantry.core.validation import LamportTooFarAhead, NotAdmitted, TimeInFuture, WrongNeighbourhood
from meshpantry.keys import DeviceKey
from protocol import decode_record, seal
from protocol.errors import BadSignature, DecodeError, Malformed
from protocol.limits import MAX_COUNTER, MAX_FUTURE_SKEW_MS, MAX_LAMPORT_LEAD

HOOD = bytes(range(32))
NOW = 1_700_000_000_000


def chain(length: int, *, now: int = NOW, hood: bytes = HOOD):
    secret = DeviceKey.generate().secret
    head, records = ChainHead(), []
    for n in range(length):
        record = next_record(secret, head, neighbourhood=hood, kind="offer",
                             body={"item": f"pears {n}", "quantity": 1, "unit": "kg"}, now=now)
        head = head.after(record)
        records.append(record)
    return records


def bad_signature(raw: bytes) -> bytes:
    payload, signature = msgpack.unpackb(raw, raw=False)
    signature = bytes([signature[0] ^ 1]) + signature[1:]
    return msgpack.packb([payload, signature], use_bin_type=True)


def admit_all(record):
    return Admission.ADMIT


def test_an_admitted_message_is_accepted_and_forwarded():
    records = chain(3)
    decision = decide(records, admit_all)
    assert decision.verdict is Verdict.ACCEPT and decision.forward and not decision.blame
    assert list(decision.records) == records and decision.error is None


@pytest.mark.parametrize("verdict, waiting", [(Admission.WAIT, True), (Admission.REJECT, False)])
def test_one_record_not_admitted_drops_the_whole_message_and_blames_nobody(verdict, waiting):
    records = chain(3)
    outsider = records[1]
    decision = decide(records, lambda r: verdict if r is outsider else Admission.ADMIT)
    assert decision.verdict is Verdict.IGNORE and not decision.forward and not decision.blame
    assert isinstance(decision.error, NotAdmitted) and decision.error.waiting is waiting
    assert list(decision.records) == []


@pytest.mark.parametrize("error, verdict", [
    (Malformed("cut short"), Verdict.REJECT),
    (BadSignature(bytes(32)), Verdict.REJECT),
    (WrongNeighbourhood(HOOD, bytes(32)), Verdict.REJECT),
    (TimeInFuture(NOW + 2 * MAX_FUTURE_SKEW_MS, NOW, MAX_FUTURE_SKEW_MS), Verdict.IGNORE),
])
def test_a_failed_stateless_check_rejects_and_blames_only_for_a_forgery(error, verdict):
    decision = decide(error, admit_all)
    assert decision.verdict is verdict and not decision.forward
    assert decision.blame is (verdict is Verdict.REJECT) and decision.error is error


def test_admission_is_not_asked_once_a_stateless_check_failed():
    asked = []
    decide(BadSignature(bytes(32)), lambda r: asked.append(r) or Admission.ADMIT)
    assert asked == []


def shared(raw: bytes):
    """What a table shared by many receivers keeps: the decoding (or its
    error) and the signature's failure."""
    try:
        record = decode_record(raw)
    except DecodeError as error:
        return error, None
    try:
        check_record(raw, neighbourhood=record.neighbourhood or record.id, now=record.time)
    except BadSignature as error:
        return record, error
    return record, None


@pytest.mark.parametrize("case", ["good", "forged", "future", "forged-future", "elsewhere",
                                  "forged-elsewhere", "cut"])
def test_check_shared_fails_as_check_record_fails_on_the_same_bytes(case):
    """The simulator's one-decode-per-run path reports the failure the node's
    path reports first, so both take the same decision."""
    time = NOW + 2 * MAX_FUTURE_SKEW_MS if "future" in case else NOW
    hood = bytes(32) if "elsewhere" in case else HOOD
    raw = chain(1, now=time, hood=hood)[0].raw
    if "forged" in case:
        raw = bad_signature(raw)
    if case == "cut":
        raw = raw[:40]

    def outcome(check):
        try:
            return check().id
        except Exception as error:  # noqa: BLE001 - the failure is what is compared
            return type(error)

    node = outcome(lambda: check_record(raw, neighbourhood=HOOD, now=NOW))
    simulator = outcome(lambda: check_shared(*shared(raw), neighbourhood=HOOD, now=NOW))
    assert node == simulator
    if case == "good":
        assert isinstance(node, bytes)
    else:
        assert isinstance(node, type) and issubclass(node, Exception)


def test_missing_before_names_the_predecessors_not_held_in_message_order():
    records = chain(6)
    held = {records[0].id, records[1].id, records[3].id}
    message = [records[2], records[4], records[5], records[0]]
    # records[2] follows records[1] (held), [4] follows [3] (held), [5] follows [4]
    # (not held), [0] has no predecessor.
    assert missing_before(message, held.__contains__) == [records[4].id]


def test_missing_before_looks_at_the_first_records_of_a_message_only():
    records = chain(GAP_LOOKUP_RECORDS + 2)
    nothing_held = set().__contains__
    missing = missing_before(records[1:], nothing_held)
    assert missing == [r.id for r in records[:GAP_LOOKUP_RECORDS]]


def lamport_chain(counters: list[int]):
    """Offers of one chain with the given counters."""
    secret, records, prev = DeviceKey.generate().secret, [], None
    for seq, counter in enumerate(counters, 1):
        record = seal(secret, neighbourhood=HOOD, seq=seq, prev=prev, lamport=counter, time=NOW, kind="offer",
                      body={"item": f"plums {seq}", "quantity": 1, "unit": "kg"})
        records.append(record)
        prev = record.id
    return records


def test_a_counter_beyond_the_reach_is_ignored_and_admission_is_not_asked():
    """Step 5b, as ingest applies it: such a message is not forwarded, and
    nobody is blamed (the receiver may lack the records in between)."""
    asked = []
    records = lamport_chain([5, MAX_COUNTER])
    decision = decide(records, lambda r: asked.append(r) or Admission.ADMIT, reach=10)
    assert decision.verdict is Verdict.IGNORE and not decision.forward and not decision.blame
    assert decision.error == LamportTooFarAhead(MAX_COUNTER, 10, MAX_LAMPORT_LEAD)
    assert asked == []


def test_a_message_climbs_within_the_lead_record_by_record():
    """Each record may lie within the lead of the reach grown by the
    message's earlier records, as ingest grows it batch by batch."""
    climbing = lamport_chain([MAX_LAMPORT_LEAD, 2 * MAX_LAMPORT_LEAD, 3 * MAX_LAMPORT_LEAD])
    assert decide(climbing, admit_all, reach=0).forward
    gap = lamport_chain([MAX_LAMPORT_LEAD, 3 * MAX_LAMPORT_LEAD])
    decision = decide(gap, admit_all, reach=0)
    assert decision.error == LamportTooFarAhead(3 * MAX_LAMPORT_LEAD, MAX_LAMPORT_LEAD, MAX_LAMPORT_LEAD)


def test_without_a_reach_the_counter_is_left_to_ingest():
    assert decide(lamport_chain([MAX_COUNTER]), admit_all).forward
