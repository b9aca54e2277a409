"""The offers board: offers, their claims, decisions, allocation and handovers.

Theory of operation. :class:`BoardFold` is fed counted records in (lamport, id)
order by :func:`meshpantry.core.state.build_state`; referents are already
checked present, counted and of the right kind. It keeps, per offer, the list
of claim events (decisions, cancels, handovers) in that order, and resolves
them in :meth:`BoardFold.finish`, once the offer's final fields are known.

Rules:

* Offer fields are last-writer-wins per field, ordered by (lamport, author,
  record id) over the offer itself and its ``offer_update`` records.
* Only a device of the offer's household updates or withdraws it, or decides
  its claims; only a device of the claim's household cancels it; a handover is
  confirmed by the offer's household or the claim's household
  (:class:`NotAuthorised` otherwise, with the offer's household as owner).
* A household cannot claim its own offer (:class:`OwnOffer`). A claim ordered
  after the offer's withdrawal is rejected (:class:`OfferWithdrawn`); claims
  made before it keep their course (the offerer may still decide them, and
  accepted ones may still be handed over).
* Allocation: an offer's claim events are replayed in (lamport, id) order
  against the offer's *final* quantity. An accepting decision on a pending (or
  refused) claim is **accepted** when it fits in what is left, else the claim
  is **refused** (overdraw) and a later decision may try again. So the
  allocated total never exceeds the quantity, even when the offerer lowered
  the quantity after accepting: decisions that no longer fit show as refused,
  earlier ones first in order keep their share. A declining decision makes
  the claim **declined**. A decision on a claim that is accepted, declined or
  cancelled is rejected (:class:`ClaimClosed`); so is accepting more than was
  claimed (:class:`AcceptExceedsClaim`, at fold time).
* A cancel makes a pending, refused or accepted claim **cancelled** and frees
  its allocation; it is rejected once both sides confirmed the handover.
* A handover counts only on an accepted claim; the claim is complete when both
  the offerer's and the claimant's households confirmed.
* Expiry is not stored: :meth:`OfferView.is_expired` compares ``best_before``
  and ``pickup_until`` with the reader's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable

from protocol import Record
from protocol.kinds import OFFER_FIELDS

from .validation import (
    AcceptExceedsClaim,
    ClaimClosed,
    NotAuthorised,
    OfferWithdrawn,
    OwnOffer,
    ValidationError,
    check_owner,
)

#: Sort orders of :func:`select_offers`.
SORTS = ("expiry", "newest")


class ClaimStatus(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    REFUSED = "refused"  #: accepted by the offerer but it would overdraw the offer


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A claim and where it stands. ``accepted_quantity`` is 0 unless accepted;
    ``pickup`` is the sealed pickup note of the counted accepting decision."""

    id: bytes
    offer: bytes
    author: bytes
    household: bytes
    quantity: int
    message: str | None
    created: int  #: the claim record's advisory time, ms
    lamport: int
    status: ClaimStatus
    accepted_quantity: int
    decision: bytes | None  #: id of the decision that set the status, if any
    decided: int | None  #: that decision's advisory time, ms
    pickup: bytes | None
    reason: str | None  #: the decision's reason, if it gave one
    confirmed_by_offerer: bool
    confirmed_by_claimant: bool

    @property
    def completed(self) -> bool:
        return self.confirmed_by_offerer and self.confirmed_by_claimant


@dataclass(frozen=True, slots=True)
class OfferView:
    """An offer after its updates. ``allocated <= quantity`` always;
    ``remaining == quantity - allocated``; ``claims`` in (lamport, id) order."""

    id: bytes
    author: bytes
    household: bytes
    created: int  #: the offer record's advisory time, ms
    lamport: int
    item: str
    quantity: int
    unit: str
    best_before: int | None
    pickup_from: int | None
    pickup_until: int | None
    area: str | None
    tags: tuple[str, ...]
    allergens: tuple[str, ...]
    note: str | None
    withdrawn: bool
    updated: int  #: advisory time of the last counted update (or ``created``)
    claims: tuple[bytes, ...]
    allocated: int
    remaining: int

    @property
    def expires(self) -> int | None:
        """The earlier of ``best_before`` and ``pickup_until``, if either is set."""
        ends = [t for t in (self.best_before, self.pickup_until) if t is not None]
        return min(ends) if ends else None

    def is_expired(self, now: int) -> bool:
        """True when the reader's clock ``now`` (ms) is past the expiry."""
        expires = self.expires
        return expires is not None and now > expires

    def is_open(self, now: int) -> bool:
        """Claimable: not withdrawn, not expired and something remains."""
        return not self.withdrawn and not self.is_expired(now) and self.remaining > 0


