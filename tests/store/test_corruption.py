"""A damaged database is refused with what to do, repaired from what
verifies, and never serves bytes that changed on disk.

    flipped bytes in a page ─┐
    scrambled page ──────────┼─▶ Store.open: StoreDamaged (file named, what to do)
    truncated to 0 bytes ────┘        └─▶ repair: keep what verifies, start clean
    a record edited in place ──▶ opens, but the record is never served
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from meshpantry.store import Store, StoreDamaged
from meshpantry.store.database import DB_FILE
from meshpantry.store.repair import repair
from tests.core.records import TestNeighbourhood

PAGE = 4096
OFFERS = 300


@pytest.fixture
def filled(tmp_path: Path, nb: TestNeighbourhood) -> Path:
    """A closed store holding Elm Street and 300 offers (about 30 pages)."""
    for index in range(OFFERS):
        nb.offer(nb.devices[2], f"jar {index}")
    with Store.open(tmp_path / "node") as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        store.remember_peer("12D3KooWpeer", ["/ip4/127.0.0.1/tcp/4747"], nb.clock)
    return tmp_path / "node"


def page_of(db: Path, needle: bytes) -> int:
    """The number (from 0) of the page holding ``needle``."""
    offset = db.read_bytes().index(needle)
    return offset // PAGE


def damage(db: Path, page: int, how: str) -> None:
    data = bytearray(db.read_bytes())
    start = page * PAGE
    if how == "flip":  # the page header and cell pointers
        for i in range(start, start + 16):
            data[i] ^= 0xFF
    else:  # the whole page, scrambled
        data[start : start + PAGE] = random.Random(7).randbytes(PAGE)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "scramble"])
def test_a_damaged_page_is_refused_naming_the_file_and_what_to_do(filled, nb, how):
    db = filled / DB_FILE
    damage(db, page_of(db, nb.records[-100].raw), how)
    with pytest.raises(StoreDamaged) as caught:
        Store.open(filled)
    message = str(caught.value)
    assert str(db) in message and "meshpantry repair" in message and "backup" in message
    assert "nothing acknowledged was lost" not in message


def test_a_database_truncated_to_nothing_is_not_a_fresh_store(filled):
    db = filled / DB_FILE
    db.write_bytes(b"")
    with pytest.raises(StoreDamaged, match="0 bytes"):
        Store.open(filled)
    assert db.stat().st_size == 0  # nothing was written over it


def test_garbage_where_the_database_was_is_refused(filled):
    (filled / DB_FILE).write_bytes(b"not a database at all" * 300)
    with pytest.raises(StoreDamaged):
        Store.open(filled)


def test_repair_keeps_every_record_that_verifies(filled, nb):
    db = filled / DB_FILE
    damage(db, page_of(db, nb.records[-100].raw), "scramble")
    report = repair(filled, now=nb.clock)
    assert report.neighbourhood_known and report.set_aside.exists()
    assert 0 < report.kept < len(nb.records) and report.logged == report.kept
    lost = len(nb.records) - report.kept
    assert report.unreadable_rows + report.dropped >= 1 and lost <= 30  # one page of rows
    with Store.open(filled) as store:
        assert store.count() == report.kept
        assert [p.peer_id for p in store.peer_addresses()] == ["12D3KooWpeer"]  # where to fetch the rest
        # What a neighbour sends back fills the gap: the store is whole again.
        again = store.ingest([r.raw for r in nb.records], now=nb.clock)
        assert len(again.added) == lost and again.rejected == []
        assert {r.id for r in store.records()} == {r.id for r in nb.records}


def test_repair_drops_a_record_edited_in_place_and_reports_it(filled, nb):
    edited = nb.records[-1]
    with sqlite3.connect(filled / DB_FILE) as conn:
        bad = bytearray(edited.raw)
        bad[-1] ^= 1  # one bit of the signature
        conn.execute("UPDATE records SET raw = ? WHERE id = ?", (bytes(bad), edited.id))
    report = repair(filled, now=nb.clock)
    assert (report.dropped, report.kept) == (1, len(nb.records) - 1)


def test_repair_of_an_empty_file_starts_clean(filled):
    (filled / DB_FILE).write_bytes(b"")
    report = repair(filled, now=1)
    assert report.kept == 0 and not report.neighbourhood_known
    with Store.open(filled) as store:
        assert store.count() == 0


def test_a_record_edited_in_place_is_never_served(filled, nb, tmp_path):
    """Its signature no longer verifies: served to a joiner, it would make the
    joiner cut this node off as a forger."""
    edited = nb.records[-1]
    with sqlite3.connect(filled / DB_FILE) as conn:
        bad = bytearray(edited.raw)
        bad[-1] ^= 1
        conn.execute("UPDATE records SET raw = ? WHERE id = ?", (bytes(bad), edited.id))
    with Store.open(filled) as store:  # the file's structure is sound
        ids = [rid for _, rid in store.sync_items()]
        served = store.raws_in_chain_order(ids)
        assert len(served) == len(nb.records) - 1 and bytes(bad) not in served
        assert store.chain(nb.devices[2].public)[-1] != bytes(bad)
    with Store.open(tmp_path / "joiner") as joiner:
        joiner.set_setting("neighbourhood", nb.id)
        report = joiner.ingest(served, now=nb.clock)
        assert report.rejected == [] and len(report.added) == len(served)
