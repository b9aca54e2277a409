"""One reconcile step: a peer's message in, my reply out. Stateless.

A reconcile message is a list of entries covering the whole key space in
order. Each entry says something about one range; the reply answers every
range of the message with zero or more entries covering the same range, so a
side never needs to remember what it sent. A range is settled (SKIP) when both
sides know who sends what; a reply of nothing but SKIP and no needs ends the
reconciliation.

The cost of a reconciliation follows the number of differences d, not the
number of items: a few differences are solved from power sums (8 bytes
each, :mod:`.sums`); many are first cut into parts of about
PART_DIFFERENCES each, the number of parts taken from an estimate of d
(:mod:`.estimate`), and each part is sent with its sums at once, so a
difference of any size is found in the same few round trips and no solve
works on more than a small range. A part's sums have a small margin: one
that falls short (about one in twenty) is answered with the peer's own
sums, as many as may help, in the round trip its records take anyway; one
that falls short again is listed (ids, as range-based set reconciliation
does), which settles it in one step. A range where about as many records
differ as I hold (*dense*: :func:`.replies.dense`, after a partition nearly
every item of an island's) is listed by the short ids of my items
(SHORT_LIST, answered by WANT_LISTED, :mod:`.replies`): solving costs about
what checking a record's signature costs per difference and saves no bytes
there, while a short list costs 16 bytes an item and no arithmetic.

The initiator opens with one entry for its whole set (:func:`opening`): its
ID_LIST when it holds at most LIST_IDS items, its SUMS with SUMS_SLACK sums
and stratum counts from ESTIMATE_FROM items (one record missing on each side
is solved at once, and the counts say how much differs before any split),
else its FINGERPRINT.

Rules for a FINGERPRINT(c_o, fp_o) received, where I hold c_m items in the
range (first rule that applies wins):

1. fingerprints and counts equal: SKIP.
2. c_o == 0: I send all my items in the range; SKIP.
3. c_m == 0: reply ID_LIST() (I hold nothing; the peer sends all).
4. c_m != c_o, k = |c_m - c_o| + 1 sums fit (MAX_SUMS, SUMS_WORK, and worth
   their CPU: SUMS_EFFORT): if I hold more and the range is smaller than
   ESTIMATE_FROM, WANT_SUMS(k) (I solve, and send my extras without a ROOTS
   round); otherwise my SUMS with k sums and, for a large range, stratum
   counts, so that a peer whose solve fails (the difference was not
   one-sided) cuts the range at once. One-sided differences are the common
   case, and the counts give their number.
5. c_m == c_o and the range is smaller than ESTIMATE_FROM: my SUMS with
   SUMS_SLACK sums (one record missing on each side).
6. c_m <= LIST_IDS: reply my ID_LIST.
7. an opening (the only entry that is not SKIP) from a peer that holds
   fewer (at most MAX_SHORT_IDS), dense for the peer with d = c_m - c_o:
   echo my FINGERPRINT, so that the peer lists (8) its fewer items.
8. dense with d = |c_m - c_o|: my SHORT_LIST.
9. c_o <= LIST_IDS, or I hold fewer: echo my FINGERPRINT, so that the peer
   lists (6, 8) or, holding more, splits (10).
10. estimating split: my items cut into ESTIMATE_PARTS equal parts plus a cut
   after my first c_o items (when the peer simply lacks my newest records,
   that cut isolates them); each part is described (see below) with its
   stratum counts and one sum, or, when c_m == c_o (a two-sided difference
   of unknown size), ESTIMATE_SUMS sums, and the last part is halved while
   its halves hold STRATA_FROM items or more (differences cluster among the
   newest records). Fingerprints instead of sums when the message has no
   work left for them.

A part is *described* by an ID_LIST when it holds at most LIST_IDS items and
the list is no larger than its sums, else by SUMS; the parts of an
estimating split carry stratum counts (unless listed), those of a fine
split none, and a whole range's SUMS carries them when it holds STRATA_FROM
items or more.

WANT_SUMS(k) is answered with my SUMS (k sums, stratum counts as above).

SUMS(c_o, fp_o, k sums, strata) received:

1. counts and fingerprints equal: SKIP. c_m == 0: ID_LIST().
2. |c_m - c_o| < k: decode (:func:`.sums.difference_polynomials`). If I find
   exactly s of my items and the peer has no extras and the fingerprint of
   my other items equals the peer's: I send those; SKIP. If the peer has
   extras: I send mine and reply ROOTS (the polynomial whose roots are the
   peer's extras, and the fingerprint of what we share).
3. The only entry of its message that is not SKIP (an opening), with
   stratum counts, over ESTIMATE_FROM items or more, and the estimate d
   (below) too large for the whole range's sums (d counting as not exact
   when k sums were enough for it and failed): when d is exact, I hold
   more and the range is dense for the peer, echo my FINGERPRINT (the peer
   lists its fewer items); else my SHORT_LIST when the range is dense for
   me; else echo my FINGERPRINT when d is exact and I hold
   fewer (the peer's estimating split cuts after my count), else an
   estimating split (FINGERPRINT rule 10, one sum per part).
   A small difference costs no split.
4. Otherwise estimate d: from the stratum counts when the peer sent them
   (the SUMS of one message that carry them estimated together,
   :func:`.estimate.estimate_parts`); else |c_m - c_o|, taken as exact, when
   that is k or more (nothing was solved); else 2k. Never below |c_m - c_o|.
   Then *resolve* the range: a part of a fine split that fell short (no
   stratum counts, more than ESTIMATE_SUMS sums, at most PREFIX_POWERS) gets
   my SUMS with min(MAX_SUMS, c_m + c_o + 1) sums when they are smaller than
   my list and within RETRY_EFFORT; else ID_LIST if I hold at most LIST_IDS items, or at
   most LIST_FAILED and the peer sent no stratum counts and more than
   ESTIMATE_SUMS sums (a part whose sums were sized by an estimate); else
   when d is exact, I hold more and the range is dense for the peer, my
   FINGERPRINT (the peer lists); else my SHORT_LIST when the range is
   dense; else my SUMS with d + 1 +
   EXACT_SLACK sums (exact d) or ``sums_for(d)`` (at most PREFIX_POWERS)
   if that is more than k and fits; else, when d is
   exact, fingerprints of parts of about EXACT_PART_DIFFERENCES differences
   each; else a **fine split**: about d / PART_DIFFERENCES equal parts
   (plus the cut after c_o items, and, for the range of the newest items,
   the last part halved again and again), each described with the sums its
   share of d needs (:func:`.estimate.part_sums`), as many parts as the
   message has room for.

SHORT_LIST received: I send my items whose short ids it lacks and name the
listed items I lack by their bits (WANT_LISTED), or SKIP. WANT_LISTED
received: I send the items it names (SKIP).

ROOTS received: I send my items that are its roots if there are exactly as
many as its degree and the rest matches the common fingerprint (SKIP), else
resolve with d = twice the degree. An ID_LIST settles its range: I send what
it lacks and name what I lack in ``needs``.

Every fallback grows k on the same range, shrinks the range or lists it, so
reconciliation ends. A reply's size stays under MAX_RECONCILE_BYTES and the
work it asks of the peer under :data:`.work.SEND_WORK`: a split gets fewer
parts when room runs short, and the entries that no longer fit are folded
into one FINGERPRINT of the rest, resolved in later rounds.
"""

