"""The views' tables: what the incremental state knows, kept in the node's database.

:class:`SqliteViewTables` implements
:class:`meshpantry.core.view_tables.ViewTables` over the ``view_*`` tables
(migration ``0005_views``), on the store's connection and inside the caller's
transaction, so the views change in the same transaction as the log. The
record summaries are not copied: they are the ``records`` table's columns,
restricted to the records the views have taken in (those with a
``view_records`` row).

During a settle the fates read and written are held in a small cache and
written back by :meth:`SqliteViewTables.flush`; nothing else is kept between
calls, so the process holds only what the records at hand touch.

``view_state`` holds the neighbourhood the views are of and the log rowid
they have taken in up to; views behind the log catch up from there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from meshpantry.core.board import ClaimStatus
from meshpantry.core.validation import ForkDetected, WrongNeighbourhood
from meshpantry.core.view_codec import DECODERS, decode_error, encode_error, encode_view
from meshpantry.core.view_tables import Fate, GroupViews, RecordMeta

from .view_schema import FOREIGN, MEMBERSHIP_IN, TABLES, decode_fate, encode_fate, membership_where, offer_columns

_CHUNK = 500
_VIEW_TABLES = ("offers", "claims", "meals", "pledges", "recipes", "stories")
#: The table holding the view named by a record of each kind.
_TABLE_OF_KIND = {
    "offer": "offers", "claim": "claims", "meal": "meals", "pledge": "pledges",
    "recipe": "recipes", "story": "stories", "household": "profiles",
}



class _Held(Mapping):
    def __init__(self, tables: "SqliteViewTables") -> None:
        self.tables = tables

    def get(self, key: bytes, default: Any = None) -> Any:
        meta = self.tables.meta(key)
        return default if meta is None else meta

    def __getitem__(self, key: bytes) -> RecordMeta:
        meta = self.tables.meta(key)
        if meta is None:
            raise KeyError(key)
        return meta

    def __contains__(self, key: object) -> bool:
        return self.tables.meta(key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - never iterated
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError


class SqliteViewTables:
    """:class:`~meshpantry.core.view_tables.ViewTables` in the store's database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.held = _Held(self)
        self._metas: dict[bytes, RecordMeta | None] = {}
        #: id -> [chain fate, fate]; ``_dirty`` ids are written back by flush
        self._rows: dict[bytes, list] = {}
        self._dirty: set[bytes] = set()
        self._roots: dict[bytes, bytes | None] = {}
        #: ids named by recipe edits' elements: few, so kept to skip a query per record
        self._named = {n for (n,) in conn.execute("SELECT DISTINCT named FROM view_dependents")}

    # -- records -------------------------------------------------------------------

    def meta(self, rid: bytes) -> RecordMeta | None:
        if rid not in self._metas:
            found = self.conn.execute(
                "SELECT r.author, r.seq, r.prev, r.lamport, r.kind FROM records r "
                "JOIN view_records v ON v.id = r.id WHERE r.id = ?",
                (rid,),
            ).fetchone()
            self._metas[rid] = RecordMeta(rid, *found) if found else None
        return self._metas[rid]

    def add_record(self, meta: RecordMeta, root: bytes, foreign: Any) -> None:
        code, value = encode_fate(foreign, foreign=True)
        self.conn.execute(
            "INSERT INTO view_records (id, root, chain, chain_value) VALUES (?, ?, ?, ?)",
            (meta.id, root, code, value),
        )
        self._metas[meta.id] = meta
        self._rows[meta.id] = [foreign, None]
        self._roots[meta.id] = root

    def authors(self) -> Iterable[bytes]:
        return [a for (a,) in self.conn.execute(
            "SELECT DISTINCT r.author FROM records r JOIN view_records v ON v.id = r.id"
        )]

    def chain(self, author: bytes) -> list[RecordMeta]:
        metas = []
        for rid, seq, prev, lamport, kind, code, value in self.conn.execute(
            "SELECT r.id, r.seq, r.prev, r.lamport, r.kind, v.chain, v.chain_value FROM records r "
            "JOIN view_records v ON v.id = r.id WHERE r.author = ?",
            (author,),
        ):
            meta = self._metas.get(rid)
            if meta is None:
                meta = self._metas[rid] = RecordMeta(rid, author, seq, prev, lamport, kind)
            metas.append(meta)
            if rid not in self._rows:
                self._rows[rid] = [decode_fate(code, value), _UNREAD]
        return metas

    def content_of(self, author: bytes) -> Iterable[bytes]:
        return [rid for (rid,) in self.conn.execute(
            "SELECT r.id FROM records r JOIN view_records v ON v.id = r.id "
            f"WHERE r.author = ? AND r.kind NOT IN {MEMBERSHIP_IN}",
            (author,),
        )]

    def root(self, rid: bytes) -> bytes:
        root = self.root_of(rid)
        assert root is not None, "root() of a held record"
        return root

    def root_of(self, rid: bytes) -> bytes | None:
        if rid not in self._roots:
            found = self.conn.execute("SELECT root FROM view_records WHERE id = ?", (rid,)).fetchone()
            self._roots[rid] = found[0] if found else None
        return self._roots[rid]

    def chain_tip(self, author: bytes) -> RecordMeta | None:
        found = self.conn.execute(
            "SELECT id, seq, prev, lamport, kind FROM view_chains WHERE author = ?", (author,)
        ).fetchone()
        return None if found is None else RecordMeta(found[0], author, *found[1:])

    def set_chain_tip(self, author: bytes, tip: RecordMeta | None) -> None:
        if tip is None:
            self.conn.execute("DELETE FROM view_chains WHERE author = ?", (author,))
        else:
            self.conn.execute(
                "INSERT INTO view_chains (author, id, seq, prev, lamport, kind) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (author) DO UPDATE SET id = excluded.id, seq = excluded.seq, "
                "prev = excluded.prev, lamport = excluded.lamport, kind = excluded.kind",
                (author, tip.id, tip.seq, tip.prev, tip.lamport, tip.kind),
            )

    def group(self, root: bytes) -> set[bytes]:
        return {rid for (rid,) in self.conn.execute("SELECT id FROM view_records WHERE root = ?", (root,))}

    def move_group(self, old_root: bytes, new_root: bytes) -> set[bytes]:
        moved = self.group(old_root)
        if moved:
            self.conn.execute("UPDATE view_records SET root = ? WHERE root = ?", (new_root, old_root))
            for rid in moved:
                self._roots[rid] = new_root
        return moved

    # -- fates -----------------------------------------------------------------------

    def prefetch(self, ids: Iterable[bytes]) -> None:
        todo = [rid for rid in ids if rid not in self._rows or self._rows[rid][1] is _UNREAD]
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for rid, author, seq, prev, lamport, kind, chain, chain_value, status, value in self.conn.execute(
                "SELECT v.id, r.author, r.seq, r.prev, r.lamport, r.kind, v.chain, v.chain_value, "
                f"v.status, v.value FROM view_records v JOIN records r ON r.id = v.id WHERE v.id IN ({marks})",
                chunk,
            ):
                if rid not in self._metas or self._metas[rid] is None:
                    self._metas[rid] = RecordMeta(rid, author, seq, prev, lamport, kind)
                row = self._rows.get(rid)
                if row is None:
                    self._rows[rid] = [decode_fate(chain, chain_value), decode_fate(status, value)]
                elif row[1] is _UNREAD:
                    row[1] = decode_fate(status, value)

    def _row(self, rid: bytes) -> list:
        row = self._rows.get(rid)
        if row is None or row[1] is _UNREAD:
            self.prefetch([rid])
            row = self._rows[rid]
        return row

    def chain_fate(self, rid: bytes) -> Fate | None:
        row = self._rows.get(rid)
        return self._row(rid)[0] if row is None else row[0]

    def set_chain_fate(self, rid: bytes, fate: Fate) -> None:
        self._row(rid)[0] = fate
        self._dirty.add(rid)

    def fate(self, rid: bytes) -> Fate | None:
        return self._row(rid)[1]

    def set_fate(self, rid: bytes, fate: Fate) -> None:
        self._row(rid)[1] = fate
        self._dirty.add(rid)

    def dependents(self, rid: bytes) -> Iterable[bytes]:
        if rid not in self._named:
            return ()
        return [e for (e,) in self.conn.execute("SELECT edit FROM view_dependents WHERE named = ?", (rid,))]

    def add_dependent(self, named: bytes, edit: bytes) -> None:
        self._named.add(named)
        self.conn.execute("INSERT OR IGNORE INTO view_dependents (named, edit) VALUES (?, ?)", (named, edit))

    def set_fork(self, author: bytes, fork: ForkDetected | None) -> None:
        if fork is None:
            self.conn.execute("DELETE FROM view_forks WHERE author = ?", (author,))
        else:
            self.conn.execute(
                "INSERT INTO view_forks (author, fork) VALUES (?, ?) "
                "ON CONFLICT (author) DO UPDATE SET fork = excluded.fork",
                (author, encode_error(fork)),
            )

    # -- views ---------------------------------------------------------------------

    def replace_views(self, ids: set[bytes], views: GroupViews) -> None:
        conn = self.conn
        by_table: dict[str, list[bytes]] = {}
        for rid in ids:
            table = _TABLE_OF_KIND.get(self.held[rid].kind)
            if table is not None:
                by_table.setdefault(table, []).append(rid)
        for table, listed in by_table.items():
            for start in range(0, len(listed), _CHUNK):
                chunk = listed[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM view_{table} WHERE id IN ({marks})", chunk)
        conn.executemany(
            "INSERT INTO view_offers (id, household, author, created, expiry, live, haystack, tags, "
            "allergens, view) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [offer_columns(v) for v in views.offers.values()],
        )
        conn.executemany(
            "INSERT INTO view_claims (id, offer, author, created, accepted_at, view) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (v.id, v.offer, v.author, v.created,
                 v.decided if v.status is ClaimStatus.ACCEPTED else None, encode_view(v))
                for v in views.claims.values()
            ],
        )
        conn.executemany(
            "INSERT INTO view_meals (id, time, view) VALUES (?, ?, ?)",
            [(v.id, v.time, encode_view(v)) for v in views.meals.values()],
        )
        conn.executemany(
            "INSERT INTO view_pledges (id, meal, view) VALUES (?, ?, ?)",
            [(v.id, v.meal, encode_view(v)) for v in views.pledges.values()],
        )
        conn.executemany(
            "INSERT INTO view_recipes (id, adapted_from, lamport, view) VALUES (?, ?, ?, ?)",
            [(v.id, v.adapted_from, v.lamport, encode_view(v)) for v in views.recipes.values()],
        )
        conn.executemany(
            "INSERT INTO view_stories (id, recipe, view) VALUES (?, ?, ?)",
            [(v.id, v.recipe, encode_view(v)) for v in views.stories.values()],
        )
        conn.executemany(
            "INSERT INTO view_profiles (id, household) VALUES (?, ?)", list(views.profiles.items())
        )

    def flush(self) -> None:
        rows = []
        for rid in self._dirty:
            chain, fate = self._rows[rid]
            foreign = isinstance(chain, WrongNeighbourhood)
            rows.append((*encode_fate(chain, foreign), *encode_fate(None if fate is _UNREAD else fate), rid))
        self.conn.executemany(
            "UPDATE view_records SET chain = ?, chain_value = ?, status = ?, value = ? WHERE id = ?", rows
        )
        self._dirty.clear()
        self._rows.clear()
        self._metas.clear()
        self._roots.clear()

    def forget(self) -> None:
        """Drop what is cached without writing it (the transaction rolled back)."""
        self._dirty.clear()
        self._rows.clear()
        self._metas.clear()
        self._roots.clear()

    # -- reading everything (rebuild checks, digests) ----------------------------------

    def all_fates(self) -> Iterable[tuple[bytes, Fate]]:
        for rid, status, value in self.conn.execute("SELECT id, status, value FROM view_records"):
            yield rid, decode_fate(status, value)

    def all_views(self) -> GroupViews:
        out = GroupViews()
        for name in _VIEW_TABLES:
            decode = DECODERS[name]
            setattr(out, name, {rid: decode(raw) for rid, raw in self.conn.execute(f"SELECT id, view FROM view_{name}")})
        out.profiles = dict(self.conn.execute("SELECT id, household FROM view_profiles"))
        return out

    def forks(self) -> list[ForkDetected]:
        return [decode_error(raw) for (raw,) in self.conn.execute("SELECT fork FROM view_forks ORDER BY author")]  # type: ignore[misc]


