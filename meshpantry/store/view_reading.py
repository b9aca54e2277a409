"""Reading the view tables: the entities a reader shows, and nothing more.

:class:`ViewReader` answers the questions the household's screens ask (one
offer and its claims, a page of the board in sort order, the claims a
household made or received, upcoming meals, the recipe book, a record's
status, counts) from the ``view_*`` tables of :mod:`.views`, decoding only
the rows it returns. Small things every screen needs (households, devices,
admins, the neighbourhood's name) come from the incremental state's memory.

It also reads like a :class:`~meshpantry.core.state.NeighbourhoodState`
(``offers``, ``claims``, ``waiting``... as read-only mappings that look rows
up on demand), so code written against the whole state keeps working;
iterating such a mapping reads its whole table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable

from meshpantry.core.board import ClaimView, OfferView, offer_filter
from meshpantry.core.equity import FAIR_SHARE_WINDOW_MS
from meshpantry.core.households import HouseholdView
from meshpantry.core.incremental import IncrementalState, status_of
from meshpantry.core.meals import MealView
from meshpantry.core.recipes import RecipeView
from meshpantry.core.standing import next_write_refused
from meshpantry.core.state import NeighbourhoodState, RecordStatus
from meshpantry.core.validation import ForkDetected, ValidationError
from meshpantry.core.view_codec import DECODERS, decode_claim, decode_error, decode_meal, decode_offer

from .view_schema import NO_EXPIRY, REJECTED, SEP, WAITS, decode_fate

#: Offer rows fetched per query while walking the board in sort order.
BOARD_PAGE = 200
_ORDER = {
    "expiry": "ORDER BY expiry, id",
    "newest": "ORDER BY created DESC, id",
}


class _Rows(Mapping):
    """A view table as a read-only mapping id -> view."""

    def __init__(self, reader: "ViewReader", name: str) -> None:
        self.reader, self.name = reader, name

    def get(self, key: bytes, default: Any = None) -> Any:
        found = self.reader.one(self.name, key)
        return default if found is None else found

    def __getitem__(self, key: bytes) -> Any:
        found = self.reader.one(self.name, key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self.reader.one(self.name, key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.reader.all(self.name))

    def __len__(self) -> int:
        return self.reader.conn.execute(f"SELECT COUNT(*) FROM view_{self.name}").fetchone()[0]

    def values(self):  # type: ignore[override]
        return self.reader.all(self.name).values()

    def items(self):  # type: ignore[override]
        return self.reader.all(self.name).items()


class _Waiting(Mapping):
    """Waiting records as a read-only mapping id -> the id they wait for."""

    def __init__(self, reader: "ViewReader") -> None:
        self.reader = reader

    def __getitem__(self, key: bytes) -> bytes:
        found = self.reader.conn.execute(
            f"SELECT value FROM view_records WHERE id = ? AND status = {WAITS}", (key,)
        ).fetchone()
        if found is None:
            raise KeyError(key)
        return found[0]

    def __iter__(self) -> Iterator[bytes]:
        rows = self.reader.conn.execute(f"SELECT id FROM view_records WHERE status = {WAITS} ORDER BY id")
        return iter([rid for (rid,) in rows])

    def __len__(self) -> int:
        return self.reader.conn.execute(f"SELECT COUNT(*) FROM view_records WHERE status = {WAITS}").fetchone()[0]


class ViewReader:
    """Queries over the view tables of one store, as of one moment. ``snapshot``
    gives the whole :class:`NeighbourhoodState` when a caller needs it."""

    def __init__(
        self, conn: sqlite3.Connection, state: IncrementalState,
        snapshot: Callable[[], NeighbourhoodState] | None = None,
    ) -> None:
        self.conn = conn
        self.state = state
        self._snapshot = snapshot
        self.offers = _Rows(self, "offers")
        self.claims = _Rows(self, "claims")
        self.meals = _Rows(self, "meals")
        self.pledges = _Rows(self, "pledges")
        self.recipes = _Rows(self, "recipes")
        self.stories = _Rows(self, "stories")
        self.waiting = _Waiting(self)

    # -- what every screen needs (kept in memory) --------------------------------

    @property
    def neighbourhood(self) -> bytes:
        return self.state.neighbourhood

    @property
    def households(self) -> dict[bytes, HouseholdView]:
        return self.state.households()

    @property
    def devices(self) -> dict[bytes, bytes]:
        return self.state.roster.households

    @property
    def admins(self) -> frozenset[bytes]:
        return self.state.roster.admins

    @property
    def members(self) -> frozenset[bytes]:
        roster = self.state.roster
        return frozenset(d for d in roster.households if d not in roster.revoked)

    @property
    def founder(self) -> bytes | None:
        return self.state.roster.founder

    @property
    def name(self) -> str | None:
        genesis = self.state.genesis()
        return genesis.body["name"] if genesis else None

    @property
    def description(self) -> str | None:
        genesis = self.state.genesis()
        return genesis.body.get("description") if genesis else None

    @property
    def forks(self) -> tuple[ForkDetected, ...]:
        return tuple(self.state.tables.forks())

    def household_of(self, device: bytes) -> bytes | None:
        return self.devices.get(device)

    def snapshot(self) -> NeighbourhoodState:
        """The whole state (reads every table)."""
        assert self._snapshot is not None, "this reader was made without a snapshot"
        return self._snapshot()

    # -- one entity --------------------------------------------------------------------

    def one(self, name: str, rid: bytes) -> Any:
        """The view ``rid`` of table ``name`` (offers, claims, ...), or None."""
        if type(rid) is not bytes:
            return None
        found = self.conn.execute(f"SELECT view FROM view_{name} WHERE id = ?", (rid,)).fetchone()
        if found is None:
            return None
        view = DECODERS[name](found[0])
        return self._with_variations(view) if name == "recipes" else view

    def all(self, name: str) -> dict[bytes, Any]:
        """Every view of table ``name`` (reads the whole table)."""
        decode = DECODERS[name]
        views = {rid: decode(raw) for rid, raw in self.conn.execute(f"SELECT id, view FROM view_{name}")}
        if name == "recipes":
            views = {rid: self._with_variations(v) for rid, v in views.items()}
        return views

    def find(self, name: str, prefix: str, most: int | None = 2) -> list[bytes]:
        """Ids of table ``name`` whose hex starts with ``prefix`` (lower-case
        hex digits), at most ``most`` of them (all when None)."""
        low = bytes.fromhex(prefix + "0" * (len(prefix) % 2))
        high = bytes.fromhex(prefix + "f" * (len(prefix) % 2)) + b"\xff" * 32
        return [rid for (rid,) in self.conn.execute(
            f"SELECT id FROM view_{name} WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
            (low, high, -1 if most is None else most),
        )]

    def status(self, rid: bytes) -> RecordStatus:
        found = self.conn.execute("SELECT status, value FROM view_records WHERE id = ?", (rid,)).fetchone()
        return status_of(None if found is None else decode_fate(*found))

    def claims_on(self, offer_id: bytes) -> list[ClaimView]:
        """The claims on an offer in (lamport, id) order. Raises KeyError."""
        offer = self.offers[offer_id]
        by_id = {
            rid: decode_claim(raw)
            for rid, raw in self.conn.execute("SELECT id, view FROM view_claims WHERE offer = ?", (offer_id,))
        }
        return [by_id[c] for c in offer.claims]

    def _with_variations(self, recipe: RecipeView) -> RecipeView:
        from dataclasses import replace

        kids = self.conn.execute(
            "SELECT id FROM view_recipes WHERE adapted_from = ? ORDER BY lamport, id", (recipe.id,)
        ).fetchall()
        return replace(recipe, variations=tuple(rid for (rid,) in kids)) if kids else recipe

    # -- lists ---------------------------------------------------------------------------

    def board(
        self, now: int, text: str | None = None, tag: str | None = None,
        allergen_free: Iterable[str] | None = None, sort: str = "expiry", include_closed: bool = False,
    ) -> list[OfferView]:
        """:meth:`NeighbourhoodState.board`: the whole filtered board as a
        list. Readers that show a page walk :meth:`walk_board` instead."""
        return list(self.walk_board(now, sort, include_closed, text=text, tag=tag, allergen_free=allergen_free))

    def walk_board(
        self, now: int, sort: str = "expiry", include_closed: bool = False,
        after: tuple | None = None, *, text: str | None = None,
        tag: str | None = None, allergen_free: Iterable[str] | None = None,
    ) -> Iterator[OfferView]:
        """Offers in the board's sort order (see
        :func:`meshpantry.core.board.select_offers`): open ones at the
        reader's clock ``now`` unless ``include_closed``; only those after
        ``after`` when given, the sort key of the last offer a caller showed
        (``(expires or None, created, id)`` for "expiry", ``(created, id)`` for
        "newest"); only those matching ``text``, ``tag`` and
        ``allergen_free`` as :func:`select_offers` filters them. Rows are read
        a page at a time from the sort order's index, each page seeking past
        the last, and narrowed by the filters in SQL before any is decoded,
        so a caller that stops early reads little, wherever it starts. By
        expiry, the dated offers are walked first, then the undated ones
        newest first, each from its own index."""
        if sort not in _ORDER:
            raise ValueError(f"sort must be one of {', '.join(_ORDER)}, not {sort!r}")
        live, narrow = "1" if include_closed else "live = 1", ()
        if text:
            live, narrow = live + " AND instr(haystack, ?) > 0", (*narrow, text.casefold())
        if tag:
            live, narrow = live + " AND instr(tags, ?) > 0", (*narrow, SEP + tag.casefold() + SEP)
        for allergen in allergen_free or ():
            live, narrow = live + " AND instr(allergens, ?) = 0", (*narrow, SEP + allergen.casefold() + SEP)
        matches = offer_filter(text=text, tag=tag, allergen_free=allergen_free)
        floor = None if include_closed else now  # expired: now > expiry
        if sort == "newest":
            where, params = ("1", ()) if floor is None else ("expiry >= ?", (floor,))
            yield from self._walk_newest(live, narrow, matches, where, params, after)
            return
        if after is None or after[0] is not None:
            yield from self._walk_dated(live, narrow, matches, floor, None if after is None else (after[0], after[2]))
        undated_after = None if after is None or after[0] is not None else (after[1], after[2])
        index = "view_offers_all_undated" if include_closed else "view_offers_undated"
        yield from self._walk_newest(live, narrow, matches, f"expiry = {NO_EXPIRY}", (), undated_after, index)

    def _walk_dated(self, live: str, narrow: tuple, matches: Callable[[OfferView], bool],
                    floor: int | None, mark: tuple[int, bytes] | None) -> Iterator[OfferView]:
        """Dated offers by (expiry, id), after ``mark``, not expired before ``floor``."""
        while True:
            # One lower bound on the index's first column lets SQLite seek;
            # the OR settles ties by id.
            low = max(x for x in (floor, None if mark is None else mark[0], -(2**63)) if x is not None)
            seek, params = f"expiry >= ? AND expiry < {NO_EXPIRY}", (low,)
            if mark is not None:
                seek, params = seek + " AND (expiry > ? OR id > ?)", (low, mark[0], mark[1])
            rows = self.conn.execute(
                f"SELECT expiry, id, view FROM view_offers WHERE {live} AND {seek} "
                f"{_ORDER['expiry']} LIMIT {BOARD_PAGE}",
                (*narrow, *params),
            ).fetchall()
            for *_, raw in rows:
                offer = decode_offer(raw)
                if matches(offer):  # SQL narrowed; this is the rule itself
                    yield offer
            if len(rows) < BOARD_PAGE:
                return
            expiry, rid, _ = rows[-1]
            mark = (expiry, rid)

    def _walk_newest(self, live: str, narrow: tuple, matches: Callable[[OfferView], bool],
                     where: str, params: tuple, mark: tuple[int, bytes] | None,
                     index: str | None = None) -> Iterator[OfferView]:
        """Offers satisfying ``where`` by (created descending, id), after
        ``mark``, from ``index`` when given (SQLite's planner, without
        statistics, would rather sort every undated offer than use it)."""
        table = "view_offers" if index is None else f"view_offers INDEXED BY {index}"
        while True:
            seek, seek_params = where, params
            if mark is not None:
                seek += " AND created <= ? AND (created < ? OR id > ?)"
                seek_params = (*params, mark[0], mark[0], mark[1])
            rows = self.conn.execute(
                f"SELECT created, id, view FROM {table} WHERE {live} AND {seek} "
                f"{_ORDER['newest']} LIMIT {BOARD_PAGE}",
                (*narrow, *seek_params),
            ).fetchall()
            for *_, raw in rows:
                offer = decode_offer(raw)
                if matches(offer):
                    yield offer
            if len(rows) < BOARD_PAGE:
                return
            created, rid, _ = rows[-1]
            mark = (created, rid)

    def claims_involving(self, devices: set[bytes]) -> tuple[list[ClaimView], dict[bytes, OfferView]]:
        """Claims made by ``devices`` or on offers ``devices`` made, and the
        offers they are on."""
        devices = list(devices)
        marks = ",".join("?" * len(devices))
        claims = {
            rid: decode_claim(raw)
            for rid, raw in self.conn.execute(
                f"SELECT c.id, c.view FROM view_claims c WHERE c.author IN ({marks}) UNION "
                f"SELECT c.id, c.view FROM view_claims c JOIN view_offers o ON o.id = c.offer "
                f"WHERE o.author IN ({marks})",
                (*devices, *devices),
            )
        }
        offer_ids = list({c.offer for c in claims.values()})
        offers: dict[bytes, OfferView] = {}
        for start in range(0, len(offer_ids), 500):
            chunk = offer_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            offers.update(
                (rid, decode_offer(raw))
                for rid, raw in self.conn.execute(f"SELECT id, view FROM view_offers WHERE id IN ({marks})", chunk)
            )
        return list(claims.values()), offers

    def meal_list(self, now: int, include_past: bool) -> list[MealView]:
        """Meals in (time, id) order; past ones only when ``include_past``."""
        where, params = ("", ()) if include_past else ("WHERE time >= ?", (now,))
        return [
            decode_meal(raw)
            for (raw,) in self.conn.execute(f"SELECT view FROM view_meals {where} ORDER BY time, id", params)
        ]

    def received_lately(self, offer: OfferView) -> dict[bytes, int]:
        """Household id -> accepted claims decided in the fair-share window
        before the offer's time, on other offers
        (:func:`meshpantry.core.equity.received_lately`)."""
        end = offer.created
        counts: dict[bytes, int] = {}
        for (raw,) in self.conn.execute(
            "SELECT view FROM view_claims WHERE accepted_at >= ? AND accepted_at < ? AND offer != ?",
            (end - FAIR_SHARE_WINDOW_MS, end, offer.id),
        ):
            claim = decode_claim(raw)
            counts[claim.household] = counts.get(claim.household, 0) + 1
        return counts

    def recipe_list(self) -> list[RecipeView]:
        return list(self.all("recipes").values())

    # -- this device's own records ------------------------------------------------------

    def next_write_refused(self, device: bytes, next_seq: int) -> ValidationError | None:
        """Why the record ``device`` writes next would not count, or None
        (:func:`meshpantry.core.standing.next_write_refused`)."""
        roster = self.state.roster
        joins = [
            roster.rejected.get(rid) or roster.waiting.get(rid)
            for (rid,) in self.conn.execute(
                "SELECT id FROM records WHERE author = ? AND kind = 'join' ORDER BY seq", (device,)
            )
        ]
        return next_write_refused(device, next_seq, roster, self.forks, joins)

    def rejected_of(self, device: bytes) -> list[tuple[bytes, str, int, ValidationError]]:
        """``(id, kind, seq, error)`` of every record ``device`` wrote that
        the held records reject, in seq order."""
        return [
            (rid, kind, seq, decode_error(value))  # type: ignore[misc]
            for rid, kind, seq, value in self.conn.execute(
                "SELECT r.id, r.kind, r.seq, v.value FROM records r JOIN view_records v ON v.id = r.id "
                f"WHERE r.author = ? AND v.status = {REJECTED} ORDER BY r.seq",
                (device,),
            )
        ]
