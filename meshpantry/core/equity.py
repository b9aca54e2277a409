"""Fair share: who should get an oversubscribed offer, computed the same everywhere.

When the open claims on an offer ask for more than remains, the offerer sees
a suggested allocation that favours the households that received least
lately. Every input comes from signed records, never from the reader's clock,
so every node holding the same records suggests the same thing, and islands
that decided apart agree once they rejoin.

Rules:

* **Received lately**: for each household, the number of its claims that are
  accepted (including completed handovers) and whose accepting decision's
  time lies in the ``FAIR_SHARE_WINDOW_MS`` before the offer's own time,
  counting claims on other offers only. A count, not a sum of quantities:
  offers come in grams, litres and items, which do not add up.
* **Who asks**: the offer's pending and refused claims (refused ones may still
  be accepted). A household's claims on the offer are pooled, so splitting a
  request into several claims gains nothing.
* **Order**: households by ascending received count, ties broken by
  ``SHA-256(offer id + household id)`` (unpredictable, but the same on
  every node).
* **Allocation**: the offer's remaining quantity goes to the least-received
  group first, split evenly among its households (max-min fair: nobody gets
  more than asked; what one cannot use goes to the others; odd units go by
  the tie-break order); what is left passes to the next group. Within a
  household, its claims are filled in (lamport, id) order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

from .board import ClaimStatus, ClaimView, OfferView
from .state import NeighbourhoodState

#: "Received lately" looks back 30 days: long enough to span a long outage and
#: the weeks of sharing after it, short enough that last season's luck fades.
FAIR_SHARE_WINDOW_MS = 30 * 24 * 60 * 60 * 1000

_ASKING = (ClaimStatus.PENDING, ClaimStatus.REFUSED)


@dataclass(frozen=True, slots=True)
class Share:
    """The suggestion for one claim: ``suggested`` units of ``requested``."""

    claim: bytes
    household: bytes
    requested: int
    received: int  #: the household's accepted claims in the window
    suggested: int


def received_lately(state: NeighbourhoodState, offer_id: bytes) -> dict[bytes, int]:
    """Household id -> accepted claims decided in the window before the offer's
    time, on offers other than ``offer_id``. Raises KeyError for an unknown offer."""
    end = state.offers[offer_id].created
    start = end - FAIR_SHARE_WINDOW_MS
    counts: dict[bytes, int] = {}
    for claim in state.claims.values():
        if (
            claim.status is ClaimStatus.ACCEPTED
            and claim.offer != offer_id
            and claim.decided is not None
            and start <= claim.decided < end
        ):
            counts[claim.household] = counts.get(claim.household, 0) + 1
    return counts


def is_oversubscribed(state: NeighbourhoodState, offer_id: bytes) -> bool:
    """True when the offer's asking claims want more than remains."""
    offer = state.offers[offer_id]
    asked = sum(c.quantity for c in state.claims_on(offer_id) if c.status in _ASKING)
    return asked > offer.remaining


def fair_share(state: NeighbourhoodState, offer_id: bytes) -> tuple[Share, ...]:
    """The suggested allocation of an offer's remaining quantity over its
    pending and refused claims, by the module's rules.

    Returns one :class:`Share` per asking claim, highest priority first
    (an empty tuple when nobody asks). The suggestions add up to at most the
    remaining quantity. Raises KeyError for an unknown offer.
    """
    return suggest(state.offers[offer_id], state.claims_on(offer_id), received_lately(state, offer_id))


def suggest(offer: OfferView, claims: Iterable[ClaimView], received: Mapping[bytes, int]) -> tuple[Share, ...]:
    """:func:`fair_share` from its inputs: the offer, its claims in (lamport,
    id) order and :func:`received_lately` for it (so a reader that keeps
    claims in tables need not hold them all)."""
    offer_id = offer.id
    asking = [c for c in claims if c.status in _ASKING]
    by_household: dict[bytes, list[ClaimView]] = {}
    for claim in asking:
        by_household.setdefault(claim.household, []).append(claim)

    def tie_break(household: bytes) -> bytes:
        return hashlib.sha256(offer_id + household).digest()

    order = sorted(by_household, key=lambda h: (received.get(h, 0), tie_break(h)))
    wants = {h: sum(c.quantity for c in by_household[h]) for h in order}
    given: dict[bytes, int] = {}
    left = offer.remaining
    for level in sorted({received.get(h, 0) for h in order}):
        group = [h for h in order if received.get(h, 0) == level]
        left = _split_evenly(group, wants, given, left)

    shares = []
    for household in order:
        share = given.get(household, 0)
        for claim in by_household[household]:
            take = min(claim.quantity, share)
            share -= take
            shares.append(Share(claim.id, household, claim.quantity, received.get(household, 0), take))
    return tuple(shares)


def _split_evenly(group: list[bytes], wants: dict[bytes, int], given: dict[bytes, int], left: int) -> int:
    """Max-min fair split of ``left`` over ``group`` (in tie-break order),
    capped by ``wants``; records amounts in ``given``. Returns what is left."""
    active = [h for h in group if wants[h] > 0]
    for household in group:
        given.setdefault(household, 0)
    while left > 0 and active:
        each = left // len(active)
        if each == 0:
            for household in active[:left]:
                given[household] += 1
            return left - min(left, len(active))
        for household in active:
            take = min(each, wants[household] - given[household])
            given[household] += take
            left -= take
        active = [h for h in active if given[h] < wants[h]]
    return left
