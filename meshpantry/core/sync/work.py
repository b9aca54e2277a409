"""The work a reconcile message asks of its receiver, and its bound.

Fingerprints, id lists and skips cost the receiver time linear in the
message (bounded by MAX_ENTRIES and MAX_LIST_IDS). Power sums are where a
message can ask for much more than its size: computing sums, solving for a
difference polynomial and searching for its roots. Each entry's cost is
counted in **units** of about 100 ns of CPython (one multiplication of two
64-bit numbers modulo P, with its loop), where ``m`` is the number of items
the receiver holds in the entry's range and ``c(k)`` is 1/2 for k <= 16
(sums read from prefix columns or remembered powers) and 4 above:

* WANT_SUMS(k): ``c(k) m k`` (my sums);
* SUMS(count, k sums): ``c(k) m k + m k + 4 k^2`` (my sums, the root search
  among my values, the O(k^2) solve), but 0 when ``|m - count| >= k``: so
  many differences cannot be solved from k sums, and the receiver does not
  try;
* ROOTS(t coefficients): ``m t`` (the root search);
* anything else: 0.

A receiver adds up the whole message before it solves anything and refuses
a message over MAX_MESSAGE_WORK (:class:`TooMuchWork`, a protocol
violation: ABORT 2, and the node bans the peer), as it refuses one entry of
WANT_SUMS, SUMS or ROOTS whose ``m k`` passes SUMS_WORK. An honest sender
keeps its own messages under SEND_WORK, taking ``m`` as the count the peer
told it for the range, or, for its own SUMS, as ``count + k - 1`` (a SUMS
the peer can solve has ``|m - count| < k``).
"""

from __future__ import annotations

from protocol.sync import Entry, Roots, Sums, WantSums

from .errors import ProtocolViolation

#: Units one reconcile message may ask for: about 0.8 s of one core of a
#: laptop at worst (the 1 MiB message of ~1,900 entries of 64 sums that took
#: 5.4 s is refused unsolved). Ten thousand differences spread over both
#: sides ask for about 4.3M units, in one message.
MAX_MESSAGE_WORK = 1 << 23

#: What an honest sender plans for. Its estimate of each entry's work is an
#: upper bound (a SUMS the peer solves has ``m <= count + k - 1``), so only
#: rounding is left to the margin.
SEND_WORK = MAX_MESSAGE_WORK * 7 // 8

#: Most field multiplications (items x sums) one range may cost either side:
#: a whole 100,000-item set with k = 2. A peer asking for more is hostile.
SUMS_WORK = 1 << 18

#: Sums up to this many are read from the index's block sums or remembered powers
#: (items.PREFIX_POWERS), at about half a unit per item and sum.
CHEAP_SUMS = 16

#: Units per k^2 of a solve (Python-level arithmetic on big integers).
SOLVE_UNITS = 4


class TooMuchWork(ProtocolViolation):
    """A reconcile message asks for more work than any honest peer sends."""

    def __init__(self, work: int, limit: int) -> None:
        super().__init__(f"reconcile message asks for {work} units of work, limit {limit}")
        self.work, self.limit = work, limit


def _sums_units(mine: int, k: int) -> int:
    return mine * k // 2 if k <= CHEAP_SUMS else 4 * mine * k


def sums_work(mine: int, count: int, k: int) -> int:
    """Units of a SUMS entry of ``k`` sums and the sender's ``count`` where
    the receiver holds ``mine`` items (0 when it cannot be solved)."""
    if abs(mine - count) >= k:
        return 0
    return _sums_units(mine, k) + mine * k + SOLVE_UNITS * k * k


def entry_work(entry: Entry, mine: int) -> int:
    """Units an entry asks of a receiver holding ``mine`` items in its range.
    Raises ProtocolViolation when one entry alone passes SUMS_WORK."""
    mode = entry.mode
    if isinstance(mode, WantSums):
        k = mode.k
    elif isinstance(mode, Sums):
        k = len(mode.sums)
        if abs(mine - mode.count) >= k:
            return 0
    elif isinstance(mode, Roots):
        k = len(mode.coefficients)
    else:
        return 0
    if mine * k > SUMS_WORK:
        raise ProtocolViolation(f"{type(mode).__name__} of degree {k} over a range where I hold {mine} items")
    if isinstance(mode, WantSums):
        return _sums_units(mine, k)
    if isinstance(mode, Sums):
        return sums_work(mine, mode.count, k)
    return mine * k


def check_message(entries: tuple[Entry, ...], counts: list[int]) -> int:
    """The message's total units (``counts[i]``: my items in entry i's
    range); raises TooMuchWork over MAX_MESSAGE_WORK."""
    total = sum(entry_work(entry, mine) for entry, mine in zip(entries, counts))
    if total > MAX_MESSAGE_WORK:
        raise TooMuchWork(total, MAX_MESSAGE_WORK)
    return total
