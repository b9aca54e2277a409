"""The view tables' schema and the codes their rows are written in.

``view_records`` holds, per record the views have taken in, its group's
root, its chain fate and its final fate, each as a code
(:data:`STANDS`, :data:`LEFT_UNREAD`, :data:`WAITS`, :data:`REJECTED`,
:data:`FOREIGN`) and a value (the awaited id or the encoded error). The
other ``view_*`` tables hold one encoded view per row with the columns the
readers search or sort by (:mod:`.view_reading`). The tables are created by
migration ``0005_views`` and kept by :mod:`.views`.
"""

from __future__ import annotations

from meshpantry.core.board import OfferView
from meshpantry.core.membership import COUNTING_KINDS
from meshpantry.core.view_codec import decode_error, encode_error, encode_view
from meshpantry.core.view_tables import COUNTED, UNINTERPRETED, Fate

#: Fate codes in ``view_records.status`` and ``.chain``.
STANDS, LEFT_UNREAD, WAITS, REJECTED, FOREIGN = 1, 2, 3, 4, 5
#: An offer without a date sorts after every date (SQLite integers are 64-bit).
NO_EXPIRY = 2**62
#: Separates the searchable texts of an offer row (never typed in a search).
SEP = "\x1f"
#: The membership kinds as an SQL list (the partial index must name them alike).
MEMBERSHIP_IN = "('neighbourhood', 'join', 'device_link', 'invite', 'revoke', 'invite_cancel')"
#: The list as migration 0005 indexed it (before ``invite_cancel``): a
#: migration's statements never change; 0007 rebuilds the index.
MEMBERSHIP_IN_0005 = "('neighbourhood', 'join', 'device_link', 'invite', 'revoke')"
assert set(MEMBERSHIP_IN.strip("()").replace("'", "").replace(" ", "").split(",")) == COUNTING_KINDS


def membership_where(column: str = "kind") -> str:
    """The membership kinds as an SQL condition on ``column``: comparisons
    joined by OR, written exactly as the partial index
    ``records_membership_kinds`` (migration 0011) names them, so that a query
    using it reads that index. (An IN list costs every insert into the log
    about 2.4 µs of the 10 a row cost: SQLite builds the list's lookup table
    again each time a statement runs, and a batch insert runs one per row.)"""
    kinds = MEMBERSHIP_IN.strip("()").replace("'", "").replace(" ", "").split(",")
    return "(" + " OR ".join(f"{column} = '{kind}'" for kind in kinds) + ")"


#: Migration 0011's statements: the membership index without an IN list.
MEMBERSHIP_INDEX_0011 = (
    "DROP INDEX IF EXISTS records_membership_all",
    f"CREATE INDEX records_membership_kinds ON records (kind) WHERE {membership_where()}",
)

SCHEMA = (
    """CREATE TABLE view_state (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        neighbourhood BLOB NOT NULL,
        upto INTEGER NOT NULL
    )""",
    """CREATE TABLE view_records (
        id BLOB PRIMARY KEY,
        root BLOB NOT NULL,
        chain INTEGER,
        chain_value BLOB,
        status INTEGER,
        value BLOB
    ) WITHOUT ROWID""",
    "CREATE INDEX view_records_root ON view_records (root)",
    "CREATE INDEX view_records_status ON view_records (status)",
    "CREATE INDEX view_records_foreign ON view_records (chain) WHERE chain = 5",
    f"CREATE INDEX records_membership_all ON records (kind) WHERE kind IN {MEMBERSHIP_IN_0005}",
    """CREATE TABLE view_dependents (
        named BLOB NOT NULL, edit BLOB NOT NULL, PRIMARY KEY (named, edit)
    ) WITHOUT ROWID""",
    "CREATE TABLE view_forks (author BLOB PRIMARY KEY, fork BLOB NOT NULL)",
    # Per author whose every record stands: its last record, so that a record
    # continuing the chain is judged without reading the chain.
    """CREATE TABLE view_chains (
        author BLOB PRIMARY KEY, id BLOB NOT NULL, seq INTEGER NOT NULL, prev BLOB,
        lamport INTEGER NOT NULL, kind TEXT NOT NULL
    )""",
    # haystack, tags and allergens are casefolded and separated by SEP, so
    # that a filtered board is narrowed in SQL before any view is decoded.
    """CREATE TABLE view_offers (
        id BLOB PRIMARY KEY, household BLOB NOT NULL, author BLOB NOT NULL,
        created INTEGER NOT NULL, expiry INTEGER NOT NULL, live INTEGER NOT NULL,
        haystack TEXT NOT NULL, tags TEXT NOT NULL, allergens TEXT NOT NULL,
        view BLOB NOT NULL
    )""",
    # The board reads open offers in expiry or newest order, a page at a time;
    # "live" is "not withdrawn and something remains", expiry is read-time.
    "CREATE INDEX view_offers_expiry ON view_offers (expiry, id) WHERE live = 1",
    "CREATE INDEX view_offers_newest ON view_offers (created DESC, id) WHERE live = 1",
    "CREATE INDEX view_offers_all_expiry ON view_offers (expiry, id)",
    "CREATE INDEX view_offers_all_newest ON view_offers (created DESC, id)",
    """CREATE TABLE view_claims (
        id BLOB PRIMARY KEY, offer BLOB NOT NULL, author BLOB NOT NULL,
        created INTEGER NOT NULL, accepted_at INTEGER, view BLOB NOT NULL
    )""",
    "CREATE INDEX view_claims_offer ON view_claims (offer)",
    "CREATE INDEX view_claims_author ON view_claims (author)",
    # Fair share counts accepted claims by the time they were decided.
    "CREATE INDEX view_claims_accepted ON view_claims (accepted_at) WHERE accepted_at IS NOT NULL",
    "CREATE TABLE view_meals (id BLOB PRIMARY KEY, time INTEGER NOT NULL, view BLOB NOT NULL)",
    "CREATE INDEX view_meals_time ON view_meals (time)",
    "CREATE TABLE view_pledges (id BLOB PRIMARY KEY, meal BLOB NOT NULL, view BLOB NOT NULL)",
    """CREATE TABLE view_recipes (
        id BLOB PRIMARY KEY, adapted_from BLOB, lamport INTEGER NOT NULL, view BLOB NOT NULL
    )""",
    "CREATE INDEX view_recipes_adapted ON view_recipes (adapted_from) WHERE adapted_from IS NOT NULL",
    "CREATE TABLE view_stories (id BLOB PRIMARY KEY, recipe BLOB NOT NULL, view BLOB NOT NULL)",
    "CREATE TABLE view_profiles (id BLOB PRIMARY KEY, household BLOB NOT NULL)",
)

