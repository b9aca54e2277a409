"""Version 1 of the sync reconcile rules, kept to measure against: the
benchmark (``simulations/bench_sync.py``) runs every case with these rules
and version 1's record windows beside the current ones, in the same run.

Version 1 decoded power sums for every range whose count difference looked
small, grew the sums (8, 16, ... 64) when a solve failed and split 16 ways
after that, so a two-sided difference of 10,000 records took 15 round
trips; it carried no stratum counts and bounded no message's total work,
and its record window was 4 batches of at most 500 records. The rules below
are version 1's as they were (``meshpantry/core/sync/reconcile.py`` before
version 2); sessions exchange the current version's frames, in which a SUMS without
stratum counts is one byte longer than in version 1.

Not used by the node; nothing outside the benchmark imports it.
"""

from __future__ import annotations

import sys

from dataclasses import dataclass, field

from meshpantry.core.sync.errors import ProtocolViolation
from meshpantry.core.sync.items import PREFIX_POWERS, ItemIndex, fingerprint_of
from meshpantry.core.sync.session import SyncSession
from meshpantry.core.sync.sums import difference_polynomials, roots_among
from protocol import limits
from protocol.sync import (
    INF,
    MAX_SUMS,
    SUM_BYTES,
    Bound,
    Entry,
    Fingerprint,
    IdList,
    Mode,
    Reconcile,
    Roots,
    Skip,
    Sums,
    WantSums,
)

#: Version 1's limits, where they differ from the current version's.
MAX_LIST_IDS = 32
MAX_RECONCILE_BYTES = 256 * 1024
MAX_ENTRIES = 24 * 1024
WINDOW = 4
MAX_BATCH_RECORDS = 500

#: Sub-ranges per split. 16 cuts 100,000 items to ~24 in three levels; each
#: entry costs ~22 bytes, so a split is ~350 bytes.
FANOUT = 16

#: Most field multiplications (items x sums) one range may cost either side:
#: a whole 100,000-item set with k = 2, about 0.1 s of Python. This is the
#: protocol's bound (a peer asking for more is hostile); what we ask for is
#: the smaller SUMS_EFFORT.
SUMS_WORK = 1 << 18

#: Most multiplications we choose to spend on one range's sums when they are
#: more than PREFIX_POWERS (so summed item by item, on both sides), about
#: 3 ms of Python. Without it a 4,000-item range with 32 differences costs
#: 0.1 s each side, where a split costs ~350 bytes and finds the same
#: differences in smaller ranges. Up to PREFIX_POWERS sums a kept index
#: answers from its prefix columns in O(k), so only SUMS_WORK bounds them.
SUMS_EFFORT = 1 << 14

#: Sums asked for a range whose counts are equal but fingerprints differ: the
#: least that can find one record missing on each side. Ranges whose counts
#: differ by d start with d + 1 sums (most differences are one-sided; one sum
#: checks the answer) and ask for more only when that fails.
SUMS_SLACK = 2

#: Differences a part should hold when a range whose counts differ by more
#: than its sums may cover is split: each part then decodes with about
#: SPLIT_DIFFERENCES + 1 sums at the first try. A failed decode (differences
#: unknown, often on both sides and dense) splits FANOUT ways instead.
SPLIT_DIFFERENCES = 4

#: About what a split costs on the wire (FANOUT + 1 fingerprint entries). A
#: failed decode asks for more sums only while they cost less than the
#: fallback (this, or an id list), so dense differences split early.
_SPLIT_BYTES = (FANOUT + 1) * 22

#: Largest size one entry can add to a message (an ID_LIST with its needs).
_MAX_ENTRY_BYTES = 2 * MAX_LIST_IDS * limits.ID_BYTES + 64


@dataclass
class Reply:
    """What a reconcile step decided."""

    entries: list[Entry] = field(default_factory=list)
    needs: list[bytes] = field(default_factory=list)
    send: set[int] = field(default_factory=set)  #: positions of my items to send
    expect: int = 0  #: records the peer will probably send us for this step
    size: int = 0  #: estimated encoded size of entries and needs

    @property
    def settled(self) -> bool:
        """True when the reply says nothing: every range SKIP, no needs."""
        return not self.needs and all(isinstance(e.mode, Skip) for e in self.entries)

    def add(self, upper: Bound, mode: Mode) -> None:
        if isinstance(mode, Skip) and self.entries and isinstance(self.entries[-1].mode, Skip):
            self.entries[-1] = Entry(upper, mode)
            return
        self.entries.append(Entry(upper, mode))
        self.size += 6 + len(upper.prefix) + _mode_size(mode)

    def full(self) -> bool:
        return (
            self.size + _MAX_ENTRY_BYTES > MAX_RECONCILE_BYTES
            or len(self.entries) + 2 * FANOUT + 4 > MAX_ENTRIES
        )


