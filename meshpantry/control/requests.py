"""The requests of the control socket, one type per op.

A request frame ``{"id": n, "op": name, "args": {...}}`` becomes one of these
dataclasses by :func:`meshpantry.control.decoding.decode_request`, which checks
every field's type before anything runs; only that step can fail with "bad
arguments". Field names, order and defaults are those of the
:class:`~meshpantry.pantry.Pantry` method (or node op) of the same name, so
a request binds to its handler by keyword without surprises (a test checks).

Ids are hex text (a unique prefix finds a record); times are ms since the
epoch; quantities are whole numbers in the offer's unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from meshpantry.pantry.household import DEFAULT_INVITE_HOURS
from meshpantry.pantry.paging import DEFAULT_PAGE


@dataclass(frozen=True)
class Request:
    """One op's arguments; ``op`` is its name on the wire."""

    op: ClassVar[str] = ""


# -- parts of requests ---------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One line of a meal's needs: ``500 g rice``."""

    item: str
    quantity: int
    unit: str


@dataclass(frozen=True)
class IngredientLine:
    """One ingredient of a recipe; the amount is text (``1.5``, ``1/2``)."""

    item: str
    amount: str | None = None
    unit: str | None = None
    note: str | None = None


# -- identity and membership ---------------------------------------------------------


@dataclass(frozen=True)
class Whoami(Request):
    op: ClassVar[str] = "whoami"


@dataclass(frozen=True)
class NeighbourhoodShow(Request):
    op: ClassVar[str] = "neighbourhood_show"


@dataclass(frozen=True)
class CreateNeighbourhood(Request):
    op: ClassVar[str] = "create_neighbourhood"
    name: str
    household: str
    area: str | None = None


@dataclass(frozen=True)
class CreateInvite(Request):
    """``addresses`` empty: the node puts in where it can be dialled."""

    op: ClassVar[str] = "create_invite"
    uses: int = 1
    hours: int = DEFAULT_INVITE_HOURS
    note: str | None = None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class InviteList(Request):
    op: ClassVar[str] = "invite_list"


@dataclass(frozen=True)
class InviteRevoke(Request):
    op: ClassVar[str] = "invite_revoke"
    invite_ref: str
    reason: str | None = None


@dataclass(frozen=True)
class Join(Request):
    op: ClassVar[str] = "join"
    code: str
    household: str
    area: str | None = None


@dataclass(frozen=True)
class SetHousehold(Request):
    op: ClassVar[str] = "set_household"
    name: str | None = None
    area: str | None = None


@dataclass(frozen=True)
class LinkDevice(Request):
    op: ClassVar[str] = "link_device"
    device_hex: str
    name: str | None = None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdoptLink(Request):
    op: ClassVar[str] = "adopt_link"
    code: str


@dataclass(frozen=True)
class Revoke(Request):
    op: ClassVar[str] = "revoke"
    member_ref: str
    reason: str | None = None


@dataclass(frozen=True)
class Block(Request):
    op: ClassVar[str] = "block"
    household_ref: str


@dataclass(frozen=True)
class Unblock(Request):
    op: ClassVar[str] = "unblock"
    household_ref: str


# -- offers, claims, handovers -------------------------------------------------------


@dataclass(frozen=True)
class OfferAdd(Request):
    op: ClassVar[str] = "offer_add"
    item: str
    quantity: int
    unit: str
    best_before: int | None = None
    pickup_from: int | None = None
    pickup_until: int | None = None
    area: str | None = None
    tags: tuple[str, ...] = ()
    allergens: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class OfferUpdate(Request):
    """Fields left None stay as they are."""

    op: ClassVar[str] = "offer_update"
    offer_ref: str
    item: str | None = None
    quantity: int | None = None
    unit: str | None = None
    best_before: int | None = None
    pickup_from: int | None = None
    pickup_until: int | None = None
    area: str | None = None
    tags: tuple[str, ...] | None = None
    allergens: tuple[str, ...] | None = None
    note: str | None = None


@dataclass(frozen=True)
class OfferWithdraw(Request):
    op: ClassVar[str] = "offer_withdraw"
    offer_ref: str