@dataclass
class _Offer:
    record: Record
    household: bytes
    fields: dict[str, Any]
    stamps: dict[str, tuple]
    updated: int
    withdrawn: bool = False
    claims: list[bytes] = field(default_factory=list)
    events: list[tuple[Record, bytes]] = field(default_factory=list)


@dataclass
class _Claim:
    record: Record
    household: bytes
    status: ClaimStatus = ClaimStatus.PENDING
    accepted: int = 0
    decision: bytes | None = None
    decided: int | None = None
    pickup: bytes | None = None
    reason: str | None = None
    by_offerer: bool = False
    by_claimant: bool = False


def _stamp(record: Record) -> tuple:
    return (record.lamport, record.author, record.id)


class BoardFold:
    """Accumulates board records; see the module rules. Methods raise
    :class:`ValidationError` for a record that does not count."""

    def __init__(self) -> None:
        self._offers: dict[bytes, _Offer] = {}
        self._claims: dict[bytes, _Claim] = {}

    def offer(self, record: Record, household: bytes) -> None:
        fields = {name: record.body.get(name) for name in OFFER_FIELDS}
        stamp = _stamp(record)
        self._offers[record.id] = _Offer(
            record, household, fields, dict.fromkeys(fields, stamp), record.time
        )

    def offer_update(self, record: Record, household: bytes) -> None:
        offer = self._offers[record.body["offer"]]
        check_owner(record.kind, record.author, household, offer.household)
        stamp = _stamp(record)
        for name in OFFER_FIELDS:
            if name in record.body and stamp > offer.stamps[name]:
                offer.fields[name] = record.body[name]
                offer.stamps[name] = stamp
        offer.updated = max(offer.updated, record.time)

    def offer_withdraw(self, record: Record, household: bytes) -> None:
        offer = self._offers[record.body["offer"]]
        check_owner(record.kind, record.author, household, offer.household)
        offer.withdrawn = True

    def claim(self, record: Record, household: bytes) -> None:
        offer = self._offers[record.body["offer"]]
        if offer.household == household:
            raise OwnOffer(offer.record.id, household)
        if offer.withdrawn:
            raise OfferWithdrawn(offer.record.id)
        offer.claims.append(record.id)
        self._claims[record.id] = _Claim(record, household)

    def claim_cancel(self, record: Record, household: bytes) -> None:
        claim = self._claims[record.body["claim"]]
        check_owner(record.kind, record.author, household, claim.household)
        self._offer_of(claim).events.append((record, household))

    def claim_decision(self, record: Record, household: bytes) -> None:
        claim = self._claims[record.body["claim"]]
        offer = self._offer_of(claim)
        check_owner(record.kind, record.author, household, offer.household)
        quantity = record.body.get("quantity")
        if record.body["accept"] and quantity > claim.record.body["quantity"]:
            raise AcceptExceedsClaim(claim.record.id, claim.record.body["quantity"], quantity)
        offer.events.append((record, household))

    def handover(self, record: Record, household: bytes) -> None:
        claim = self._claims[record.body["claim"]]
        offer = self._offer_of(claim)
        if household not in (offer.household, claim.household):
            raise NotAuthorised(record.kind, record.author, offer.household)
        offer.events.append((record, household))

    def _offer_of(self, claim: _Claim) -> _Offer:
        return self._offers[claim.record.body["offer"]]

    def finish(
        self, rejected: dict[bytes, ValidationError]
    ) -> tuple[dict[bytes, OfferView], dict[bytes, ClaimView]]:
        """Resolve allocation and return (offers, claims) views, keyed by id in
        (lamport, id) order. Events that turn out not to apply are added to
        ``rejected``."""
        offers: dict[bytes, OfferView] = {}
        for offer_id, offer in self._offers.items():
            allocated = self._replay(offer, rejected)
            offers[offer_id] = self._offer_view(offer, allocated)
        claims = {claim_id: self._claim_view(c) for claim_id, c in self._claims.items()}
        return offers, claims

    def _replay(self, offer: _Offer, rejected: dict[bytes, ValidationError]) -> int:
        quantity = offer.fields["quantity"]
        allocated = 0
        for record, household in offer.events:
            claim = self._claims[record.body["claim"]]
            error = None
            if record.kind == "claim_decision":
                if claim.status not in (ClaimStatus.PENDING, ClaimStatus.REFUSED):
                    error = ClaimClosed(claim.record.id, record.kind, claim.status.value)
                    rejected[record.id] = error
                    continue
                claim.decided = record.time
                if not record.body["accept"]:
                    claim.status, claim.decision = ClaimStatus.DECLINED, record.id
                    claim.reason = record.body.get("reason")
                elif allocated + record.body["quantity"] <= quantity:
                    claim.status, claim.decision = ClaimStatus.ACCEPTED, record.id
                    claim.accepted = record.body["quantity"]
                    claim.pickup = record.body.get("pickup")
                    claim.reason = record.body.get("reason")
                    allocated += claim.accepted
                else:
                    claim.status, claim.decision = ClaimStatus.REFUSED, record.id
                    claim.reason = record.body.get("reason")
            elif record.kind == "claim_cancel":
                if claim.status is ClaimStatus.CANCELLED or (claim.by_offerer and claim.by_claimant):
                    error = ClaimClosed(claim.record.id, record.kind, _status_word(claim))
                else:
                    allocated -= claim.accepted
                    claim.status, claim.accepted, claim.pickup = ClaimStatus.CANCELLED, 0, None
            else:  # handover
                if claim.status is not ClaimStatus.ACCEPTED:
                    error = ClaimClosed(claim.record.id, record.kind, claim.status.value)
                elif household == offer.household:
                    claim.by_offerer = True
                else:
                    claim.by_claimant = True
            if error is not None:
                rejected[record.id] = error
        assert 0 <= allocated <= quantity
        return allocated

    @staticmethod
    def _offer_view(offer: _Offer, allocated: int) -> OfferView:
        f = offer.fields
        record = offer.record
        return OfferView(
            id=record.id,
            author=record.author,
            household=offer.household,
            created=record.time,
            lamport=record.lamport,
            item=f["item"],
            quantity=f["quantity"],
            unit=f["unit"],
            best_before=f["best_before"],
            pickup_from=f["pickup_from"],
            pickup_until=f["pickup_until"],
            area=f["area"],
            tags=tuple(f["tags"] or ()),
            allergens=tuple(f["allergens"] or ()),
            note=f["note"],
            withdrawn=offer.withdrawn,
            updated=offer.updated,
            claims=tuple(offer.claims),
            allocated=allocated,
            remaining=f["quantity"] - allocated,
        )

    @staticmethod
    def _claim_view(claim: _Claim) -> ClaimView:
        record = claim.record
        return ClaimView(
            id=record.id,
            offer=record.body["offer"],
            author=record.author,
            household=claim.household,
            quantity=record.body["quantity"],
            message=record.body.get("message"),
            created=record.time,
            lamport=record.lamport,
            status=claim.status,
            accepted_quantity=claim.accepted,
            decision=claim.decision,
            decided=claim.decided,
            pickup=claim.pickup,
            reason=claim.reason,
            confirmed_by_offerer=claim.by_offerer,
            confirmed_by_claimant=claim.by_claimant,
        )