def _mode_size(mode: Mode) -> int:
    if isinstance(mode, Fingerprint):
        return 20
    if isinstance(mode, IdList):
        return 2 + limits.ID_BYTES * len(mode.ids)
    if isinstance(mode, Sums):
        return 22 + SUM_BYTES * len(mode.sums)
    if isinstance(mode, Roots):
        return 20 + SUM_BYTES * len(mode.coefficients)
    return 2


def opening(index: ItemIndex, below: int | None = None) -> list[Entry]:
    """The initiator's first message: one fingerprint of everything, or the
    whole id list when it is short. With ``below`` (a Lamport counter, see
    :mod:`meshpantry.core.sync.horizon`), only the items below it are reconciled: the range above
    is SKIP from the start."""
    count = len(index) if below is None else index.locate(Bound(below))
    upper = INF if count == len(index) else Bound(below)
    entries = []
    if count <= MAX_LIST_IDS:
        entries.append(Entry(upper, IdList(tuple(index.ids(0, count)))))
    else:
        entries.append(Entry(upper, Fingerprint(count, index.fingerprint(0, count))))
    if upper is not INF:
        entries.append(Entry(INF, Skip()))
    return entries


def message_work(index: ItemIndex, entries: tuple) -> int:
    """Version 1 counts no work: its messages are not bounded by it."""
    return 0


def respond(index: ItemIndex, message: Reconcile) -> Reply:
    """My reply to ``message``. Raises ProtocolViolation for requests no
    honest peer makes (sums beyond the work bound)."""
    reply = Reply()
    for item_id in message.needs:
        position = index.position(item_id)
        if position is not None:
            reply.send.add(position)
    lo = 0
    for number, entry in enumerate(message.entries):
        hi = index.locate(entry.upper)
        if reply.full() and number:
            count = len(index) - lo
            reply.add(INF, Fingerprint(count, index.fingerprint(lo, len(index))))
            return reply
        _answer(index, lo, hi, entry, reply)
        lo = hi
    return reply


def _answer(index: ItemIndex, lo: int, hi: int, entry: Entry, reply: Reply) -> None:
    mode = entry.mode
    if isinstance(mode, Skip):
        reply.add(entry.upper, mode)
    elif isinstance(mode, Fingerprint):
        _on_fingerprint(index, lo, hi, entry.upper, mode, reply)
    elif isinstance(mode, WantSums):
        mine = hi - lo
        if mine * mode.k > SUMS_WORK:
            raise ProtocolViolation(f"asked for {mode.k} sums over {mine} items")
        reply.add(entry.upper, Sums(mine, index.fingerprint(lo, hi), tuple(index.power_sums(lo, hi, mode.k))))
        reply.expect += mode.k
    elif isinstance(mode, Sums):
        _on_sums(index, lo, hi, entry.upper, mode, reply)
    elif isinstance(mode, Roots):
        _on_roots(index, lo, hi, entry.upper, mode, reply)
    else:
        assert isinstance(mode, IdList)
        _on_id_list(index, lo, hi, entry.upper, mode, reply)


def _on_fingerprint(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Fingerprint, reply: Reply) -> None:
    mine, theirs = hi - lo, mode.count
    own = index.fingerprint(lo, hi)
    if mine == theirs and own == mode.fingerprint:
        reply.add(upper, Skip())
    elif theirs == 0:
        reply.send.update(range(lo, hi))
        reply.add(upper, Skip())
    elif mine == 0:
        reply.add(upper, IdList(()))
        reply.expect += theirs
    elif _sums_fit(mine, theirs, _first_sums(mine, theirs)):
        k = _first_sums(mine, theirs)
        if mine > theirs:
            reply.add(upper, WantSums(k))
        else:
            reply.add(upper, Sums(mine, own, tuple(index.power_sums(lo, hi, k))))
            reply.expect += theirs - mine
    elif mine <= MAX_LIST_IDS:
        reply.add(upper, IdList(tuple(index.ids(lo, hi))))
    elif theirs <= MAX_LIST_IDS or mine < theirs:
        reply.add(upper, Fingerprint(mine, own))
    else:
        _split(index, lo, hi, upper, theirs, reply, mine - theirs)


def _first_sums(mine: int, theirs: int) -> int:
    """Sums first asked for a range: one per difference the counts show,
    plus one that lets the decoder check its answer (see
    :func:`meshpantry.core.sync.sums.difference_polynomials`); SUMS_SLACK when the counts are
    equal."""
    return abs(mine - theirs) + 1 if mine != theirs else SUMS_SLACK


def _sums_fit(mine: int, theirs: int, k: int) -> bool:
    """Whether k sums over this range are worth asking for or offering."""
    if k > MAX_SUMS or max(mine, theirs) * k > SUMS_WORK:
        return False
    return k <= PREFIX_POWERS or max(mine, theirs) * k <= SUMS_EFFORT


