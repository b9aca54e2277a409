"""The neighbourhood's state grown record by record, equal to :func:`build_state`.

Theory of operation. :func:`meshpantry.core.state.build_state` is the
specification: a pure function of the record set. :class:`IncrementalState`
reaches the same :class:`NeighbourhoodState` (the same counted, waiting,
rejected with equal errors, uninterpreted, and every view) while doing, per
new record, work that depends on what the record touches rather than on the
size of the log. It rests on three facts about ``build_state``:

1. **Chains are per author.** Chain integrity of a record depends only on its
   author's records, so a new record re-judges its author's chain alone; when
   every earlier record of the author stands and the new ones continue the
   chain link by link (the usual case), they stand, judged from the chain's
   tip without reading the chain.
2. **Membership is small.** The roster depends only on membership records
   (and on the chain fate of the records joins name as invites). It is
   recomputed when one of those changes, and compared with the previous one
   author by author: only the records of authors whose household, revocation
   cut or pending join changed are folded again (all of them when the
   genesis arrives).
3. **Content falls into groups.** A content record depends on the records it
   names. Following each record's first named record (an update or claim to
   its offer, a decision to its claim and on to the offer, a pledge to its
   meal, an edit or story to its recipe) ends at a *root*: a held record that
   names nothing, or an id not held yet. The records sharing a root form a
   **group** (an offer with its updates, claims, decisions, cancels and
   handovers; a meal with its pledges; a recipe with its edits and stories),
   and folding a group alone, in (lamport, id) order, with
   :func:`~meshpantry.core.state.fold_content`, gives its records the fate and
   views the whole fold gives them. The only reference that crosses groups is
   a recipe edit naming an element of another record; such an edit's group is
   folded again whenever that record's fate changes. When a record arrives
   whose id is the root of waiting records, their group joins the new
   record's group.

Two views gather across groups and are kept aside: a recipe's
``variations`` (found by ``adapted_from`` when a recipe is read) and the
household profiles (last-writer-wins per household over its counted
``household`` records, with the devices from the roster).

Records are given to :meth:`IncrementalState.add`; the state catches up in
:meth:`IncrementalState.settle` (called by ``add`` unless told not to).
What it knows per record and the views live in a
:class:`~meshpantry.core.view_tables.ViewTables` (dictionaries by default, the
store's SQLite tables in a node); for the folds it fetches full records
through ``load`` when one is given (a store reads them by id), else keeps
them. Membership records, the roster and the household profiles are kept in
memory: they are few, and every fold reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping

from protocol import GENESIS_KIND, Record

from .households import HouseholdFold, HouseholdView
from .integrity import ChainVerdicts, judge_chain
from .membership import COUNTING_KINDS, Roster, count_members
from .recipes import edit_elements
from .state import REFERENCES, NeighbourhoodState, RecordStatus, fold_content
from .validation import ValidationError, WrongNeighbourhood
from .view_tables import (
    COUNTED,
    UNINTERPRETED,
    Fate,
    GroupViews,
    MemoryTables,
    RecordMeta,
    ViewTables,
    FateMap,
    FoldOverlay,
    status_of,
    with_variations,
)

#: Content records folded per pass when many groups wait at once (a first
#: load): bounds the full records held together, the rest are fetched later.
FOLD_CHUNK = 4_096
#: Chains judged between two flushes of the tables (a first load judges them all).
JUDGE_CHUNK = 256
#: Records kept from an ``add`` for the following ``settle`` when a loader is
#: given; a larger batch is fetched again group by group instead.
FRESH_LIMIT = 16_384

Loader = Callable[[list[bytes]], Iterable[Record]]
_MISSING = object()


@dataclass
class Settled:
    """What one :meth:`IncrementalState.settle` did (for tests and benchmarks)."""

    authors: int = 0  #: chains judged again
    roster: bool = False  #: membership recomputed
    folded: int = 0  #: content records folded
    changed: int = 0  #: records whose fate changed


class IncrementalState:
    """The state of ``neighbourhood`` over the records added so far; see the
    module's theory. ``tables`` remembers it (dictionaries by default);
    ``load(ids)`` returns the full records of held ids (any order; one it
    cannot read is left out of the views), and without it every record
    added is kept in memory."""

    def __init__(
        self, neighbourhood: bytes, load: Loader | None = None, tables: ViewTables | None = None
    ) -> None:
        self.neighbourhood = neighbourhood
        self.tables: ViewTables = MemoryTables() if tables is None else tables
        self._load = load
        self._kept: dict[bytes, Record] = {}  #: full records (all when no loader)
        self._fresh: dict[bytes, Record] = {}  #: full records added since the last settle
        self._foreign: set[bytes] = set()  #: held ids of other neighbourhoods
        self._membership: dict[bytes, Record] = {}  #: local membership records
        self._join_targets: dict[bytes, int] = {}  #: id named as invite by joins -> how many
        self._roster = count_members((), neighbourhood)
        self._profiles: dict[bytes, dict[bytes, Record]] = {}  #: household -> counted profiles
        self._profile_of: dict[bytes, bytes] = {}  #: counted profile id -> household
        self._households: dict[bytes, HouseholdView] | None = None
        self._waiting = FateMap(self.tables, bytes)
        self._rejected = FateMap(self.tables, ValidationError)
        self._dirty_authors: dict[bytes, list[RecordMeta]] = {}  #: author -> its new records
        self._dirty_ids: set[bytes] = set()
        self._roster_dirty = False
        self._snapshot: NeighbourhoodState | None = None

    @classmethod
    def resume(
        cls,
        neighbourhood: bytes,
        tables: ViewTables,
        load: Loader,
        membership: Iterable[Record],
        foreign: Iterable[bytes],
        profiles: Mapping[bytes, bytes],
    ) -> "IncrementalState":
        """The state whose tables were written by an earlier one: given the
        held membership records, the ids of other neighbourhoods and the
        counted profiles (id -> household), nothing is folded again."""
        state = cls(neighbourhood, load, tables)
        state._foreign = set(foreign)
        for record in membership:
            if record.id in state._foreign:
                continue
            state._kept[record.id] = state._membership[record.id] = record
            if record.kind == "join":
                invite = record.body["invite"]
                state._join_targets[invite] = state._join_targets.get(invite, 0) + 1
        state._roster = state._count()
        for record in load(list(profiles)):
            household = profiles[record.id]
            state._profiles.setdefault(household, {})[record.id] = record
            state._profile_of[record.id] = household
        return state

    # -- adding ----------------------------------------------------------------

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.tables.held

    def add(self, records: Iterable[Record], *, settle: bool = True) -> Settled | None:
        """Take in ``records`` (decoded, signatures verified; duplicates and
        any order welcome) and, unless ``settle`` is False, bring the state up
        to date (:meth:`settle`). Never raises for bad records."""
        for record in records:
            if record.id not in self.tables.held:
                self._take(record)
        return self.settle() if settle else None

    def _take(self, record: Record) -> None:
        tables = self.tables
        rid, kind = record.id, record.kind
        self._snapshot = None
        if self._load is None or kind in COUNTING_KINDS:
            self._kept[rid] = record
        elif len(self._fresh) < FRESH_LIMIT:
            self._fresh[rid] = record
        # Group: the root of the first named record, or this record itself.
        fields = REFERENCES.get(kind)
        if fields:
            named = record.body[fields[0][0]]
            root = tables.root_of(named) or named
        else:
            root = rid
        found = rid if kind == GENESIS_KIND else record.neighbourhood
        foreign = None
        if found != self.neighbourhood:
            foreign = WrongNeighbourhood(self.neighbourhood, found)
            self._foreign.add(rid)
        meta = RecordMeta.of(record)
        tables.add_record(meta, root, foreign)
        if root != rid:
            tables.move_group(rid, root)  # records that waited for this one
        if foreign is None:
            self._dirty_authors.setdefault(record.author, []).append(meta)
            if kind in COUNTING_KINDS or rid in self._join_targets:
                self._roster_dirty = True
            if kind == "join":
                invite = record.body["invite"]
                self._join_targets[invite] = self._join_targets.get(invite, 0) + 1
            if kind in COUNTING_KINDS:
                self._membership[rid] = record
        if kind == "recipe_edit":
            for element_of in edit_elements(record):
                tables.add_dependent(element_of, rid)
        self._dirty_ids.add(rid)
        self._dirty_ids.update(tables.dependents(rid))

    # -- settling ----------------------------------------------------------------

    def settle(self) -> Settled:
        """Bring every view up to date with the records added; returns what it did."""
        done = Settled()
        for author, new in self._dirty_authors.items():
            done.authors += 1
            self._judge(author, new)
            if done.authors % JUDGE_CHUNK == 0:
                self.tables.flush()
        self._dirty_authors.clear()
        self.tables.flush()  # bounds what a long catch-up holds at once
        if self._roster_dirty:
            done.roster = True
            self._recount()
        self._roster_dirty = False
        while self._dirty_ids:
            keys = {self.tables.root(i) for i in self._dirty_ids}
            self._dirty_ids.clear()
            batch: list[bytes] = []
            inside: set[bytes] = set()
            for key in keys:
                batch.append(key)
                inside |= self.tables.group(key)
                if len(inside) >= FOLD_CHUNK:
                    self._resolve(inside, done)
                    self.tables.flush()
                    batch, inside = [], set()
            if inside:
                self._resolve(inside, done)
        self._fresh.clear()
        self.tables.flush()
        return done

    def _judge(self, author: bytes, new: list[RecordMeta]) -> None:
        """Judge the author's chain again after ``new`` arrived. When every
        record before them stands and they continue the chain link by link,
        they stand too and nothing else changes (the usual case); otherwise
        the whole chain is judged again."""
        tables = self.tables
        tip = tables.chain_tip(author)
        new.sort(key=_seq)
        if tip is not None and _extends(tip, new):
            for meta in new:
                tables.set_chain_fate(meta.id, COUNTED)
                self._chain_moved(meta.id)
            tables.set_chain_tip(author, new[-1])
            return
        chain = [m for m in tables.chain(author) if m.id not in self._foreign]
        chain.sort(key=_seq)
        out = ChainVerdicts()
        judge_chain(author, chain, out)  # type: ignore[arg-type]
        fates: dict[bytes, Fate] = dict.fromkeys((m.id for m in out.counting), COUNTED)
        fates.update(out.waiting)
        fates.update(out.rejected)
        tables.set_fork(author, out.forks[0] if out.forks else None)
        clean = len(out.counting) == len(chain)
        tables.set_chain_tip(author, out.counting[-1] if clean and chain else None)  # type: ignore[arg-type]
        tables.prefetch(fates)
        for rid, fate in fates.items():
            old = tables.chain_fate(rid)
            if old is None or old != fate:
                tables.set_chain_fate(rid, fate)
                self._chain_moved(rid)

    def _chain_moved(self, rid: bytes) -> None:
        self._dirty_ids.add(rid)
        if self.tables.held[rid].kind in COUNTING_KINDS or rid in self._join_targets:
            self._roster_dirty = True

    def _count(self) -> Roster:
        records: list[Any] = []
        unavailable: dict[bytes, Fate] = {}
        waiting_links: dict[bytes, bytes] = {}
        tables = self.tables
        tables.prefetch(self._membership)
        for rid, record in self._membership.items():
            fate = tables.chain_fate(rid)
            if fate is COUNTED:
                records.append(record)
            else:
                unavailable[rid] = fate
                if record.kind == "device_link" and isinstance(fate, bytes):
                    waiting_links[record.body["device"]] = fate
        for target in self._join_targets:
            meta = tables.held.get(target)
            if meta is None or target in self._foreign or meta.kind in COUNTING_KINDS:
                continue
            fate = tables.chain_fate(target)
            if fate is COUNTED:
                records.append(meta)  # joins read only its kind and counter
            else:
                unavailable[target] = fate
        return count_members(records, self.neighbourhood, unavailable, waiting_links)

    def _recount(self) -> None:
        """Recompute the roster from the membership records and mark the
        records whose standing it changed."""
        old = self._roster
        new = self._roster = self._count()
        self._households = None
        self._snapshot = None
        for rid in self._membership:
            if self.tables.fate(rid) != self._membership_fate(rid):
                self._dirty_ids.add(rid)
        if old.founder != new.founder:
            authors: Iterable[bytes] = self.tables.authors()
        else:
            authors = {
                a
                for table in ("households", "revoked", "pending")
                for a in set(getattr(old, table)) | set(getattr(new, table))
                if getattr(old, table).get(a) != getattr(new, table).get(a)
            }
        for author in authors:
            self._dirty_ids.update(self.tables.content_of(author))

    def _membership_fate(self, rid: bytes) -> Fate:
        fate = self.tables.chain_fate(rid)
        if fate is not COUNTED:
            return fate
        roster = self._roster
        if rid in roster.counted:
            return COUNTED
        if rid in roster.waiting:
            return roster.waiting[rid]
        return roster.rejected[rid]

    def _before_fold(self, rid: bytes) -> Fate | None:
        """A record's fate when the content fold does not decide it, else None."""
        fate = self.tables.chain_fate(rid)
        if fate is not COUNTED:
            return fate  # another neighbourhood's, or waiting or broken on its chain
        if self.tables.held[rid].kind in COUNTING_KINDS:
            return self._membership_fate(rid)
        return None

    def _full(self, ids: list[bytes]) -> list[Record]:
        found: list[Record] = []
        missing: list[bytes] = []
        for rid in ids:
            record = self._kept.get(rid) or self._fresh.get(rid)
            if record is None:
                missing.append(rid)
            else:
                found.append(record)
        if missing:
            assert self._load is not None, "records are kept when there is no loader"
            # A record the loader cannot read (its bytes changed on disk: the
            # store logs it and tells the user to repair) is left out of the
            # fold, as if it were not held, rather than failing every read.
            found.extend(self._load(missing))
        return found

    def _resolve(self, inside: set[bytes], done: Settled) -> None:
        """Fold the groups made of ``inside`` again and apply what changed."""
        tables = self.tables
        tables.prefetch(inside)
        fates: dict[bytes, Fate] = {}
        local_waiting: dict[bytes, bytes] = {}
        local_rejected: dict[bytes, ValidationError] = {}
        candidates: list[bytes] = []
        for rid in inside:
            fate = self._before_fold(rid)
            if fate is None:
                candidates.append(rid)
            else:
                fates[rid] = fate
                if isinstance(fate, bytes):
                    local_waiting[rid] = fate
                elif isinstance(fate, ValidationError):
                    local_rejected[rid] = fate
        for rid in inside:
            self._drop_profile(rid)
        content = self._full(candidates)
        content.sort(key=_order)
        done.folded += len(content)
        waiting = FoldOverlay(local_waiting, self._waiting, inside)
        rejected = FoldOverlay(local_rejected, self._rejected, inside)
        folds = fold_content(content, self._roster, tables.held, waiting, rejected)
        views = GroupViews()
        views.offers, views.claims = folds.board.finish(rejected)
        views.meals, views.pledges = folds.meals.finish()
        views.recipes, views.stories = folds.recipes.finish()
        views.recipes = {rid: replace(v, variations=()) for rid, v in views.recipes.items()}
        for record in content:
            rid = record.id
            if rid in local_rejected:
                fates[rid] = local_rejected[rid]
            elif rid in local_waiting:
                fates[rid] = local_waiting[rid]
            elif rid in folds.uninterpreted:
                fates[rid] = UNINTERPRETED
            else:
                fates[rid] = COUNTED
                if record.kind == "household":
                    household = self._roster.households[record.author]
                    views.profiles[rid] = household
                    self._profiles.setdefault(household, {})[rid] = record
                    self._profile_of[rid] = household
                    self._households = None
        folded_before = {rid for rid in inside if tables.fate(rid) is not None}
        for rid, fate in fates.items():
            old = tables.fate(rid)
            if old is None or old != fate:
                done.changed += 1
                tables.set_fate(rid, fate)
                self._dirty_ids.update(tables.dependents(rid))
        tables.replace_views(folded_before, views)  # never folded: no views to drop
        self._snapshot = None

    def _drop_profile(self, rid: bytes) -> None:
        household = self._profile_of.pop(rid, None)
        if household is not None:
            del self._profiles[household][rid]
            self._households = None