@dataclass(frozen=True)
class OfferShow(Request):
    op: ClassVar[str] = "offer_show"
    offer_ref: str


@dataclass(frozen=True)
class OfferList(Request):
    """The first ``limit`` offers of the board (all when None: on a large
    board the answer may be too large for one reply; page instead)."""

    op: ClassVar[str] = "offer_list"
    search: str | None = None
    tag: str | None = None
    free_of: tuple[str, ...] | None = None
    sort: str = "expiry"
    include_closed: bool = False
    mine: bool = False
    limit: int | None = None
    area: str | None = None


@dataclass(frozen=True)
class OfferPage(Request):
    """``limit`` offers of the board after the cursor ``after``."""

    op: ClassVar[str] = "offer_page"
    search: str | None = None
    tag: str | None = None
    free_of: tuple[str, ...] | None = None
    sort: str = "expiry"
    include_closed: bool = False
    mine: bool = False
    limit: int = DEFAULT_PAGE
    after: str | None = None
    area: str | None = None


@dataclass(frozen=True)
class ClaimAdd(Request):
    op: ClassVar[str] = "claim_add"
    offer_ref: str
    quantity: int
    message: str | None = None


@dataclass(frozen=True)
class ClaimCancel(Request):
    op: ClassVar[str] = "claim_cancel"
    claim_ref: str


@dataclass(frozen=True)
class ClaimAccept(Request):
    op: ClassVar[str] = "claim_accept"
    claim_ref: str
    quantity: int | None = None
    pickup: str | None = None


@dataclass(frozen=True)
class ClaimDecline(Request):
    op: ClassVar[str] = "claim_decline"
    claim_ref: str
    reason: str | None = None


@dataclass(frozen=True)
class ClaimShow(Request):
    op: ClassVar[str] = "claim_show"
    claim_ref: str


@dataclass(frozen=True)
class HandoverConfirm(Request):
    op: ClassVar[str] = "handover_confirm"
    claim_ref: str
    note: str | None = None


@dataclass(frozen=True)
class Swaps(Request):
    op: ClassVar[str] = "swaps"


@dataclass(frozen=True)
class SwapsPage(Request):
    op: ClassVar[str] = "swaps_page"
    limit: int = DEFAULT_PAGE
    after: str | None = None


