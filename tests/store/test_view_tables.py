"""The view tables: grown in the records' transactions, equal to build_state,
kept across a restart, rebuilt from the log.

    ingest (any order, batches, duplicates, gaps filled late)
        └─▶ log + view tables, one transaction ──▶ Store.state() == build_state(log)
    close, open ──▶ the same state, nothing folded again
"""

from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpantry.core import incremental
from meshpantry.core.state import build_state
from meshpantry.store import Store
from meshpantry.store.database import DB_FILE
from meshpantry.store.migrations import MIGRATIONS, migrate
from tests.core.records import TestNeighbourhood
from tests.core.test_incremental import troubled_activity

STORE_LAWS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def log_state(store: Store, neighbourhood: bytes):
    return build_state(list(store.records()), neighbourhood)


class FoldCounter:
    """Counts the content folds the incremental state runs."""

    def __init__(self, monkeypatch) -> None:
        self.records = 0
        real = incremental.fold_content

        def counting(content, *args):
            self.records += len(content)
            return real(content, *args)

        monkeypatch.setattr(incremental, "fold_content", counting)


@STORE_LAWS
@given(seed=st.integers(0, 2**32), rng=st.randoms(use_true_random=False))
def test_ingest_in_any_batches_gives_build_state_of_the_log(tmp_path_factory, seed, rng):
    """Random batches, duplicates and a late fifth: the tables equal build_state
    of the log after every batch, and again after a restart."""
    records = troubled_activity(seed)
    neighbourhood = records[0].id
    late = [r for r in records[1:] if rng.random() < 0.2]
    order = [r for r in records if r not in late] + [rng.choice(records) for _ in range(5)]
    rng.shuffle(order)
    order += late
    path = tmp_path_factory.mktemp("views") / "node"
    with Store.open(path) as store:
        store.set_setting("neighbourhood", neighbourhood)
        i = 0
        while i < len(order):
            batch = order[i : i + rng.randint(1, 8)]
            i += len(batch)
            store.ingest([r.raw for r in batch], now=records[-1].time)
            if rng.random() < 0.3:
                assert store.state() == log_state(store, neighbourhood)
        state = store.state()
        assert state == log_state(store, neighbourhood)
    with Store.open(path) as store:
        assert store.state() == state
        assert store.state() == log_state(store, neighbourhood)


def test_a_restart_folds_nothing(tmp_path: Path, nb: TestNeighbourhood, monkeypatch):
    """Open a store whose views are up to date: no record is folded again."""
    for i in range(30):
        nb.offer(nb.devices[1 + i % 2], f"item {i}")
    with Store.open(tmp_path / "node") as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        before = store.state()
    folds = FoldCounter(monkeypatch)
    with Store.open(tmp_path / "node") as store:
        assert store.state() == before
        assert store.views().offers[nb.records[-1].id].item == "item 29"
    assert folds.records == 0


