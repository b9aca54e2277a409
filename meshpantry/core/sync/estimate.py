"""How many records differ in a range, estimated before anything is solved.

Power sums find d differences in a range cheaply when d is known and small;
solving for more than the sums cover fails and costs a round trip. So a side
that describes a large range sends, beside a few sums, its **stratum
counts**: how many of its items fall in each of STRATA classes, an item's
class being the low 4 bits of the last byte of its id (uniform and
independent of the range, since ids are SHA-256 outputs). In stratum j let
``s_j`` be the items only I hold and ``t_j`` those only the peer holds; the
difference of our counts there is ``D_j = s_j - t_j``. Then:

* ``sum |D_j| <= d`` always (each stratum hides at most its own
  differences), with equality when the difference is one-sided, which
  shows as every ``D_j`` having the same sign and a spread (below) not much
  above this bound: then the estimate is taken as exact;
* for differences spread over the strata at random, ``D_j`` has variance
  ``(s + t) / STRATA``, so ``STRATA / (STRATA - 1) * sum (D_j - mean)^2``
  estimates ``d`` within about sqrt(2 / 15), 37%, whether one side or both
  hold the extras.

The larger of the two is the estimate. The parts of one estimating split
are estimated together (:func:`estimate_parts`): where they agree with one
density of differences, each is drawn toward it. The estimate decides how
finely a range is cut so that each part holds about PART_DIFFERENCES
differences, and how many sums each part carries (:func:`part_sums`):
enough that a part fails to decode about once in twenty, in which case the
peer answers it with more sums of its own in the round trip the records
take anyway.
"""

from __future__ import annotations

import math
from typing import Sequence

from protocol.sync import MAX_SUMS, STRATA

from .items import PREFIX_POWERS

#: Differences a part of a fine split should hold when their number is an
#: estimate. Each part goes out with its sums at once, enough for one
#: standard deviation of a Poisson spread around this mean (part_sums(10)
#: = 15): at most PREFIX_POWERS sums keep both sides on the fast path
#: (prefix columns, remembered powers), where more sums per part cost eight
#: times the CPU per item. A part costs about 45 bytes besides its sums
#: (bound, count, fingerprint, and the fingerprint of the ROOTS answering
#: it), so ten differences a part, not five, bring a two-sided difference
#: from ~1.17 to ~1.10 times its records' bytes.
PART_DIFFERENCES = 10

#: Differences a part should hold when their number is exact (one side
#: lacks records): the parts go out as fingerprints, whose counts then give
#: each part's difference exactly and the peer answers with just enough sums
#: (k = d + 1 <= 16): ~12 bytes per difference in all.
EXACT_PART_DIFFERENCES = 12

#: Factor on an estimate from the variance of the stratum counts, which can
#: fall short by a third; an exact (one-sided) estimate is used as it is.
ESTIMATE_MARGIN = 1.25

#: Relative variance of one part's spread (a sample variance with 15
#: degrees of freedom: 2 / 15), besides the Poisson noise of small counts.
NOISE = 2 / 15

#: Parts of a split whose estimates are pooled: fewer tell too little about
#: how the differences are spread.
POOL_FROM = 8

#: How far, in standard deviations of its own noise, one part's density may
#: lie from the pooled one while the differences still count as spread at
#: random (a part beyond it about once in a hundred when they are).
POOL_SIGMAS = 3

#: Most spread, relative to the lower bound, that a one-sided difference
#: shows (its spread estimates d with a standard deviation of 37%, so 1.5 d
#: is passed about once in eleven). A difference of 600 on one side and 400
#: on the other has all strata of one sign but a spread five times its
#: lower bound: it is two-sided, and must not be taken as exact.
ONE_SIDED_SPREAD = 1.5

#: Standard deviations of margin on a part of a fine split: its failure
#: costs the peer's own sums (up to MAX_SUMS, fewer than the part's ids) in
#: a round trip the session takes anyway, not a list of its ids and a round
#: trip more, so a small margin is cheapest (about one part in twenty fails).
PART_SPREAD = 1

