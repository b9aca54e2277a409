"""Batched ingest: duplicates, forks, waiting, and bad records reported by type
while the good records of the same batch are kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from meshpantry.core import waiting as waiting_module
from meshpantry.core.validation import NotAdmitted, TimeInFuture, WrongNeighbourhood
from meshpantry.store import Store
from protocol import limits
from protocol.envelope import assemble
from protocol.errors import BadSignature, Malformed, NonCanonical, TooLarge
from tests.core.records import TestNeighbourhood, fork_of


def forged(raw_record) -> bytes:
    """The record with one bit of its signature flipped (same id, bad signature)."""
    signature = bytearray(raw_record.signature)
    signature[10] ^= 1
    return assemble(raw_record.payload, bytes(signature))


def test_a_neighbourhood_in_any_order_is_taken_whole(store: Store, nb: TestNeighbourhood):
    for _ in range(5):
        nb.offer(nb.devices[2])
    raws = [r.raw for r in nb.records]
    random.Random(7).shuffle(raws)
    report = store.ingest(raws, now=nb.clock)
    assert sorted(report.added) == sorted(r.id for r in nb.records)
    assert (report.duplicates, report.waiting, report.rejected, report.forks) == (0, 0, [], [])
    assert store.count() == len(nb.records)
    for record in nb.records:
        assert store.get(record.id) == record.raw  # the bytes received, not re-encoded


def test_duplicates_are_counted_not_stored_twice(store: Store, nb: TestNeighbourhood):
    raws = [r.raw for r in nb.records]
    first = store.ingest(raws + raws[:2], now=nb.clock)
    assert first.duplicates == 2 and len(first.added) == len(raws)
    again = store.ingest(raws, now=nb.clock)
    assert again.added == [] and again.duplicates == len(raws)
    assert store.count() == len(raws)


def test_bad_records_are_reported_by_type_and_good_ones_kept(store: Store, nb: TestNeighbourhood):
    """batch: good, garbage, good, forged, oversized, future, non-canonical, good"""
    bea = nb.devices[2]
    good = [nb.offer(bea, "leeks"), nb.offer(bea, "beans"), nb.offer(bea, "kale")]
    peas = nb.offer(bea, "peas")
    future = nb.offer(bea, "plums", time=nb.clock + limits.MAX_FUTURE_SKEW_MS + 10_000)
    now = nb.clock
    store.ingest([r.raw for r in nb.records[:-5]], now=now)
    batch = [
        good[0].raw,
        b"\x93\x01\x02",  # a 3-element msgpack array: not an envelope
        good[1].raw,
        forged(peas),
        b"\x00" * (limits.MAX_RECORD_BYTES + 1),
        future.raw,
        b"\xd9\x01a",  # "a" as str8: valid msgpack, not canonical
        good[2].raw,
    ]
    report = store.ingest(batch, now=now)
    assert report.added == [r.id for r in good]
    errors = {r.index: type(r.error) for r in report.rejected}
    assert errors == {1: Malformed, 3: BadSignature, 4: TooLarge, 5: TimeInFuture, 6: NonCanonical}
    assert [r.record_id for r in report.rejected if r.index in (3, 5)] == [peas.id, future.id]
    assert not store.has(future.id) and not store.has(peas.id)
    # Once the clock catches up, the same record is welcome.
    assert store.ingest([future.raw], now=future.time).added == [future.id]


def test_a_forged_copy_does_not_shadow_the_genuine_record(store: Store, nb: TestNeighbourhood):
    offers = [nb.offer(nb.devices[2], f"item {i}") for i in range(80)]  # large: parallel path
    raws = [r.raw for r in nb.records]
    raws.insert(10, forged(offers[-1]))  # forged copy before the genuine one
    report = store.ingest(raws, now=nb.clock)
    assert [(r.index, type(r.error)) for r in report.rejected] == [(10, BadSignature)]
    assert store.get(offers[-1].id) == offers[-1].raw
    assert len(report.added) == len(nb.records)


def test_records_of_another_neighbourhood_are_refused(store: Store, nb: TestNeighbourhood):
    """Its genesis and every record naming it fail the neighbourhood check."""
    other = TestNeighbourhood(name="Oak Road", founder=1)
    report = store.ingest([r.raw for r in other.records], now=other.clock)
    assert report.added == []
    assert [r.error for r in report.rejected] == [
        WrongNeighbourhood(nb.id, other.id) for _ in other.records
    ]


def test_a_join_with_a_bad_proof_is_rejected(store: Store, nb: TestNeighbourhood):
    invite, _ = nb.invite(nb.founder)
    _, wrong_secret = nb.invite(nb.founder)
    bad = nb.join_with(7, invite, wrong_secret)
    report = store.ingest([r.raw for r in nb.records], now=nb.clock)
    assert [(r.record_id, r.error) for r in report.rejected] == [
        (bad.id, NotAdmitted(bad.author, "join", False))
    ]


def test_forks_are_kept_as_evidence_and_reported(store: Store, nb: TestNeighbourhood):
    """Bea signs two records at one seq: both stay, the pair is reported once."""
    bea = nb.devices[2]
    offer = nb.offer(bea, "leeks")
    twin = fork_of(bea, offer, {"item": "onions", "quantity": 1, "unit": "kg"})
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    report = store.ingest([twin.raw, twin.raw], now=nb.clock)
    assert report.added == [twin.id] and report.duplicates == 1
    assert [(f.author, f.seq, f.first_id, f.second_id) for f in report.forks] == [
        (bea.public, offer.seq, offer.id, twin.id)
    ]
    assert store.forks() == report.forks
    assert store.heads()[bea.public] == (offer.seq, offer.id)  # the first to arrive
    assert store.chain(bea.public, offer.seq) == [offer.raw, twin.raw]


def test_records_wait_for_their_membership_then_count(store: Store, nb: TestNeighbourhood):
    """cy's records arrive first; her join, then its invite, arrive later."""
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    cy = nb.devices[3]
    offers = [nb.offer(cy, f"apples {i}") for i in range(3)]
    store.ingest([r.raw for r in nb.records[: nb.records.index(invite)]], now=nb.clock)

    first = store.ingest([r.raw for r in offers], now=nb.clock)
    assert (first.added, first.waiting) == ([], 3)
    second = store.ingest([join.raw, offers[0].raw], now=nb.clock)
    assert (second.added, second.waiting, second.duplicates) == ([], 1, 1)
    assert store.waiting_ids() == [r.id for r in offers] + [join.id]

    third = store.ingest([invite.raw], now=nb.clock)
    assert third.added == [invite.id, join.id] + [r.id for r in offers]
    assert third.waiting == 0 and store.waiting_ids() == []
    assert [r.seq for r in store.records(author=cy.public)] == [1, 2, 3, 4]


