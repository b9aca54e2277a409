"""Named migrations: recorded in a table, applied once, refused when unknown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from meshpantry.store import SchemaTooNew, Store
from meshpantry.store.database import DB_FILE
from meshpantry.store.migrations import MIGRATIONS, Migration, applied, migrate


def fresh() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


def test_fresh_database_records_every_migration_in_order():
    conn = fresh()
    assert migrate(conn, now=1) == [m.name for m in MIGRATIONS]
    assert applied(conn) == [m.name for m in MIGRATIONS]
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"records", "settings", "forks", "waiting", "blocked", "peers", "migrations"} <= tables


def test_running_again_applies_nothing():
    conn = fresh()
    migrate(conn, now=1)
    assert migrate(conn, now=2) == []
    assert conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_new_migration_is_applied_alone_on_an_old_database():
    conn = fresh()
    migrate(conn, now=1)
    later = MIGRATIONS + (Migration("9999_notes", ("CREATE TABLE notes (text TEXT)",)),)
    assert migrate(conn, now=2, migrations=later) == ["9999_notes"]
    assert applied(conn)[-1] == "9999_notes"


def test_a_failing_migration_leaves_no_trace():
    conn = fresh()
    migrate(conn, now=1)
    broken = MIGRATIONS + (
        Migration("9998_half", ("CREATE TABLE half (x)", "CREATE TABLE half (y)")),
    )
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, now=2, migrations=broken)
    assert "9998_half" not in applied(conn)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_store_creates_directory_and_database_then_reopens(tmp_path: Path):
    directory = tmp_path / "a" / "b"
    with Store.open(directory) as store:
        store.set_setting("household", "Ada")
    assert (directory / DB_FILE).exists()
    with Store.open(directory) as store:
        assert store.get_setting("household") == "Ada"
        assert store.count() == 0
    conn = sqlite3.connect(directory / DB_FILE)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_database_from_a_newer_version_is_refused(tmp_path: Path):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    conn.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_future', 0)")
    conn.close()
    with pytest.raises(SchemaTooNew, match="9999_future"):
        Store.open(tmp_path)
    with pytest.raises(SchemaTooNew):
        Store.open(tmp_path, writer=False)
    # The refused open released the writer lock.
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    conn.execute("DELETE FROM migrations WHERE name = '9999_future'")
    conn.close()
    Store.open(tmp_path).close()


def test_a_store_from_before_0010_loses_its_unread_indexes_and_keeps_its_records(tmp_path: Path):
    """A store written before migration 0010 opens, drops the two record
    indexes nothing reads, builds its membership index again without an IN
    list (0011), and reads its records and membership as before (the
    membership queries find the new index)."""
    from meshpantry.store.view_schema import membership_where
    from tests.core.records import TestNeighbourhood

    hood = TestNeighbourhood()
    hood.join(2, name="Bea")
    hood.write(hood.device(2), "offer", {"item": "plums", "quantity": 3, "unit": "kg"})
    before = tuple(m for m in MIGRATIONS if m.name < "0010")
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    migrate(conn, now=1, migrations=before)
    conn.close()
    with Store.open(tmp_path) as store:  # upgraded here
        store.set_setting("neighbourhood", hood.id)
        report = store.ingest([r.raw for r in hood.records], now=hood.clock)
        assert not report.rejected
        count, roster = store.count(), store.roster()
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    indexes = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'")}
    assert "records_referent" not in indexes and "records_membership" not in indexes
    assert {"records_chain", "records_membership_kinds"} <= indexes
    assert "records_membership_all" not in indexes  # 0011: its IN list cost every insert
    for query in (f"SELECT MAX(rowid) FROM records WHERE {membership_where()}",
                  f"SELECT r.raw FROM records r JOIN view_records v ON v.id = r.id WHERE {membership_where('r.kind')}"):
        plan = str(conn.execute(f"EXPLAIN QUERY PLAN {query}").fetchall())
        assert "records_membership_kinds" in plan, plan
    conn.close()
    with Store.open(tmp_path) as store:
        assert store.count() == count and store.roster() == roster


def test_membership_is_loaded_through_its_index():
    """Opening a store reads the membership records through the partial
    index, not by scanning the log."""
    from meshpantry.store.admission import QUERY

    conn = fresh()
    migrate(conn, now=1)
    plan = str(conn.execute(f"EXPLAIN QUERY PLAN {QUERY}").fetchall())
    assert "records_membership_kinds" in plan and "SCAN records" not in plan
