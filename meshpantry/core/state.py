"""What a household sees: the neighbourhood's state as a pure function of a record set.

Theory of operation. :func:`build_state` takes any collection of decoded,
signature-checked records and returns a frozen :class:`NeighbourhoodState`.
It depends only on the *set* of records: any order, any duplicates, the
same result. Steps:

1. Deduplicate by id; records of another neighbourhood are rejected
   (:class:`WrongNeighbourhood`).
2. Chain integrity (:mod:`meshpantry.core.integrity`): records after a gap
   wait; forked and broken chains are rejected from the fork or break on.
3. Membership (:func:`meshpantry.core.membership.count_members`) from the whole
   set: who is a member, revocations, invite limits.
4. Every other record is folded in (lamport, id) order. A record counts when
   its author is a member whose record is not cut by a revocation
   (:class:`NotMember`, :class:`Revoked`), every record it names is held
   (else it **waits** for the missing id and counts as soon as that arrives),
   precedes it (:class:`ReferenceNotCausal`: Lamport order is causal order, so
   a record can only name records with a lower counter), is of the right kind
   (:class:`WrongReferentKind`) and counts itself (a record naming a waiting
   record waits too; one naming a rejected record is rejected,
   :class:`ReferentRejected`), and the kind's own rules
   hold (authority and more: :mod:`~meshpantry.core.board`,
   :mod:`~meshpantry.core.meals`, :mod:`~meshpantry.core.recipes`,
   :mod:`~meshpantry.core.households`).
5. Each view module resolves what needs the whole fold (allocation, sequence
   order, coverage) and returns frozen views.

A record is in exactly one of: ``counted``, ``waiting`` (id -> the id it
waits for; a record waiting behind another waiting record reports the root
missing id), ``rejected`` (id -> error), or ``uninterpreted`` (a kind this
version does not know). Wall-clock times never order anything; expiry and
"past" are computed by the views at read time from the reader's ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, MutableMapping

from protocol import GENESIS_KIND, Record
from protocol.kinds import SCHEMAS

from .board import BoardFold, ClaimView, OfferView, select_offers
from .households import HouseholdFold, HouseholdView
from .integrity import check_chains
from .meals import MealFold, MealView, PledgeView
from .membership import COUNTING_KINDS, Roster, count_members
from .recipes import RecipeFold, RecipeView, StoryView, edit_elements
from .validation import (
    ForkDetected,
    ReferenceNotCausal,
    ReferentRejected,
    ValidationError,
    WrongNeighbourhood,
    WrongReferentKind,
)

#: kind -> ((body field naming another record, kinds it may name), ...)
REFERENCES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "offer_update": (("offer", ("offer",)),),
    "offer_withdraw": (("offer", ("offer",)),),
    "claim": (("offer", ("offer",)),),
    "claim_cancel": (("claim", ("claim",)),),
    "claim_decision": (("claim", ("claim",)),),
    "handover": (("claim", ("claim",)),),
    "pledge": (("meal", ("meal",)),),
    "recipe_edit": (("recipe", ("recipe",)),),
    "story": (("recipe", ("recipe",)),),
}
_ELEMENT_KINDS = ("recipe", "recipe_edit")


class RecordStatus(str, Enum):
    COUNTED = "counted"
    WAITING = "waiting"
    REJECTED = "rejected"
    UNINTERPRETED = "uninterpreted"  #: a kind this version does not know
    UNKNOWN = "unknown"  #: not in the record set


@dataclass(frozen=True)
class NeighbourhoodState:
    """The neighbourhood as the held records say it is. Every map is keyed by
    id in a deterministic order ((lamport, id) for records, join order for
    households); equal record sets give equal states."""

    neighbourhood: bytes
    name: str | None  #: None while the genesis record is not held
    description: str | None
    founder: bytes | None
    households: dict[bytes, HouseholdView]
    devices: dict[bytes, bytes]  #: every admitted device key (revoked ones too) -> household id
    members: frozenset[bytes]  #: device keys whose records count (not revoked)
    admins: frozenset[bytes]
    offers: dict[bytes, OfferView]
    claims: dict[bytes, ClaimView]
    meals: dict[bytes, MealView]
    pledges: dict[bytes, PledgeView]
    recipes: dict[bytes, RecipeView]
    stories: dict[bytes, StoryView]
    counted: frozenset[bytes]
    waiting: dict[bytes, bytes]
    rejected: dict[bytes, ValidationError]
    uninterpreted: frozenset[bytes]
    forks: tuple[ForkDetected, ...]

    def status(self, record_id: bytes) -> RecordStatus:
        if record_id in self.counted:
            return RecordStatus.COUNTED
        if record_id in self.waiting:
            return RecordStatus.WAITING
        if record_id in self.rejected:
            return RecordStatus.REJECTED
        if record_id in self.uninterpreted:
            return RecordStatus.UNINTERPRETED
        return RecordStatus.UNKNOWN

    def household_of(self, device: bytes) -> bytes | None:
        """The household id of a member device, or None."""
        return self.devices.get(device)

    def claims_on(self, offer_id: bytes) -> list[ClaimView]:
        """The claims on an offer in (lamport, id) order. Raises KeyError."""
        return [self.claims[c] for c in self.offers[offer_id].claims]

    def board(
        self,
        now: int,
        text: str | None = None,
        tag: str | None = None,
        allergen_free: Iterable[str] | None = None,
        sort: str = "expiry",
        include_closed: bool = False,
    ) -> list[OfferView]:
        """The offers board at the reader's clock ``now`` (ms); see
        :func:`meshpantry.core.board.select_offers` for the filters."""
        return select_offers(
            self.offers.values(),
            now,
            text=text,
            tag=tag,
            allergen_free=allergen_free,
            sort=sort,
            include_closed=include_closed,
        )


def build_state(records: Iterable[Record], neighbourhood: bytes) -> NeighbourhoodState:
    """Build the state of ``neighbourhood`` from ``records``.

    ``records`` are decoded records whose signatures were verified (this does
    not verify signatures). Order and duplicates do not matter. Never raises
    for bad records: they are reported in ``waiting`` and ``rejected``.
    """
    unique: dict[bytes, Record] = {}
    for record in records:
        unique.setdefault(record.id, record)
    rejected: dict[bytes, ValidationError] = {}
    waiting: dict[bytes, bytes] = {}
    local = []
    for record in unique.values():
        found = record.id if record.kind == GENESIS_KIND else record.neighbourhood
        if found == neighbourhood:
            local.append(record)
        else:
            rejected[record.id] = WrongNeighbourhood(neighbourhood, found)

    chains = check_chains(local)
    rejected.update(chains.rejected)
    waiting.update(chains.waiting)
    waiting_links = {
        r.body["device"]: chains.waiting[r.id]
        for r in local
        if r.kind == "device_link" and r.id in chains.waiting
    }
    roster = count_members(
        chains.counting, neighbourhood, {**chains.waiting, **chains.rejected}, waiting_links
    )
    rejected.update(roster.rejected)
    waiting.update(roster.waiting)

    counted = set(roster.counted)
    content = [r for r in chains.counting if r.kind not in COUNTING_KINDS]
    content.sort(key=lambda r: (r.lamport, r.id))
    folds = fold_content(content, roster, unique, waiting, rejected)
    counted.update(folds.counted)
    uninterpreted = folds.uninterpreted
    board, meals, recipes, households = folds.board, folds.meals, folds.recipes, folds.households

    offers, claims = board.finish(rejected)
    counted.difference_update(rejected)
    meal_views, pledges = meals.finish()
    recipe_views, stories = recipes.finish()
    genesis = unique.get(neighbourhood) if neighbourhood in counted else None
    return NeighbourhoodState(
        neighbourhood=neighbourhood,
        name=genesis.body["name"] if genesis else None,
        description=genesis.body.get("description") if genesis else None,
        founder=roster.founder,
        households=households.finish(roster),
        devices=dict(roster.households),
        members=frozenset(d for d in roster.households if d not in roster.revoked),
        admins=roster.admins,
        offers=offers,
        claims=claims,
        meals=meal_views,
        pledges=pledges,
        recipes=recipe_views,
        stories=stories,
        counted=frozenset(counted),
        waiting=dict(sorted(waiting.items())),
        rejected=dict(sorted(rejected.items())),
        uninterpreted=frozenset(uninterpreted),
        forks=tuple(chains.forks),
    )


@dataclass
class ContentFolds:
    """What :func:`fold_content` made of a run of content records: the ids
    that count or are uninterpreted, and the view folds still to finish."""

    board: BoardFold
    meals: MealFold
    recipes: RecipeFold
    households: HouseholdFold
    counted: set[bytes]
    uninterpreted: set[bytes]


def fold_content(
    content: list[Record],
    roster: Roster,
    held: Mapping[bytes, Any],
    waiting: MutableMapping[bytes, bytes],
    rejected: MutableMapping[bytes, ValidationError],
) -> ContentFolds:
    """Step 4 of the theory of operation over ``content``: records that stand
    on unbroken chains and are not membership records, in (lamport, id)
    order. ``held`` maps every held id to its record (only ``kind`` and
    ``lamport`` of a referent are read); ``waiting`` and ``rejected`` give the
    fate of referents folded before (or outside) ``content``, and receive the
    fate of every record of ``content`` that waits or is rejected.

    Content records depend on one another only through the records they name,
    so any run of content that is closed under naming (every named record is
    in the run, or its fate is already in ``waiting``/``rejected``/held)
    folds to the same result as the whole set does.
    """
    board, meals, recipes, households = BoardFold(), MealFold(), RecipeFold(), HouseholdFold()
    handlers = {
        "household": households.household,
        "offer": board.offer,
        "offer_update": board.offer_update,
        "offer_withdraw": board.offer_withdraw,
        "claim": board.claim,
        "claim_cancel": board.claim_cancel,
        "claim_decision": board.claim_decision,
        "handover": board.handover,
        "meal": meals.meal,
        "pledge": meals.pledge,
        "recipe": recipes.recipe,
        "recipe_edit": recipes.recipe_edit,
        "story": recipes.story,
    }
    assert set(handlers) | COUNTING_KINDS == set(SCHEMAS), "every known kind has a handler"
    counted: set[bytes] = set()
    uninterpreted: set[bytes] = set()
    members = roster.households
    for record in content:
        standing = roster.standing(record)
        if standing is None:
            standing = _referents_standing(record, held, waiting, rejected)
        if isinstance(standing, bytes):
            waiting[record.id] = standing
            continue
        if standing is not None:
            rejected[record.id] = standing
            continue
        handler = handlers.get(record.kind)
        if handler is None:
            uninterpreted.add(record.id)
            continue
        try:
            handler(record, members[record.author])
        except ValidationError as error:
            rejected[record.id] = error.with_traceback(None)  # keep no frames alive
            continue
        counted.add(record.id)
    return ContentFolds(board, meals, recipes, households, counted, uninterpreted)


def _referents_standing(
    record: Record,
    held: Mapping[bytes, Any],
    waiting: Mapping[bytes, bytes],
    rejected: Mapping[bytes, ValidationError],
) -> bytes | ValidationError | None:
    """None if every record ``record`` names is usable; else the id to wait for
    or the error. Referents precede ``record`` in the fold, so their fate is
    already known when they are causal."""
    names = [(record.body[f], f, kinds) for f, kinds in REFERENCES.get(record.kind, ())]
    if record.kind == "recipe_edit":
        names.extend((rid, "ops", _ELEMENT_KINDS) for rid in edit_elements(record))
    for referent_id, field, kinds in names:
        referent = held.get(referent_id)
        if referent is None:
            return referent_id
        if referent.lamport >= record.lamport:
            return ReferenceNotCausal(referent_id, referent.lamport, record.lamport)
        if referent.kind not in kinds:
            return WrongReferentKind(field, referent_id, kinds[0], referent.kind)
        if referent_id in waiting:
            return waiting[referent_id]
        if referent_id in rejected:
            return ReferentRejected(referent_id)
    return None