def test_waiting_records_survive_a_restart(tmp_path: Path, nb: TestNeighbourhood):
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    with Store.open(tmp_path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records if r is not invite], now=nb.clock)
        assert store.waiting_ids() == [join.id]
    with Store.open(tmp_path) as store:
        assert store.waiting_ids() == [join.id]
        assert store.ingest([invite.raw], now=nb.clock).added == [invite.id, join.id]


def test_membership_is_replayed_from_the_log_on_open(tmp_path: Path, nb: TestNeighbourhood):
    with Store.open(tmp_path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
    offer = nb.offer(nb.devices[2])
    linked = nb.link(nb.devices[2], 4)
    linked_offer = nb.offer(linked)
    with Store.open(tmp_path) as store:
        report = store.ingest([offer.raw, linked_offer.raw], now=nb.clock)
        assert (report.added, report.waiting) == ([offer.id], 1)
        device_link = nb.records[-2]
        assert store.ingest([device_link.raw], now=nb.clock).added == [device_link.id, linked_offer.id]


def test_the_waiting_room_is_bounded_oldest_dropped_first(
    store: Store, nb: TestNeighbourhood, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(waiting_module, "MAX_WAITING_PER_AUTHOR", 3)
    monkeypatch.setattr(waiting_module, "MAX_WAITING_TOTAL", 5)
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    strangers = [nb.device(s) for s in (20, 21, 22)]
    # Fresh chains by unknown devices (no join): they can only wait.
    notes = {d.seed: [nb.offer(d, f"note {i}") for i in range(4)] for d in strangers}
    report = store.ingest([r.raw for r in notes[20]], now=nb.clock)
    assert report.dropped_waiting == 1 and report.waiting == 3
    assert store.waiting_ids() == [r.id for r in notes[20][1:]]
    report = store.ingest([r.raw for r in notes[21][:2] + notes[22][:1]], now=nb.clock)
    assert report.dropped_waiting == 1
    assert store.waiting_ids() == [r.id for r in notes[20][2:] + notes[21][:2] + notes[22][:1]]


def test_large_batches_are_checked_on_worker_threads(
    tmp_path: Path, nb: TestNeighbourhood, monkeypatch: pytest.MonkeyPatch
):
    """one call of 200 records: checked by the worker threads, not the caller"""
    import threading

    from meshpantry.store import verification

    threads: set[str] = set()
    real_verify = verification.check_signature

    def noting_verify(record):
        threads.add(threading.current_thread().name)
        real_verify(record)

    monkeypatch.setattr(verification, "check_signature", noting_verify)
    for i in range(200):
        nb.offer(nb.devices[2], f"item {i}")
    with Store.open(tmp_path, workers=2) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records[:5]], now=nb.clock)
        assert threads == {threading.current_thread().name}  # small: on the caller
        threads.clear()
        report = store.ingest([r.raw for r in nb.records[5:]], now=nb.clock)
        assert len(report.added) == len(nb.records) - 5
        assert threads and all(name.startswith("meshpantry-verify") for name in threads)