class _Unread:
    """The fate of a row whose chain fate was read without its fate."""


_UNREAD: Any = _Unread()


def progress(conn: sqlite3.Connection) -> tuple[bytes, int] | None:
    """(neighbourhood, log rowid taken in up to) of the views, or None."""
    found = conn.execute("SELECT neighbourhood, upto FROM view_state").fetchone()
    return (found[0], found[1]) if found else None


def set_progress(conn: sqlite3.Connection, neighbourhood: bytes, upto: int) -> None:
    conn.execute(
        "INSERT INTO view_state (one, neighbourhood, upto) VALUES (1, ?, ?) "
        "ON CONFLICT (one) DO UPDATE SET neighbourhood = excluded.neighbourhood, upto = excluded.upto",
        (neighbourhood, upto),
    )


def clear(conn: sqlite3.Connection) -> None:
    """Empty every view table (inside the caller's transaction)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")


def membership_raws(conn: sqlite3.Connection) -> list[bytes]:
    """Raw membership records the views have taken in."""
    return [raw for (raw,) in conn.execute(
        f"SELECT r.raw FROM records r JOIN view_records v ON v.id = r.id WHERE {membership_where('r.kind')}"
    )]


def foreign_ids(conn: sqlite3.Connection) -> list[bytes]:
    return [rid for (rid,) in conn.execute(f"SELECT id FROM view_records WHERE chain = {FOREIGN}")]


def profiles(conn: sqlite3.Connection) -> dict[bytes, bytes]:
    return dict(conn.execute("SELECT id, household FROM view_profiles"))


def write_all(conn: sqlite3.Connection, tables: Any) -> None:
    """Fill the emptied view tables from a
    :class:`~meshpantry.core.view_tables.MemoryTables` (a first load or a
    rebuild folds in memory, which is several times faster than row by row,
    then writes every row at once)."""
    chain_fates = tables.chain_fates
    rows = []
    for rid, root in tables.roots.items():
        chain = chain_fates.get(rid)
        rows.append((
            rid, root, *encode_fate(chain, isinstance(chain, WrongNeighbourhood)),
            *encode_fate(tables.fates.get(rid)),
        ))
    conn.executemany(
        "INSERT INTO view_records (id, root, chain, chain_value, status, value) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    conn.executemany(
        "INSERT INTO view_dependents (named, edit) VALUES (?, ?)",
        [(named, edit) for named, edits in tables.dependent.items() for edit in edits],
    )
    conn.executemany(
        "INSERT INTO view_forks (author, fork) VALUES (?, ?)",
        [(author, encode_error(fork)) for author, fork in tables.forks_by_author.items()],
    )
    conn.executemany(
        "INSERT INTO view_chains (author, id, seq, prev, lamport, kind) VALUES (?, ?, ?, ?, ?, ?)",
        [(a, t.id, t.seq, t.prev, t.lamport, t.kind) for a, t in tables.tips.items()],
    )
    SqliteViewTables(conn).replace_views(set(), tables.views)