def test_one_new_claim_writes_a_few_view_rows_however_long_the_log(tmp_path: Path, monkeypatch):
    """A claim arriving at a store of 20 or 400 offers folds its offer's group
    and changes the same handful of view rows."""
    written = []
    for offers in (20, 400):
        nb = TestNeighbourhood()
        bea = nb.join(2, name="Bea")
        board = [nb.offer(nb.founder, f"item {i}", 3, "kg") for i in range(offers)]
        with Store.open(tmp_path / f"node{offers}") as store:
            store.set_setting("neighbourhood", nb.id)
            store.ingest([r.raw for r in nb.records], now=nb.clock)
            store.state()
            claim = nb.claim(bea, board[offers // 2], 2)
            folds = FoldCounter(monkeypatch)
            conn = store._conn
            changes = conn.total_changes
            store.ingest([claim.raw], now=nb.clock)
            written.append((folds.records, conn.total_changes - changes))
            assert store.state() == log_state(store, nb.id)
            monkeypatch.undo()
    assert written[0] == written[1]
    assert written[0][0] == 2  # the offer and the claim
    assert written[0][1] < 15


def test_rebuild_gives_identical_views(tmp_path: Path, nb: TestNeighbourhood):
    """rebuild_views empties the tables and grows them again from the log."""
    offer = nb.offer(nb.founder, "leeks", 4, "kg")
    nb.accept(nb.founder, nb.claim(nb.devices[2], offer, 1), 1)
    with Store.open(tmp_path / "node") as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        before = store.state()
        store.rebuild_views()
        assert store.state() == before == log_state(store, nb.id)


def test_a_store_from_before_the_view_tables_fills_them_from_its_log(tmp_path: Path, nb: TestNeighbourhood):
    """A database written without the views migration gets it on open, and
    its views are grown from the log already held."""
    nb.offer(nb.founder, "plums", 2, "kg")
    path = tmp_path / "node"
    with Store.open(path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
    conn = sqlite3.connect(path / DB_FILE, isolation_level=None)
    for table in [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'view_%'")]:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX IF EXISTS records_membership_all")
    # and the view migrations after it (the record sums of 0007 stay: their column is kept)
    conn.execute("DELETE FROM migrations WHERE name >= ? AND name < ?", ("0005_views", "0007"))
    conn.close()
    with Store.open(path) as store:
        assert store.state() == log_state(store, nb.id)


def test_a_reader_reads_the_writers_tables(tmp_path: Path, nb: TestNeighbourhood):
    """A read-only store (the command line beside a running node) sees the
    views the writer keeps, and its later records."""
    path = tmp_path / "node"
    with Store.open(path) as writer:
        writer.set_setting("neighbourhood", nb.id)
        writer.ingest([r.raw for r in nb.records], now=nb.clock)
        with Store.open(path, writer=False) as reader:
            assert reader.state() == writer.state()
            offer = nb.offer(nb.founder, "eggs", 6, "items")
            writer.ingest([offer.raw], now=nb.clock)
            assert reader.views().offers[offer.id].item == "eggs"
            assert reader.state() == writer.state()


def test_a_failed_ingest_leaves_log_and_views_together(tmp_path: Path, nb: TestNeighbourhood, monkeypatch):
    """The views change in the ingest's transaction: when it fails, neither
    the log nor the views keep the batch, and the next ingest starts clean."""
    path = tmp_path / "node"
    with Store.open(path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        before = store.state()
        offer = nb.offer(nb.founder, "rice", 1, "kg")

        def broken(*args, **kwargs):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(incremental.IncrementalState, "settle", broken)
        try:
            store.ingest([offer.raw], now=nb.clock)
        except sqlite3.OperationalError:
            pass
        monkeypatch.undo()
        assert not store.has(offer.id)
        assert store.state() == before
        store.ingest([offer.raw], now=nb.clock)
        assert store.state() == log_state(store, nb.id)


def test_the_board_index_walks_offers_as_select_offers_orders_them(tmp_path: Path, nb: TestNeighbourhood):
    """Open, expired, withdrawn, taken, dated and undated offers: the board read
    from the index, in either order, open only or all, is select_offers' list."""
    from meshpantry.core.board import offer_filter, select_offers

    rng = random.Random(5)
    bea = nb.devices[2]
    for i in range(60):
        fields = {}
        if rng.random() < 0.7:
            fields["best_before"] = nb.clock + rng.randint(-50, 50) * 3_600_000
        if rng.random() < 0.3:
            fields["pickup_until"] = nb.clock + rng.randint(-50, 50) * 3_600_000
        if rng.random() < 0.5:
            fields["tags"] = [rng.choice(["veg", "Fruit"])]
        if rng.random() < 0.4:
            fields["allergens"] = [rng.choice(["nuts", "Gluten"])]
        offer = nb.offer(nb.founder, rng.choice(["Tomatoes", "eggs", "rice"]), rng.randint(1, 3), "kg",
                         time=nb.clock + rng.choice([0, 0, 5]), **fields)
        if rng.random() < 0.15:
            nb.withdraw(nb.founder, offer)
        elif rng.random() < 0.3:
            nb.accept(nb.founder, nb.claim(bea, offer, offer.body["quantity"]), offer.body["quantity"])
    now = nb.clock
    with Store.open(tmp_path / "node") as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=now)
        state, reader = store.state(), store.views()
        for sort in ("expiry", "newest"):
            for include_closed in (False, True):
                for text, tag, free in ((None, None, ()), ("TOM", None, ()), (None, "fruit", ()),
                                        ("ce", "VEG", ["GLUTEN"]), (None, None, ["nuts", "gluten"])):
                    expected = select_offers(state.offers.values(), now, text=text, tag=tag, allergen_free=free,
                                             sort=sort, include_closed=include_closed)
                    matches = offer_filter(text=text, tag=tag, allergen_free=free)
                    walked = [o for o in reader.walk_board(now, sort, include_closed) if matches(o)]
                    assert [o.id for o in walked] == [o.id for o in expected]
                    narrowed = list(reader.walk_board(now, sort, include_closed, text=text, tag=tag, allergen_free=free))
                    assert narrowed == expected
                    listed = reader.board(now, text=text, tag=tag, allergen_free=free, sort=sort,
                                          include_closed=include_closed)
                    assert listed == expected
                everything = select_offers(state.offers.values(), now, sort=sort, include_closed=include_closed)
                for cut in range(0, len(everything), 7):  # resuming after any offer
                    last = everything[cut]
                    key = (last.expires, last.created, last.id) if sort == "expiry" else (last.created, last.id)
                    rest = list(reader.walk_board(now, sort, include_closed, after=key))
                    assert [o.id for o in rest] == [o.id for o in everything[cut + 1 :]]


def index_columns(conn: sqlite3.Connection, name: str) -> list[str]:
    return [column for _, _, column in conn.execute(f"PRAGMA index_info({name})")]


def test_a_filtered_open_board_is_narrowed_in_its_index(tmp_path: Path, nb: TestNeighbourhood):
    """Text, tag and allergen filters are tested on the open board's index
    entries, so a search that matches few offers reads only their rows, on a
    new store and on one whose view tables came before the filter columns."""
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / DB_FILE, isolation_level=None) as conn:
        migrate(conn, now=1, migrations=MIGRATIONS[: [m.name for m in MIGRATIONS].index("0005_views") + 1])
    for offer in range(6):
        nb.offer(nb.founder, f"jar {offer}", tags=["Veg"], allergens=["nuts"] if offer % 2 else [])
    for path in (tmp_path / "new", old):
        with Store.open(path) as store:
            store.set_setting("neighbourhood", nb.id)
            store.ingest([r.raw for r in nb.records], now=nb.clock)
            reader = store.views()
            for index in ("view_offers_expiry", "view_offers_newest", "view_offers_undated"):
                assert index_columns(reader.conn, index)[2:] == ["haystack", "tags", "allergens"]
            # by expiry: the dated offers from one index, then the undated ones from another
            for sort, indexes in (("expiry", ["expiry", "undated"]), ("newest", ["newest"])):
                sql: list[str] = []
                reader.conn.set_trace_callback(sql.append)
                found = list(reader.walk_board(nb.clock, sort, text="JAR 3", tag="veg", allergen_free=["gluten"]))
                reader.conn.set_trace_callback(None)
                assert [o.item for o in found] == ["jar 3"]
                walks = [q for q in sql if "FROM view_offers" in q]
                assert len(walks) == len(indexes)
                for walk, index in zip(walks, indexes):
                    plan = " ".join(str(row) for row in reader.conn.execute(f"EXPLAIN QUERY PLAN {walk}"))
                    assert re.search(rf"INDEX view_offers_{index}\b", plan), plan


def test_a_sync_batch_leaves_the_views_for_the_next_read(tmp_path: Path, nb: TestNeighbourhood):
    """A bulk write does not fold in its transaction; the writer's next read
    catches up; a reader meanwhile gets ViewsBehind from views() and the
    whole state from state()."""
    from meshpantry.store.errors import ViewsBehind
    from meshpantry.store.view_keeper import VIEWS_IN_TRANSACTION_MAX

    for i in range(VIEWS_IN_TRANSACTION_MAX + 10):
        nb.offer(nb.founder, f"item {i}")
    path = tmp_path / "node"
    with Store.open(path) as writer:
        writer.set_setting("neighbourhood", nb.id)
        writer.ingest([r.raw for r in nb.records], now=nb.clock)
        with Store.open(path, writer=False) as reader:
            try:
                reader.views()
            except ViewsBehind:
                pass
            else:
                raise AssertionError("a reader cannot read views the writer left behind")
            assert reader.state() == log_state(reader, nb.id)
        assert writer.views().offers[nb.records[-1].id].item == f"item {VIEWS_IN_TRANSACTION_MAX + 9}"
        with Store.open(path, writer=False) as reader:
            assert reader.views().offers[nb.records[-1].id] == writer.views().offers[nb.records[-1].id]


@STORE_LAWS
@given(seed=st.integers(0, 2**32), rng=st.randoms(use_true_random=False))
def test_tables_filled_in_one_fold_grow_on_like_any_others(tmp_path_factory, seed, rng):
    """Empty tables facing a long log are filled by one fold in memory and a
    bulk write; records arriving after it grow them one by one: build_state
    of the log all along."""
    from meshpantry.store import view_keeper as store_module

    records = troubled_activity(seed)
    neighbourhood = records[0].id
    rng.shuffle(records)
    first, rest = records[: len(records) * 2 // 3], records[len(records) * 2 // 3 :]
    saved = store_module.VIEWS_FOLDED_IN_MEMORY, store_module.VIEWS_IN_TRANSACTION_MAX
    store_module.VIEWS_FOLDED_IN_MEMORY, store_module.VIEWS_IN_TRANSACTION_MAX = 0, 3
    try:
        with Store.open(tmp_path_factory.mktemp("bulk") / "node") as store:
            store.set_setting("neighbourhood", neighbourhood)
            store.ingest([r.raw for r in first], now=max(r.time for r in records))
            assert store.state() == log_state(store, neighbourhood)
            for record in rest:
                store.ingest([record.raw], now=max(r.time for r in records))
                assert store.state() == log_state(store, neighbourhood)
    finally:
        store_module.VIEWS_FOLDED_IN_MEMORY, store_module.VIEWS_IN_TRANSACTION_MAX = saved


@STORE_LAWS
@given(seed=st.integers(0, 2**32))
def test_the_reader_answers_what_the_whole_state_says(tmp_path_factory, seed):
    """Every question the screens ask of the view tables (an entity, an
    offer's claims, a status, a household's swaps, upcoming meals, fair-share
    counts, an id prefix) has the answer the whole state gives."""
    from meshpantry.core import equity

    records = troubled_activity(seed)
    neighbourhood = records[0].id
    now = max(r.time for r in records)
    with Store.open(tmp_path_factory.mktemp("reader") / "node") as store:
        store.set_setting("neighbourhood", neighbourhood)
        for start in range(0, len(records), 7):
            store.ingest([r.raw for r in records[start : start + 7]], now=now)
        state, reader = store.state(), store.views()
        assert state == log_state(store, neighbourhood)
        for name in ("offers", "claims", "meals", "pledges", "recipes", "stories"):
            assert dict(getattr(reader, name).items()) == getattr(state, name)
            for rid, view in getattr(state, name).items():
                assert getattr(reader, name)[rid] == view
                assert reader.find(name, rid.hex()[:6], most=None) == sorted(
                    k for k in getattr(state, name) if k.hex().startswith(rid.hex()[:6])
                )
        for offer_id, offer in state.offers.items():
            assert reader.claims_on(offer_id) == state.claims_on(offer_id)
            assert reader.received_lately(offer) == equity.received_lately(state, offer_id)
        for record in records:
            assert reader.status(record.id) == state.status(record.id)
        assert dict(reader.waiting) == state.waiting and len(reader.waiting) == len(state.waiting)
        assert (reader.households, reader.devices, reader.admins, reader.members, reader.name, reader.forks) == (
            state.households, state.devices, state.admins, state.members, state.name, state.forks
        )
        for household in state.households.values():
            devices = set(household.devices)
            claims, offers = reader.claims_involving(devices)
            expected = {
                c.id for c in state.claims.values()
                if c.author in devices or (c.offer in state.offers and state.offers[c.offer].author in devices)
            }
            assert {c.id for c in claims} == expected
            assert all(offers[c.offer] == state.offers[c.offer] for c in claims)
        for past in (False, True):
            meals = sorted((m for m in state.meals.values() if past or not m.is_past(now)), key=lambda m: (m.time, m.id))
            assert reader.meal_list(now, past) == meals
