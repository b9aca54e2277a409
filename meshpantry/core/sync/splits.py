"""Describing a range that one step of sums cannot settle: the estimating
split, the fine split, and the retry of a part that fell short.

:func:`estimating_split` cuts a large range into ESTIMATE_PARTS parts with
their stratum counts, so that the peer learns where a difference of unknown
size lies. :func:`resolve` answers a range whose last attempt (sums, or
roots) failed: the peer's own sums again, more of them, for a part of a fine
split; a list when the range is small; more sums of the whole range when
they fit; else a split (fingerprints of parts when the difference is exact,
a fine split with sums per part when it is estimated). The rules, in the
order they apply, are in :mod:`.reconcile`.
"""

from __future__ import annotations

import math

from protocol.limits import ID_BYTES
from protocol.sync import MAX_LIST_IDS, MAX_SHORT_IDS, MAX_SUMS, SUM_BYTES, Bound, Fingerprint, IdList

from .estimate import EXACT_PART_DIFFERENCES, PART_DIFFERENCES, part_sums, sums_for
from .items import PREFIX_POWERS, ItemIndex
from .replies import LIST_IDS, STRATA_FROM, Reply, add_short_list, add_sums, dense, split
from .work import SEND_WORK, SOLVE_UNITS, SUMS_WORK

#: Parts of an estimating split. Sixteen give every part's stratum counts
#: about 6% of a large range, so a difference clustered at the newest
#: records shows in one or two parts; ~1.5 KB for the whole split.
ESTIMATE_PARTS = 16

#: Sums per part of an estimating split: solves two differences per part
#: (a small two-sided difference settles at once) and checks with the third.
ESTIMATE_SUMS = 3

#: A part of a fine split this small whose retried sums failed again, or
#: whose roots did not match, is listed: the list settles it in one step,
#: where more sums would cost another round trip and may fail again; 256
#: ids cost 8 KB, and such failures are rare (differences clustered inside
#: a part far beyond its estimate). A larger one is cut finely.
LIST_FAILED = MAX_LIST_IDS

#: Smallest part that halving the newest part of a fine split makes, so
#: that the parts where a clustered difference lands are small enough to be
#: listed at once when their sums, sized for an even spread, fail.
NEWEST_PART = 48

#: Sums beyond d + 1 for a range whose d looked exact (no two strata differ
#: in opposite directions): a small two-sided difference can look one-sided,
#: and two more sums solve one hidden pair instead of failing.
EXACT_SLACK = 2

#: Most multiplications we choose to spend on one range's sums when they are
#: more than PREFIX_POWERS (so summed item by item, on both sides), about
#: 3 ms of Python, when answering a fingerprint: a larger difference is cut
#: into parts instead. Up to PREFIX_POWERS sums an index answers from
#: its blocks' sums in O(k) per block, so only SUMS_WORK bounds them.
SUMS_EFFORT = 1 << 14

#: Most multiplications the sums of a retried part (see :func:`resolve`)
#: may cost either side, about 10 ms of Python: 64 sums over a part of
#: 1,024 items. Only the parts that fell short are retried (about one in
#: twenty), and a retry saves a round trip and the part's list.
RETRY_EFFORT = 1 << 16


def estimating_split(
    index: ItemIndex, lo: int, hi: int, upper: Bound, theirs: int, reply: Reply, *, two_sided: bool, large: bool = False
) -> None:
    """Cut a large range into ESTIMATE_PARTS parts described with their
    stratum counts, so that the peer learns where the difference lies.
    ``large``: the whole range's stratum counts already said the difference
    is too large for its sums, so a part seldom holds a difference that
    ESTIMATE_SUMS sums would solve, and one sum does."""
    # A two-sided difference: sums that solve a small one per part, and
    # parts ever smaller toward the newest records. Otherwise one side most
    # likely lacks records: the counts and stratum counts say how many per
    # part, and the peer asks for sums.
    mine = hi - lo
    sums = ESTIMATE_SUMS if two_sided and not large else 1
    newest = STRATA_FROM if two_sided else 0
    # Its parts (at most 2 ESTIMATE_PARTS with the halvings) ask the
    # peer for about 1.5 (m + parts k) k + SOLVE_UNITS k^2 per part.
    most_parts = 2 * ESTIMATE_PARTS
    work = 3 * (mine + most_parts * sums) * sums // 2 + SOLVE_UNITS * sums * sums * most_parts
    if reply.work + work > SEND_WORK:  # no room for the work: fingerprints, estimated a round later
        split(index, lo, hi, upper, theirs, reply, ESTIMATE_PARTS, None)
    else:
        split(index, lo, hi, upper, theirs, reply, ESTIMATE_PARTS, lambda part: sums, newest=newest, strata=True)


