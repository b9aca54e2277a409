"""Estimating how many records differ in a range from stratum counts."""

from __future__ import annotations

import hashlib
import random

import pytest

from meshpantry.core.sync.estimate import estimate, sums_for
from meshpantry.core.sync.items import ItemIndex
from protocol import sync as wire


def _ids(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [hashlib.sha256(rng.randbytes(16)).digest() for _ in range(count)]


def _strata(ids: list[bytes]) -> tuple[int, ...]:
    index = ItemIndex(sorted((1, item_id) for item_id in ids))
    return index.strata(0, len(index))


def test_stratum_of_an_item_is_the_low_bits_of_its_last_byte():
    ids = [bytes(31) + bytes([value]) for value in (0x00, 0x11, 0x1F, 0xF0)]
    counts = _strata(ids)
    assert counts[0] == 2 and counts[1] == 1 and counts[15] == 1 and sum(counts) == 4


@pytest.mark.parametrize("missing", [1, 17, 300, 2_000])
def test_a_one_sided_difference_is_counted_exactly(missing):
    ids = _ids(5_000, seed=missing)
    assert estimate(_strata(ids), _strata(ids[missing:])) == (missing, True)
    assert estimate(_strata(ids[missing:]), _strata(ids)) == (missing, True)


@pytest.mark.parametrize("differences", [200, 2_000])
def test_a_two_sided_difference_is_estimated_within_a_factor(differences):
    """Half the difference on each side: the counts alone show nothing, the
    spread of the stratum counts does (about 37% off at one standard
    deviation, and ESTIMATE_MARGIN above on average)."""
    found = []
    for seed in range(8):
        ids = _ids(10_000 + differences, seed)
        half = differences // 2
        mine, theirs = ids[half:], ids[: len(ids) - (differences - half)]
        assert len(mine) == len(theirs)
        estimated, exact = estimate(_strata(mine), _strata(theirs))
        assert not exact
        assert differences / 3 <= estimated <= 3 * differences
        found.append(estimated)
    assert 0.8 * differences <= sum(found) / len(found) <= 1.8 * differences


def test_sums_cover_a_poisson_spread_and_stay_within_the_limits():
    assert sums_for(0) == 2
    assert sums_for(5) == 14  # fits the prefix columns (16)
    assert [sums_for(e) for e in range(60)] == sorted(sums_for(e) for e in range(60))
    assert sums_for(10**6) == wire.MAX_SUMS