#: The open board's two indexes again, now carrying the filter columns: a
#: filtered page tests each open offer's text, tags and allergens in the
#: index and reads an offer's row only when it matches. Without them a
#: search that matches few of 100,000 open offers looked up every row
#: (~120 ms in SQLite on a 2-core machine, against ~7 ms from the index).
BOARD_FILTER_INDEXES = (
    "DROP INDEX view_offers_expiry",
    "CREATE INDEX view_offers_expiry ON view_offers (expiry, id, haystack, tags, allergens) WHERE live = 1",
    "DROP INDEX view_offers_newest",
    "CREATE INDEX view_offers_newest ON view_offers (created DESC, id, haystack, tags, allergens) WHERE live = 1",
)

#: Offers without a best-before or pickup end come after the dated ones on the
#: board by expiry, newest first (ordered by id they were a random jumble);
#: these indexes walk them in that order, filters included, as the board's
#: other indexes do.
BOARD_UNDATED_INDEXES = (
    f"CREATE INDEX view_offers_undated ON view_offers (created DESC, id, haystack, tags, allergens) "
    f"WHERE live = 1 AND expiry = {NO_EXPIRY}",
    f"CREATE INDEX view_offers_all_undated ON view_offers (created DESC, id) WHERE expiry = {NO_EXPIRY}",
)

#: Tables emptied by :func:`clear` (a rebuild, or views of another neighbourhood).
TABLES = (
    "view_state", "view_records", "view_dependents", "view_forks", "view_chains", "view_offers", "view_claims",
    "view_meals", "view_pledges", "view_recipes", "view_stories", "view_profiles",
)
def encode_fate(fate: Fate | None, foreign: bool = False) -> tuple[int | None, bytes | None]:
    if fate is None:
        return None, None
    if fate is COUNTED:
        return STANDS, None
    if fate is UNINTERPRETED:
        return LEFT_UNREAD, None
    if isinstance(fate, bytes):
        return WAITS, fate
    return (FOREIGN if foreign else REJECTED), encode_error(fate)


def decode_fate(code: int | None, value: bytes | None) -> Fate | None:
    if code is None:
        return None
    if code == STANDS:
        return COUNTED
    if code == LEFT_UNREAD:
        return UNINTERPRETED
    if code == WAITS:
        return value
    return decode_error(value)  # type: ignore[arg-type]


def offer_columns(view: OfferView) -> tuple:
    """(id, household, author, created, expiry, live, haystack, tags,
    allergens, view) of an offer row."""
    expires = view.expires
    live = int(not view.withdrawn and view.remaining > 0)
    return (
        view.id, view.household, view.author, view.created,
        NO_EXPIRY if expires is None else expires, live,
        SEP.join((value or "").casefold() for value in (view.item, view.note, view.area)),
        word_list(view.tags), word_list(view.allergens), encode_view(view),
    )


def word_list(words: tuple[str, ...]) -> str:
    """Casefolded words each between two SEP, so that ``SEP + word + SEP``
    is found in it exactly when the word is listed."""
    return SEP + "".join(w.casefold() + SEP for w in words)


#: Migration 0007: the membership index covers ``invite_cancel`` too.
MEMBERSHIP_INDEX_0007 = (
    "DROP INDEX IF EXISTS records_membership_all",
    f"CREATE INDEX records_membership_all ON records (kind) WHERE kind IN {MEMBERSHIP_IN}",
)
