"""Round trips follow the size of the difference: any difference of up to
10,000 records, one-sided or two-sided, settles in at most four round trips
(eight flights in lockstep), records included."""

from __future__ import annotations

import random

import pytest

from .replicas import Link, Replica, chains


def _pair(total: int, differences: int, layout: str, seed: int = 4) -> tuple[Replica, Replica]:
    rng = random.Random(seed)
    raws = chains(total // 20, 20, rng, body_bytes=64)
    if layout in ("newest", "60/40 newest"):  # both sides wrote during an outage
        chosen = rng.sample(range(total - 2 * differences, total), differences)
    else:
        chosen = rng.sample(range(total), differences)
    cut = differences * 6 // 10 if layout == "60/40 newest" else differences // 2
    if layout == "one side":
        missing_a, missing_b = set(chosen), set()
    else:
        missing_a, missing_b = set(chosen[:cut]), set(chosen[cut:])
    a = Replica(r for i, r in enumerate(raws) if i not in missing_a)
    b = Replica(r for i, r in enumerate(raws) if i not in missing_b)
    return a, b


def _flights(a: Replica, b: Replica) -> int:
    union = a.ids | b.ids
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids == union
    return link.flights


@pytest.mark.parametrize("layout", ["spread", "newest", "60/40 newest", "one side"])
@pytest.mark.parametrize("differences", [10, 300, 2_000])
def test_a_difference_settles_in_four_round_trips(differences, layout):
    assert _flights(*_pair(20_000, differences, layout)) <= 8


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["spread", "newest", "60/40 newest", "one side"])
def test_ten_thousand_differences_in_a_hundred_thousand_settle_in_four_round_trips(layout):
    assert _flights(*_pair(100_000, 10_000, layout)) <= 8
