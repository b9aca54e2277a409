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

Two questions are answered here, and they differ on purpose:

* :meth:`Membership.admits` decides whether a record may enter the log. It is
  monotonic (once admitted, always admitted) so that replicas converge: an
  author is admissible once any membership path for it is held, whatever was
  revoked later. Records of unknown authors wait, bounded, until a path arrives.
* :meth:`Membership.counts` decides whether a record counts in the views; that
  honours invite limits and revocations, and is computed from the whole set in
  a deterministic order, so it is the same on every replica holding the set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import nacl.bindings
import nacl.exceptions

from protocol import Record

JOIN_CONTEXT = b"meshpantry/join/v1\x00"


class Admission(Enum):
    ADMIT = "admit"  #: the author is (or this record makes it) a member
    WAIT = "wait"  #: cannot tell yet: hold it until membership records arrive
    REJECT = "reject"  #: can never count here (wrong neighbourhood, bad proof)


def join_message(neighbourhood: bytes, joiner: bytes) -> bytes:
    return JOIN_CONTEXT + neighbourhood + joiner


def join_proof_valid(invite_key: bytes, proof: bytes, neighbourhood: bytes, joiner: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(proof + join_message(neighbourhood, joiner), invite_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


@dataclass
class Membership:
    """Incremental admission state for one neighbourhood.

    Feed it every admitted record with :meth:`add`. ``households`` maps each
    admitted device key to its household id (the household's first device key).
    """

    neighbourhood: bytes
    founder: bytes | None = None
    households: dict[bytes, bytes] = field(default_factory=dict)
    invites: dict[bytes, Record] = field(default_factory=dict)

    def admits(self, record: Record) -> Admission:
        if record.kind == "neighbourhood":
            return Admission.ADMIT if record.id == self.neighbourhood else Admission.REJECT
        if record.neighbourhood != self.neighbourhood:
            return Admission.REJECT
        if record.author in self.households:
            return Admission.ADMIT
        if record.kind == "join":
            invite = self.invites.get(record.body["invite"])
            if invite is None:
                return Admission.WAIT
            if not join_proof_valid(
                invite.body["key"], record.body["proof"], self.neighbourhood, record.author
            ):
                return Admission.REJECT
            return Admission.ADMIT
        return Admission.WAIT

    def add(self, record: Record) -> bool:
        """Learn from an admitted record. Returns True if membership grew, so
        that waiting records should be looked at again."""
        grew = False
        if record.kind == "neighbourhood" and record.id == self.neighbourhood:
            self.founder = record.author
            grew = self._admit(record.author, record.author)
        elif record.kind == "join":
            grew = self._admit(record.author, record.author)
        elif record.kind == "device_link" and record.author in self.households:
            grew = self._admit(record.body["device"], self.households[record.author])
        elif record.kind == "invite" and record.author in self.households:
            self.invites[record.id] = record
            grew = True  # a waiting join may now be checkable
        return grew

    def _admit(self, device: bytes, household: bytes) -> bool:
        if device in self.households:
            return False
        self.households[device] = household
        return True