# -- meals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MealAdd(Request):
    op: ClassVar[str] = "meal_add"
    dish: str
    time: int
    place: str
    needs: tuple[Need, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class MealPledge(Request):
    op: ClassVar[str] = "meal_pledge"
    meal_ref: str
    item: str
    quantity: int
    unit: str
    note: str | None = None


@dataclass(frozen=True)
class MealShow(Request):
    op: ClassVar[str] = "meal_show"
    meal_ref: str


@dataclass(frozen=True)
class MealPage(Request):
    op: ClassVar[str] = "meal_page"
    include_past: bool = False
    limit: int = DEFAULT_PAGE
    after: str | None = None


# -- recipes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeAdd(Request):
    op: ClassVar[str] = "recipe_add"
    title: str
    ingredients: tuple[IngredientLine, ...] = ()
    steps: tuple[str, ...] = ()
    story: str | None = None
    origin: str | None = None
    tags: tuple[str, ...] = ()
    serves: int | None = None
    adapted_from: str | None = None


@dataclass(frozen=True)
class RecipeEdit(Request):
    """Positions are 1-based as shown; ``(after, x)`` inserts after position
    ``after`` (0 or None: first)."""

    op: ClassVar[str] = "recipe_edit"
    recipe_ref: str
    title: str | None = None
    origin: str | None = None
    tags: tuple[str, ...] | None = None
    serves: int | None = None
    add_steps: tuple[tuple[int | None, str], ...] = ()
    remove_steps: tuple[int, ...] = ()
    add_ingredients: tuple[tuple[int | None, IngredientLine], ...] = ()
    remove_ingredients: tuple[int, ...] = ()


@dataclass(frozen=True)
class RecipeStory(Request):
    op: ClassVar[str] = "recipe_story"
    recipe_ref: str
    text: str
    title: str | None = None


@dataclass(frozen=True)
class RecipeShow(Request):
    op: ClassVar[str] = "recipe_show"
    recipe_ref: str


@dataclass(frozen=True)
class RecipePage(Request):
    op: ClassVar[str] = "recipe_page"
    search: str | None = None
    limit: int = DEFAULT_PAGE
    after: str | None = None


@dataclass(frozen=True)
class RecipeExport(Request):
    op: ClassVar[str] = "recipe_export"
    format: str = "markdown"


# -- sneakernet bundles ----------------------------------------------------------------


@dataclass(frozen=True)
class BundleExport(Request):
    """Write a bundle to ``path`` (absolute): all records, those from
    ``since`` (ms) on, and/or what the exporter of the bundle at ``answer_to``
    lacks."""

    op: ClassVar[str] = "bundle_export"
    path: str
    since: int | None = None
    answer_to: str | None = None


@dataclass(frozen=True)
class BundleImport(Request):
    """Apply the bundle at ``path`` (absolute), all or nothing."""

    op: ClassVar[str] = "bundle_import"
    path: str


# -- the household's pantry list and cookable now --------------------------------------


@dataclass(frozen=True)
class PantryAdd(Request):
    op: ClassVar[str] = "pantry_add"
    item: str
    amount: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class PantryRemove(Request):
    op: ClassVar[str] = "pantry_remove"
    item: str


@dataclass(frozen=True)
class PantryList(Request):
    op: ClassVar[str] = "pantry_list"


@dataclass(frozen=True)
class Cook(Request):
    """Recipes matched against the pantry list and the live offers."""

    op: ClassVar[str] = "cook"
    ready_only: bool = False


# -- records and the node --------------------------------------------------------------


@dataclass(frozen=True)
class Log(Request):
    op: ClassVar[str] = "log"
    limit: int = 50
    kind: str | None = None


@dataclass(frozen=True)
class LogPage(Request):
    op: ClassVar[str] = "log_page"
    limit: int = DEFAULT_PAGE
    kind: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class Rebuild(Request):
    op: ClassVar[str] = "rebuild"


@dataclass(frozen=True)
class Status(Request):
    op: ClassVar[str] = "status"


@dataclass(frozen=True)
class Dump(Request):
    """What drills compare: the ids held (``ids``) and the state's digest (``state``)."""

    op: ClassVar[str] = "dump"
    ids: bool = True
    state: bool = True


@dataclass(frozen=True)
class DenyPeers(Request):
    op: ClassVar[str] = "deny_peers"
    peers: tuple[str, ...]


@dataclass(frozen=True)
class AllowPeers(Request):
    """``peers`` None: allow every denied peer again."""

    op: ClassVar[str] = "allow_peers"
    peers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SyncNow(Request):
    op: ClassVar[str] = "sync_now"


@dataclass(frozen=True)
class Shutdown(Request):
    op: ClassVar[str] = "shutdown"


@dataclass(frozen=True)
class Subscribe(Request):
    """Push events on this connection from now on (all of them: the names
    are kept for clients that name the ones they want)."""

    op: ClassVar[str] = "subscribe"
    events: tuple[str, ...] = field(default=())


#: Every request type by its op name.
REQUESTS: dict[str, type[Request]] = {
    cls.op: cls for cls in (
        Whoami, NeighbourhoodShow, CreateNeighbourhood, CreateInvite, InviteList, InviteRevoke, Join, SetHousehold,
        LinkDevice, AdoptLink, Revoke, Block, Unblock,
        OfferAdd, OfferUpdate, OfferWithdraw, OfferShow, OfferList, OfferPage,
        ClaimAdd, ClaimCancel, ClaimAccept, ClaimDecline, ClaimShow, HandoverConfirm, Swaps, SwapsPage,
        MealAdd, MealPledge, MealShow, MealPage,
        RecipeAdd, RecipeEdit, RecipeStory, RecipeShow, RecipePage, RecipeExport,
        BundleExport, BundleImport, PantryAdd, PantryRemove, PantryList, Cook,
        Log, LogPage, Rebuild, Status, Dump, DenyPeers, AllowPeers, SyncNow, Shutdown, Subscribe,
    )
}