from __future__ import annotations

from protocol import limits
from protocol.sync import (
    INF,
    MAX_SHORT_IDS,
    MAX_SUMS,
    Bound,
    Entry,
    Fingerprint,
    IdList,
    Reconcile,
    Roots,
    ShortList,
    Skip,
    Sums,
    WantListed,
    WantSums,
)

from .estimate import estimate, estimate_parts
from .items import ItemIndex, fingerprint_of
from .replies import LIST_IDS, Reply, add_short_list, add_sums, answer_short_list, answer_want_listed, dense
from .splits import ESTIMATE_SUMS, estimating_split, resolve, sums_fit, whole_sums_fit
from .sums import difference_polynomials, roots_among
from .work import SUMS_WORK, check_message, message_work

__all__ = ["message_work", "opening", "respond"]  # the rules a session runs (message_work: what a message costs)

#: Ranges with equal counts at least this large are answered with an
#: estimating split instead of SUMS_SLACK sums: a large range with equal
#: counts and different fingerprints hides a two-sided difference of unknown
#: size, which one round of sums would rarely solve.
ESTIMATE_FROM = 2048

#: Ranges up to this many items are solved with all their sums, not all
#: but one (see :func:`.sums.difference_polynomials`): a wrong answer costs
#: a search for roots among at most this many values (a few ms), and the
#: parts of a fine split, sized for it (:func:`.estimate.part_sums`), need
#: a sum less each.
UNCHECKED_RANGE = 2048

