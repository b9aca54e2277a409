"""Whether this device's next record will count: the check before a write.

A household device may write a record the neighbourhood will never count:
its device was revoked, its join lost the race for a single-use invite (or
came too late for an expired one), or its key signed two records at one seq
(a copied data directory or a restored backup: a fork). Such a record is
signed, stored and passed on, yet every node rejects it (SPEC 7.4, 7.5 and
the chain rules), so writing it only misleads the household.
:func:`next_write_refused` says, before signing, whether that would happen
and why, from what this device already holds; the pantry refuses the write
with the reason and what to do.

Membership that cannot be judged yet (the invite a join names has not
arrived) is not a refusal: the record waits and counts once the missing
record arrives, as SPEC section 7.4 says.
"""

from __future__ import annotations

from typing import Iterable

from .membership import Roster
from .validation import ForkDetected, Revoked, ValidationError


def next_write_refused(
    device: bytes,
    next_seq: int,
    roster: Roster,
    forks: Iterable[ForkDetected],
    own_joins: Iterable[bytes | ValidationError | None],
) -> ValidationError | None:
    """The error every node would give the record ``device`` writes next (at
    ``next_seq``), or None when it can count (now or once what it waits for
    arrives).

    ``roster`` is the membership of the held records, ``forks`` the forks
    seen, ``own_joins`` the fates of ``device``'s own ``join`` records (None
    counted, bytes the id it waits for, an error if rejected). Checked in
    this order: a fork of the device's chain (:class:`ForkDetected`: every
    record from the fork on is rejected), revocation (:class:`Revoked` when
    ``next_seq`` is past the revocation's ``after_seq``), and, for a device
    that is no member, a join that was rejected (its error, for instance
    :class:`~meshpantry.core.validation.InviteExhausted`) while none waits.
    """
    for fork in forks:
        if fork.author == device:
            return fork
    after = roster.revoked.get(device)
    if after is not None and next_seq > after:
        return Revoked(device, after, next_seq)
    if device in roster.households:
        return None
    fates = list(own_joins)
    if any(not isinstance(fate, ValidationError) for fate in fates):
        return None  # a join counts or waits: so will the record
    return fates[-1] if fates else None
