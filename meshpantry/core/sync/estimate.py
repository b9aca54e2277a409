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

The larger of the two is the estimate. It decides how finely a range is cut
so that each part holds about PART_DIFFERENCES differences, and how many sums
each part carries (:func:`sums_for`): enough that a part fails to decode
rarely, in which case it is listed.
"""

from __future__ import annotations

import math
from typing import Sequence

from protocol.sync import MAX_SUMS, STRATA

#: Differences a part of a split should hold when their number is an
#: estimate. Each part goes out with its sums at once, enough for a Poisson
#: spread around this mean (sums_for(5) = 14): at most PREFIX_POWERS sums
#: keep both sides on the fast path (prefix columns, remembered powers),
#: where more sums per part cost eight times the CPU per item.
PART_DIFFERENCES = 5

#: Differences a part should hold when their number is exact (one side
#: lacks records): the parts go out as fingerprints, whose counts then give
#: each part's difference exactly and the peer answers with just enough sums
#: (k = d + 1 <= 16): ~12 bytes per difference in all.
EXACT_PART_DIFFERENCES = 12

#: Factor on an estimate from the variance of the stratum counts, which can
#: fall short by a third; an exact (one-sided) estimate is used as it is.
ESTIMATE_MARGIN = 1.25

#: Most spread, relative to the lower bound, that a one-sided difference
#: shows (its spread estimates d with a standard deviation of 37%, so 1.5 d
#: is passed about once in eleven). A difference of 600 on one side and 400
#: on the other has all strata of one sign but a spread five times its
#: lower bound: it is two-sided, and must not be taken as exact.
ONE_SIDED_SPREAD = 1.5

#: Standard deviations of margin on a part's differences, which spread like
#: a Poisson count around their mean: a part has more than ``e + 3 sqrt(e)
#: + 1`` differences about once in 300.
SPREAD = 3


def estimate(mine: Sequence[int], theirs: Sequence[int]) -> tuple[int, bool]:
    """``(d, exact)`` from both sides' stratum counts of one range: the
    estimated number of records held by one side only, and whether it is
    taken as exact (no two strata differ in opposite directions, and the
    spread is what a one-sided difference shows)."""
    assert len(mine) == len(theirs) == STRATA
    deltas = [a - b for a, b in zip(mine, theirs)]
    lower = sum(map(abs, deltas))
    mean = sum(deltas) / STRATA
    spread = STRATA / (STRATA - 1) * sum((delta - mean) ** 2 for delta in deltas)
    if lower == abs(sum(deltas)) and spread <= ONE_SIDED_SPREAD * lower + 4:
        return lower, True  # no stratum disagrees in sign, and no more spread than one side's
    return max(lower, math.ceil(spread * ESTIMATE_MARGIN)), False


def sums_for(expected: float) -> int:
    """Sums to send for a range expected to hold ``expected`` differences
    spread at random: decodes ``expected + SPREAD sqrt(expected) + 1``
    (one more sum checks the answer), at least 2, at most MAX_SUMS."""
    return max(2, min(MAX_SUMS, math.ceil(expected + SPREAD * math.sqrt(expected)) + 2))
