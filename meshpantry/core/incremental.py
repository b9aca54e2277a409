"""The neighbourhood's state grown record by record, equal to :func:`build_state`.

Theory of operation. :func:`meshpantry.core.state.build_state` is the
specification: a pure function of the record set. :class:`IncrementalState`
reaches the same :class:`NeighbourhoodState` (the same counted, waiting,
rejected with equal errors, uninterpreted, and every view) while doing, per
new record, work that depends on what the record touches rather than on the
size of the log. It rests on three facts about ``build_state``:

1. **Chains are per author.** Chain integrity of a record depends only on its
   author's records, so a new record re-judges its author's chain alone.
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
``variations`` (an index of counted recipes by ``adapted_from``) and the
household profiles (last-writer-wins per household over its counted
``household`` records, with the devices from the roster).

Records are given to :meth:`IncrementalState.add`; the state catches up in
:meth:`IncrementalState.settle` (called by ``add`` unless told not to). The
state holds a small summary of each record (:class:`RecordMeta`) and, for the
folds, fetches full records through ``load`` when one is given (a store reads
them by id), else keeps them. Membership records are always kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, MutableMapping

from protocol import GENESIS_KIND, Record

from .board import ClaimView, OfferView
from .households import HouseholdFold, HouseholdView
from .integrity import ChainVerdicts, _judge_chain
from .meals import MealView, PledgeView
from .membership import MEMBERSHIP_KINDS, Roster, count_members
from .recipes import RecipeView, StoryView, edit_elements
from .state import REFERENCES, NeighbourhoodState, RecordStatus, fold_content
from .validation import ForkDetected, ValidationError, WrongNeighbourhood

#: Content records folded per pass when many groups wait at once (a first
#: load): bounds the full records held together, the rest are fetched later.
FOLD_CHUNK = 4_096
#: Records kept from an ``add`` for the following ``settle`` when a loader is
#: given; a larger batch is fetched again group by group instead.
FRESH_LIMIT = 4_096

_COUNTED, _UNINTERPRETED = RecordStatus.COUNTED, RecordStatus.UNINTERPRETED
#: A record's fate: counted, uninterpreted, the id it waits for, or its error.
Fate = Any
Loader = Callable[[list[bytes]], Iterable[Record]]


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What the chain check and the reference checks read of a record."""

    id: bytes
    author: bytes
    seq: int
    prev: bytes | None
    lamport: int
    kind: str

    @classmethod
    def of(cls, record: Record) -> "RecordMeta":
        return cls(record.id, record.author, record.seq, record.prev, record.lamport, record.kind)


class _Overlay(MutableMapping):
    """The fate map a group fold sees: its own results first; for records
    outside the group, the settled state's."""

    def __init__(self, local: dict, outside: Mapping, inside: set[bytes]) -> None:
        self.local, self.outside, self.inside = local, outside, inside

    def __getitem__(self, key: bytes) -> Any:
        if key in self.local:
            return self.local[key]
        if key in self.inside:
            raise KeyError(key)
        return self.outside[key]

    def __contains__(self, key: object) -> bool:
        return key in self.local or (key not in self.inside and key in self.outside)

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.local[key] = value

    def __delitem__(self, key: bytes) -> None:  # pragma: no cover - folds never delete
        raise NotImplementedError

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - folds never iterate
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError


@dataclass
class Settled:
    """What one :meth:`IncrementalState.settle` did (for tests and benchmarks)."""

    authors: int = 0  #: chains judged again
    roster: bool = False  #: membership recomputed
    folded: int = 0  #: content records folded
    changed: int = 0  #: records whose fate changed


