"""The reach of a log's Lamport counters: how high a record's counter may go.

Rules (SPEC section 7.2):

* The **reach** of a set of records is the highest counter ``c`` that can be
  climbed to from 0 in steps of at most ``MAX_LAMPORT_LEAD``: sort the
  counters, walk up from 0, and stop at the first gap wider than the lead.
  It depends only on the set, not on the order the records arrived in.
* A receiver refuses a record whose counter lies more than
  ``MAX_LAMPORT_LEAD`` above the reach of its log
  (:class:`~.validation.LamportTooFarAhead`, step 5b of
  :mod:`.ingest`). Like the time bound this is no proof of forgery: an honest
  record runs ahead only by records the receiver lacks, and sync offers it
  again once they arrived.
* A device's own next counter is one above the greater of the reach and its
  own chain's counters, never above any counter beyond the reach: a record
  stored before the rule existed (``c = 2^63 - 1``) cannot stop the device
  from writing.

Theory of operation. Every record a log accepts under the rule lies within
the lead of the reach, so the reach climbs by at most the lead per accepted
record, and carrying it to ``2^63 - 1`` takes ``2^39`` records, each accepted
in turn. Counters beyond the reach (only records logged before the rule, or
refused ones never logged) are kept aside, sorted, and joined as soon as the
reach comes within the lead of them.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable

from protocol import Record
from protocol.limits import MAX_LAMPORT_LEAD

from .validation import LamportTooFarAhead

__all__ = ["LamportReach", "check_lamport", "reach_of"]


class LamportReach:
    """The reach of a growing multiset of counters (:func:`reach_of`), kept
    up as counters are added, in any order."""

    __slots__ = ("reach", "_beyond")

    def __init__(self, counters: Iterable[int] = ()) -> None:
        self.reach = 0  #: the highest counter reached from 0 in steps of at most the lead
        self._beyond: list[int] = []  #: counters above ``reach + MAX_LAMPORT_LEAD``, sorted
        self.add_all(counters)

    @property
    def limit(self) -> int:
        """The highest counter a new record may carry."""
        return self.reach + MAX_LAMPORT_LEAD

    def add(self, counter: int) -> None:
        if counter <= self.reach:
            return
        if counter > self.reach + MAX_LAMPORT_LEAD:
            insort(self._beyond, counter)
            return
        self.reach = counter
        beyond = self._beyond
        if beyond and beyond[0] <= counter + MAX_LAMPORT_LEAD:
            self._join()

    def add_all(self, counters: Iterable[int]) -> None:
        for counter in sorted(counters):
            self.add(counter)

    def _join(self) -> None:
        beyond = self._beyond
        taken = 0
        while taken < len(beyond) and beyond[taken] <= self.reach + MAX_LAMPORT_LEAD:
            self.reach = max(self.reach, beyond[taken])
            taken += 1
        del beyond[:taken]

    @property
    def beyond(self) -> int:
        """How many counters lie beyond the reach (none in a log that only
        ever took records under the rule)."""
        return len(self._beyond)

    def copy(self) -> "LamportReach":
        twin = LamportReach()
        twin.reach = self.reach
        twin._beyond = list(self._beyond)
        return twin


def reach_of(counters: Iterable[int]) -> int:
    """The reach of ``counters``: the highest counter climbed to from 0 in
    steps of at most ``MAX_LAMPORT_LEAD`` (0 for none)."""
    return LamportReach(counters).reach


def check_lamport(record: Record, reach: int) -> None:
    """Step 5b. Raise :class:`LamportTooFarAhead` if ``record.lamport`` lies
    more than ``MAX_LAMPORT_LEAD`` above ``reach``, the reach of the
    receiver's log."""
    if record.lamport > reach + MAX_LAMPORT_LEAD:
        raise LamportTooFarAhead(record.lamport, reach, MAX_LAMPORT_LEAD)
