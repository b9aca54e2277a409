"""The view tables kept up with the record log.

Theory of operation. The neighbourhood's state lives in the ``view_*``
tables (:mod:`.views`), grown record by record by
:class:`~meshpantry.core.incremental.IncrementalState`. The tables remember
the log rowid they have taken in (their *progress*), so:

* a write to the log grows them in the same transaction when it adds a few
  records (gossip, this device's own records): they never disagree with the
  log on disk (:meth:`ViewKeeper.grow`);
* a bulk write (a sync batch) leaves them behind; the next read catches them
  up, row by row when they lack a little, by one fold of the whole log in
  memory and a bulk write when they lack much (a first sync, a rebuild, an
  upgrade) (:meth:`ViewKeeper.live`);
* a restart resumes from the tables: only the membership records and
  household profiles are read back, nothing is folded again;
* a failed transaction makes the keeper forget what it held in memory
  (:meth:`ViewKeeper.forget`): the tables rolled back with the log, and the
  next use resumes from them;
* a read-only store (the command line beside a running node) reads the
  writer's tables when they are up to date with the log, and folds the log
  in memory otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from meshpantry.core.incremental import IncrementalState
from meshpantry.core.record_log import Logged
from protocol import Record

from . import database, log, migrations
from . import views as view_tables
from .errors import ViewsBehind
from .view_reading import ViewReader
from .views import SqliteViewTables

#: Records a write may add to the log and still grow the views in its own
#: transaction. Gossip and own records come one or a few at a time and see
#: their views at once (about a millisecond each); a sync batch of hundreds
#: leaves them for the next read, which grows them in one pass: folding in
#: the ingest transaction halved the bulk ingest rate (0.75 -> 0.37 of raw
#: verify on the ingest benchmark).
VIEWS_IN_TRANSACTION_MAX = 64
#: View tables behind the log by more than this, and by more than a quarter
#: of it (a first sync, a rebuild, an upgrade), are filled again by one fold
#: of the whole log in memory and a bulk write: about 4x faster per record
#: than growing them row by row, at the price of holding every record's
#: summary and view until written.
VIEWS_FOLDED_IN_MEMORY = 2_000


class ViewKeeper:
    """The view tables of one store's connection, and the incremental state
    over them. ``writer`` says whether this connection may write them."""

    def __init__(self, conn: sqlite3.Connection, *, writer: bool) -> None:
        self._conn = conn
        self.writer = writer
        self._views: IncrementalState | None = None  #: the log's state, kept in the view tables
        self._views_upto = 0  #: log rowid the views have taken in
        self._snapshot: tuple[int, Any] | None = None  #: (views_upto, whole state) of :meth:`state`

    def forget(self) -> None:
        """Drop what is held in memory (after a failed transaction)."""
        self._views = None

    def clear(self) -> None:
        """Empty the view tables (inside the caller's write transaction); they
        grow again from the whole log at the next read."""
        view_tables.clear(self._conn)
        self._views = None
        self._views_upto = 0
        self._snapshot = None

    def state(self, neighbourhood: bytes, newest: int) -> Any:
        """The whole :class:`~meshpantry.core.state.NeighbourhoodState` of the
        log up to rowid ``newest``, cached until the log grows."""
        views = self.live(neighbourhood, newest)
        if self._snapshot is None or self._snapshot[0] != self._views_upto:
            self._snapshot = (self._views_upto, views.state())
        return self._snapshot[1]

    def reader(self, neighbourhood: bytes, newest: int, whole: Callable[[], Any]) -> ViewReader:
        """A reader of the views, up to date with the log; ``whole`` gives the
        whole state for the few questions that need it. Raises
        :class:`ViewsBehind` on a read-only connection whose writer left the
        tables behind the log."""
        views = self.live(neighbourhood, newest)
        if not isinstance(views.tables, SqliteViewTables):
            raise ViewsBehind()
        return ViewReader(self._conn, views, whole)

    def live(self, neighbourhood: bytes, newest: int) -> IncrementalState:
        """The incremental state of the log up to rowid ``newest``, caught up
        with it."""
        if self._views is not None and self._views.neighbourhood == neighbourhood:
            if self._views_upto == newest:
                return self._views
            if not self.writer:
                self._views = None  # the writer moved on: read its tables afresh
        if not self.writer:
            return self._reader_views(neighbourhood, newest)
        try:
            with database.transaction(self._conn):
                self._catch_up(neighbourhood, newest)
        except BaseException:
            self._views = None
            raise
        return self._views  # type: ignore[return-value]

    def grow(self, neighbourhood: bytes, newest: int, logged: Sequence[Logged]) -> None:
        """The hook of every write to the log, inside its transaction (the
        one that logged ``logged``, which saves decoding them again; the log
        now ends at rowid ``newest``): grow the view tables to the log when
        what they lack is a few records (gossip, own records); leave them
        behind after a bulk write (a sync) for the next read to catch up, so
        bulk ingest runs at the log's speed."""
        if self._views is None or self._views.neighbourhood != neighbourhood:
            progress = view_tables.progress(self._conn)
            upto = progress[1] if progress is not None and progress[0] == neighbourhood else 0
        else:
            upto = self._views_upto
        if newest - upto > VIEWS_IN_TRANSACTION_MAX:
            return
        self._catch_up(neighbourhood, newest, logged)

    def _catch_up(self, neighbourhood: bytes, newest: int, logged: Sequence[Logged] = ()) -> None:
        """Bring the view tables up to rowid ``newest`` inside the caller's
        write transaction; ``logged`` are records just written, if any (their
        rows, bodiless, are read from the log)."""
        if self._views is None or self._views.neighbourhood != neighbourhood:
            self._views, self._views_upto = self._resume(neighbourhood)
        if newest == self._views_upto:
            return
        behind = newest - self._views_upto
        if behind > VIEWS_FOLDED_IN_MEMORY and 4 * behind > newest:
            self._fill(neighbourhood, newest)
            return
        fresh = {r.id: r for r in logged if type(r) is Record}
        ids = [rid for (rid,) in self._conn.execute(
            "SELECT id FROM records WHERE rowid > ? AND rowid <= ?", (self._views_upto, newest)
        )]
        for start in range(0, len(ids), log.PAGE_ROWS):  # order does not matter to the views
            chunk = ids[start : start + log.PAGE_ROWS]
            known = [fresh[rid] for rid in chunk if rid in fresh]
            self._views.add(known + self._load_records([rid for rid in chunk if rid not in fresh]), settle=False)
        self._views.settle()
        view_tables.set_progress(self._conn, neighbourhood, newest)
        self._views_upto = newest

    def _fill(self, neighbourhood: bytes, newest: int) -> None:
        """Fill the view tables again from the whole log: fold in memory (the
        records are read a page at a time; their summaries and the views are
        held until written), then write every row."""
        state = self._fold_log(neighbourhood, newest)
        view_tables.clear(self._conn)
        view_tables.write_all(self._conn, state.tables)
        view_tables.set_progress(self._conn, neighbourhood, newest)
        del state
        self._views, self._views_upto = self._resume(neighbourhood)

    def _resume(self, neighbourhood: bytes) -> tuple[IncrementalState, int]:
        """The incremental state the view tables hold (inside a write
        transaction); empty tables if they hold another neighbourhood's."""
        tables = SqliteViewTables(self._conn)
        progress = view_tables.progress(self._conn)
        if progress is None or progress[0] != neighbourhood:
            view_tables.clear(self._conn)
            return IncrementalState(neighbourhood, self._load_records, tables), 0
        membership = [log.trusted_decode(raw) for raw in view_tables.membership_raws(self._conn)]
        state = IncrementalState.resume(
            neighbourhood, tables, self._load_records, membership,
            view_tables.foreign_ids(self._conn), view_tables.profiles(self._conn),
        )
        return state, progress[1]

    def _reader_views(self, neighbourhood: bytes, newest: int) -> IncrementalState:
        """A read-only connection's views: the writer's tables when they are
        up to date with the log, else grown in memory from the log."""
        progress = view_tables.progress(self._conn) if "0005_views" in migrations.applied(self._conn) else None
        if progress == (neighbourhood, newest):
            self._views, self._views_upto = self._resume(neighbourhood)
        else:
            self._views, self._views_upto = self._fold_log(neighbourhood, newest), newest
        return self._views

    def _fold_log(self, neighbourhood: bytes, newest: int) -> IncrementalState:
        """The log up to rowid ``newest`` folded in memory (records read a
        page at a time; their summaries and the views are held)."""
        state = IncrementalState(neighbourhood, self._load_records)
        for _, raw in log.pages(self._conn, "AND rowid <= ?", (newest,), 0):
            state.add([log.trusted_decode(raw)], settle=False)
        state.settle()
        return state

    def _load_records(self, ids: list[bytes]) -> list[Record]:
        return [log.trusted_decode(raw) for raw in log.raws_of(self._conn, ids)]
