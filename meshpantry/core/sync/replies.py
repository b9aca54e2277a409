"""A reply under construction, and the ways a side describes a range in it.

:class:`Reply` collects the entries answering a reconcile message with their
estimated size on the wire and the work they ask of the peer (see
:mod:`.work`), so the rules of :mod:`.reconcile` can tell how much room is
left. :func:`add_sums` describes a range by its count, fingerprint, power
sums and (for large ranges) stratum counts; :func:`split` cuts a range into
parts and describes each by a fingerprint, an id list or its sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from protocol import limits
from protocol.sync import (
    MAX_ENTRIES,
    MAX_LIST_IDS,
    MAX_RECONCILE_BYTES,
    MAX_SHORT_IDS,
    MAX_SUMS,
    SHORT_ID_BYTES,
    SUM_BYTES,
    Bound,
    Entry,
    Fingerprint,
    IdList,
    Mode,
    Roots,
    ShortList,
    Skip,
    Sums,
    WantListed,
)

from .errors import ProtocolViolation
from .items import PREFIX_POWERS, ItemIndex
from .work import SEND_WORK, SUMS_WORK, sums_work

#: A range this small is listed (32 ids cost about three records' bytes)
#: when its sums do not fit or failed.
LIST_IDS = 32

#: A whole range this large carries stratum counts with its sums (16
#: varints, ~32 bytes), so that a failed solve knows how finely to cut it
#: instead of listing 256 ids (8 KB) or splitting blindly.
STRATA_FROM = 256

#: Most items per difference a range may hold for a side to describe it by
#: the short ids of its items (SHORT_LIST) rather than by sums: at 1.5, the
#: list's 16 bytes an item cost about what sums, roots and their parts cost
#: per difference (~25 bytes), and no arithmetic at all, where solving costs
#: about as much CPU per difference as checking a record's signature.
DENSE_ITEMS = 1.5

#: Bytes of an entry besides its mode's payload (bound and mode byte).
_ENTRY_BYTES = 6

#: Largest size one entry can add to a message (an ID_LIST with its needs).
_MAX_ENTRY_BYTES = 2 * MAX_LIST_IDS * limits.ID_BYTES + 64

#: Entries kept free in a message: the parts of one estimating split and the
#: fold of the rest.
_ENTRY_MARGIN = 40


@dataclass
class Reply:
    """What a reconcile step decided."""

    entries: list[Entry] = field(default_factory=list)
    needs: list[bytes] = field(default_factory=list)
    send: set[int] = field(default_factory=set)  #: positions of my items to send
    expect: int = 0  #: records the peer will probably send us for this step
    size: int = 0  #: estimated encoded size of entries and needs
    work: int = 0  #: estimated units of work the entries ask of the peer

    @property
    def settled(self) -> bool:
        """True when the reply says nothing: every range SKIP, no needs."""
        return not self.needs and all(isinstance(e.mode, Skip) for e in self.entries)

    def add(self, upper: Bound, mode: Mode) -> None:
        if isinstance(mode, Skip) and self.entries and isinstance(self.entries[-1].mode, Skip):
            self.entries[-1] = Entry(upper, mode)
            return
        self.entries.append(Entry(upper, mode))
        self.size += _ENTRY_BYTES + len(upper.prefix) + _mode_size(mode)

    def full(self) -> bool:
        return (
            self.size + _MAX_ENTRY_BYTES > MAX_RECONCILE_BYTES
            or len(self.entries) + _ENTRY_MARGIN > MAX_ENTRIES
            or self.work > SEND_WORK
        )

    def room(self, part_bytes: int) -> int:
        """How many more entries of this size fit the message."""
        by_size = (MAX_RECONCILE_BYTES - _MAX_ENTRY_BYTES - self.size) // max(1, part_bytes)
        return max(0, min(by_size, MAX_ENTRIES - _ENTRY_MARGIN - len(self.entries)))


def _mode_size(mode: Mode) -> int:
    if isinstance(mode, Fingerprint):
        return 20
    if isinstance(mode, IdList):
        return 2 + limits.ID_BYTES * len(mode.ids)
    if isinstance(mode, Sums):
        return 23 + SUM_BYTES * len(mode.sums) + 2 * len(mode.strata)
    if isinstance(mode, Roots):
        return 20 + SUM_BYTES * len(mode.coefficients)
    if isinstance(mode, ShortList):
        return 4 + SHORT_ID_BYTES * len(mode.ids)
    if isinstance(mode, WantListed):
        return 4 + len(mode.bits)
    return 2


def add_sums(
    index: ItemIndex, lo: int, hi: int, upper: Bound, k: int, theirs: int, reply: Reply, *, strata: bool | None = None
) -> None:
    """My SUMS of ``[lo, hi)`` with ``k`` sums, and stratum counts if
    ``strata`` (by default when the range holds STRATA_FROM items or more);
    ``theirs`` is the peer's count there, or my guess."""
    mine = hi - lo
    if strata is None:
        strata = mine >= STRATA_FROM
    counts = index.strata(lo, hi) if strata else ()
    reply.add(upper, Sums(mine, index.fingerprint(lo, hi), tuple(index.power_sums(lo, hi, k)), counts))
    reply.work += sums_work(mine + k - 1, mine, k)  # the most a peer that can solve it may hold


