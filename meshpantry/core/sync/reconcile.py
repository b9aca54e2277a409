"""One reconcile step: a peer's message in, my reply out. Stateless.

A reconcile message is a list of entries covering the whole key space in
order. Each entry says something about one range; the reply answers every
range of the message with zero or more entries covering the same range, so a
side never needs to remember what it sent. A range is settled (SKIP) when both
sides know who sends what; a reply of nothing but SKIP and no needs ends the
reconciliation.

Rules for a FINGERPRINT(c_o, fp_o) received, where I hold c_m items in the
range (first rule that applies wins):

1. fingerprints and counts equal: SKIP.
2. c_o == 0: I send all my items in the range; SKIP.
3. c_m == 0: reply ID_LIST() (I hold nothing; the peer sends all).
4. 1 <= |c_m - c_o| <= MAX_SUMS and the work fits SUMS_WORK: if I hold more,
   WANT_SUMS(c_m - c_o); if fewer, my SUMS with k = c_o - c_m (the holder of
   more decodes, see :mod:`.sums`).
5. c_m <= MAX_LIST_IDS: reply my ID_LIST.
6. c_o <= MAX_LIST_IDS, or I hold fewer: echo my FINGERPRINT, so that the peer
   lists (5) or, holding more, splits (7).
7. split my items into FANOUT buckets, plus a cut after my first c_o items
   (when the peer simply lacks my newest records, that cut isolates them).

WANT_SUMS(k) is answered with SUMS. SUMS is decoded if counts differ by k; on
success the roots are sent and the range is SKIP, otherwise the range is
listed (5) or split (7), never echoed, so every fallback shrinks the range.
An ID_LIST settles its range: I send what it lacks and name what I lack in
``needs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import limits
from protocol.sync import (
    INF,
    MAX_LIST_IDS,
    MAX_RECONCILE_BYTES,
    MAX_SUMS,
    MAX_ENTRIES,
    SUM_BYTES,
    Bound,
    Entry,
    Fingerprint,
    IdList,
    Mode,
    Reconcile,
    Skip,
    Sums,
    WantSums,
)

from .errors import ProtocolViolation
from .items import ItemIndex, fingerprint_of, sum_value
from .sums import missing_polynomial, roots_among

#: Sub-ranges per split. 16 cuts 100,000 items to ~24 in three levels; each
#: entry costs ~22 bytes, so a split is ~350 bytes.
FANOUT = 16

#: Most field multiplications (items x sums) one range may cost either side:
#: a whole 100,000-item set with k = 2, about 0.1 s of Python.
SUMS_WORK = 1 << 18

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
    return 2


def opening(index: ItemIndex) -> list[Entry]:
    """The initiator's first message: one fingerprint of everything, or the
    whole id list when it is short."""
    count = len(index)
    if count <= MAX_LIST_IDS:
        return [Entry(INF, IdList(tuple(index.ids(0, count))))]
    return [Entry(INF, Fingerprint(count, index.fingerprint(0, count)))]


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
    elif 1 <= abs(mine - theirs) <= MAX_SUMS and max(mine, theirs) * abs(mine - theirs) <= SUMS_WORK:
        if mine > theirs:
            reply.add(upper, WantSums(mine - theirs))
        else:
            k = theirs - mine
            reply.add(upper, Sums(mine, own, tuple(index.power_sums(lo, hi, k))))
            reply.expect += k
    elif mine <= MAX_LIST_IDS:
        reply.add(upper, IdList(tuple(index.ids(lo, hi))))
    elif theirs <= MAX_LIST_IDS or mine < theirs:
        reply.add(upper, Fingerprint(mine, own))
    else:
        _split(index, lo, hi, upper, theirs, reply)


def _on_sums(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Sums, reply: Reply) -> None:
    mine, theirs, k = hi - lo, mode.count, len(mode.sums)
    if mine == theirs and index.fingerprint(lo, hi) == mode.fingerprint:
        reply.add(upper, Skip())
        return
    if mine - theirs == k:
        if mine * k > SUMS_WORK:
            raise ProtocolViolation(f"sent {k} sums over a range where I hold {mine} items")
        polynomial = missing_polynomial(index.power_sums(lo, hi, k), mode.sums)
        values = [sum_value(item_id) for _lamport, item_id in index.keys[lo:hi]]
        roots = roots_among(polynomial, values)
        if len(roots) == k:
            rest = index.id_sum(lo, hi) - sum(int.from_bytes(index.keys[lo + r][1], "little") for r in roots)
            if fingerprint_of(rest, theirs) == mode.fingerprint:
                reply.send.update(lo + r for r in roots)
                reply.add(upper, Skip())
                return
    if theirs == 0:
        reply.send.update(range(lo, hi))
        reply.add(upper, Skip())
    elif mine == 0:
        reply.add(upper, IdList(()))
        reply.expect += theirs
    elif mine <= MAX_LIST_IDS:
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


def _split(index: ItemIndex, lo: int, hi: int, upper: Bound, theirs: int, reply: Reply) -> None:
    count = hi - lo
    assert count > FANOUT
    cuts = {lo + count * part // FANOUT for part in range(1, FANOUT)}
    if 0 < theirs < count:
        cuts.add(lo + theirs)
    start = lo
    for cut in sorted(cuts) + [hi]:
        bound = upper if cut == hi else index.bound_before(cut)
        reply.add(bound, Fingerprint(cut - start, index.fingerprint(start, cut)))
        start = cut
