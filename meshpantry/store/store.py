"""The store of one node: a SQLite database in the node's data directory.

One process writes (the node, or the command line when no node runs); it holds
the directory's writer lock. Any number of readers may open the same database
read-only at the same time (WAL mode).

What lives where:

* the record log (``records``): the source of truth, see :mod:`.log`;
* settings (``settings``): small local values such as the neighbourhood id;
* derived from the log and rebuildable (:meth:`Store.rebuild_views`): the
  ``forks`` table, membership, the sync item list, and the neighbourhood's
  state in the ``view_*`` tables (:mod:`.views`), kept up with the log by
  :class:`~.view_keeper.ViewKeeper` and read through :meth:`Store.views`
  (a few entities) or :meth:`Store.state` (all of it);
* local and not derived: the waiting room, the block list, the address book.

Caches follow the log by its largest rowid (the log is append-only), so a
reader sees a writer's new records without being told.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from meshpantry.core.admission import Admissions
from meshpantry.core.chain import ChainHead
from meshpantry.core.ingest import check_own, learn_own
from meshpantry.core.membership import Admission, Roster
from meshpantry.core.record_log import Logged
from meshpantry.core.sync.items import ItemIndex, index_with_new
from meshpantry.core.validation import ValidationError
from meshpantry.core.waiting import WaitingRoom
from protocol import GENESIS_KIND, Record

from . import admission, database, log, migrations, peers, waiting
from .errors import NeighbourhoodUnset, OwnRecordRefused, ReadOnlyStore, SchemaTooNew, StoreDamaged
from .ingest import Fork, IngestReport, admit_waiting, ingest_batch, ingest_verified
from .lock import WriterLock
from .summary import LogSummary
from .verification import VerifierPool
from .view_keeper import ViewKeeper
from .view_schema import membership_where
from .view_reading import ViewReader

#: The settings key of the neighbourhood id (the genesis record's id).
NEIGHBOURHOOD = "neighbourhood"


class Store:
    """An open store. Build it with :meth:`Store.open`; close it (or use ``with``).

    A store is used by one thread at a time (the node hands its calls to one
    thread); only the checking of large ingest batches runs on worker threads.
    """

    def __init__(
        self,
        directory: Path,
        conn: sqlite3.Connection,
        lock: WriterLock | None,
        workers: int | None = None,
    ) -> None:
        self.directory = directory
        self._conn = conn
        self._lock = lock
        self._pool = VerifierPool(workers)
        self._admissions: Admissions | None = None
        self._waiting: WaitingRoom | None = None
        self._summary = LogSummary(conn)
        self._sync_index: ItemIndex | None = None
        self._indexed = 0  #: log records the sync index holds
        self._views = ViewKeeper(conn, writer=lock is not None)  #: the log's state, in the view tables

    # -- opening and closing -------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, writer: bool = True, workers: int | None = None) -> "Store":
        """Open (a writer creates) the store at ``path``.

        ``path`` is a data directory, or a ``.sqlite3`` file inside one. A
        writer takes the directory's lock and applies pending migrations.
        ``workers`` is the number of threads that check large ingest batches
        (default: one per core; 1 checks on the calling thread).
        Raises :class:`StoreLocked` if another writer holds the directory,
        :class:`StoreMissing` if a reader finds no database,
        :class:`SchemaTooNew` if the database comes from a newer version, and
        :class:`StoreDamaged` if the file is damaged (a writer runs SQLite's
        ``quick_check`` first) or empty where a store was.
        """
        directory, db_file = database.locate(Path(path))
        lock = None
        if writer:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = WriterLock(directory / database.LOCK_FILE, directory)
            lock.acquire()
        try:
            if writer and not db_file.exists():
                database.create(db_file, lambda conn: migrations.migrate(conn, int(time.time() * 1000)))
            database.check_file(db_file)
            try:
                conn = database.connect(db_file, writer=writer)
            except sqlite3.DatabaseError as exc:  # "file is not a database", ...
                raise StoreDamaged(db_file, str(exc)) from None
            try:
                if writer:
                    database.check_integrity(conn, db_file)
                too_new = migrations.unknown(conn)
                if too_new:
                    raise SchemaTooNew(too_new)
                if writer:
                    migrations.migrate(conn, int(time.time() * 1000))
                    # The database, WAL and shm files exist now (SQLite deletes
                    # the WAL on a clean close and makes a new one on open):
                    # make their directory entries durable before any own
                    # record is acknowledged.
                    database.fsync_directory(directory)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreDamaged(db_file, str(exc)) from None
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(directory, conn, lock, workers)

    def migrations_pending(self) -> bool:
        """Whether the database lacks a migration this version knows (a
        reader then sees an older schema than its queries expect)."""
        return bool({m.name for m in migrations.MIGRATIONS} - set(migrations.applied(self._conn)))

    @property
    def writer(self) -> bool:
        return self._lock is not None

    def close(self) -> None:
        """Close the database and drop the writer lock (idempotent)."""
        self._pool.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_writer(self, operation: str) -> None:
        if self._lock is None:
            raise ReadOnlyStore(operation)

    # -- settings --------------------------------------------------------------

    def get_setting(self, name: str, default: Any = None) -> Any:
        """The value stored under ``name`` (None, int, str or bytes), or ``default``."""
        found = self._conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return found[0] if found else default

    def set_setting(self, name: str, value: Any) -> None:
        """Store ``value`` (None, int, str or bytes) under ``name``.

        Setting the neighbourhood reloads membership for it.
        """
        self._require_writer("set_setting")
        with database.transaction(self._conn):
            self._put_setting(name, value)
        if name == NEIGHBOURHOOD:
            self._admissions = None

    def _put_setting(self, name: str, value: Any) -> None:
        assert value is None or type(value) in (int, str, bytes), "settings are scalars"
        self._conn.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    @property
    def neighbourhood(self) -> bytes | None:
        """The neighbourhood id, or None before the household founds or joins one."""
        return self.get_setting(NEIGHBOURHOOD)

    # -- own chain -------------------------------------------------------------

    def own_head(self, author: bytes) -> ChainHead:
        """Where ``author``'s chain stands in the durable store, with the
        highest Lamport counter this store has seen.

        Records of ``author`` still waiting for membership count too: they were
        signed with this key, so their seqs are taken (a restored device whose
        chain came back from peers before its join must not reuse them).
        """
        seq, rid, lamport = self._tip(author)
        return ChainHead(seq, rid, max(lamport, self._summary.max_lamport()))

    def max_lamport(self) -> int:
        """The highest Lamport counter within the log's reach (0 when empty;
        :mod:`meshpantry.core.lamport`): what this device's next record goes
        one above, and what a peer's record may exceed by at most the lead."""
        return self._summary.max_lamport()

    def _tip(self, author: bytes) -> tuple[int, bytes | None, int]:
        """(seq, id) of the author's highest record in the log or the waiting
        room, and the highest Lamport counter of its chain's tip and its
        waiting records (the next record goes above them even when they lie
        beyond the log's reach: a chain's counters only ever increase)."""
        seq, rid = log.head(self._conn, author)
        lamport = 0
        if rid is not None:
            lamport = self._conn.execute("SELECT lamport FROM records WHERE id = ?", (rid,)).fetchone()[0]
        for (raw,) in self._conn.execute("SELECT raw FROM waiting WHERE author = ?", (author,)):
            waiting = log.trusted_decode(raw)
            lamport = max(lamport, waiting.lamport)
            if waiting.seq > seq:
                seq, rid = waiting.seq, waiting.id
        return seq, rid, lamport

    def append_own(self, record: Record) -> None:
        """Make this device's new record durable (fsynced) before returning.

        ``record`` must follow the durable head of its author's chain: seq one
        above it and prev naming it. A genesis record on a store without a
        neighbourhood makes its id the neighbourhood. Raises
        :class:`NeighbourhoodUnset` for a non-genesis record before a
        neighbourhood is set, and :class:`OwnRecordRefused` (nothing is
        written) when the record fails
        :func:`meshpantry.core.ingest.check_own`, with that check's error as
        its ``reason``: :class:`~meshpantry.core.validation.WrongNeighbourhood`
        (another neighbourhood's record, or a second genesis),
        :class:`~meshpantry.core.validation.SeqNotIncremental` or
        :class:`~meshpantry.core.validation.PrevMismatch` (not the chain's
        next record).
        """
        self._require_writer("append_own")
        current = self.neighbourhood
        genesis = record.kind == GENESIS_KIND
        if current is None and not genesis:
            raise NeighbourhoodUnset()
        try:
            with database.transaction(self._conn, durable=True):
                seq, rid, _ = self._tip(record.author)
                try:
                    check_own(record, neighbourhood=current, head=(seq, rid))
                except ValidationError as error:
                    raise OwnRecordRefused(record.id, error) from None
                log.insert(self._conn, [record])
                if genesis:
                    self._put_setting(NEIGHBOURHOOD, record.id)
                self._grow_views([record])  # views change with the log, in its transaction
        except BaseException:
            self._views.forget()
            raise
        if genesis:
            self._admissions = None
            return
        admissions = self._loaded_admissions()
        if learn_own(admissions, record):
            self._drain_waiting(admissions)

    def _drain_waiting(self, admissions: Admissions) -> None:
        """Log the waiting records that membership now admits (after an own
        record made it grow)."""
        room = self._loaded_waiting()
        try:
            with database.transaction(self._conn):
                report = admit_waiting(
                    self._conn, admissions=admissions, room=room, heads=self._summary.heads()
                )
                self._grow_views(report.logged)  # views change with the log, in its transaction
        except BaseException:
            self._admissions = self._waiting = None
            self._views.forget()
            raise

    # -- ingest ----------------------------------------------------------------

    def ingest(self, raws: Sequence[bytes], now: int) -> IngestReport:
        """Check, admit and store peers' raw records in one transaction
        (sync, bundles): the whole pipeline of :mod:`meshpantry.core.ingest`.

        ``now`` is this device's clock in ms. Bad records are reported in the
        result, never raised. Raises :class:`NeighbourhoodUnset` before the
        store knows its neighbourhood, and SQLite errors (nothing is written).
        """
        self._require_writer("ingest")
        return self._take_in(lambda neighbourhood, admissions, room: ingest_batch(
            self._conn, raws, now, neighbourhood=neighbourhood, admissions=admissions,
            room=room, pool=self._pool, heads=self._summary.heads(),
            reach=self._summary.max_lamport(), held=self._summary.held,
        ))

    def ingest_verified(self, records: Sequence[Logged], now: int) -> IngestReport:
        """Like :meth:`ingest`, for records already decoded and
        signature-checked by :func:`meshpantry.core.ingest.check_record` (the
        gossip validator's, the checking processes'): they are neither
        decoded nor verified again. Any but a membership record may come as
        its row (:class:`~meshpantry.core.record_log.LogRow`), and its
        report's ``logged`` then holds the row."""
        self._require_writer("ingest_verified")
        return self._take_in(lambda neighbourhood, admissions, room: ingest_verified(
            self._conn, records, now, neighbourhood=neighbourhood,
            admissions=admissions, room=room, heads=self._summary.heads(),
            reach=self._summary.max_lamport(), held=self._summary.held,
        ))

    def ingest_whole(
        self,
        raws: Sequence[bytes],
        now: int,
        *,
        judge: Callable[[IngestReport, int], None],
        last: Callable[[], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        slice_size: int = 2000,
    ) -> IngestReport:
        """Ingest ``raws`` (a bundle) all or nothing: the pipeline of
        :meth:`ingest`, a slice at a time in one transaction. After each slice
        ``judge(report, offset)`` may raise to refuse the whole batch, and
        ``last()`` may raise once every record is in (both see the uncommitted
        log); a raise rolls everything back and is passed on. ``progress(done,
        total)`` is told after each slice."""
        self._require_writer("ingest_whole")
        neighbourhood, admissions, room = self._ingest_state()
        total = IngestReport()
        try:
            with database.transaction(self._conn):
                for start in range(0, len(raws), slice_size):
                    report = ingest_batch(
                        self._conn, raws[start : start + slice_size], now, neighbourhood=neighbourhood,
                        admissions=admissions, room=room, pool=self._pool, heads=self._summary.heads(),
                        reach=self._summary.max_lamport(), held=self._summary.held,
                    )
                    self._grow_views(report.logged)
                    judge(report, start)
                    total.added += report.added
                    total.logged += report.logged
                    total.duplicates += report.duplicates
                    total.forks += report.forks
                    total.dropped_waiting += report.dropped_waiting
                    if progress is not None:
                        progress(min(start + slice_size, len(raws)), len(raws))
                if last is not None:
                    last()
        except BaseException:
            # The summary read rows of the transaction rolled back: start it again.
            self._admissions = self._waiting = None
            self._views.forget()
            self._summary = LogSummary(self._conn)
            self._sync_index = None
            self._indexed = 0
            raise
        return total

    def _take_in(self, run: Callable[[bytes, Admissions, WaitingRoom], IngestReport]) -> IngestReport:
        """Run one ingest (``run(neighbourhood, admissions, room)``) in one
        transaction with the views grown in it; on any failure nothing is
        written and what was loaded in memory is dropped."""
        neighbourhood, admissions, room = self._ingest_state()
        try:
            with database.transaction(self._conn):
                report = run(neighbourhood, admissions, room)
                newest = self._grow_views(report.logged)  # views change with the log, in its transaction
        except BaseException:
            self._admissions = self._waiting = None
            self._views.forget()
            raise
        self._summary.appended(report.logged, newest)
        return report

    def _ingest_state(self) -> tuple[bytes, Admissions, WaitingRoom]:
        admissions = self._loaded_admissions()
        return admissions.membership.neighbourhood, admissions, self._loaded_waiting()

    def admission(self, record: Record) -> Admission:
        """Whether ``record`` may enter this log now, by the membership the log
        holds (for gossip validators: only ADMIT deserves forwarding)."""
        return self._loaded_admissions().admits(record)

    def household_of(self, device: bytes) -> bytes | None:
        """The household id a member device belongs to, by the membership
        records held (no views are built)."""
        return self._loaded_admissions().membership.households.get(device)

    def is_member_device(self, device: bytes) -> bool:
        """True once the log holds a membership path for ``device`` (cheap:
        no views are built)."""
        return device in self._loaded_admissions().membership.households

    def roster(self) -> Roster:
        """Who counts, by the membership records the log holds (the views'
        own count, :func:`~meshpantry.core.membership.count_members`, over
        the records admission learned). Cheap: no views are built, and the
        count is kept until the next membership record. It may count a path
        record before the views do: the views also wait until the chain of
        its author below it is whole."""
        return self._loaded_admissions().membership.roster()

    def _loaded_admissions(self) -> Admissions:
        if self._admissions is None:
            neighbourhood = self.neighbourhood
            if neighbourhood is None:
                raise NeighbourhoodUnset()
            self._admissions = admission.load(self._conn, neighbourhood)
        return self._admissions

    def _loaded_waiting(self) -> WaitingRoom:
        if self._waiting is None:
            self._waiting = waiting.load(self._conn)
        return self._waiting

    def waiting_ids(self) -> list[bytes]:
        """Ids of the records waiting for their author's membership, oldest first."""
        return self._loaded_waiting().ids() if self.writer else [
            rid for (rid,) in self._conn.execute("SELECT id FROM waiting ORDER BY rowid")
        ]

    # -- reading the log -------------------------------------------------------

    def get(self, rid: bytes) -> bytes | None:
        """The raw bytes of record ``rid``, or None."""
        return log.get(self._conn, rid)

    def has(self, rid: bytes) -> bool:
        return log.get(self._conn, rid) is not None

    def held(self, ids: Iterable[bytes]) -> set[bytes]:
        """The subset of ``ids`` in the log (from the set of ids the log
        summary keeps in memory)."""
        return self._summary.held(ids)

    def count(self) -> int:
        return log.count(self._conn)

    def last_rowid(self) -> int:
        """The arrival number of the newest record (0 for an empty log)."""
        return log.last_rowid(self._conn)

    def membership_position(self) -> int:
        """The arrival number of the newest membership record (a kind that
        decides who counts: joins, links, invites, revokes; 0 for none).
        Cheap: read from the membership index, no views are built."""
        return self._conn.execute(
            f"SELECT COALESCE(MAX(rowid), 0) FROM records WHERE {membership_where()}"
        ).fetchone()[0]

    def records(
        self, kind: str | None = None, author: bytes | None = None, since_rowid: int | None = None
    ) -> Iterator[Record]:
        """Records in arrival order, optionally of one kind and/or author, and
        only those that arrived after ``since_rowid``. Decoded without
        re-verifying (they were verified on the way in)."""
        for _, raw in self._rows(kind, author, since_rowid):
            yield log.trusted_decode(raw)

    def newest_records(self, limit: int, kind: str | None = None) -> list[Record]:
        """The ``limit`` most recently arrived records (of one kind), newest first."""
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT raw FROM records {where} ORDER BY rowid DESC LIMIT ?", (*params, max(0, limit))
        ).fetchall()
        return [log.trusted_decode(raw) for (raw,) in rows]

    def records_before(self, position: int | None, limit: int, kind: str | None = None) -> list[tuple[int, Record]]:
        """Up to ``limit`` records (of one kind) that arrived before the arrival
        ``position`` (None: the newest), newest first, each with its position:
        a page of the log, continued by passing the last position back."""
        where, params = ["rowid < ?"], [position if position is not None else 2**63 - 1]
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        rows = self._conn.execute(
            f"SELECT rowid, raw FROM records WHERE {' AND '.join(where)} ORDER BY rowid DESC LIMIT ?",
            (*params, max(0, limit)),
        ).fetchall()
        return [(rowid, log.trusted_decode(raw)) for rowid, raw in rows]

    def raw_records(
        self, kind: str | None = None, author: bytes | None = None, since_rowid: int | None = None
    ) -> Iterator[bytes]:
        """Like :meth:`records`, but the raw bytes."""
        for _, raw in self._rows(kind, author, since_rowid):
            yield raw

    def _rows(self, kind: str | None, author: bytes | None, since_rowid: int | None) -> Iterator[tuple]:
        where, params = "", ()
        if kind is not None:
            where, params = where + " AND kind = ?", (*params, kind)
        if author is not None:
            where, params = where + " AND author = ?", (*params, author)
        return log.pages(self._conn, where, params, since_rowid or 0)

    def chain(self, author: bytes, from_seq: int = 1) -> list[bytes]:
        """``author``'s raw records from ``from_seq`` on, in seq order."""
        return log.chain(self._conn, author, from_seq)

    def heads(self) -> dict[bytes, tuple[int, bytes]]:
        """{author: (highest seq held, id of the first record that arrived at
        that seq)}."""
        return dict(self._summary.heads())

    def sync_items(self) -> list[tuple[int, bytes]]:
        """Sorted (lamport, id) of every record in the log (a copy of the
        sync index's keys)."""
        index = self.sync_index()
        return index.keys[: len(index)]

    def sync_index(self) -> ItemIndex:
        """The sync item index of every record in the log, kept and grown
        from the records logged since it was last asked for (the log only
        grows; a rebuild of the views starts a new one), so neither a sync
        session nor a poll of ``dump`` rebuilds or copies it."""
        new = self._summary.arrived_since(self._indexed)
        if new or self._sync_index is None:
            self._sync_index = index_with_new(self._sync_index, sorted(new))
            self._indexed += len(new)
        return self._sync_index

    def raws_in_chain_order(self, ids: Sequence[bytes]) -> list[bytes]:
        """The raw records of ``ids`` (unknown ids skipped), each author's in
        seq order, authors ordered by the lowest Lamport counter among theirs.

        A receiver ingesting them in this order meets each chain from its
        start, and usually meets a member's invite before the join it admits.
        """
        return log.in_chain_order(self._conn, self._summary.rowids(ids))

    def chains(self) -> dict[bytes, list[tuple[int, bytes]]]:
        """{author: [(seq, id), ...] in seq order} of every record in the log
        (a bundle's summary of what this replica holds)."""
        out: dict[bytes, list[tuple[int, bytes]]] = {}
        for author, seq, rid in self._conn.execute("SELECT author, seq, id FROM records ORDER BY author, seq"):
            out.setdefault(author, []).append((seq, rid))
        return out

    def ids_since(self, time_ms: int) -> list[bytes]:
        """Ids of the records whose advisory time is ``time_ms`` or later."""
        return [rid for (rid,) in self._conn.execute("SELECT id FROM records WHERE time >= ? ORDER BY rowid", (time_ms,))]

    def forks(self) -> list[Fork]:
        """Every recorded fork, in the order found."""
        return [
            Fork(author, seq, first, second)
            for author, seq, first, second in self._conn.execute(
                "SELECT author, seq, first_id, second_id FROM forks ORDER BY rowid"
            )
        ]

    # -- block list (local, never a record) ------------------------------------

    def block(self, household: bytes) -> None:
        self._require_writer("block")
        with database.transaction(self._conn):
            self._conn.execute("INSERT OR IGNORE INTO blocked (household) VALUES (?)", (household,))

    def unblock(self, household: bytes) -> None:
        self._require_writer("unblock")
        with database.transaction(self._conn):
            self._conn.execute("DELETE FROM blocked WHERE household = ?", (household,))

    def blocked(self) -> set[bytes]:
        return {h for (h,) in self._conn.execute("SELECT household FROM blocked")}

    # -- address book ----------------------------------------------------------

    def remember_peer(self, peer_id: str, multiaddrs: list[str], now: int) -> None:
        """Note that ``peer_id`` was seen listening on ``multiaddrs`` at ``now``."""
        self._require_writer("remember_peer")
        with database.transaction(self._conn):
            peers.remember(self._conn, peer_id, multiaddrs, now)

    def mark_synced(self, peer_id: str, now: int) -> None:
        self._require_writer("mark_synced")
        with database.transaction(self._conn):
            peers.mark_synced(self._conn, peer_id, now)

    def mark_failed(self, peer_id: str) -> None:
        self._require_writer("mark_failed")
        with database.transaction(self._conn):
            peers.mark_failed(self._conn, peer_id)

    def forget_peer(self, peer_id: str) -> None:
        self._require_writer("forget_peer")
        with database.transaction(self._conn):
            peers.forget(self._conn, peer_id)

    def peer_addresses(self) -> list[peers.PeerAddress]:
        """Remembered peers, most recently seen first."""
        return peers.addresses(self._conn)

    # -- views -----------------------------------------------------------------

    def state(self) -> Any:
        """The whole state, equal to ``meshpantry.core.state.build_state`` of
        the log (a :class:`~meshpantry.core.state.NeighbourhoodState`), read
        from the view tables. It reads every view: readers that show a few
        entities use :meth:`views`. Raises :class:`NeighbourhoodUnset` before
        there is a neighbourhood."""
        return self._views.state(self._require_neighbourhood(), self.last_rowid())

    def views(self) -> ViewReader:
        """The views, up to date with the log, for reads that load only the
        entities they show. Raises :class:`NeighbourhoodUnset` before there
        is a neighbourhood, and :class:`ViewsBehind` on a read-only store
        whose writer left the view tables behind the log."""
        return self._views.reader(self._require_neighbourhood(), self.last_rowid(), self.state)

    def _require_neighbourhood(self) -> bytes:
        neighbourhood = self.neighbourhood
        if neighbourhood is None:
            raise NeighbourhoodUnset()
        return neighbourhood

    def _grow_views(self, logged: Sequence[Logged]) -> int:
        """The hook of every write to the log, inside its transaction: see
        :meth:`.view_keeper.ViewKeeper.grow`. Returns the log's newest rowid."""
        neighbourhood = self.neighbourhood
        newest = self.last_rowid()
        if neighbourhood is not None:
            self._views.grow(neighbourhood, newest, logged)
        return newest

    def rebuild_views(self) -> None:
        """Recompute everything derived from the log: the forks table,
        membership, the sync item list; the view tables are emptied and grow
        again from the whole log at the next read."""
        self._require_writer("rebuild_views")
        pairs = log.fork_pairs(self._conn)
        with database.transaction(self._conn):
            self._conn.execute("DELETE FROM forks")
            self._conn.executemany(
                "INSERT INTO forks (author, seq, first_id, second_id) VALUES (?, ?, ?, ?)", pairs
            )
            self._views.clear()
        self._admissions = self._waiting = None
        self._summary = LogSummary(self._conn)
        self._sync_index = None
        self._indexed = 0
