"""The errors of record validation, and the authority check.

The decoder (:func:`protocol.decode_record`) proves a record well formed on its
own: canonical bytes, limits, field types, body schema. :func:`verify_record`
proves the signature. What is left needs context:

* a record arriving at a node goes through the one ordered list of checks in
  :mod:`meshpantry.core.ingest` (neighbourhood, time bound, signature,
  membership admission, fork evidence), which raises or reports the errors
  defined here;
* the author's chain (:func:`check_chain_link`) and authority
  (:func:`check_owner`) depend on the whole record set and are applied by
  :func:`meshpantry.core.state.build_state` (through
  :mod:`meshpantry.core.integrity` and :mod:`meshpantry.core.membership`),
  which reports failures with the same error types.

Every failed check is its own :class:`ValidationError` subclass carrying the
data that failed (``err.data`` holds it as a dict, and each item is also an
attribute). They are *remote* errors: a peer's record broke a rule. Errors
compare equal when their type and data are equal, so views that list
rejections can be compared across replicas.
"""

from __future__ import annotations

from typing import Any

from protocol import GENESIS_KIND, Record
from protocol.errors import RemoteError


class ValidationError(RemoteError):
    """A record is well formed but breaks a rule that needs context."""

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.data = data
        for key, value in data.items():
            setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.data == other.data  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.data.items()))))

    def __reduce__(self):  # keep errors picklable for multi-core validation
        return (_rebuild, (type(self), str(self), self.data))


def _rebuild(cls: type, message: str, data: dict) -> "ValidationError":
    error = cls.__new__(cls)
    ValidationError.__init__(error, message, **data)
    return error


def _short(value: bytes | None) -> str:
    return "none" if value is None else value.hex()[:12]


# -- chain ---------------------------------------------------------------------


class SeqNotIncremental(ValidationError):
    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"seq should be {expected}, found {found}", expected=expected, found=found)


class PrevMismatch(ValidationError):
    def __init__(self, expected: bytes, found: bytes | None) -> None:
        super().__init__(
            f"prev should name {_short(expected)}, names {_short(found)}",
            expected=expected,
            found=found,
        )


class LamportNotIncreasing(ValidationError):
    def __init__(self, previous: int, found: int) -> None:
        super().__init__(
            f"lamport {found} does not exceed the previous record's {previous}",
            previous=previous,
            found=found,
        )


class ForkDetected(ValidationError):
    def __init__(self, author: bytes, seq: int, ids: tuple[bytes, ...]) -> None:
        super().__init__(
            f"author {_short(author)} signed {len(ids)} different records at seq {seq}",
            author=author,
            seq=seq,
            ids=tuple(sorted(ids)),
        )


class ChainBroken(ValidationError):
    """An earlier record of the same chain failed, so later ones cannot count."""

    def __init__(self, author: bytes, seq: int, at_seq: int) -> None:
        super().__init__(
            f"author {_short(author)}'s chain is broken at seq {at_seq}; seq {seq} cannot count",
            author=author,
            seq=seq,
            at_seq=at_seq,
        )


class GenesisNotFirst(ValidationError):
    def __init__(self, seq: int) -> None:
        super().__init__(f"a neighbourhood genesis must be seq 1, found {seq}", seq=seq)


# -- clock and neighbourhood ---------------------------------------------------


class TimeInFuture(ValidationError):
    def __init__(self, time: int, now: int, limit: int) -> None:
        super().__init__(
            f"time {time} is {time - now} ms ahead of now {now}, limit {limit} ms",
            time=time,
            now=now,
            limit=limit,
        )


class LamportTooFarAhead(ValidationError):
    """The record's Lamport counter lies more than ``lead`` above ``reach``,
    the highest counter the receiver's log reaches (SPEC section 7.2): not a
    forgery, since the receiver may only lack the records in between."""

    def __init__(self, lamport: int, reach: int, lead: int) -> None:
        super().__init__(
            f"lamport {lamport} is {lamport - reach} above the log's reach {reach}, limit {lead}",
            lamport=lamport,
            reach=reach,
            lead=lead,
        )