#: Sums asked for a range whose counts are equal but fingerprints differ: the
#: least that can find one record missing on each side.
SUMS_SLACK = 2


def opening(index: ItemIndex, below: int | None = None) -> list[Entry]:
    """The initiator's first message: one entry for everything, its id list
    when short, its sums and stratum counts when large (as long as a peer
    holding one item more may solve them within SUMS_WORK), else its
    fingerprint. With ``below`` (a Lamport counter, see
    :mod:`.horizon`), only the items below it are reconciled: the range above
    is SKIP from the start."""
    count = len(index) if below is None else index.locate(Bound(below))
    upper = INF if count == len(index) else Bound(below)
    entries = []
    if count <= LIST_IDS:
        entries.append(Entry(upper, IdList(tuple(index.ids(0, count)))))
    elif ESTIMATE_FROM <= count and (count + SUMS_SLACK - 1) * SUMS_SLACK <= SUMS_WORK:
        sums = Sums(count, index.fingerprint(0, count), tuple(index.power_sums(0, count, SUMS_SLACK)), index.strata(0, count))
        entries.append(Entry(upper, sums))
    else:
        entries.append(Entry(upper, Fingerprint(count, index.fingerprint(0, count))))
    if upper is not INF:
        entries.append(Entry(INF, Skip()))
    return entries


def respond(index: ItemIndex, message: Reconcile) -> Reply:
    """My reply to ``message``. Raises ProtocolViolation for requests no
    honest peer makes (sums beyond SUMS_WORK, a message asking for more than
    MAX_MESSAGE_WORK: :class:`.work.TooMuchWork`), before solving anything."""
    uppers = [index.locate(entry.upper) for entry in message.entries]
    check_message(message.entries, [hi - lo for lo, hi in zip([0, *uppers], uppers)])
    reply = Reply()
    alone = sum(not isinstance(entry.mode, Skip) for entry in message.entries) == 1
    estimates = _estimates(index, message.entries, uppers)
    for item_id in message.needs:
        position = index.position(item_id)
        if position is not None:
            reply.send.add(position)
    lo = 0
    for number, (entry, hi) in enumerate(zip(message.entries, uppers)):
        if number and reply.full():
            count = len(index) - lo
            reply.add(INF, Fingerprint(count, index.fingerprint(lo, len(index))))
            return reply
        _answer(index, lo, hi, entry, reply, alone, estimates.get(number))
        lo = hi
    return reply


