"""Where an :class:`~meshpantry.core.incremental.IncrementalState` keeps what it knows.

The incremental state decides; a :class:`ViewTables` remembers. Per held
record it remembers the record's summary (:class:`RecordMeta`), its group's
root, its chain fate and its final fate; per author the fork, if any; per
edit the records whose elements it names; and the views each group folded
to. :class:`MemoryTables` keeps all of it in dictionaries (tests, the
simulator); the store keeps it in SQLite tables of the node's database, so
that it survives a restart and nothing has to hold the whole log.

Fates are :data:`COUNTED`, :data:`UNINTERPRETED`, the id a record waits for
(bytes), or the :class:`ValidationError` that rejects it. A chain fate is
:data:`COUNTED` for a record that stands on its chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Mapping, MutableMapping, Protocol

from protocol import Record

from .board import ClaimView, OfferView
from .meals import MealView, PledgeView
from .membership import COUNTING_KINDS
from .recipes import RecipeView, StoryView
from .state import RecordStatus
from .validation import ForkDetected

COUNTED, UNINTERPRETED = RecordStatus.COUNTED, RecordStatus.UNINTERPRETED
#: A record's fate: COUNTED, UNINTERPRETED, the id it waits for, or its error.
Fate = Any


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


@dataclass
class GroupViews:
    """The views folded from a set of groups (each keyed by its record id)."""

    offers: dict[bytes, OfferView] = field(default_factory=dict)
    claims: dict[bytes, ClaimView] = field(default_factory=dict)
    meals: dict[bytes, MealView] = field(default_factory=dict)
    pledges: dict[bytes, PledgeView] = field(default_factory=dict)
    recipes: dict[bytes, RecipeView] = field(default_factory=dict)  #: variations left empty
    stories: dict[bytes, StoryView] = field(default_factory=dict)
    profiles: dict[bytes, bytes] = field(default_factory=dict)  #: counted profile id -> household


class ViewTables(Protocol):
    """What an incremental state stores. Ids passed in are held unless said."""

    #: id -> summary of every held record (for referent checks: ``get``, ``in``).
    held: Mapping[bytes, RecordMeta]

    def add_record(self, meta: RecordMeta, root: bytes, foreign: Any) -> None:
        """A new held record in group ``root``; ``foreign`` is its
        WrongNeighbourhood error, or None for a record of this neighbourhood."""

    def authors(self) -> Iterable[bytes]:
        """Every author with a held record."""

    def chain(self, author: bytes) -> list[RecordMeta]:
        """The author's held records (any neighbourhood), any order."""

    def content_of(self, author: bytes) -> Iterable[bytes]:
        """Ids of the author's held records that are not membership records."""

    def root(self, rid: bytes) -> bytes: ...

    def root_of(self, rid: bytes) -> bytes | None:
        """The group root of ``rid``, None when it is not held."""

    def chain_tip(self, author: bytes) -> RecordMeta | None:
        """The author's last record when every held record of the author
        stands on its chain (as last judged), else None."""

    def set_chain_tip(self, author: bytes, tip: RecordMeta | None) -> None: ...

    def group(self, root: bytes) -> set[bytes]: ...

    def move_group(self, old_root: bytes, new_root: bytes) -> set[bytes]:
        """Put every record of group ``old_root`` into ``new_root``; returns them."""

    def prefetch(self, ids: Iterable[bytes]) -> None:
        """A hint that the fates of ``ids`` are about to be read."""

    def chain_fate(self, rid: bytes) -> Fate | None: ...

    def set_chain_fate(self, rid: bytes, fate: Fate) -> None: ...

    def fate(self, rid: bytes) -> Fate | None: ...

    def set_fate(self, rid: bytes, fate: Fate) -> None: ...

    def dependents(self, rid: bytes) -> Iterable[bytes]:
        """Edits that name elements of record ``rid`` (held or not)."""

    def add_dependent(self, named: bytes, edit: bytes) -> None: ...

    def set_fork(self, author: bytes, fork: ForkDetected | None) -> None: ...

    def replace_views(self, ids: set[bytes], views: GroupViews) -> None:
        """Drop every view keyed by one of ``ids`` (the records of the groups
        that had been folded before) and store ``views``."""

    def flush(self) -> None:
        """The end of a settle: write what is held back."""

    def all_fates(self) -> Iterable[tuple[bytes, Fate]]:
        """(id, fate) of every held record."""

    def all_views(self) -> GroupViews:
        """Every view (fresh dictionaries the caller may keep)."""

    def forks(self) -> list[ForkDetected]:
        """One fork per forked author, by author."""