def test_ingest_needs_the_neighbourhood(tmp_path: Path, nb: TestNeighbourhood):
    from meshpantry.store import NeighbourhoodUnset

    with Store.open(tmp_path) as store:
        with pytest.raises(NeighbourhoodUnset):
            store.ingest([r.raw for r in nb.records], now=nb.clock)


def test_a_batch_that_fails_to_write_leaves_no_trace(
    store: Store, nb: TestNeighbourhood, monkeypatch: pytest.MonkeyPatch
):
    """disk error mid-batch -> nothing stored, and membership forgets the batch too"""
    import sqlite3

    from meshpantry.store import log

    store.ingest([r.raw for r in nb.records], now=nb.clock)
    cy = nb.join(3, name="Cy")
    offer = nb.offer(cy, "figs")
    batch = [r.raw for r in nb.records[-4:]]  # invite, join, household, offer

    def failing_insert(conn, records):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(log, "insert", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        store.ingest(batch, now=nb.clock)
    monkeypatch.undo()
    count = store.count()
    assert count == len(nb.records) - 4
    # Cy is not a member: her offer alone waits.
    assert store.ingest([offer.raw], now=nb.clock).waiting == 1
    report = store.ingest(batch, now=nb.clock)
    assert set(report.added) == {r.id for r in nb.records[-4:]}
    assert store.count() == len(nb.records)


def test_mode_choice_tries_both_keeps_the_cheaper_and_retries_the_other():
    from meshpantry.store.verification import INLINE, RETRY_EVERY, THREADS, ModeChoice

    cost = {THREADS: 0.05, INLINE: 0.10}  # seconds per batch of 1000

    def run(n: int) -> list[str]:
        picks = []
        for _ in range(n):
            mode = choice.choose()
            choice.observe(mode, 1000, cost[mode])
            picks.append(mode)
        return picks

    choice = ModeChoice()
    assert sorted(run(2)) == [INLINE, THREADS]  # nothing measured yet: each once
    picks = run(4 * RETRY_EVERY)
    assert picks.count(INLINE) == 4  # only the retries
    # The machine gets busy: threads turn slow, and the choice follows.
    cost[THREADS] = 0.30
    picks = run(4 * RETRY_EVERY)
    assert picks[-RETRY_EVERY:].count(THREADS) == 1


def test_large_batches_are_checked_inline_while_no_core_is_idle(monkeypatch):
    """Handing chunks to the worker threads costs CPU on both sides (waking
    a worker, taking its chunk back): with the load average at or above the
    cores, a large batch is checked on the calling thread whatever the
    timings say; with a core idle, the timings decide again."""
    import os

    from meshpantry.store.verification import INLINE, PARALLEL_MIN_RECORDS, THREADS, ModeChoice, VerifierPool

    pool = VerifierPool()
    pool.workers, pool.choice = 2, ModeChoice()  # two cores, whatever this machine has
    for _ in range(3):  # threads measured ten times cheaper
        pool.choice.observe(THREADS, 1000, 0.01)
        pool.choice.observe(INLINE, 1000, 0.10)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert pool.mode_for(PARALLEL_MIN_RECORDS * 10) == INLINE
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 1.0, 1.0))
    assert pool.mode_for(PARALLEL_MIN_RECORDS * 10) == THREADS
    assert pool.mode_for(PARALLEL_MIN_RECORDS - 1) == INLINE