def _on_sums(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Sums, reply: Reply) -> None:
    mine, theirs, k = hi - lo, mode.count, len(mode.sums)
    if mine == theirs and index.fingerprint(lo, hi) == mode.fingerprint:
        reply.add(upper, Skip())
        return
    if mine * k > SUMS_WORK:
        raise ProtocolViolation(f"sent {k} sums over a range where I hold {mine} items")
    own_sums = index.power_sums(lo, hi, k)
    solved = difference_polynomials(own_sums, mode.sums, mine - theirs)
    if solved is not None:
        mine_only, theirs_only = solved
        roots = roots_among(mine_only, index.values(lo, hi))
        if len(roots) == len(mine_only) - 1:
            common = fingerprint_of(index.id_sum(lo, hi) - _id_sum(index, lo, roots), mine - len(roots))
            if len(theirs_only) == 1 and common == mode.fingerprint:
                reply.send.update(lo + r for r in roots)
                reply.add(upper, Skip())
                return
            if len(theirs_only) > 1:
                reply.send.update(lo + r for r in roots)
                reply.add(upper, Roots(common, tuple(theirs_only[1:])))
                reply.expect += len(theirs_only) - 1
                return
    more = min(MAX_SUMS, max(2 * k, 8))
    fallback = limits.ID_BYTES * mine if mine <= MAX_LIST_IDS else _SPLIT_BYTES
    if k < MAX_SUMS and SUM_BYTES * more < fallback and _sums_fit(mine, theirs, more):
        reply.add(upper, Sums(mine, index.fingerprint(lo, hi), tuple(index.power_sums(lo, hi, more))))
        return
    _list_or_split(index, lo, hi, upper, theirs, reply)


def _on_roots(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Roots, reply: Reply) -> None:
    mine, degree = hi - lo, len(mode.coefficients)
    if mine * degree > SUMS_WORK:
        raise ProtocolViolation(f"sent a degree {degree} polynomial over {mine} items")
    roots = roots_among((1, *mode.coefficients), index.values(lo, hi))
    if len(roots) == degree:
        common = fingerprint_of(index.id_sum(lo, hi) - _id_sum(index, lo, roots), mine - degree)
        if common == mode.common:
            reply.send.update(lo + r for r in roots)
            reply.add(upper, Skip())
            return
    _list_or_split(index, lo, hi, upper, 0, reply)


def _id_sum(index: ItemIndex, lo: int, offsets: list[int]) -> int:
    return sum(int.from_bytes(index.keys[lo + r][1], "little") for r in offsets)


def _list_or_split(index: ItemIndex, lo: int, hi: int, upper: Bound, theirs: int, reply: Reply) -> None:
    """The fallback that always shrinks the problem."""
    mine = hi - lo
    if mine <= MAX_LIST_IDS:
        reply.add(upper, IdList(tuple(index.ids(lo, hi))))
    else:
        _split(index, lo, hi, upper, theirs, reply)


def _on_id_list(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: IdList, reply: Reply) -> None:
    theirs = set(mode.ids)
    mine = set()
    for position in range(lo, hi):
        item_id = index.keys[position][1]
        mine.add(item_id)
        if item_id not in theirs:
            reply.send.add(position)
    wanted = sorted(theirs - mine)
    reply.needs.extend(wanted)
    reply.size += limits.ID_BYTES * len(wanted)
    reply.expect += len(wanted)
    reply.add(upper, Skip())


def _split(index: ItemIndex, lo: int, hi: int, upper: Bound, theirs: int, reply: Reply, differences: int = 0) -> None:
    """Split ``[lo, hi)`` into fingerprinted parts, plus a cut after the
    peer's count (when the peer simply lacks my newest records, that cut
    isolates them). FANOUT parts; or, when the counts show ``differences``
    (too many for sums over the whole range), just enough parts that each
    holds about SPLIT_DIFFERENCES of them, as one-sided differences spread
    evenly."""
    count = hi - lo
    assert count > FANOUT
    parts = FANOUT
    if differences:
        parts = max(2, min(FANOUT, -(-differences // SPLIT_DIFFERENCES)))
    cuts = {lo + count * part // parts for part in range(1, parts)}
    if 0 < theirs < count:
        cuts.add(lo + theirs)
    start = lo
    for cut in sorted(cuts) + [hi]:
        bound = upper if cut == hi else index.bound_before(cut)
        reply.add(bound, Fingerprint(cut - start, index.fingerprint(start, cut)))
        start = cut


class SessionV1(SyncSession):
    """A sync session with version 1's reconcile rules and record windows."""

    rules = sys.modules[__name__]
    first_window = max_window = WINDOW
    batch_records = MAX_BATCH_RECORDS