def _status_word(claim: _Claim) -> str:
    if claim.by_offerer and claim.by_claimant:
        return "completed"
    return claim.status.value


def select_offers(
    offers: Iterable[OfferView],
    now: int,
    *,
    text: str | None = None,
    tag: str | None = None,
    allergen_free: Iterable[str] | None = None,
    sort: str = "expiry",
    include_closed: bool = False,
) -> list[OfferView]:
    """The offers a board shows at the reader's clock ``now`` (ms).

    Keeps open offers (:meth:`OfferView.is_open`; all offers when
    ``include_closed``) whose item, note or area contains ``text``, that carry
    ``tag`` and that list none of ``allergen_free`` (all case-insensitive).
    ``sort="expiry"``: soonest expiry first, then the offers without one,
    newest first (:func:`expiry_order`); ``sort="newest"``: latest created
    first. Ties fall back to the id.
    Raises ValueError for an unknown ``sort``.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    matches = offer_filter(text=text, tag=tag, allergen_free=allergen_free)
    rows = [o for o in offers if (include_closed or o.is_open(now)) and matches(o)]
    if sort == "expiry":
        rows.sort(key=expiry_order)
    else:
        rows.sort(key=lambda o: (-o.created, o.id))
    return rows


def expiry_order(offer: OfferView) -> tuple[int, int, bytes]:
    """The board's expiry order as a sort key: dated offers by ascending
    expiry, then undated ones newest first (by id they were in no order a
    reader could see), ties by id."""
    if offer.expires is not None:
        return (0, offer.expires, offer.id)
    return (1, -offer.created, offer.id)


def offer_filter(
    *, text: str | None = None, tag: str | None = None, allergen_free: Iterable[str] | None = None
) -> Callable[[OfferView], bool]:
    """The text, tag and allergen test of :func:`select_offers` for one offer
    (open-ness and order aside), for readers that walk offers in order."""
    needle = text.casefold() if text else None
    wanted_tag = tag.casefold() if tag else None
    avoid = {a.casefold() for a in allergen_free or ()}

    def matches(offer: OfferView) -> bool:
        if needle is not None and not any(
            needle in (value or "").casefold() for value in (offer.item, offer.note, offer.area)
        ):
            return False
        if wanted_tag is not None and wanted_tag not in {t.casefold() for t in offer.tags}:
            return False
        if avoid and avoid & {a.casefold() for a in offer.allergens}:
            return False
        return True

    return matches