def sums_fit(mine: int, theirs: int, k: int) -> bool:
    """Whether k sums over this range are worth asking for or offering."""
    if k > MAX_SUMS or max(mine, theirs) * k > SUMS_WORK:
        return False
    return k <= PREFIX_POWERS or max(mine, theirs) * k <= SUMS_EFFORT


def whole_sums_fit(mine: int, theirs: int, differences: int, exact: bool) -> bool:
    """Whether :func:`resolve` would describe the whole range by its sums."""
    if exact:
        return sums_fit(mine, theirs, differences + 1 + EXACT_SLACK)
    return sums_for(differences) <= PREFIX_POWERS and sums_fit(mine, theirs, sums_for(differences))


def resolve(
    index: ItemIndex,
    lo: int,
    hi: int,
    upper: Bound,
    theirs: int,
    reply: Reply,
    differences: int,
    exact: bool,
    *,
    tried: int,
    listable: bool,
) -> None:
    """Settle a range about ``differences`` records apart whose last attempt
    (``tried`` sums, or roots) failed: answer a part of a fine split
    (``listable``, first sums) with as many of my sums as may help, when they
    are smaller than its list and within RETRY_EFFORT; list it when small
    (or ``listable`` and at most LIST_FAILED); sum it whole when more sums than tried fit
    (at most PREFIX_POWERS for an estimate, whose error the parts of a split
    share out), else cut it finely (each part about PART_DIFFERENCES
    differences)."""
    mine = hi - lo
    # At most mine + theirs records differ: that many sums and one to check
    # settle the range whatever it holds.
    retry = min(MAX_SUMS, mine + theirs + 1)
    first = tried <= PREFIX_POWERS  # the first sums of a fine split's part, not already a retry
    if listable and first and retry > tried and ID_BYTES * mine > SUM_BYTES * retry and max(mine, theirs) * retry <= RETRY_EFFORT:
        # A part of a fine split whose sums, sized with a small margin, fell
        # short (about one part in twenty, mostly by a few differences, but
        # by many where a cluster of differences fills part of it): my
        # sums, as many as may help, settle it in the round trip a list
        # would take, for a fraction of its bytes. A retry that fails
        # again is listed.
        add_sums(index, lo, hi, upper, retry, theirs, reply, strata=False)
        return
    if mine <= LIST_IDS or (listable and mine <= LIST_FAILED):
        reply.add(upper, IdList(tuple(index.ids(lo, hi))))
        return
    if exact and mine > theirs and theirs <= MAX_SHORT_IDS and dense(theirs, differences):
        # The peer lacks records and holds few: its short ids cost fewer
        # bytes than mine. My fingerprint tells it the difference exactly,
        # and it lists (or, without room, asks for sums or splits).
        reply.add(upper, Fingerprint(mine, index.fingerprint(lo, hi)))
        return
    if dense(mine, differences) and add_short_list(index, lo, hi, upper, reply):
        return
    k = differences + 1 + EXACT_SLACK if exact else sums_for(differences)
    if k > tried and sums_fit(mine, theirs, k) and (exact or k <= PREFIX_POWERS):
        add_sums(index, lo, hi, upper, k, theirs, reply, strata=not exact and mine >= STRATA_FROM)
        return
    if exact:
        # One-sided: fingerprints tell the peer each part's difference
        # exactly, and it answers with just enough sums.
        parts = max(2, min(math.ceil(differences / EXACT_PART_DIFFERENCES), reply.room(40), mine // 2))
        split(index, lo, hi, upper, theirs, reply, parts, None)
        return
    sums = part_sums(PART_DIFFERENCES)
    # Parts cost the peer at most 1.5 (m + parts k) k in all, plus
    # SOLVE_UNITS k^2 each, with k at most PREFIX_POWERS.
    most = PREFIX_POWERS
    by_work = (SEND_WORK - reply.work - 3 * mine * most // 2) // (SOLVE_UNITS * most * most + 3 * most * most // 2)
    parts = max(2, min(math.ceil(differences / PART_DIFFERENCES), reply.room(40 + SUM_BYTES * sums), by_work, mine // 2))
    per_item = differences / mine
    newest = NEWEST_PART if upper.infinite else 0  # the newest records, where differences cluster
    split(index, lo, hi, upper, theirs, reply, parts, lambda size: part_sums(per_item * size), newest=newest)