def _estimates(index: ItemIndex, entries: tuple[Entry, ...], uppers: list[int]) -> dict[int, tuple[int, bool]]:
    """Estimated differences of the entries that carry stratum counts,
    estimated together (:func:`.estimate.estimate_parts`), by entry number."""
    numbers, parts = [], []
    lo = 0
    for number, (entry, hi) in enumerate(zip(entries, uppers)):
        mode = entry.mode
        if isinstance(mode, Sums) and mode.strata and hi > lo and not (
            hi - lo == mode.count and index.fingerprint(lo, hi) == mode.fingerprint
        ):
            numbers.append(number)
            parts.append((index.strata(lo, hi), mode.strata, max(hi - lo, mode.count)))
        lo = hi
    return dict(zip(numbers, estimate_parts(parts))) if parts else {}


def _answer(
    index: ItemIndex, lo: int, hi: int, entry: Entry, reply: Reply, alone: bool, estimated: tuple[int, bool] | None
) -> None:
    mode = entry.mode
    if isinstance(mode, Skip):
        reply.add(entry.upper, mode)
    elif isinstance(mode, Fingerprint):
        _on_fingerprint(index, lo, hi, entry.upper, mode, reply, alone=alone)
    elif isinstance(mode, WantSums):
        add_sums(index, lo, hi, entry.upper, mode.k, hi - lo, reply)
    elif isinstance(mode, Sums):
        _on_sums(index, lo, hi, entry.upper, mode, reply, alone=alone, estimated=estimated)
    elif isinstance(mode, Roots):
        _on_roots(index, lo, hi, entry.upper, mode, reply)
    elif isinstance(mode, ShortList):
        answer_short_list(index, lo, hi, entry.upper, mode, reply)
    elif isinstance(mode, WantListed):
        answer_want_listed(lo, hi, entry.upper, mode, reply)
    else:
        assert isinstance(mode, IdList)
        _on_id_list(index, lo, hi, entry.upper, mode, reply)


def _on_fingerprint(
    index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Fingerprint, reply: Reply, *, alone: bool = False
) -> None:
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
    elif mine != theirs and sums_fit(mine, theirs, abs(mine - theirs) + 1):
        k = abs(mine - theirs) + 1
        if mine > theirs and mine < ESTIMATE_FROM:
            reply.add(upper, WantSums(k))
            reply.work += theirs * k // 2
        else:
            add_sums(index, lo, hi, upper, k, theirs, reply)
            reply.expect += theirs - mine
    elif mine == theirs and mine < ESTIMATE_FROM and sums_fit(mine, theirs, SUMS_SLACK):
        add_sums(index, lo, hi, upper, SUMS_SLACK, theirs, reply)
    elif mine <= LIST_IDS:
        reply.add(upper, IdList(tuple(index.ids(lo, hi))))
    elif alone and theirs < mine and theirs <= MAX_SHORT_IDS and dense(theirs, mine - theirs):
        # An opening from a peer that lacks records and holds few: its
        # short ids cost fewer bytes than mine, and its reply has room for
        # them. My fingerprint tells it the difference, and it lists.
        reply.add(upper, Fingerprint(mine, own))
    elif dense(mine, abs(mine - theirs)) and add_short_list(index, lo, hi, upper, reply):
        pass
    elif theirs <= LIST_IDS or mine < theirs:
        reply.add(upper, Fingerprint(mine, own))
    else:
        estimating_split(index, lo, hi, upper, theirs, reply, two_sided=mine == theirs)


