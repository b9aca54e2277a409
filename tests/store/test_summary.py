"""The store's summary of its log (chain heads, Lamport reach, sync items)
follows what each ingest logs without reading it back, and always equals
the summary read from the log itself."""

from __future__ import annotations

from meshpantry.store import Store
from meshpantry.store.summary import LogSummary
from tests.core.records import TestNeighbourhood, fork_of


def _as_read_from_the_log(store: Store) -> tuple:
    fresh = LogSummary(store._conn)
    return fresh.heads(), fresh.max_lamport(), fresh.arrived_since(0)


def _as_kept(store: Store) -> tuple:
    kept = store._summary
    assert kept._read_upto == store.last_rowid()  # folded in by the ingest, not read back
    return dict(kept.heads()), kept.max_lamport(), kept.arrived_since(0)


def test_the_summary_kept_through_ingests_equals_the_log_read_again(store: Store, nb: TestNeighbourhood):
    """Verified and raw ingests, a fork (its later copy never a head), records
    waiting for their membership and admitted later: after each, the summary
    the store kept is the one a reader builds from the log."""
    bea = nb.devices[2]
    offers = [nb.offer(bea, f"leeks {i}") for i in range(5)]
    store.ingest_verified(nb.records[:-3], now=nb.clock)
    assert _as_kept(store) == _as_read_from_the_log(store)
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    cy_offers = [nb.offer(nb.devices[3], f"apples {i}") for i in range(3)]
    store.ingest_verified(cy_offers + offers[-3:], now=nb.clock)  # cy's wait
    assert _as_kept(store) == _as_read_from_the_log(store)
    store.ingest([invite.raw, join.raw], now=nb.clock)  # and now count
    assert _as_kept(store) == _as_read_from_the_log(store)
    twin = fork_of(bea, offers[-1], {"item": "onions", "quantity": 1, "unit": "kg"})
    assert store.ingest_verified([twin], now=nb.clock).forks
    assert _as_kept(store) == _as_read_from_the_log(store)
    assert store.heads()[bea.public] == (offers[-1].seq, offers[-1].id)
    assert store.count() == len(store.sync_items())


def _log_of(store: Store) -> tuple:
    conn = store._conn
    return (
        conn.execute("SELECT rowid, id, author, seq, prev, lamport, time, kind, referent, raw, sum "
                     "FROM records ORDER BY rowid").fetchall(),
        conn.execute("SELECT id, author, raw FROM waiting ORDER BY rowid").fetchall(),
        conn.execute("SELECT * FROM forks ORDER BY rowid").fetchall(),
    )


def test_log_rows_are_logged_as_their_records_are(tmp_path, nb: TestNeighbourhood):
    """The checking processes send all but membership records back as log
    rows: a store given the rows logs, keeps waiting, forks and views
    exactly what it does given the records (claims name their offers, a
    newcomer's records wait for her join, a fork is kept)."""
    from meshpantry.core.admission import ADMISSION_KINDS
    from meshpantry.core.record_log import LogRow, log_row

    bea = nb.devices[2]
    offer = nb.offer(bea, "leeks")
    nb.claim(nb.founder, offer, 1)
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    cy_offer = nb.offer(nb.devices[3], "apples")
    twin = fork_of(bea, offer, {"item": "onions", "quantity": 1, "unit": "kg"})
    order = [r for r in nb.records if r not in (invite, join, cy_offer)] + [cy_offer, invite, join, twin]
    as_rows = [r if r.kind in ADMISSION_KINDS else log_row(r) for r in order]
    assert any(type(r) is LogRow for r in as_rows) and any(type(r) is not LogRow for r in as_rows)
    stores = []
    for name, batch in (("records", order), ("rows", as_rows)):
        store = Store.open(tmp_path / name)
        store.set_setting("neighbourhood", nb.id)
        for start in range(0, len(batch), 3):
            store.ingest_verified(batch[start : start + 3], now=nb.clock)
        stores.append(store)
    try:
        by_records, by_rows = stores
        assert _log_of(by_rows) == _log_of(by_records)
        assert by_rows.count() == len(order) and by_rows.forks()
        assert by_rows.state() == by_records.state()
    finally:
        for store in stores:
            store.close()


def test_the_ids_held_are_the_logs_through_ingests_and_a_rollback(store: Store, nb: TestNeighbourhood):
    """Ingest's duplicate step asks the summary's set of ids, not SQLite:
    after verified and raw ingests, records waiting (not held) and admitted
    later, and a whole batch rolled back, it answers as the log does, for
    ids held and ids not held alike."""
    from meshpantry.store import log

    bea = nb.devices[2]
    offers = [nb.offer(bea, f"leeks {i}") for i in range(4)]
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(3, invite, secret)
    cy_offer = nb.offer(nb.devices[3], "apples")
    every = [r.id for r in nb.records] + [b"\x00" * 32]

    def agrees() -> None:
        assert store.held(every) == log.present(store._conn, every)
        assert LogSummary(store._conn).held(every) == store.held(every)

    store.ingest_verified(nb.records[:3], now=nb.clock)
    agrees()
    store.ingest_verified([cy_offer, *offers], now=nb.clock)  # cy's offer waits
    agrees()
    assert cy_offer.id not in store.held(every)
    store.ingest([invite.raw, join.raw], now=nb.clock)
    agrees()
    assert {cy_offer.id, join.id} <= store.held(every)

    def refuse_second(report, offset):
        if offset == 1:  # the second slice's duplicate step saw the first slice logged
            raise RuntimeError("refused")

    later = [nb.offer(bea, "pears").raw, nb.offer(bea, "plums").raw]
    try:
        store.ingest_whole(later, now=nb.clock, judge=refuse_second, slice_size=1)
    except RuntimeError:
        pass
    agrees()
    assert store.ingest([*later, offers[0].raw], now=nb.clock).duplicates == 1
    agrees()
