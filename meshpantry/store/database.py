"""The SQLite connection: file layout, pragmas and transactions.

Rules:

* One database file per data directory, in WAL mode, so readers (the TUI, the
  command line) never block the node that writes.
* The connection runs in autocommit mode; every write happens inside
  :func:`transaction`, which issues ``BEGIN IMMEDIATE`` and ``COMMIT`` itself.
* A writer opening a store checks the file first (:func:`check_file`,
  :func:`check_integrity`): an empty file where a store was, bytes SQLite
  cannot read as a database, or a failed ``PRAGMA quick_check`` raise
  :class:`~.errors.StoreDamaged`, which names the file and what to do, rather
  than a traceback mid-command or, worse, a fresh empty store.
* A new store is built under a staging name and renamed into place once its
  schema is committed (:func:`create`): a process killed while creating one
  leaves no empty file where the store goes, so an empty store file always
  means damage.
* Ordinary commits use ``synchronous=NORMAL``: in WAL mode a commit survives a
  killed process, and a power cut can only roll back the newest commits, all of
  which peers can send again. A commit made ``durable`` switches to
  ``synchronous=FULL`` for that one transaction, so the WAL is fsynced before
  the commit returns; that is how a device's own records reach the disk before
  they are published. An fsync of the WAL also makes every earlier commit
  durable.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StoreDamaged, StoreMissing

DB_FILE = "meshpantry.sqlite3"
LOCK_FILE = "meshpantry.lock"
DB_SUFFIX = ".sqlite3"

#: Suffix of a database being created (:func:`create`). What a killed
#: creation leaves under it is removed by the next one.
CREATING_SUFFIX = ".creating"

#: How long a connection waits for another's lock before failing. Readers and
#: the single writer only meet at WAL checkpoints, which take milliseconds; five
#: seconds covers a slow SD card on a Raspberry Pi.
BUSY_TIMEOUT_MS = 5_000

#: Pages of cache per connection (negative: KiB). 16 MiB keeps the id index of
#: a few hundred thousand records in memory during a first sync.
CACHE_KIB = 16 * 1024

#: Checkpoint the WAL into the database every this many pages (4 KiB each):
#: SQLite's default of 1000 pages (4 MiB) makes many small checkpoints during a
#: big ingest; 4000 pages (16 MiB) halves their cost and still bounds the file.
WAL_AUTOCHECKPOINT_PAGES = 4_000


def locate(path: Path) -> tuple[Path, Path]:
    """Split ``path`` into (data directory, database file).

    ``path`` is a data directory, or a database file when it ends in ``.sqlite3``.
    """
    path = Path(path)
    if path.suffix == DB_SUFFIX:
        return path.parent, path
    return path, path / DB_FILE


#: Problems ``PRAGMA quick_check`` lists before it stops: the first names the
#: damage well enough for the message; the rest would only be read by SQLite.
QUICK_CHECK_ROWS = 1


def check_file(db_file: Path) -> None:
    """Raise :class:`StoreDamaged` if ``db_file`` exists but is empty while
    its write-ahead log holds nothing either: a store truncated to nothing,
    which SQLite would silently open as a new, empty database. (A new store
    is renamed into place only once its migrations are committed, by
    :func:`create`, so an empty file is never a store in use.)"""
    try:
        size = db_file.stat().st_size
    except FileNotFoundError:
        return
    if size > 0:
        return
    wal = db_file.with_name(db_file.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # the first commit is still in the log: SQLite recovers it
    raise StoreDamaged(db_file, "the file is empty: 0 bytes")


def check_integrity(conn: sqlite3.Connection, db_file: Path) -> None:
    """Raise :class:`StoreDamaged` unless SQLite's ``quick_check`` of the
    database passes (structure of every page and b-tree; linear in the size
    of the file)."""
    try:
        rows = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_ROWS})").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreDamaged(db_file, str(exc)) from None
    if [tuple(r) for r in rows] != [("ok",)]:
        raise StoreDamaged(db_file, "; ".join(str(r[0]) for r in rows))


def connect(db_file: Path, *, writer: bool) -> sqlite3.Connection:
    """Open ``db_file`` with the store's pragmas.

    A writer creates the file (and its directory) if needed and switches it to
    WAL mode. A reader opens it read-only. Raises :class:`StoreMissing` if a
    reader finds no file.
    """
    if writer:
        db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    else:
        if not db_file.exists():
            raise StoreMissing(db_file)
        conn = sqlite3.connect(
            f"file:{db_file}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if writer:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        assert mode == "wal", f"SQLite refused WAL mode ({mode})"
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, durable: bool = False) -> Iterator[None]:
    """Run the body in one write transaction; roll back if it raises.

    ``durable=True`` fsyncs the commit (``synchronous=FULL``) before returning.
    """
    if durable:
        conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


def create(db_file: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    """Create the database at ``db_file``, which does not exist, in one step:
    ``build`` (the migrations) runs on a file under a staging name, which is
    closed, fsynced and renamed to ``db_file``. A kill at any moment leaves
    either no ``db_file`` or a whole one; the caller holds the writer lock."""
    staging = db_file.with_name(db_file.name + CREATING_SUFFIX)
    for leftover in (staging, *_sidecars(staging)):
        leftover.unlink(missing_ok=True)
    conn = connect(staging, writer=True)
    try:
        build(conn)
    finally:
        conn.close()  # checkpoints the WAL into the file and deletes it
    fd = os.open(staging, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staging, db_file)
    fsync_directory(db_file.parent)


def _sidecars(db_file: Path) -> tuple[Path, Path]:
    """SQLite's write-ahead log and shared-memory index beside ``db_file``."""
    return db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")


def fsync_directory(directory: Path) -> None:
    """Make the directory entries of newly created files durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