#: Standard deviations of margin on a part's differences, which spread like
#: a Poisson count around their mean: a part has more than ``e + 3 sqrt(e)
#: + 1`` differences about once in 300.
SPREAD = 3


def estimate(mine: Sequence[int], theirs: Sequence[int]) -> tuple[int, bool]:
    """``(d, exact)`` from both sides' stratum counts of one range: the
    estimated number of records held by one side only, and whether it is
    taken as exact (no two strata differ in opposite directions, and the
    spread is what a one-sided difference shows)."""
    lower, spread, exact = _measure(mine, theirs)
    if exact:
        return lower, True
    return max(lower, math.ceil(spread * ESTIMATE_MARGIN)), False


def _measure(mine: Sequence[int], theirs: Sequence[int]) -> tuple[int, float, bool]:
    """The lower bound, the spread, and whether the difference is one-sided."""
    assert len(mine) == len(theirs) == STRATA
    deltas = [a - b for a, b in zip(mine, theirs)]
    lower = sum(map(abs, deltas))
    mean = sum(deltas) / STRATA
    spread = STRATA / (STRATA - 1) * sum((delta - mean) ** 2 for delta in deltas)
    # No stratum disagrees in sign, and no more spread than one side's:
    return lower, spread, lower == abs(sum(deltas)) and spread <= ONE_SIDED_SPREAD * lower + 4


def estimate_parts(parts: Sequence[tuple[Sequence[int], Sequence[int], int]]) -> list[tuple[int, bool]]:
    """:func:`estimate` for each of the parts of one range described together
    (an estimating split), given as ``(my strata, their strata, items)``.

    One part's spread is off by 37% at one standard deviation; the parts of
    one split tell more together. When at least POOL_FROM parts are
    estimated and every part's spread agrees, within POOL_SIGMAS of its own
    noise, with one density of differences per item (differences spread at
    random), each part is given that density, known to about 37% /
    sqrt(parts), with a margin of one standard deviation of it. When any
    part disagrees (differences clustered, among the newest records for
    instance), each part keeps its own estimate."""
    out = [estimate(mine, theirs) for mine, theirs, _ in parts]
    measured = [_measure(mine, theirs) for mine, theirs, _ in parts]
    loose = [number for number, (_, _, exact) in enumerate(measured) if not exact]
    if len(loose) < POOL_FROM:
        return out
    items = [max(1, parts[number][2]) for number in loose]
    spreads = [measured[number][1] for number in loose]
    density = sum(spreads) / sum(items)
    if density <= 0:
        return out
    for spread, size in zip(spreads, items):
        noise = density * density * NOISE + density / size  # variance of one part's density
        if abs(spread / size - density) > POOL_SIGMAS * math.sqrt(noise):
            return out
    margin = 1 + math.sqrt(NOISE / len(loose))
    for number, size in zip(loose, items):
        out[number] = (max(measured[number][0], math.ceil(density * size * margin)), False)
    return out


def part_sums(expected: float) -> int:
    """Sums for a part of a fine split expected to hold ``expected``
    differences: ``expected + PART_SPREAD sqrt(expected) + 1`` decodable (a
    small range is solved with all its sums, its fingerprint checking the
    answer), at least 2, at most PREFIX_POWERS. A part that holds more is
    answered with more sums of the peer's, in the round trip its records
    take anyway."""
    return max(2, min(PREFIX_POWERS, math.ceil(expected + PART_SPREAD * math.sqrt(expected)) + 1))


def sums_for(expected: float) -> int:
    """Sums to send for a range expected to hold ``expected`` differences
    spread at random: decodes ``expected + SPREAD sqrt(expected) + 1``
    (one more sum checks the answer), at least 2, at most MAX_SUMS."""
    return max(2, min(MAX_SUMS, math.ceil(expected + SPREAD * math.sqrt(expected)) + 2))
