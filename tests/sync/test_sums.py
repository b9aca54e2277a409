"""Finding differences from power sums: the algebra behind SUMS and ROOTS."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.sync.sums import VERIFIED_FROM, P, difference_polynomials, roots_among

values = st.integers(1, P - 1)


def _sums(items: list[int], k: int) -> list[int]:
    return [sum(pow(x, j, P) for x in items) % P for j in range(1, k + 1)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(values, max_size=40, unique=True),
    st.lists(values, max_size=6, unique=True),
    st.lists(values, max_size=6, unique=True),
    st.integers(1, 16),
)
def test_both_sides_extras_are_found_when_k_covers_them(common, mine_only, theirs_only, k):
    mine_only = [x for x in mine_only if x not in common and x not in theirs_only]
    theirs_only = [x for x in theirs_only if x not in common]
    mine, theirs = common + mine_only, common + theirs_only
    solved = difference_polynomials(_sums(mine, k), _sums(theirs, k), len(mine) - len(theirs))
    # Beyond VERIFIED_FROM sums, one sum checks the answer instead of solving.
    capacity = k if k <= VERIFIED_FROM else k - 1
    if len(mine_only) + len(theirs_only) <= capacity:
        assert solved is not None
        numerator, denominator = solved
        assert sorted(mine[i] for i in roots_among(numerator, mine)) == sorted(mine_only)
        assert sorted(theirs[i] for i in roots_among(denominator, theirs)) == sorted(theirs_only)


def test_one_sided_difference_needs_its_size_plus_one_check_in_sums():
    rng = random.Random(9)
    common = [rng.randrange(1, P) for _ in range(500)]
    extra = [rng.randrange(1, P) for _ in range(7)]
    assert difference_polynomials(_sums(common + extra, 7), _sums(common, 7), 7) is None
    solved = difference_polynomials(_sums(common + extra, 8), _sums(common, 8), 7)
    assert solved is not None
    numerator, denominator = solved
    assert denominator == [1]
    assert sorted((common + extra)[i] for i in roots_among(numerator, common + extra)) == sorted(extra)


def test_too_few_sums_do_not_fake_an_answer():
    """Ten differences, four sums: a garbage numerator of degree s >= 1 never
    has exactly s roots among my items (s = 0 is caught by the fingerprint)."""
    rng = random.Random(4)
    common = [rng.randrange(1, P) for _ in range(300)]
    mine = common + [rng.randrange(1, P) for _ in range(5)]
    theirs = common + [rng.randrange(1, P) for _ in range(5)]
    solved = difference_polynomials(_sums(mine, 4), _sums(theirs, 4), 0)
    if solved is not None:
        numerator, _ = solved
        assert len(roots_among(numerator, mine)) != len(numerator) - 1 or len(numerator) == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(3, 24), st.integers(1, 12), st.integers(0, 2**32))
def test_more_differences_than_sums_are_refused_by_the_check(k, excess, seed):
    """s + t > k - 1 differences: the held-back sum refuses the wrong answer
    (a wrong answer passes with probability about 1/P), so no root search
    over the range is wasted on it."""
    rng = random.Random(seed)
    common = [rng.randrange(1, P) for _ in range(50)]
    differences = k - 1 + excess
    mine_only = [rng.randrange(1, P) for _ in range(rng.randint(0, differences))]
    theirs_only = [rng.randrange(1, P) for _ in range(differences - len(mine_only))]
    mine, theirs = common + mine_only, common + theirs_only
    assert difference_polynomials(_sums(mine, k), _sums(theirs, k), len(mine) - len(theirs)) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=20, unique=True), st.lists(values, max_size=30), st.integers(0, 3))
def test_roots_among_finds_exactly_the_roots_of_any_degree(roots, others, repeats):
    poly = [1]
    for root in roots:  # prod(z - root), highest degree first
        poly = [(a - root * b) % P for a, b in zip(poly + [0], [0] + poly)]
    candidates = others + roots * repeats
    expected = [n for n, x in enumerate(candidates) if sum(c * pow(x, len(poly) - 1 - i, P) for i, c in enumerate(poly)) % P == 0]
    assert roots_among(poly, candidates) == expected == roots_among(poly, tuple(candidates))
    assert sorted({candidates[n] for n in expected}) == (sorted(set(roots)) if repeats else sorted(set(roots) & set(others)))
