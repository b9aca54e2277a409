"""Estimating how many records differ in a range from stratum counts."""

from __future__ import annotations

import hashlib
import random

import pytest

from meshpantry.core.sync.estimate import estimate, estimate_parts, part_sums, sums_for
from meshpantry.core.sync.items import PREFIX_POWERS
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


def test_sums_of_a_fine_split_part_have_a_margin_of_one_deviation_within_the_cheap_sums():
    assert part_sums(0) == 2
    assert part_sums(10) == 15  # 10 + sqrt(10) decodable (a small range is solved with all its sums)
    assert part_sums(100) == PREFIX_POWERS
    assert [part_sums(e) for e in range(30)] == sorted(part_sums(e) for e in range(30))


def _two_sided_parts(sizes: list[int], differences: list[int], seed: int) -> list[tuple[tuple[int, ...], tuple[int, ...], int]]:
    parts = []
    for number, (size, differ) in enumerate(zip(sizes, differences)):
        ids = _ids(size + differ, seed * 100 + number)
        half = differ // 2
        mine, theirs = ids[half:], ids[: len(ids) - (differ - half)]
        parts.append((_strata(mine), _strata(theirs), size))
    return parts


def test_parts_with_differences_spread_at_random_share_one_estimate():
    """Sixteen parts of 2,000 items, 200 differences each: one part's spread
    is off by 37%, the pooled density by about 9%, so every part gets the
    same estimate, close to 200 and a little above it."""
    errors_alone, errors_pooled = [], []
    for seed in range(4):
        parts = _two_sided_parts([2_000] * 16, [200] * 16, seed)
        pooled = estimate_parts(parts)
        alone = [estimate(mine, theirs) for mine, theirs, _ in parts]
        assert not any(exact for _, exact in pooled)
        assert len({d for d, _ in pooled}) == 1
        errors_pooled += [abs(d - 200) for d, _ in pooled]
        errors_alone += [abs(d - 200) for d, _ in alone]
    assert sum(errors_pooled) < sum(errors_alone) / 2


def test_parts_with_clustered_differences_keep_their_own_estimates():
    """Eight parts hold 4 differences each and the newest holds 400: no
    single density fits them, so each keeps its own estimate."""
    parts = _two_sided_parts([2_000] * 9, [4] * 8 + [400], seed=1)
    assert estimate_parts(parts) == [estimate(mine, theirs) for mine, theirs, _ in parts]
