"""A device's own chain: durable before append_own returns, seq never reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.validation import PrevMismatch, SeqNotIncremental, WrongNeighbourhood
from meshpantry.store import NeighbourhoodUnset, OwnRecordRefused, Store
from protocol import seal
from tests.core.records import T0, TestNeighbourhood, keypair


def write(store: Store, secret: bytes, hood: bytes, n: int, kind: str = "household") -> list:
    written = []
    for i in range(n):
        head = store.own_head(secret[32:])
        record = next_record(
            secret, head, neighbourhood=hood, kind=kind, body={"name": f"name {i}"}, now=T0 + i
        )
        store.append_own(record)
        written.append(record)
    return written


def test_founding_sets_the_neighbourhood_and_admits_the_founder(tmp_path: Path):
    public, secret = keypair(1)
    with Store.open(tmp_path) as store:
        genesis = next_record(
            secret, store.own_head(public), neighbourhood=b"", kind="neighbourhood",
            body={"name": "Elm Street"}, now=T0,
        )
        store.append_own(genesis)
        assert store.neighbourhood == genesis.id
        write(store, secret, genesis.id, 3)
        head = store.own_head(public)
        assert (head.seq, head.lamport) == (4, 4)
    with Store.open(tmp_path) as store:
        assert store.own_head(public).seq == 4
        assert [r.seq for r in store.records(author=public)] == [1, 2, 3, 4]


def test_own_head_lamport_is_the_highest_seen_in_the_log(store: Store, nb: TestNeighbourhood):
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    newcomer_public, _ = keypair(9)
    assert store.own_head(newcomer_public) == ChainHead(0, None, max(r.lamport for r in nb.records))


def test_seq_that_does_not_follow_the_durable_head_is_refused(store: Store, nb: TestNeighbourhood):
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    bea = nb.devices[2]
    head = store.own_head(bea.public)
    first = next_record(bea.secret, head, neighbourhood=nb.id, kind="household", body={"name": "B"}, now=T0)
    store.append_own(first)
    # The same seq again, with a different body: a fork, refused.
    again = next_record(bea.secret, head, neighbourhood=nb.id, kind="household", body={"name": "C"}, now=T0)
    with pytest.raises(OwnRecordRefused) as caught:
        store.append_own(again)
    assert caught.value.reason == SeqNotIncremental(head.seq + 2, head.seq + 1)
    # A skipped seq: a gap, refused.
    skip = seal(bea.secret, neighbourhood=nb.id, seq=head.seq + 3, prev=first.id,
                lamport=head.lamport + 5, time=T0, kind="household", body={"name": "D"})
    with pytest.raises(OwnRecordRefused) as caught:
        store.append_own(skip)
    assert caught.value.reason == SeqNotIncremental(head.seq + 2, head.seq + 3)
    # Right seq, wrong prev.
    wrong_prev = seal(bea.secret, neighbourhood=nb.id, seq=head.seq + 2, prev=head.id,
                      lamport=head.lamport + 5, time=T0, kind="household", body={"name": "E"})
    with pytest.raises(OwnRecordRefused) as caught:
        store.append_own(wrong_prev)
    assert caught.value.reason == PrevMismatch(first.id, head.id)
    assert store.own_head(bea.public).seq == head.seq + 1
    assert store.get(again.id) is None and store.get(skip.id) is None


def test_own_records_need_the_neighbourhood(tmp_path: Path, nb: TestNeighbourhood):
    other = TestNeighbourhood(name="Oak Road", founder=5)
    with Store.open(tmp_path) as store:
        with pytest.raises(NeighbourhoodUnset):
            store.append_own(nb.records[1])
        store.set_setting("neighbourhood", nb.id)
        with pytest.raises(OwnRecordRefused) as caught:
            store.append_own(other.records[1])
        assert caught.value.reason == WrongNeighbourhood(nb.id, other.id)
        with pytest.raises(OwnRecordRefused) as caught:
            store.append_own(other.genesis)  # a second genesis
        assert caught.value.reason == WrongNeighbourhood(nb.id, other.genesis.id)
        assert store.count() == 0


def test_own_record_is_in_the_file_when_append_returns(tmp_path: Path, nb: TestNeighbourhood):
    """A second connection (another process would do the same) sees it at once."""
    with Store.open(tmp_path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        written = write(store, nb.devices[2].secret, nb.id, 2)
        with Store.open(tmp_path, writer=False) as reader:
            assert reader.get(written[-1].id) == written[-1].raw


def test_an_own_invite_lets_a_waiting_join_in(tmp_path: Path):
    """founder's invite written locally -> the join that waited for it is admitted."""
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    with Store.open(tmp_path) as store:
        store.append_own(nb.genesis)
        store.append_own(nb.records[1])  # Ada's household profile
        report = store.ingest([join.raw], now=nb.clock)
        assert report.waiting == 1 and not store.has(join.id)
        store.append_own(invite)
        assert store.has(join.id)
        assert store.waiting_ids() == []


def test_own_records_waiting_for_membership_still_take_their_seqs(
    store: Store, nb: TestNeighbourhood
):
    """A restored device gets its old records back before its join: no seq reuse."""
    invite, secret = nb.invite(nb.founder)
    nb.join_with(3, invite, secret)
    cy = nb.devices[3]
    old = [nb.offer(cy, f"old {i}") for i in range(2)]
    store.ingest([r.raw for r in nb.records[:2]], now=nb.clock)
    assert store.ingest([r.raw for r in old], now=nb.clock).waiting == 2
    head = store.own_head(cy.public)
    assert (head.seq, head.id) == (old[-1].seq, old[-1].id)
    assert head.lamport >= old[-1].lamport
    reused = seal(cy.secret, neighbourhood=nb.id, seq=old[-1].seq, prev=old[0].id,
                  lamport=head.lamport + 1, time=T0, kind="household", body={"name": "Cy"})
    with pytest.raises(OwnRecordRefused) as caught:
        store.append_own(reused)
    assert isinstance(caught.value.reason, SeqNotIncremental)
    record = next_record(cy.secret, head, neighbourhood=nb.id, kind="household",
                         body={"name": "Cy"}, now=T0)
    store.append_own(record)
    assert record.seq == old[-1].seq + 1


def test_own_counter_goes_above_the_reach_and_above_its_own_chain(store: Store, nb: TestNeighbourhood):
    """A counter beyond the reach (logged before counters were bounded) is
    ignored, unless it is this device's own chain: a chain's counters only
    increase."""
    from protocol.limits import MAX_COUNTER, MAX_LAMPORT_LEAD

    from meshpantry.store import log
    from meshpantry.store.database import transaction

    store.ingest([r.raw for r in nb.records], now=nb.clock)
    reach = store.max_lamport()
    bea = nb.devices[2]
    head = store.own_head(bea.public)
    far = seal(bea.secret, neighbourhood=nb.id, seq=head.seq + 1, prev=head.id, lamport=MAX_COUNTER // 2,
               time=T0, kind="household", body={"name": "far"})
    with transaction(store._conn):
        log.insert(store._conn, [far])  # as an older version stored it
    assert store.max_lamport() == reach < MAX_LAMPORT_LEAD
    assert store.own_head(nb.founder.public).lamport == reach
    assert store.own_head(bea.public).lamport == MAX_COUNTER // 2
