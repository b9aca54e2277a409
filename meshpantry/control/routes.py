"""The table from op to request type and handler, and the household's ops.

A :class:`Route` pairs a request type (:mod:`.requests`) with the coroutine
that answers it. :func:`pantry_routes` serves every op of a
:class:`~meshpantry.pantry.Pantry` (the command line's verbs) by calling the
method named in the table with the request's fields; the node adds its own
ops and overrides a few (:mod:`meshpantry.node.control_ops`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, Iterable, TypeVar

from meshpantry.pantry import Pantry
from meshpantry.pantry import bundle_file, larder

from . import requests as rq
from .frames import Wire

R = TypeVar("R", bound=rq.Request)


@dataclass(frozen=True)
class Route(Generic[R]):
    """Answers requests of type ``request`` with ``run``."""

    request: type[R]
    run: Callable[[R], Awaitable[Wire]]


Routes = dict[str, Route]


def routes(*table: Route) -> Routes:
    """Routes by op name; each request type once."""
    by_op: Routes = {}
    for route in table:
        assert route.request.op not in by_op, route.request.op
        by_op[route.request.op] = route
    return by_op


#: Each Pantry op: its request type and the Pantry method that answers it,
#: called with the request's fields as keyword arguments (nested parts, such
#: as a meal's needs, as plain maps).
PANTRY_METHODS: tuple[tuple[type[rq.Request], Callable[..., Wire]], ...] = (
    (rq.Whoami, Pantry.whoami),
    (rq.NeighbourhoodShow, Pantry.neighbourhood_show),
    (rq.CreateNeighbourhood, Pantry.create_neighbourhood),
    (rq.CreateInvite, Pantry.create_invite),
    (rq.InviteList, Pantry.invite_list),
    (rq.InviteRevoke, Pantry.invite_revoke),
    (rq.Join, Pantry.join),
    (rq.SetHousehold, Pantry.set_household),
    (rq.LinkDevice, Pantry.link_device),
    (rq.AdoptLink, Pantry.adopt_link),
    (rq.Revoke, Pantry.revoke),
    (rq.Block, Pantry.block),
    (rq.Unblock, Pantry.unblock),
    (rq.OfferAdd, Pantry.offer_add),
    (rq.OfferUpdate, Pantry.offer_update),
    (rq.OfferWithdraw, Pantry.offer_withdraw),
    (rq.OfferShow, Pantry.offer_show),
    (rq.OfferList, Pantry.offer_list),
    (rq.OfferPage, Pantry.offer_page),
    (rq.ClaimAdd, Pantry.claim_add),
    (rq.ClaimCancel, Pantry.claim_cancel),
    (rq.ClaimAccept, Pantry.claim_accept),
    (rq.ClaimDecline, Pantry.claim_decline),
    (rq.ClaimShow, Pantry.claim_show),
    (rq.HandoverConfirm, Pantry.handover_confirm),
    (rq.Swaps, Pantry.swaps),
    (rq.SwapsPage, Pantry.swaps_page),
    (rq.MealAdd, Pantry.meal_add),
    (rq.MealPledge, Pantry.meal_pledge),
    (rq.MealShow, Pantry.meal_show),
    (rq.MealPage, Pantry.meal_page),
    (rq.RecipeAdd, Pantry.recipe_add),
    (rq.RecipeEdit, Pantry.recipe_edit),
    (rq.RecipeStory, Pantry.recipe_story),
    (rq.RecipeShow, Pantry.recipe_show),
    (rq.RecipePage, Pantry.recipe_page),
    (rq.RecipeExport, Pantry.recipe_export),
    (rq.BundleExport, bundle_file.bundle_export),
    (rq.BundleImport, bundle_file.bundle_import),
    (rq.PantryAdd, larder.pantry_add),
    (rq.PantryRemove, larder.pantry_remove),
    (rq.PantryList, larder.pantry_list),
    (rq.Cook, larder.cook),
    (rq.Log, Pantry.log),
    (rq.LogPage, Pantry.log_page),
    (rq.Rebuild, Pantry.rebuild),
    (rq.Status, Pantry.status),
)


def arguments(request: rq.Request) -> dict[str, Wire]:
    """The request's fields as keyword arguments: nested parts as maps,
    sequences as tuples."""
    return {f.name: _plain(getattr(request, f.name)) for f in dataclasses.fields(request)}


def _plain(value: object) -> Wire:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value  # type: ignore[return-value]  # scalars as they are


def pantry_route(pantry: Pantry, request: type[R], method: Callable[..., Wire]) -> Route[R]:
    async def run(req: R) -> Wire:
        return method(pantry, **arguments(req))

    return Route(request, run)


def pantry_routes(pantry: Pantry, without: Iterable[type[rq.Request]] = ()) -> list[Route]:
    """A route for every Pantry op over ``pantry`` (except those ``without``)."""
    skip = set(without)
    return [pantry_route(pantry, request, method) for request, method in PANTRY_METHODS if request not in skip]
