"""Who belongs to a neighbourhood, decided from records alone.

Rules:

* The genesis record (kind ``neighbourhood``) is the record whose id *is* the
  neighbourhood id. Its author is the founder: a member and an admin, and the
  first device of the founding household.
* An ``invite`` by a member publishes a one-time public key. A ``join`` by a new
  device names the invite and carries ``proof``: the invite key's signature over
  ``JOIN_CONTEXT + neighbourhood id + joiner's key``. Only someone holding the
  invite code can make it. A joiner founds its own household (id = its key).
  An invite admits at most ``uses`` joins made no later than ``expires``; when
  more claim it, the first ``uses`` in (lamport, id) order count.
* A ``device_link`` by a member adds another device key to the member's
  household.
* A ``revoke`` by an admin removes a device: its records with
  ``seq > after_seq`` no longer count.
* An ``invite_cancel`` by a device of the inviting household, or by an admin,
  closes an invite: it admits only the ``uses`` joins its author had counted
  (the first ones in (lamport, id) order), however late the others arrive.

Two questions are answered here, and they differ on purpose:

* :func:`count_members` decides whether a record counts in the views; that
  honours invite limits and revocations, and is computed from the whole set in
  a deterministic order, so it is the same on every replica holding the set.
* :meth:`meshpantry.core.admission.Membership.admits` decides whether a record may enter the log. A
  device is admissible once a membership path for it is held (its join, or a
  link by an admissible device), and stays so: records of unknown authors
  wait, bounded, until a path arrives. But a device whose records stop
  counting by :func:`count_members` over the membership records held (a
  revoked device past its ``after_seq``; a device whose join or link does not
  count, such as a join with a spent invite) has its **cut**: the seq after
  which its records do not count. Past its cut, the log keeps at most
  :data:`MAX_UNCOUNTED_SEQS` more seqs of it, one record each (the verdict is
  ``LIMITED``), and refuses the rest; an invite keeps at most
  :data:`MAX_EXTRA_JOINS` joins beyond its ``uses``. So a leaked invite code
  or a revoked key costs a bounded number of records, and every replica
  holding the same membership records draws the same line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Iterable, Mapping

import nacl.bindings
import nacl.exceptions

from protocol import Record

from .validation import (
    BadJoinProof,
    InviteCancelled,
    InviteExhausted,
    InviteExpired,
    NotAuthorised,
    NotMember,
    ReferenceNotCausal,
    ReferentRejected,
    Revoked,
    ValidationError,
    WrongNeighbourhood,
    WrongReferentKind,
)

JOIN_CONTEXT = b"meshpantry/join/v1\x00"


class Admission(Enum):
    ADMIT = "admit"  #: the author is (or this record makes it) a member
    WAIT = "wait"  #: cannot tell yet: hold it until membership records arrive
    REJECT = "reject"  #: can never count here (wrong neighbourhood, bad proof, past the budget)
    #: does not count (its author is past its cut): logged within the
    #: author's budget, one record per seq, never forwarded by gossip
    LIMITED = "limited"


#: Seqs past its cut that the log keeps of a device whose records do not
#: count (a revoked device's writes before it heard of its revocation, a
#: spent invite's joiner's first records), one record each: replicas that
#: stored them before they learned of the cut keep agreeing with those that
#: learned first, and one such key costs at most 32 records of at most
#: 32 KiB (1 MiB) in every store.
MAX_UNCOUNTED_SEQS = 32

#: Joins an invite may have in the log beyond its ``uses``: room for a code
#: used twice by honest mistake (every replica then holds both joins and
#: agrees which one counts), while a leaked code costs at most this many
#: households, each within :data:`MAX_UNCOUNTED_SEQS`.
MAX_EXTRA_JOINS = 4


def join_message(neighbourhood: bytes, joiner: bytes) -> bytes:
    return JOIN_CONTEXT + neighbourhood + joiner


#: Join proofs whose verdict is remembered. Membership is rebuilt from the
#: log whenever a store opens (and in the simulator after every power cut);
#: a verdict is a pure function of these bytes, so it is checked once per
#: process. Bigger than any neighbourhood's joins.
_PROOF_VERDICTS = 4096


@lru_cache(maxsize=_PROOF_VERDICTS)
def join_proof_valid(invite_key: bytes, proof: bytes, neighbourhood: bytes, joiner: bytes) -> bool:
    """Whether ``proof`` is the invite key's signature of the join message."""
    try:
        nacl.bindings.crypto_sign_open(proof + join_message(neighbourhood, joiner), invite_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


#: Kinds that can make an author admissible.
PATH_KINDS = frozenset({"neighbourhood", "join", "device_link", "invite"})

#: Kinds that decide who counts as a member; :func:`count_members` reads
#: only these. The path kinds, ``revoke`` and ``invite_cancel``.
COUNTING_KINDS = PATH_KINDS | {"revoke", "invite_cancel"}

#: Kinds :meth:`meshpantry.core.admission.Membership.add` learns from: all that decide who counts, as
#: the cuts come from :func:`count_members` over them.
ADMISSION_KINDS = COUNTING_KINDS


# -- counting: who is a member in the views -------------------------------------


@dataclass(frozen=True)
class Roster:
    """Who counts as a member, computed from a whole record set.

    * ``neighbourhood``: the neighbourhood id (its genesis record's id).
    * ``founder``: the genesis author, or None while the genesis is not held.
    * ``households``: member device key -> household id (its first device key),
      in the (lamport, id) order the devices were admitted.
    * ``admins``: the founding household's devices that are not revoked.
    * ``revoked``: device key -> ``after_seq`` (its records above it do not count).
    * ``pending``: device key -> the id its join or link waits for.
    * ``waiting`` / ``rejected``: membership records that wait (id -> missing id)
      or do not count (id -> error).
    * ``counted``: ids of membership records that took effect.
    """

    neighbourhood: bytes
    founder: bytes | None
    households: dict[bytes, bytes]
    admins: frozenset[bytes]
    revoked: dict[bytes, int]
    pending: dict[bytes, bytes]
    waiting: dict[bytes, bytes]
    rejected: dict[bytes, "ValidationError"]
    counted: frozenset[bytes]

    def standing(self, record: Record) -> "bytes | ValidationError | None":
        """Whether ``record``'s author may write it, as far as membership goes.

        Returns None when it counts, the missing id (bytes) when its author's
        membership waits for a record, or the error when it cannot count
        (:class:`NotMember`, :class:`Revoked`).
        """
        after = self.revoked.get(record.author)
        if after is not None and record.seq > after:
            return Revoked(record.author, after, record.seq)
        if record.author not in self.households:
            if record.author in self.pending:
                return self.pending[record.author]
            if self.founder is None:
                return self.neighbourhood  # everything waits for the genesis
            return NotMember(record.author)
        return None


def count_members(
    records: Iterable[Record],
    neighbourhood: bytes,
    unavailable: Mapping[bytes, "bytes | ValidationError"] | None = None,
    waiting_links: Mapping[bytes, bytes] | None = None,
) -> Roster:
    """See :func:`_count_members`. A counted ``invite_cancel`` caps its invite
    at the joins its author had counted (its ``uses``), whichever joins come
    first in (lamport, id) order, before or after the cancel: a newcomer
    holding only the code cannot have seen the cancel, so its join's counter
    says nothing about which came first. The caps come from a first count and
    apply in a second (only when there are cancels)."""
    records = list(records)
    roster, caps = _count_members(records, neighbourhood, unavailable, waiting_links, None)
    if caps:
        roster, _ = _count_members(records, neighbourhood, unavailable, waiting_links, caps)
    return roster


def _count_members(
    records: list[Record],
    neighbourhood: bytes,
    unavailable: Mapping[bytes, "bytes | ValidationError"] | None,
    waiting_links: Mapping[bytes, bytes] | None,
    caps: Mapping[bytes, tuple[int, bytes]] | None,
) -> tuple[Roster, dict[bytes, tuple[int, bytes]]]:
    """Compute the :class:`Roster` of ``neighbourhood`` from a record set.

    ``records`` are the records that stand on unbroken chains (others are
    ignored); ``unavailable`` maps ids held but not counting to the id they wait
    for (bytes) or their error, so that a join naming such an invite waits or
    is rejected accordingly; ``waiting_links`` maps devices named by held
    ``device_link`` records that wait to the id they wait for, so that those
    devices' records wait too rather than count as strangers'. Deterministic: records are taken in (lamport, id)
    order whatever order they are given in.

    Rules, beyond the module's:

    1. Revocations are settled first, over genesis, ``device_link`` and
       ``revoke`` in (lamport, id) order: a device linked by an admin becomes an
       admin; a ``revoke`` counts when its author is an admin not revoked (by
       an earlier revoke) at the revoke's seq; several revokes of one device
       keep the smallest ``after_seq``.
    2. Then genesis, ``invite``, ``invite_cancel``, ``join`` and
       ``device_link`` in (lamport, id) order, skipping records cut by a
       revocation (:class:`Revoked`). An invite or link counts when its author
       is a member (else :class:`NotMember`). An ``invite_cancel`` counts when
       its invite counts and precedes it, and its author is a device of the
       inviting household or a live admin (else :class:`NotAuthorised`). A
       join counts when its invite counts and precedes it
       (:class:`ReferenceNotCausal`), fewer joins of the invite counted before
       it than the smallest ``uses`` of its counted cancels
       (:class:`InviteCancelled`), the proof verifies
       (:class:`BadJoinProof`), the join's time is not after ``expires``
       (:class:`InviteExpired`, by the joiner's advisory clock, so that every
       replica agrees) and fewer than ``uses`` joins counted before it
       (:class:`InviteExhausted`).
    3. A device that is already a member gains nothing from a join or a link.
    """
    unavailable = unavailable or {}
    held = {r.id: r for r in records}
    ordered = sorted(
        (r for r in records if r.kind in COUNTING_KINDS), key=lambda r: (r.lamport, r.id)
    )
    waiting: dict[bytes, bytes] = {}
    rejected: dict[bytes, ValidationError] = {}
    counted: set[bytes] = set()
    genesis = next(
        (r for r in ordered if r.kind == "neighbourhood" and r.id == neighbourhood), None
    )
    if genesis is None:
        for record in ordered:
            waiting[record.id] = neighbourhood
        return Roster(neighbourhood, None, {}, frozenset(), {}, {}, waiting, rejected, frozenset()), {}
    founder = genesis.author

    # Pass 1: admins and revocations.
    admins = {founder}
    revoked: dict[bytes, int] = {}
    for record in ordered:
        cut = revoked.get(record.author)
        live_admin = record.author in admins and (cut is None or record.seq <= cut)
        if record.kind == "device_link" and live_admin:
            admins.add(record.body["device"])
        elif record.kind == "revoke":
            if not live_admin:
                rejected[record.id] = (
                    Revoked(record.author, cut, record.seq)
                    if record.author in admins
                    else NotAuthorised("revoke", record.author, founder)
                )
                continue
            member, after = record.body["member"], record.body["after_seq"]
            revoked[member] = min(after, revoked.get(member, after))
            counted.add(record.id)

    # Pass 2: households.
    households: dict[bytes, bytes] = {}
    pending: dict[bytes, bytes] = dict(waiting_links or {})
    invites: dict[bytes, Record] = {}
    uses: dict[bytes, int] = {}
    found_caps: dict[bytes, tuple[int, bytes]] = {}  #: invite id -> (uses left, cancel id), smallest
    for record in ordered:
        if record.kind == "revoke":
            continue
        cut = revoked.get(record.author)
        if cut is not None and record.seq > cut:
            rejected[record.id] = Revoked(record.author, cut, record.seq)
            continue
        if record.kind == "neighbourhood":
            if record.id == neighbourhood:
                households.setdefault(founder, founder)
                counted.add(record.id)
            else:
                rejected[record.id] = WrongNeighbourhood(neighbourhood, record.id)
            continue
        if record.kind == "join":
            outcome = _judge_join(
                record, neighbourhood, invites, uses, held, (unavailable, waiting, rejected), caps
            )
            if isinstance(outcome, bytes):
                waiting[record.id] = outcome
                pending.setdefault(record.author, outcome)
            elif outcome is not None:
                rejected[record.id] = outcome
            else:
                counted.add(record.id)
                if record.author not in households:
                    uses[record.body["invite"]] = uses.get(record.body["invite"], 0) + 1
                    households[record.author] = record.author
                    pending.pop(record.author, None)
            continue
        if record.author not in households:
            if record.author in pending:
                waiting[record.id] = pending[record.author]
                if record.kind == "device_link":
                    pending.setdefault(record.body["device"], pending[record.author])
            else:
                rejected[record.id] = NotMember(record.author)
            continue
        if record.kind == "invite_cancel":
            outcome = _judge_cancel(
                record, invites, households, revoked, founder, held, (unavailable, waiting, rejected)
            )
            if isinstance(outcome, bytes):
                waiting[record.id] = outcome
            elif outcome is not None:
                rejected[record.id] = outcome
            else:
                counted.add(record.id)
                cap = (record.body["uses"], record.id)
                found_caps[record.body["invite"]] = min(found_caps.get(record.body["invite"], cap), cap)
            continue
        counted.add(record.id)
        if record.kind == "invite":
            invites[record.id] = record
        elif record.kind == "device_link":
            device = record.body["device"]
            if device not in households:
                households[device] = households[record.author]
                pending.pop(device, None)
    live_admins = frozenset(
        device
        for device, household in households.items()
        if household == founder and device not in revoked
    )
    return Roster(
        neighbourhood, founder, households, live_admins, revoked, pending, waiting, rejected, frozenset(counted)
    ), found_caps


def _judge_join(
    join: Record,
    neighbourhood: bytes,
    invites: dict[bytes, Record],
    uses: dict[bytes, int],
    held: dict[bytes, Record],
    unavailable: tuple[Mapping[bytes, "bytes | ValidationError"], ...],
    caps: Mapping[bytes, tuple[int, bytes]] | None = None,
) -> "bytes | ValidationError | None":
    """None if ``join`` counts, a missing id if it waits, else its error.
    ``unavailable`` maps held ids that do not count to their missing id or
    error; ``caps`` maps cancelled invites to (uses left, the cancel)."""
    invite_id = join.body["invite"]
    named = held.get(invite_id)
    if named is not None and named.kind != "invite":
        return WrongReferentKind("invite", invite_id, "invite", named.kind)
    if named is not None and named.lamport >= join.lamport:
        return ReferenceNotCausal(invite_id, named.lamport, join.lamport)
    invite = invites.get(invite_id)
    if invite is None:
        outcome = next((m[invite_id] for m in unavailable if invite_id in m), None)
        if outcome is None:
            return invite_id  # not held at all
        if isinstance(outcome, bytes):
            return outcome
        return ReferentRejected(invite_id)
    if not join_proof_valid(invite.body["key"], join.body["proof"], neighbourhood, join.author):
        return BadJoinProof(invite_id, join.author)
    if join.time > invite.body["expires"]:
        return InviteExpired(invite_id, invite.body["expires"], join.time)
    cap = caps.get(invite_id) if caps else None
    if cap is not None and uses.get(invite_id, 0) >= cap[0] and cap[0] < invite.body["uses"]:
        return InviteCancelled(invite_id, cap[1])
    if uses.get(invite_id, 0) >= invite.body["uses"]:
        return InviteExhausted(invite_id, invite.body["uses"])
    return None


def _judge_cancel(
    cancel: Record,
    invites: dict[bytes, Record],
    households: Mapping[bytes, bytes],
    revoked: Mapping[bytes, int],
    founder: bytes,
    held: dict[bytes, Record],
    unavailable: tuple[Mapping[bytes, "bytes | ValidationError"], ...],
) -> "bytes | ValidationError | None":
    """None if ``cancel`` counts, a missing id if it waits, else its error."""
    invite_id = cancel.body["invite"]
    named = held.get(invite_id)
    if named is not None and named.kind != "invite":
        return WrongReferentKind("invite_cancel", invite_id, "invite", named.kind)
    if named is not None and named.lamport >= cancel.lamport:
        return ReferenceNotCausal(invite_id, named.lamport, cancel.lamport)
    invite = invites.get(invite_id)
    if invite is None:
        outcome = next((m[invite_id] for m in unavailable if invite_id in m), None)
        if outcome is None:
            return invite_id
        if isinstance(outcome, bytes):
            return outcome
        return ReferentRejected(invite_id)
    household = households.get(cancel.author)
    if household is None:
        return NotMember(cancel.author)
    admin = household == founder and cancel.author not in revoked
    if household != households.get(invite.author) and not admin:
        return NotAuthorised("invite_cancel", cancel.author, households.get(invite.author, invite.author))
    return None