# -- reading -------------------------------------------------------------------

    @property
    def roster(self) -> Roster:
        return self._roster

    def fate(self, record_id: bytes) -> RecordStatus:
        """Where a held record stands (UNKNOWN when not held)."""
        fate = self.tables.fate(record_id) if record_id in self.tables.held else None
        return status_of(fate)

    def households(self) -> dict[bytes, HouseholdView]:
        """Household views, in the order households joined (a cached dict:
        callers must not change it)."""
        if self._households is None:
            fold = HouseholdFold()
            for household, records in self._profiles.items():
                for record in records.values():
                    fold.household(record, household)
            self._households = fold.finish(self._roster)
        return self._households

    def genesis(self) -> Record | None:
        """The genesis record when it counts."""
        genesis = self._kept.get(self.neighbourhood)
        return genesis if genesis is not None and self.tables.fate(genesis.id) is COUNTED else None

    def state(self) -> NeighbourhoodState:
        """The whole state as a frozen :class:`NeighbourhoodState`, equal to
        ``build_state`` of the records added (call :meth:`settle` first if
        records were added with ``settle=False``). It reads every table: a
        reader that shows a few entities asks the tables instead. Its maps'
        iteration order may differ from ``build_state``'s."""
        assert not self._dirty_ids and not self._dirty_authors, "settle() before reading"
        if self._snapshot is not None:
            return self._snapshot
        roster = self._roster
        counted, uninterpreted = set(), set()
        waiting: dict[bytes, bytes] = {}
        rejected: dict[bytes, ValidationError] = {}
        for rid, fate in self.tables.all_fates():
            if fate is COUNTED:
                counted.add(rid)
            elif fate is UNINTERPRETED:
                uninterpreted.add(rid)
            elif isinstance(fate, bytes):
                waiting[rid] = fate
            else:
                rejected[rid] = fate
        views = self.tables.all_views()
        genesis = self.genesis()
        self._snapshot = NeighbourhoodState(
            neighbourhood=self.neighbourhood,
            name=genesis.body["name"] if genesis else None,
            description=genesis.body.get("description") if genesis else None,
            founder=roster.founder,
            households=dict(self.households()),
            devices=dict(roster.households),
            members=frozenset(d for d in roster.households if d not in roster.revoked),
            admins=roster.admins,
            offers=views.offers,
            claims=views.claims,
            meals=views.meals,
            pledges=views.pledges,
            recipes=with_variations(views.recipes),
            stories=views.stories,
            counted=frozenset(counted),
            waiting=dict(sorted(waiting.items())),
            rejected=dict(sorted(rejected.items())),
            uninterpreted=frozenset(uninterpreted),
            forks=tuple(self.tables.forks()),
        )
        return self._snapshot


def _seq(meta: RecordMeta) -> int:
    return meta.seq


def _extends(tip: RecordMeta, new: list[RecordMeta]) -> bool:
    """Whether ``new`` (sorted by seq) continues a chain whose every record
    stands and whose last is ``tip``, each linking to the one before."""
    previous = tip
    for meta in new:
        if meta.kind == GENESIS_KIND or meta.seq != previous.seq + 1 or meta.prev != previous.id:
            return False
        if meta.lamport <= previous.lamport:
            return False
        previous = meta
    return True


def _order(record: Record) -> tuple[int, bytes]:
    return (record.lamport, record.id)