class WrongNeighbourhood(ValidationError):
    def __init__(self, expected: bytes, found: bytes) -> None:
        super().__init__(
            f"record belongs to neighbourhood {_short(found)}, not {_short(expected)}",
            expected=expected,
            found=found,
        )


# -- membership ----------------------------------------------------------------


class NotMember(ValidationError):
    def __init__(self, author: bytes) -> None:
        super().__init__(f"{_short(author)} is not a member of the neighbourhood", author=author)


class NotAdmitted(ValidationError):
    """Membership does not let the record into the log.

    ``waiting`` is True when no membership path for the author is held yet
    (the record may wait, and enters once one arrives: the store keeps it in
    its waiting room, the gossip validator does not forward it), False when
    membership can never admit it (a join whose proof fails).
    """

    def __init__(self, author: bytes, kind: str, waiting: bool) -> None:
        why = "no membership path is held for it yet" if waiting else "membership can never admit it"
        super().__init__(
            f"{kind} by {_short(author)} is not admitted: {why}",
            author=author,
            kind=kind,
            waiting=waiting,
        )


class Revoked(ValidationError):
    def __init__(self, author: bytes, after_seq: int, seq: int) -> None:
        super().__init__(
            f"{_short(author)} was revoked after seq {after_seq}; seq {seq} does not count",
            author=author,
            after_seq=after_seq,
            seq=seq,
        )


class NotCounted(ValidationError):
    """A record of a device whose records stop counting after ``after_seq``
    (revoked, or its join or link does not count), beyond what a log keeps
    of such a device: the ``budget`` seqs after ``after_seq``, one record
    each (SPEC 7.4)."""

    def __init__(self, author: bytes, after_seq: int, seq: int, budget: int) -> None:
        super().__init__(
            f"{_short(author)} does not count after seq {after_seq}; seq {seq} is not kept "
            f"(at most {budget} seqs after it, one record each)",
            author=author,
            after_seq=after_seq,
            seq=seq,
            budget=budget,
        )


class BadJoinProof(ValidationError):
    def __init__(self, invite: bytes, joiner: bytes) -> None:
        super().__init__(
            f"join by {_short(joiner)} does not prove it holds invite {_short(invite)}",
            invite=invite,
            joiner=joiner,
        )


class InviteExpired(ValidationError):
    def __init__(self, invite: bytes, expires: int, time: int) -> None:
        super().__init__(
            f"invite {_short(invite)} expired at {expires}; join made at {time}",
            invite=invite,
            expires=expires,
            time=time,
        )


class InviteExhausted(ValidationError):
    def __init__(self, invite: bytes, uses: int) -> None:
        super().__init__(
            f"invite {_short(invite)} admits {uses} joins and all are taken",
            invite=invite,
            uses=uses,
        )


class InviteCancelled(ValidationError):
    def __init__(self, invite: bytes, cancel: bytes) -> None:
        super().__init__(
            f"invite {_short(invite)} was cancelled (by {_short(cancel)}) before this join",
            invite=invite,
            cancel=cancel,
        )


# -- authority -----------------------------------------------------------------


class NotAuthorised(ValidationError):
    """``author`` (a device) may not write ``kind`` about a thing ``owner`` owns.

    ``owner`` is the household id that holds the authority (for a revoke: the
    founding household, whose devices are the admins).
    """

    def __init__(self, kind: str, author: bytes, owner: bytes) -> None:
        super().__init__(
            f"{_short(author)} may not write {kind}: it belongs to household {_short(owner)}",
            kind=kind,
            author=author,
            owner=owner,
        )


# -- references ----------------------------------------------------------------


class WrongReferentKind(ValidationError):
    def __init__(self, field: str, referent: bytes, expected: str, found: str) -> None:
        super().__init__(
            f"{field} names {_short(referent)}, a {found}, not a {expected}",
            field=field,
            referent=referent,
            expected=expected,
            found=found,
        )