def split(
    index: ItemIndex,
    lo: int,
    hi: int,
    upper: Bound,
    theirs: int,
    reply: Reply,
    parts: int,
    sums_of: Callable[[int], int] | None,
    *,
    newest: int = 0,
    strata: bool = False,
) -> None:
    """Cut ``[lo, hi)`` into ``parts`` equal parts, plus a cut after the
    peer's count (when the peer simply lacks my newest records, that cut
    isolates them), and, with ``newest`` (a size), the last part halved
    again and again while the halves hold at least that many items; then
    describe each part: by its FINGERPRINT when ``sums_of``
    is None; else an ID_LIST when it holds at most LIST_IDS items and the
    list is no larger than its sums, or SUMS with ``sums_of(part size)``
    sums (at most PREFIX_POWERS, and what SUMS_WORK allows), with stratum
    counts if ``strata`` (an estimating split) and the part is not small."""
    count = hi - lo
    assert count >= 2
    cuts = {lo + count * part // parts for part in range(1, parts)}
    if 0 < theirs < count:
        cuts.add(lo + theirs)
    if newest:  # halve the last part again and again: differences cluster among the newest
        tail = count // parts // 2
        while tail >= newest:
            cuts.add(hi - tail)
            tail //= 2
    cuts.discard(lo)
    start = lo
    for cut in sorted(cuts) + [hi]:
        bound = upper if cut == hi else index.bound_before(cut)
        size = cut - start
        if sums_of is None:
            reply.add(bound, Fingerprint(size, index.fingerprint(start, cut)))
            start = cut
            continue
        k = max(1, min(sums_of(size), PREFIX_POWERS, SUMS_WORK // (size + MAX_SUMS)))
        if size <= LIST_IDS and limits.ID_BYTES * size <= SUM_BYTES * k + 20:
            reply.add(bound, IdList(tuple(index.ids(start, cut))))
        else:
            add_sums(index, start, cut, bound, k, size, reply, strata=strata and size > LIST_IDS)
        start = cut


def dense(mine: int, differences: int) -> bool:
    """Whether a range where I hold ``mine`` items and about ``differences``
    records differ is best described by my short ids (see DENSE_ITEMS):
    more than LIST_IDS items (fewer are listed whole), and few enough per
    difference."""
    return LIST_IDS < mine <= DENSE_ITEMS * differences


def add_short_list(index: ItemIndex, lo: int, hi: int, upper: Bound, reply: Reply) -> bool:
    """My SHORT_LIST of ``[lo, hi)``, in entries of at most MAX_SHORT_IDS
    items, if the message has room for it; returns whether it was added."""
    mine = hi - lo
    entries = -(-mine // MAX_SHORT_IDS)
    if reply.size + SHORT_ID_BYTES * mine + 48 * entries + _MAX_ENTRY_BYTES > MAX_RECONCILE_BYTES:
        return False
    if len(reply.entries) + entries + _ENTRY_MARGIN > MAX_ENTRIES:
        return False
    start = lo
    while start < hi:
        cut = min(hi, start + MAX_SHORT_IDS)
        bound = upper if cut == hi else index.bound_before(cut)
        reply.add(bound, ShortList(tuple(item_id[:SHORT_ID_BYTES] for item_id in index.ids(start, cut))))
        start = cut
    return True


def answer_short_list(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: ShortList, reply: Reply) -> None:
    """The peer listed the short ids of its items in ``[lo, hi)``: I send my
    items it did not list, and name the listed ones I lack (WANT_LISTED), or
    SKIP when I lack none."""
    listed = set(mode.ids)
    held = set()
    for position, item_id in enumerate(index.ids(lo, hi), lo):
        short = item_id[:SHORT_ID_BYTES]
        held.add(short)
        if short not in listed:
            reply.send.add(position)
    wanted = [number for number, short in enumerate(mode.ids) if short not in held]
    if wanted:
        reply.add(upper, WantListed.of(len(mode.ids), wanted))
        reply.expect += len(wanted)
    else:
        reply.add(upper, Skip())


def answer_want_listed(lo: int, hi: int, upper: Bound, mode: WantListed, reply: Reply) -> None:
    """The peer names the items of my SHORT_LIST of ``[lo, hi)`` it lacks: I
    send them; the range is settled. Raises ProtocolViolation when the list
    it answers cannot be mine (another number of items)."""
    if mode.count != hi - lo:
        raise ProtocolViolation(f"WANT_LISTED of {mode.count} items over a range where I hold {hi - lo}")
    reply.send.update(lo + number for number in mode.wanted())
    reply.add(upper, Skip())