class IncrementalState:
    """The state of ``neighbourhood`` over the records added so far; see the
    module's theory. ``load(ids)`` returns the full records of held ids (any
    order); without it every record added is kept in memory."""

    def __init__(self, neighbourhood: bytes, load: Loader | None = None) -> None:
        self.neighbourhood = neighbourhood
        self._load = load
        self._kept: dict[bytes, Record] = {}  #: full records (all when no loader)
        self._fresh: dict[bytes, Record] = {}  #: full records added since the last settle
        self._meta: dict[bytes, RecordMeta] = {}
        self._foreign: dict[bytes, WrongNeighbourhood] = {}
        self._membership: dict[bytes, Record] = {}  #: local membership records
        self._chains: dict[bytes, list[RecordMeta]] = {}
        self._chain_fate: dict[bytes, Fate] = {}  #: local id -> _COUNTED (stands), missing id or error
        self._forks: dict[bytes, ForkDetected] = {}
        self._join_targets: dict[bytes, int] = {}  #: id named as invite by joins -> how many
        self._roster = count_members((), neighbourhood)
        self._key: dict[bytes, bytes] = {}  #: id -> its group's root
        self._groups: dict[bytes, set[bytes]] = {}  #: root -> ids held in the group
        self._by_author: dict[bytes, set[bytes]] = {}  #: author -> local content ids
        self._dependents: dict[bytes, set[bytes]] = {}  #: id -> edits naming its elements
        self._fate: dict[bytes, Fate] = {}
        self._waiting: dict[bytes, bytes] = {}
        self._rejected: dict[bytes, ValidationError] = {}
        self._counted: set[bytes] = set()
        self._uninterpreted: set[bytes] = set()
        self.offers: dict[bytes, OfferView] = {}
        self.claims: dict[bytes, ClaimView] = {}
        self.meals: dict[bytes, MealView] = {}
        self.pledges: dict[bytes, PledgeView] = {}
        self.stories: dict[bytes, StoryView] = {}
        self._recipe_base: dict[bytes, RecipeView] = {}
        self.recipes: dict[bytes, RecipeView] = {}
        self._variations: dict[bytes, dict[bytes, tuple[int, bytes]]] = {}
        self._profiles: dict[bytes, dict[bytes, Record]] = {}  #: household -> counted profiles
        self._profile_of: dict[bytes, bytes] = {}  #: counted profile id -> household
        self._households: dict[bytes, HouseholdView] | None = None
        self._dirty_authors: set[bytes] = set()
        self._dirty_ids: set[bytes] = set()
        self._roster_dirty = False
        self._snapshot: NeighbourhoodState | None = None

    # -- adding ----------------------------------------------------------------

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._meta

    def __len__(self) -> int:
        return len(self._meta)

    def add(self, records: Iterable[Record], *, settle: bool = True) -> Settled | None:
        """Take in ``records`` (decoded, signatures verified; duplicates and
        any order welcome) and, unless ``settle`` is False, bring the state up
        to date (:meth:`settle`). Never raises for bad records."""
        for record in records:
            if record.id not in self._meta:
                self._take(record)
        return self.settle() if settle else None

    def _take(self, record: Record) -> None:
        rid, kind = record.id, record.kind
        meta = RecordMeta.of(record)
        self._meta[rid] = meta
        self._snapshot = None
        if self._load is None or kind in MEMBERSHIP_KINDS:
            self._kept[rid] = record
        elif len(self._fresh) < FRESH_LIMIT:
            self._fresh[rid] = record
        found = rid if kind == GENESIS_KIND else record.neighbourhood
        if found != self.neighbourhood:
            self._foreign[rid] = WrongNeighbourhood(self.neighbourhood, found)
        else:
            self._chains.setdefault(record.author, []).append(meta)
            self._dirty_authors.add(record.author)
            if kind in MEMBERSHIP_KINDS or rid in self._join_targets:
                self._roster_dirty = True
            if kind == "join":
                invite = record.body["invite"]
                self._join_targets[invite] = self._join_targets.get(invite, 0) + 1
                self._roster_dirty = True
            if kind in MEMBERSHIP_KINDS:
                self._membership[rid] = record
            else:
                self._by_author.setdefault(record.author, set()).add(rid)
        # Group: the root of the first named record, or this record itself.
        fields = REFERENCES.get(kind)
        if fields:
            named = record.body[fields[0][0]]
            root = self._key.get(named, named)
        else:
            root = rid
        waiting_here = self._groups.pop(rid, None) if root != rid else None
        group = self._groups.setdefault(root, set())
        if waiting_here:
            for other in waiting_here:
                self._key[other] = root
            group.update(waiting_here)
        group.add(rid)
        self._key[rid] = root
        if kind == "recipe_edit":
            for element_of in edit_elements(record):
                self._dependents.setdefault(element_of, set()).add(rid)
        self._dirty_ids.add(rid)
        self._dirty_ids.update(self._dependents.get(rid, ()))

    # -- settling ----------------------------------------------------------------

    def settle(self) -> Settled:
        """Bring every view up to date with the records added; returns what it did."""
        done = Settled()
        for author in self._dirty_authors:
            done.authors += 1
            self._judge(author)
        self._dirty_authors.clear()
        if self._roster_dirty:
            done.roster = True
            self._recount()
        self._roster_dirty = False
        while self._dirty_ids:
            keys = {self._key[i] for i in self._dirty_ids}
            self._dirty_ids.clear()
            batch: list[bytes] = []
            size = 0
            for key in keys:
                batch.append(key)
                size += len(self._groups[key])
                if size >= FOLD_CHUNK:
                    self._resolve(batch, done)
                    batch, size = [], 0
            if batch:
                self._resolve(batch, done)
        self._fresh.clear()
        return done

    def _judge(self, author: bytes) -> None:
        chain = self._chains[author]
        chain.sort(key=_seq)
        out = ChainVerdicts()
        _judge_chain(author, chain, out)  # type: ignore[arg-type]
        fates: dict[bytes, Fate] = dict.fromkeys((m.id for m in out.counting), _COUNTED)
        fates.update(out.waiting)
        fates.update(out.rejected)
        if out.forks:
            self._forks[author] = out.forks[0]
        else:
            self._forks.pop(author, None)
        for rid, fate in fates.items():
            if self._chain_fate.get(rid) != fate or rid not in self._chain_fate:
                self._chain_fate[rid] = fate
                self._dirty_ids.add(rid)
                if self._meta[rid].kind in MEMBERSHIP_KINDS or rid in self._join_targets:
                    self._roster_dirty = True

    def _recount(self) -> None:
        """Recompute the roster from the membership records and mark the
        records whose standing it changed."""
        old = self._roster
        records, unavailable, waiting_links = [], {}, {}
        for rid, record in self._membership.items():
            fate = self._chain_fate[rid]
            if fate is _COUNTED:
                records.append(record)
            else:
                unavailable[rid] = fate
                if record.kind == "device_link" and isinstance(fate, bytes):
                    waiting_links[record.body["device"]] = fate
        for target in self._join_targets:
            meta = self._meta.get(target)
            if meta is None or target in self._foreign or meta.kind in MEMBERSHIP_KINDS:
                continue
            fate = self._chain_fate[target]
            if fate is _COUNTED:
                records.append(meta)  # joins read only its kind and counter
            else:
                unavailable[target] = fate
        new = count_members(records, self.neighbourhood, unavailable, waiting_links)
        self._roster = new
        self._households = None
        self._snapshot = None
        for rid in self._membership:
            if self._fate.get(rid) != self._membership_fate(rid):
                self._dirty_ids.add(rid)
        if old.founder != new.founder:
            authors: Iterable[bytes] = list(self._by_author)
        else:
            authors = {
                a
                for table in ("households", "revoked", "pending")
                for a in set(getattr(old, table)) | set(getattr(new, table))
                if getattr(old, table).get(a) != getattr(new, table).get(a)
            }
        for author in authors:
            self._dirty_ids.update(self._by_author.get(author, ()))

    def _membership_fate(self, rid: bytes) -> Fate:
        fate = self._chain_fate[rid]
        if fate is not _COUNTED:
            return fate
        roster = self._roster
        if rid in roster.counted:
            return _COUNTED
        if rid in roster.waiting:
            return roster.waiting[rid]
        return roster.rejected[rid]

    def _before_fold(self, rid: bytes) -> Fate | None:
        """A record's fate when the content fold does not decide it, else None."""
        foreign = self._foreign.get(rid)
        if foreign is not None:
            return foreign
        fate = self._chain_fate[rid]
        if fate is not _COUNTED:
            return fate
        if self._meta[rid].kind in MEMBERSHIP_KINDS:
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
            loaded = list(self._load(missing))
            assert len(loaded) == len(missing), "the loader returns every held id asked for"
            found.extend(loaded)
        return found

    def _resolve(self, keys: list[bytes], done: Settled) -> None:
        """Fold the groups ``keys`` again and apply what changed."""
        inside: set[bytes] = set()
        for key in keys:
            inside.update(self._groups[key])
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
        content = self._full(candidates)
        content.sort(key=_order)
        done.folded += len(content)
        waiting = _Overlay(local_waiting, self._waiting, inside)
        rejected = _Overlay(local_rejected, self._rejected, inside)
        folds = fold_content(content, self._roster, self._meta, waiting, rejected)
        offers, claims = folds.board.finish(rejected)
        meals, pledges = folds.meals.finish()
        recipes, stories = folds.recipes.finish()
        profiles: dict[bytes, Record] = {}
        for record in content:
            rid = record.id
            if rid in local_rejected:
                fates[rid] = local_rejected[rid]
            elif rid in local_waiting:
                fates[rid] = local_waiting[rid]
            elif rid in folds.uninterpreted:
                fates[rid] = _UNINTERPRETED
            else:
                fates[rid] = _COUNTED
                if record.kind == "household":
                    profiles[rid] = record
        for rid, fate in fates.items():
            old = self._fate.get(rid, None)
            if old is None or old != fate or type(old) is not type(fate):
                done.changed += 1
                self._set_fate(rid, fate)
                self._dirty_ids.update(self._dependents.get(rid, ()))
        self._replace_views(inside, offers, claims, meals, pledges, recipes, stories, profiles)
        self._snapshot = None

    def _set_fate(self, rid: bytes, fate: Fate) -> None:
        old = self._fate.get(rid)
        if old is _COUNTED:
            self._counted.discard(rid)
        elif old is _UNINTERPRETED:
            self._uninterpreted.discard(rid)
        elif isinstance(old, bytes):
            del self._waiting[rid]
        elif old is not None:
            del self._rejected[rid]
        self._fate[rid] = fate
        if fate is _COUNTED:
            self._counted.add(rid)
        elif fate is _UNINTERPRETED:
            self._uninterpreted.add(rid)
        elif isinstance(fate, bytes):
            self._waiting[rid] = fate
        else:
            self._rejected[rid] = fate

    def _replace_views(
        self,
        inside: set[bytes],
        offers: dict,
        claims: dict,
        meals: dict,
        pledges: dict,
        recipes: dict[bytes, RecipeView],
        stories: dict,
        profiles: dict[bytes, Record],
    ) -> None:
        touched_parents: set[bytes] = set()
        for rid in inside:
            self.offers.pop(rid, None)
            self.claims.pop(rid, None)
            self.meals.pop(rid, None)
            self.pledges.pop(rid, None)
            self.stories.pop(rid, None)
            gone = self._recipe_base.pop(rid, None)
            if gone is not None:
                self.recipes.pop(rid, None)
                if gone.adapted_from is not None:
                    self._variations[gone.adapted_from].pop(rid, None)
                    touched_parents.add(gone.adapted_from)
            household = self._profile_of.pop(rid, None)
            if household is not None:
                del self._profiles[household][rid]
                self._households = None
        self.offers.update(offers)
        self.claims.update(claims)
        self.meals.update(meals)
        self.pledges.update(pledges)
        self.stories.update(stories)
        for rid, view in recipes.items():
            self._recipe_base[rid] = view
            touched_parents.add(rid)
            if view.adapted_from is not None:
                self._variations.setdefault(view.adapted_from, {})[rid] = (view.lamport, rid)
                touched_parents.add(view.adapted_from)
        for parent in touched_parents:
            base = self._recipe_base.get(parent)
            if base is None:
                continue
            children = self._variations.get(parent, {})
            ordered = tuple(rid for _, rid in sorted(children.values()))
            self.recipes[parent] = replace(base, variations=ordered) if ordered != base.variations else base
        for rid, record in profiles.items():
            household = self._roster.households[record.author]
            self._profiles.setdefault(household, {})[rid] = record
            self._profile_of[rid] = household
            self._households = None

    # -- reading -------------------------------------------------------------------

    @property
    def roster(self) -> Roster:
        return self._roster

    def fate(self, record_id: bytes) -> RecordStatus:
        """Where a held record stands (UNKNOWN when not held)."""
        fate = self._fate.get(record_id)
        if fate is None:
            return RecordStatus.UNKNOWN
        if fate is _COUNTED or fate is _UNINTERPRETED:
            return fate
        return RecordStatus.WAITING if isinstance(fate, bytes) else RecordStatus.REJECTED

    def households(self) -> dict[bytes, HouseholdView]:
        if self._households is None:
            fold = HouseholdFold()
            for household, records in self._profiles.items():
                for record in records.values():
                    fold.household(record, household)
            self._households = fold.finish(self._roster)
        return self._households

    def state(self) -> NeighbourhoodState:
        """The state as a frozen :class:`NeighbourhoodState`, equal to
        ``build_state`` of the records added (call :meth:`settle` first if
        records were added with ``settle=False``). Its maps are copies; their
        iteration order may differ from ``build_state``'s."""
        assert not self._dirty_ids and not self._dirty_authors, "settle() before reading"
        if self._snapshot is not None:
            return self._snapshot
        roster = self._roster
        genesis = self._kept.get(self.neighbourhood) if self.neighbourhood in self._counted else None
        self._snapshot = NeighbourhoodState(
            neighbourhood=self.neighbourhood,
            name=genesis.body["name"] if genesis else None,
            description=genesis.body.get("description") if genesis else None,
            founder=roster.founder,
            households=dict(self.households()),
            devices=dict(roster.households),
            members=frozenset(d for d in roster.households if d not in roster.revoked),
            admins=roster.admins,
            offers=dict(self.offers),
            claims=dict(self.claims),
            meals=dict(self.meals),
            pledges=dict(self.pledges),
            recipes=dict(self.recipes),
            stories=dict(self.stories),
            counted=frozenset(self._counted),
            waiting=dict(sorted(self._waiting.items())),
            rejected=dict(sorted(self._rejected.items())),
            uninterpreted=frozenset(self._uninterpreted),
            forks=tuple(self._forks[a] for a in sorted(self._forks)),
        )
        return self._snapshot


def _seq(meta: RecordMeta) -> int:
    return meta.seq


def _order(record: Record) -> tuple[int, bytes]:
    return (record.lamport, record.id)
