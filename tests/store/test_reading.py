"""Reading the log: lookups, chains, heads, sync items, chain order, filters."""

from __future__ import annotations

import random
from pathlib import Path

from meshpantry.store import Store
from tests.core.records import TestNeighbourhood


def filled(store: Store, nb: TestNeighbourhood, offers: int = 4) -> None:
    for i in range(offers):
        nb.offer(nb.devices[1 + i % 2], f"item {i}")
    raws = [r.raw for r in nb.records]
    random.Random(3).shuffle(raws)
    assert not store.ingest(raws, now=nb.clock).rejected


def test_lookups(store: Store, nb: TestNeighbourhood):
    filled(store, nb)
    record = nb.records[-1]
    assert store.get(record.id) == record.raw and store.has(record.id)
    assert store.get(b"\x00" * 32) is None and not store.has(b"\x00" * 32)
    assert store.count() == len(nb.records)
    assert store.last_rowid() == len(nb.records)


def test_chain_and_heads(store: Store, nb: TestNeighbourhood):
    filled(store, nb)
    for device in nb.devices.values():
        own = [r for r in nb.records if r.author == device.public]
        assert store.chain(device.public) == [r.raw for r in own]
        assert store.chain(device.public, from_seq=3) == [r.raw for r in own[2:]]
        assert store.heads()[device.public] == (own[-1].seq, own[-1].id)
    assert set(store.heads()) == {d.public for d in nb.devices.values()}


def test_records_filter_by_kind_author_and_arrival(store: Store, nb: TestNeighbourhood):
    filled(store, nb)
    bea = nb.devices[2].public
    assert {r.id for r in store.records(kind="offer")} == {r.id for r in nb.records if r.kind == "offer"}
    assert {r.id for r in store.records(author=bea)} == {r.id for r in nb.records if r.author == bea}
    assert [r.kind for r in store.records(kind="offer", author=bea)] == ["offer", "offer"]
    mark = store.last_rowid()
    later = nb.offer(nb.devices[2], "late")
    store.ingest([later.raw], now=nb.clock)
    assert [r.id for r in store.records(since_rowid=mark)] == [later.id]
    assert list(store.raw_records(since_rowid=mark)) == [later.raw]
    # Decoded records equal what the author sealed, body included.
    back = {r.id: r for r in store.records()}
    for record in nb.records:
        assert back[record.id] == record and back[record.id].body == record.body


def test_records_iterate_past_one_page(store: Store, nb: TestNeighbourhood, monkeypatch):
    from meshpantry.store import log

    monkeypatch.setattr(log, "PAGE_ROWS", 3)
    filled(store, nb, offers=6)
    assert sorted(r.id for r in store.records()) == sorted(r.id for r in nb.records)


def test_sync_items_are_sorted_and_follow_the_log(store: Store, nb: TestNeighbourhood):
    filled(store, nb)
    expected = sorted((r.lamport, r.id) for r in nb.records)
    assert store.sync_items() == expected
    more = [nb.offer(nb.devices[1], f"more {i}") for i in range(3)]
    store.ingest([r.raw for r in reversed(more)], now=nb.clock)
    assert store.sync_items() == sorted(expected + [(r.lamport, r.id) for r in more])
    index = store.sync_index()
    assert index.keys[: len(index)] == store.sync_items() and store.sync_index() is index  # kept, not rebuilt
    store.rebuild_views()  # starts the index again from the log
    assert store.sync_items() == sorted(expected + [(r.lamport, r.id) for r in more])


def test_a_reader_sees_the_writers_new_records(tmp_path: Path, nb: TestNeighbourhood):
    with Store.open(tmp_path) as writer, Store.open(tmp_path, writer=False) as reader:
        writer.set_setting("neighbourhood", nb.id)
        writer.ingest([r.raw for r in nb.records[:2]], now=nb.clock)
        assert len(reader.sync_items()) == 2
        writer.ingest([r.raw for r in nb.records[2:]], now=nb.clock)
        assert reader.sync_items() == sorted((r.lamport, r.id) for r in nb.records)
        assert reader.neighbourhood == nb.id


def test_raws_in_chain_order_let_a_fresh_store_take_everything_in_one_pass(
    tmp_path: Path, store: Store, nb: TestNeighbourhood
):
    """Whatever order ids are asked in, the answer ingests with nothing waiting."""
    nb.join(3, name="Cy", inviter=nb.devices[2])
    filled(store, nb)
    ids = [r.id for r in nb.records] + [b"\x01" * 32]
    random.Random(5).shuffle(ids)
    raws = store.raws_in_chain_order(ids)
    assert len(raws) == len(nb.records)
    with Store.open(tmp_path / "fresh") as fresh:
        fresh.set_setting("neighbourhood", nb.id)
        for raw in raws:  # one record at a time: no batch can hide an order problem
            report = fresh.ingest([raw], now=nb.clock)
            assert report.waiting == 0 and not report.rejected
        assert fresh.count() == len(nb.records)
    # Each author's records come out in seq order.
    by_author: dict[bytes, list[int]] = {}
    for record in (r for raw in raws for r in nb.records if r.raw == raw):
        by_author.setdefault(record.author, []).append(record.seq)
    assert all(seqs == sorted(seqs) for seqs in by_author.values())


def _chain_order(records) -> list[bytes]:
    """Each author's records in seq order, authors by their lowest Lamport counter."""
    first: dict[bytes, int] = {}
    for r in records:
        first[r.author] = min(r.lamport, first.get(r.author, r.lamport))
    return [r.raw for r in sorted(records, key=lambda r: (first[r.author], r.author, r.seq, r.lamport))]


def test_records_are_served_from_where_the_log_holds_them_for_writer_and_reader(tmp_path: Path, nb: TestNeighbourhood):
    """The ids a peer asks for are read at the rowids the log summary keeps
    for them: those a writer's ingests folded in without reading them back,
    and those a reader read from the writer's log, in chain order."""
    for i in range(6):
        nb.offer(nb.devices[1 + i % 2], f"item {i}")
    with Store.open(tmp_path) as writer, Store.open(tmp_path, writer=False) as reader:
        writer.set_setting("neighbourhood", nb.id)
        writer.ingest_verified(nb.records[:4], now=nb.clock)
        assert reader.raws_in_chain_order([r.id for r in nb.records[:4]]) == _chain_order(nb.records[:4])
        writer.ingest([r.raw for r in nb.records[4:9]], now=nb.clock)
        writer.ingest_verified(nb.records[9:], now=nb.clock)
        ids = [r.id for r in nb.records] + [b"\x01" * 32]
        random.Random(7).shuffle(ids)
        for store in (writer, reader):
            assert store.raws_in_chain_order(ids) == _chain_order(nb.records)
            assert store.raws_in_chain_order(ids[:5]) == _chain_order([r for r in nb.records if r.id in ids[:5]])