class ReferenceNotCausal(ValidationError):
    """A record names one it cannot have seen: the referent's Lamport counter is
    not below its own. Honest writers never produce this."""

    def __init__(self, referent: bytes, referent_lamport: int, lamport: int) -> None:
        super().__init__(
            f"names {_short(referent)} (lamport {referent_lamport}) from lamport {lamport}",
            referent=referent,
            referent_lamport=referent_lamport,
            lamport=lamport,
        )


class ReferentRejected(ValidationError):
    def __init__(self, referent: bytes) -> None:
        super().__init__(f"names {_short(referent)}, which does not count", referent=referent)


class UnknownElement(ValidationError):
    def __init__(self, sequence: str, element: tuple[bytes, int]) -> None:
        super().__init__(
            f"{sequence} has no element [{_short(element[0])}, {element[1]}]",
            sequence=sequence,
            element=element,
        )


# -- offers and claims ---------------------------------------------------------


class OfferWithdrawn(ValidationError):
    def __init__(self, offer: bytes) -> None:
        super().__init__(f"offer {_short(offer)} was withdrawn", offer=offer)


class OwnOffer(ValidationError):
    def __init__(self, offer: bytes, household: bytes) -> None:
        super().__init__(
            f"household {_short(household)} cannot claim its own offer {_short(offer)}",
            offer=offer,
            household=household,
        )


class AcceptExceedsClaim(ValidationError):
    def __init__(self, claim: bytes, claimed: int, accepted: int) -> None:
        super().__init__(
            f"accepts {accepted} of claim {_short(claim)}, which asked for {claimed}",
            claim=claim,
            claimed=claimed,
            accepted=accepted,
        )


class ClaimClosed(ValidationError):
    """A decision, cancel or handover on a claim whose status does not allow it
    (for example a second decision, or a handover of a declined claim)."""

    def __init__(self, claim: bytes, kind: str, status: str) -> None:
        super().__init__(
            f"{kind} does not apply to claim {_short(claim)}, which is {status}",
            claim=claim,
            kind=kind,
            status=status,
        )


# -- checks --------------------------------------------------------------------


def check_chain_link(record: Record, previous: Record | None) -> None:
    """Check that ``record`` directly follows ``previous`` in its author's chain.

    ``previous`` is the author's record at ``record.seq - 1`` as held locally,
    or None when the author has no record held. Conditions, in order:

    * a genesis record is seq 1 (:class:`GenesisNotFirst`);
    * with no previous record, ``record.seq`` is 1 (:class:`SeqNotIncremental`);
    * ``record.seq == previous.seq + 1`` (:class:`SeqNotIncremental`);
    * ``record.prev == previous.id`` (:class:`PrevMismatch`);
    * ``record.lamport > previous.lamport`` (:class:`LamportNotIncreasing`).

    The decoder already guarantees ``prev`` is None exactly when seq is 1.
    """
    if record.kind == GENESIS_KIND and record.seq != 1:
        raise GenesisNotFirst(record.seq)
    if previous is None:
        if record.seq != 1:
            raise SeqNotIncremental(1, record.seq)
        return
    assert previous.author == record.author, "previous must be the same author's record"
    if record.seq != previous.seq + 1:
        raise SeqNotIncremental(previous.seq + 1, record.seq)
    if record.prev != previous.id:
        raise PrevMismatch(previous.id, record.prev)
    if record.lamport <= previous.lamport:
        raise LamportNotIncreasing(previous.lamport, record.lamport)


def check_owner(kind: str, author: bytes, author_household: bytes | None, owner: bytes) -> None:
    """Raise :class:`NotAuthorised` unless the author's household is ``owner``.

    Authority belongs to households: any device of the household that wrote an
    offer may edit or withdraw it and decide its claims, and likewise for a
    claim's cancel and a handover.
    """
    if author_household != owner:
        raise NotAuthorised(kind, author, owner)