class MemoryTables:
    """:class:`ViewTables` in dictionaries; also keeps the full records."""

    def __init__(self) -> None:
        self.held: dict[bytes, RecordMeta] = {}
        self.records: dict[bytes, Record] = {}
        self.chains: dict[bytes, list[RecordMeta]] = {}
        self.content: dict[bytes, set[bytes]] = {}
        self.roots: dict[bytes, bytes] = {}
        self.groups: dict[bytes, set[bytes]] = {}
        self.chain_fates: dict[bytes, Fate] = {}
        self.fates: dict[bytes, Fate] = {}
        self.dependent: dict[bytes, set[bytes]] = {}
        self.forks_by_author: dict[bytes, ForkDetected] = {}
        self.tips: dict[bytes, RecordMeta] = {}
        self.views = GroupViews()

    def add_record(self, meta: RecordMeta, root: bytes, foreign: Any) -> None:
        self.held[meta.id] = meta
        self.chains.setdefault(meta.author, []).append(meta)
        if foreign is not None:
            self.chain_fates[meta.id] = foreign
        if meta.kind not in COUNTING_KINDS:
            self.content.setdefault(meta.author, set()).add(meta.id)
        self.roots[meta.id] = root
        self.groups.setdefault(root, set()).add(meta.id)

    def authors(self) -> Iterable[bytes]:
        return list(self.chains)

    def chain(self, author: bytes) -> list[RecordMeta]:
        return list(self.chains.get(author, ()))

    def content_of(self, author: bytes) -> Iterable[bytes]:
        return self.content.get(author, ())

    def root(self, rid: bytes) -> bytes:
        return self.roots[rid]

    def root_of(self, rid: bytes) -> bytes | None:
        return self.roots.get(rid)

    def chain_tip(self, author: bytes) -> RecordMeta | None:
        return self.tips.get(author)

    def set_chain_tip(self, author: bytes, tip: RecordMeta | None) -> None:
        if tip is None:
            self.tips.pop(author, None)
        else:
            self.tips[author] = tip

    def group(self, root: bytes) -> set[bytes]:
        return set(self.groups.get(root, ()))

    def move_group(self, old_root: bytes, new_root: bytes) -> set[bytes]:
        moved = self.groups.pop(old_root, set())
        for rid in moved:
            self.roots[rid] = new_root
        self.groups.setdefault(new_root, set()).update(moved)
        return moved

    def prefetch(self, ids: Iterable[bytes]) -> None:
        pass

    def chain_fate(self, rid: bytes) -> Fate | None:
        return self.chain_fates.get(rid)

    def set_chain_fate(self, rid: bytes, fate: Fate) -> None:
        self.chain_fates[rid] = fate

    def fate(self, rid: bytes) -> Fate | None:
        return self.fates.get(rid)

    def set_fate(self, rid: bytes, fate: Fate) -> None:
        self.fates[rid] = fate

    def dependents(self, rid: bytes) -> Iterable[bytes]:
        return self.dependent.get(rid, ())

    def add_dependent(self, named: bytes, edit: bytes) -> None:
        self.dependent.setdefault(named, set()).add(edit)

    def set_fork(self, author: bytes, fork: ForkDetected | None) -> None:
        if fork is None:
            self.forks_by_author.pop(author, None)
        else:
            self.forks_by_author[author] = fork

    def replace_views(self, ids: set[bytes], views: GroupViews) -> None:
        mine = self.views
        tables = ("offers", "claims", "meals", "pledges", "recipes", "stories", "profiles")
        for name in tables:
            table = getattr(mine, name)
            for rid in ids:
                table.pop(rid, None)
            table.update(getattr(views, name))

    def flush(self) -> None:
        pass

    def all_fates(self) -> Iterable[tuple[bytes, Fate]]:
        return list(self.fates.items())

    def all_views(self) -> GroupViews:
        v = self.views
        return GroupViews(
            dict(v.offers), dict(v.claims), dict(v.meals), dict(v.pledges),
            dict(v.recipes), dict(v.stories), dict(v.profiles),
        )

    def forks(self) -> list[ForkDetected]:
        return [self.forks_by_author[a] for a in sorted(self.forks_by_author)]


# -- reading fates and views ---------------------------------------------------


def status_of(fate: Fate | None) -> RecordStatus:
    """The :class:`RecordStatus` of a fate (None: not held)."""
    if fate is None:
        return RecordStatus.UNKNOWN
    if fate is COUNTED or fate is UNINTERPRETED:
        return fate
    return RecordStatus.WAITING if isinstance(fate, bytes) else RecordStatus.REJECTED


def with_variations(recipes: dict[bytes, RecipeView]) -> dict[bytes, RecipeView]:
    """``recipes`` (views without variations) with each one's variations: the
    held recipes adapted from it, in (lamport, id) order."""
    children: dict[bytes, list[tuple[int, bytes]]] = {}
    for rid, view in recipes.items():
        if view.adapted_from is not None:
            children.setdefault(view.adapted_from, []).append((view.lamport, rid))
    out = dict(recipes)
    for parent, kids in children.items():
        if parent in out:
            out[parent] = replace(out[parent], variations=tuple(rid for _, rid in sorted(kids)))
    return out


class FateMap(Mapping):
    """The settled waiting (``want=bytes``) or rejected fates, read from the tables."""

    def __init__(self, tables: ViewTables, want: type) -> None:
        self.tables, self.want = tables, want

    def __getitem__(self, key: bytes) -> Any:
        fate = self.tables.fate(key) if key in self.tables.held else None
        if isinstance(fate, self.want):
            return fate
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - folds never iterate
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError


class FoldOverlay(MutableMapping):
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