def _on_sums(
    index: ItemIndex,
    lo: int,
    hi: int,
    upper: Bound,
    mode: Sums,
    reply: Reply,
    *,
    alone: bool = False,
    estimated: tuple[int, bool] | None = None,
) -> None:
    mine, theirs, k = hi - lo, mode.count, len(mode.sums)
    if mine == theirs and index.fingerprint(lo, hi) == mode.fingerprint:
        reply.add(upper, Skip())
        return
    if mine == 0:
        reply.add(upper, IdList(()))
        reply.expect += theirs
        return
    if abs(mine - theirs) < k and _solved(index, lo, hi, upper, mode, reply):
        return
    if mode.strata:
        differences, exact = estimated or estimate(index.strata(lo, hi), mode.strata)
    elif abs(mine - theirs) >= k:  # not solved: take the counts' word that one side lacks records
        differences, exact = abs(mine - theirs), True
    else:
        differences, exact = 2 * k, False
    # k sums were enough for the difference the counts show, and failed:
    # more differ than they show (a pair hidden in one stratum).
    belied = exact and abs(mine - theirs) < k and differences < k
    differences = max(differences, abs(mine - theirs), k if abs(mine - theirs) < k else 0)
    if alone and mode.strata and mine >= ESTIMATE_FROM and not whole_sums_fit(mine, theirs, differences, exact):
        # The sums of a whole large range (an opening): the estimate says how
        # much differs, not where; the parts' stratum counts will. When the
        # peer simply holds more, its split can cut after my count and
        # isolate its newest records: I echo my fingerprint for it. When
        # about as many records differ as one side holds, that side's short
        # ids settle it: the peer's, when it lacks records and holds fewer
        # (I echo my fingerprint, and it lists), else mine.
        if belied:  # echoing my fingerprint would bring the same sums again, and again
            exact = False
        if exact and mine > theirs and theirs <= MAX_SHORT_IDS and dense(theirs, differences):
            reply.add(upper, Fingerprint(mine, index.fingerprint(lo, hi)))
            return
        if dense(mine, differences) and add_short_list(index, lo, hi, upper, reply):
            return
        if exact and mine < theirs:
            reply.add(upper, Fingerprint(mine, index.fingerprint(lo, hi)))
        else:
            estimating_split(index, lo, hi, upper, theirs, reply, two_sided=not exact, large=True)
        return
    listable = not mode.strata and k > ESTIMATE_SUMS  # a part of a fine split, its sums sized by an estimate
    resolve(index, lo, hi, upper, theirs, reply, differences, exact, tried=k, listable=listable)


def _solved(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Sums, reply: Reply) -> bool:
    """Decode the range from both sides' sums; on success reply (SKIP, or
    ROOTS for the peer's extras), mark mine to send, and return True."""
    mine, theirs, k = hi - lo, mode.count, len(mode.sums)
    checked = max(mine, theirs) > UNCHECKED_RANGE
    solved = difference_polynomials(index.power_sums(lo, hi, k), mode.sums, mine - theirs, checked=checked)
    if solved is None:
        return False
    mine_only, theirs_only = solved
    roots = roots_among(mine_only, index.values(lo, hi))
    if len(roots) != len(mine_only) - 1:
        return False
    common = fingerprint_of(index.id_sum(lo, hi) - _id_sum(index, lo, roots), mine - len(roots))
    if len(theirs_only) == 1 and common == mode.fingerprint:
        reply.send.update(lo + r for r in roots)
        reply.add(upper, Skip())
        return True
    if len(theirs_only) > 1:
        reply.send.update(lo + r for r in roots)
        reply.add(upper, Roots(common, tuple(theirs_only[1:])))
        reply.expect += len(theirs_only) - 1
        reply.work += theirs * len(theirs_only)
        return True
    return False


def _on_roots(index: ItemIndex, lo: int, hi: int, upper: Bound, mode: Roots, reply: Reply) -> None:
    mine, degree = hi - lo, len(mode.coefficients)
    roots = roots_among((1, *mode.coefficients), index.values(lo, hi))
    if len(roots) == degree:
        common = fingerprint_of(index.id_sum(lo, hi) - _id_sum(index, lo, roots), mine - degree)
        if common == mode.common:
            reply.send.update(lo + r for r in roots)
            reply.add(upper, Skip())
            return
    resolve(index, lo, hi, upper, 0, reply, 2 * degree, False, tried=MAX_SUMS, listable=True)


def _id_sum(index: ItemIndex, lo: int, offsets: list[int]) -> int:
    return sum(int.from_bytes(index.keys[lo + r][1], "little") for r in offsets)


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


