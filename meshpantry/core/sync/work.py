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

Bounds over many messages, checked the same way before anything is solved:

* a **session** adds up the work of every message the peer sent in it and
  refuses the one that takes the total over its budget (MAX_SESSION_WORK, or
  less: below);
* a **peer**: :class:`WorkLedger` adds up what each peer's sessions cost
  over the last PEER_WORK_WINDOW_MS; a new session with a peer gets at most
  what is left of MAX_PEER_WORK as its budget. So a peer that opens session
  after session cannot keep a core busy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.sync import Entry, Roots, Sums, WantSums

from .errors import ProtocolViolation

if TYPE_CHECKING:
    from .items import ItemIndex

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


#: Units the peer's messages of one session may ask for in all: twice a
#: message's bound (about 1.6 s of a core at worst). Honest sessions
#: measured: 0.47 x MAX_MESSAGE_WORK for 10,000 differences in 100,000
#: records, 0.11 x for 100,000 records split between two islands, 0.04 x for
#: a routine session over 100,000 (version 1's 96 rounds allowed 48
#: messages of 0.8 s each).
MAX_SESSION_WORK = 2 * MAX_MESSAGE_WORK

#: The window over which a peer's sessions' work adds up.
PEER_WORK_WINDOW_MS = 60_000

#: Units one peer's sessions may ask for per PEER_WORK_WINDOW_MS: about 3.2 s
#: of a core per minute at worst (5 %). Routine sessions over 100,000 records
#: every 5 s cost a peer 0.5 x MAX_MESSAGE_WORK a minute, a catch-up of
#: 10,000 differences 0.5 x once.
MAX_PEER_WORK = 4 * MAX_MESSAGE_WORK


class TooMuchWork(ProtocolViolation):
    """A reconcile message (or the messages of a session, or of a peer's
    sessions within the window: ``what``) asks for more work than any honest
    peer sends."""

    def __init__(self, work: int, limit: int, what: str = "reconcile message") -> None:
        super().__init__(f"{what} asks for {work} units of work, limit {limit}")
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


def message_work(index: "ItemIndex", entries: tuple[Entry, ...]) -> int:
    """:func:`check_message` for a message received by the holder of ``index``."""
    uppers = [index.locate(entry.upper) for entry in entries]
    return check_message(entries, [hi - lo for lo, hi in zip([0, *uppers], uppers)])


class WorkLedger:
    """The reconcile work each peer's messages cost this replica within the
    last ``window_ms`` (a sliding window), and what is left of ``limit``.
    ``now`` is the caller's monotonic clock in ms."""

    def __init__(self, limit: int = MAX_PEER_WORK, window_ms: int = PEER_WORK_WINDOW_MS) -> None:
        self.limit, self.window_ms = limit, window_ms
        self._charges: dict[object, list[tuple[int, int]]] = {}  # peer -> (time, units), oldest first

    def spent(self, peer: object, now: int) -> int:
        charges = self._charges.get(peer)
        if not charges:
            return 0
        while charges and charges[0][0] <= now - self.window_ms:
            charges.pop(0)
        if not charges:
            del self._charges[peer]
            return 0
        return sum(units for _, units in charges)

    def allowance(self, peer: object, now: int) -> int:
        """The budget of a new session with ``peer``: MAX_SESSION_WORK, or what
        is left of the peer's window if less."""
        return max(0, min(MAX_SESSION_WORK, self.limit - self.spent(peer, now)))

    def charge(self, peer: object, units: int, now: int) -> None:
        """Count ``units`` a session with ``peer`` cost (at its end)."""
        if units > 0:
            self.spent(peer, now)  # drop what left the window
            self._charges.setdefault(peer, []).append((now, units))
