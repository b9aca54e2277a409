"""No single record can use up the Lamport counter (SPEC section 7.2).

A record with ``c = 2^63 - 1`` once left every honest device unable to write
(its next counter did not fit), for good: the record stayed in the log through
restarts and rebuilds. Now a receiver refuses a counter more than
``MAX_LAMPORT_LEAD`` above the reach of its log, whoever signed it, and a
device's own next counter ignores a counter beyond the reach (one logged
before the rule existed).
"""

from __future__ import annotations

import nacl.bindings
import pytest

from meshpantry.core.chain import ChainHead
from meshpantry.core.membership import join_message
from meshpantry.core.validation import LamportTooFarAhead
from meshpantry.pantry import Pantry
from meshpantry.pantry.invite_code import InviteCode
from meshpantry.store import log
from meshpantry.store.database import transaction
from protocol import Record, seal
from protocol.limits import MAX_COUNTER, MAX_LAMPORT_LEAD

from .conftest import Household


def exhausting(secret: bytes, head: ChainHead, neighbourhood: bytes, kind: str, body: dict, now: int) -> Record:
    """The record after ``head``, with the highest counter the format allows."""
    return seal(
        secret, neighbourhood=neighbourhood, seq=head.seq + 1, prev=head.id,
        lamport=MAX_COUNTER, time=now, kind=kind, body=body,
    )


def offer_from(author: Household) -> Record:
    pantry = Pantry.open(author.data_dir)
    try:
        head = pantry.store.own_head(pantry.device)
        return exhausting(
            pantry.key.secret, head, pantry.neighbourhood, "offer",
            {"item": "plums", "quantity": 1, "unit": "kg"}, pantry.clock(),
        )
    finally:
        pantry.close()


def refused(receiver: Household, record: Record) -> list:
    pantry = Pantry.open(receiver.data_dir)
    try:
        report = pantry.store.ingest([record.raw], pantry.clock())
        assert report.added == []
        return [r.error for r in report.rejected]
    finally:
        pantry.close()


def still_writes(household: Household, item: str) -> None:
    """An offer, a restart (every command opens the store anew), a rebuild,
    and another offer all succeed."""
    first = household.json("offer", "add", item, "1", "kg")
    assert household.json("rebuild")["identical"] is True
    second = household.json("offer", "add", f"more {item}", "1", "kg")
    counters = {r["id"]: r["lamport"] for r in household.json("log", "--kind", "offer")["records"]}
    assert counters[first["id"]] < counters[second["id"]] < MAX_LAMPORT_LEAD


def test_from_a_member(pair):
    okafors, zhengs = pair
    record = offer_from(zhengs)
    (error,) = refused(okafors, record)
    assert isinstance(error, LamportTooFarAhead) and error.lamport == MAX_COUNTER
    still_writes(okafors, "apples")


def test_from_a_revoked_member(pair):
    okafors, zhengs = pair
    zhengs_key = zhengs.json("whoami")["device"]
    assert okafors.run("revoke", zhengs_key)[0] == 0
    record = offer_from(zhengs)
    assert [type(e) for e in refused(okafors, record)] == [LamportTooFarAhead]
    still_writes(okafors, "apples")


def test_from_an_outsider_replaying_a_spent_invite(pair, household):
    """The invite was used by the Zhengs; an outsider holding the code signs a
    join of its own (stored, never counted) with the top counter."""
    okafors, _ = pair
    code = InviteCode.decode(okafors.json("invite", "create")["code"])
    spender = household("spender")
    assert spender.run("init", "--household", "Spender")[0] == 0
    assert spender.run("join", code.encode())[0] == 0
    okafors.receive(spender.records())
    outsider = Pantry.open(spender.data_dir)  # any key will do: a fresh one
    try:
        _, invite_secret = nacl.bindings.crypto_sign_seed_keypair(code.seed)
        outsider_secret = nacl.bindings.crypto_sign_seed_keypair(bytes(range(32)))[1]
        proof = nacl.bindings.crypto_sign(join_message(code.neighbourhood, outsider_secret[32:]), invite_secret)[:64]
        replay = exhausting(
            outsider_secret, ChainHead(), code.neighbourhood, "join",
            {"invite": code.invite, "proof": proof}, outsider.clock(),
        )
    finally:
        outsider.close()
    assert [type(e) for e in refused(okafors, replay)] == [LamportTooFarAhead]
    still_writes(okafors, "apples")


def test_a_counter_logged_before_the_rule_does_not_stop_writing(pair):
    """A store that took ``c = 2^63 - 1`` before receivers bounded counters:
    the device's next counter goes one above the reach, not above that."""
    okafors, zhengs = pair
    record = offer_from(zhengs)
    pantry = Pantry.open(okafors.data_dir)
    try:
        with transaction(pantry.store._conn):
            log.insert(pantry.store._conn, [record])  # as an older version stored it
    finally:
        pantry.close()
    still_writes(okafors, "apples")
    assert record.raw in okafors.records()


@pytest.mark.parametrize("ahead", [MAX_LAMPORT_LEAD, MAX_LAMPORT_LEAD + 1])
def test_the_bound_is_the_lead_above_the_reach(pair, ahead):
    """Both households hold the same records, so the Zhengs' head counter is
    the reach of the Okafors' log."""
    okafors, zhengs = pair
    pantry = Pantry.open(zhengs.data_dir)
    try:
        head = pantry.store.own_head(pantry.device)
        record = seal(
            pantry.key.secret, neighbourhood=pantry.neighbourhood, seq=head.seq + 1, prev=head.id,
            lamport=head.lamport + ahead, time=pantry.clock(), kind="offer",
            body={"item": "plums", "quantity": 1, "unit": "kg"},
        )
    finally:
        pantry.close()
    if ahead <= MAX_LAMPORT_LEAD:
        okafors.receive([record.raw])
        assert record.raw in okafors.records()
    else:
        assert [type(e) for e in refused(okafors, record)] == [LamportTooFarAhead]
