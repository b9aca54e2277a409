"""The node's answers as the UI reads them: one typed map per answer.

The control socket carries plain maps (:data:`~meshpantry.control.frames.Wire`);
the keys and value types below are those :mod:`meshpantry.pantry.reading`
and the node's ``status`` write. :meth:`PantryApp.ask
<cli.tui.app.PantryApp.ask>` checks that an answer is a map; the functions
here check the one thing each screen relies on beyond that (a page's rows are
a list of maps) and give the answer its type. A row's fields are read as the
node wrote them; a field the UI does not read is not listed.
"""

from __future__ import annotations

from typing import Mapping, NotRequired, TypedDict, TypeVar, cast

from meshpantry.control.frames import Wire

#: What every op the UI calls answers: a map (checked by the app).
Answer = dict[str, Wire]
#: A request's arguments, as the UI sends them.
Args = dict[str, Wire]


class UnexpectedAnswer(ValueError):
    """The node answered in a shape the UI does not know (another version)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the node's answer {what}: is the node another version than this UI?")


# -- identity and the node ---------------------------------------------------------------


class Whoami(TypedDict):
    device: str
    household: str
    household_name: str | None
    area: str | None
    neighbourhood: str | None
    neighbourhood_name: str | None


class PeerRow(TypedDict):
    peer: str
    connected: bool
    last_sync: int | None
    behind: NotRequired[int]
    syncing: NotRequired[bool]


class Outage(TypedDict):
    """``status``'s outage clock (:mod:`meshpantry.pantry.outage_info`)."""

    in_outage: bool
    began: int | None
    ended: int | None
    hours: float | None
    arrived: dict[str, int] | None
    behind: NotRequired[int]
    catching_up: NotRequired[bool]


class Standing(TypedDict):
    counts: bool
    reason: str | None


class NotCounting(TypedDict):
    id: str
    kind: str
    seq: int
    reason: str


class Conflict(TypedDict):
    claim: str
    offer: str
    item: str
    conflict: str


class Status(Whoami):
    """``status``: the household's, and the node's own fields when it runs."""

    records: int
    households: NotRequired[int]
    forks: NotRequired[int]
    waiting: NotRequired[int]
    standing: NotRequired[Standing]
    not_counting: NotRequired[list[NotCounting]]
    conflicts: NotRequired[list[Conflict]]
    node_running: bool
    island: NotRequired[bool | None]
    listen: NotRequired[list[str]]
    connected: NotRequired[list[str]]
    peers: list[PeerRow]
    outage: NotRequired[Outage]


class Invite(TypedDict):
    code: str
    invite: str
    expires: int
    uses: int


# -- offers and claims -------------------------------------------------------------------


class OfferRow(TypedDict):
    id: str
    household_name: str
    item: str
    quantity: int
    unit: str
    remaining: int
    best_before: int | None
    pickup_until: int | None
    area: str | None
    tags: list[str]
    allergens: list[str]
    note: str | None
    expiring_soon: bool
    mine: bool
    outage_hours: NotRequired[float]


class FairShare(TypedDict):
    claim: str
    household_name: str
    quantity: int
    requested: int


class OfferDetail(OfferRow):
    """``offer_show``: an offer with its claims' fair shares."""

    oversubscribed: bool
    fair_share: list[FairShare]


class Handover(TypedDict):
    offerer: bool
    claimant: bool


class ClaimRow(TypedDict):
    id: str
    offer: str
    offer_item: str
    unit: str
    offerer_name: str
    household_name: str
    quantity: int
    message: str | None
    status: str
    accepted_quantity: int | None
    reason: str | None
    pickup: str | None
    handover: Handover
    completed: bool
    created: int
    mine: bool
    conflict: NotRequired[str | None]


class SwapRow(ClaimRow):
    """A claim on the Swaps tab: ``in`` (on our offer) or ``out`` (ours)."""

    direction: str


# -- meals and recipes -------------------------------------------------------------------


class MealNeed(TypedDict):
    item: str
    quantity: int
    unit: str
    pledged: int
    missing: int


class Pledge(TypedDict):
    id: str
    household_name: str
    item: str
    quantity: int
    unit: str
    note: str | None


class MealRow(TypedDict):
    id: str
    dish: str
    time: int
    place: str
    note: str | None
    household_name: str
    needs: list[MealNeed]
    pledges: list[Pledge]
    coverage: int
    past: bool


class IngredientRow(TypedDict):
    position: int
    item: str
    amount: str | None
    unit: str | None
    note: str | None


class StepRow(TypedDict):
    position: int
    text: str


class StoryRow(TypedDict):
    id: str
    title: str | None
    text: str
    household_name: str


class RecipeLink(TypedDict):
    id: str
    title: str


class RecipeRow(TypedDict):
    id: str
    title: str
    origin: str | None
    tags: list[str]
    serves: int | None
    story: str | None
    household_name: str
    ingredients: list[IngredientRow]
    steps: list[StepRow]
    stories: list[StoryRow]
    contributors: list[str]
    adapted_from: RecipeLink | None
    variations: list[RecipeLink]


# -- reading answers ---------------------------------------------------------------------

T = TypeVar("T")


def as_answer(kind: type[T], answer: Mapping[str, Wire]) -> T:
    """``answer`` (a map, as the app checked) read as ``kind``."""
    return cast(T, answer)


def rows(answer: Mapping[str, Wire], field: str) -> list[Answer]:
    """The list of maps under ``field``. Raises :class:`UnexpectedAnswer`
    when it is not one."""
    found = answer.get(field)
    if not isinstance(found, list) or not all(isinstance(row, dict) for row in found):
        raise UnexpectedAnswer(f"has no list of {field}")
    return cast(list[Answer], found)


def offer_rows(page: Mapping[str, Wire]) -> list[OfferRow]:
    """The offers of an ``offer_page`` answer."""
    return cast(list[OfferRow], rows(page, "offers"))


def meal_rows(page: Mapping[str, Wire]) -> list[MealRow]:
    """The meals of a ``meal_page`` answer."""
    return cast(list[MealRow], rows(page, "meals"))


def recipe_rows(page: Mapping[str, Wire]) -> list[RecipeRow]:
    """The recipes of a ``recipe_page`` answer."""
    return cast(list[RecipeRow], rows(page, "recipes"))


def swap_rows(page: Mapping[str, Wire]) -> list[SwapRow]:
    """The claims of a ``swaps_page`` answer, received (``in``) and made
    (``out``) together, newest first as the node paged them."""
    found = [{**claim, "direction": "in"} for claim in rows(page, "received")]
    found += [{**claim, "direction": "out"} for claim in rows(page, "made")]
    found.sort(key=lambda claim: (-_int(claim.get("created")), str(claim.get("id"))))
    return cast(list[SwapRow], found)


def _int(value: Wire) -> int:
    return value if isinstance(value, int) else 0
