"""Finding the differences in a range from k power sums of each side.

Theory. Give every id a value in GF(P). In one range, let ``E_m`` be the values
only I hold (``s`` of them) and ``E_o`` those only the peer holds (``t``). The
difference of our power sums is ``d_j = sum(E_m^j) - sum(E_o^j)``, and in the
power series ring over ``u``::

    R(u) = prod(1 - a u for a in E_m) / prod(1 - b u for b in E_o)
    log R(u) = -sum_j d_j u^j / j,   so   n r_n = -sum_{i=1..n} d_i r_{n-i}

gives ``R mod u^(k+1)`` from ``d_1..d_k``. When ``s + t <= k``, the numerator
``N`` and denominator ``D`` are recovered from ``R`` by rational reconstruction
(the extended Euclidean algorithm on ``u^(k+1)`` and ``R``, stopped at the
first remainder of degree at most ``s_max = (k + s - t) // 2``; ``s - t`` is
known from the counts). The values I hold that are roots of ``z^s N(1/z)`` are
exactly ``E_m``; the peer finds ``E_o`` among its own values as roots of
``z^t D(1/z)``. Each difference costs 8 bytes of sums, about the least any
scheme can send that says which records differ.

A wrong answer (more than k differences) shows up as the wrong number of roots
or a fingerprint that does not match; the caller then asks for more sums or
splits the range.
"""

from __future__ import annotations

from operator import mul
from typing import Sequence

from protocol.sync import MAX_SUMS, SUMS_PRIME

P = SUMS_PRIME

#: 1/n mod P for n = 1..MAX_SUMS, used by every decode.
_SMALL_INVERSES = [0] + [pow(n, P - 2, P) for n in range(1, MAX_SUMS + 1)]


#: Horner steps per pass of :func:`roots_among` before reducing mod P: the
#: numbers stay within about 320 bits, and four measured fastest.
_HORNER_STEPS = 4


def _inverse(value: int) -> int:
    # pow(value, -1, P): the extended Euclidean algorithm in C, about four
    # times faster than Fermat's pow(value, P - 2, P) on 64-bit numbers.
    return pow(value, -1, P)


def _trim(poly: list[int]) -> list[int]:
    while poly and poly[-1] == 0:
        poly.pop()
    return poly


def _divmod(num: list[int], den: list[int]) -> tuple[list[int], list[int]]:
    """Polynomials as coefficient lists, lowest degree first; ``den`` trimmed."""
    num = list(num)
    size = len(den)
    quotient = [0] * max(0, len(num) - size + 1)
    lead = _inverse(den[-1])
    for shift in range(len(num) - size, -1, -1):
        factor = num[shift + size - 1] * lead % P
        quotient[shift] = factor
        if factor:
            # One pass of a list comprehension (no Python frame per step).
            num[shift : shift + size] = [(a - factor * b) % P for a, b in zip(num[shift : shift + size], den)]
    return quotient, _trim(num[: size - 1])


def _sub_mul(a: list[int], q: list[int], b: list[int]) -> list[int]:
    """``a - q * b``."""
    out = list(a) + [0] * max(0, len(q) + len(b) - 1 - len(a))
    size = len(b)
    for i, x in enumerate(q):
        if x:
            out[i : i + size] = [(c - x * y) % P for c, y in zip(out[i : i + size], b)]
    return _trim(out)


def difference_polynomials(
    mine: Sequence[int], theirs: Sequence[int], surplus: int, *, checked: bool = True
) -> tuple[list[int], list[int]] | None:
    """``(N, D)`` from both sides' power sums p_1..p_k of one range.

    ``surplus`` is my count minus the peer's (``s - t``). Returns the
    coefficient lists of ``z^s N(1/z)`` and ``z^t D(1/z)``, highest degree
    first with leading 1 (so :func:`roots_among` finds my extras among my
    values with N, the peer's among its values with D), or None when no
    solution with ``s + t <= k`` exists.

    With more than VERIFIED_FROM sums and ``checked``, the first k - 1 are
    solved and the last checks the answer (O(k)): more than k - 1
    differences then almost always give None here instead of a wrong pair
    of polynomials, whose roots would be looked for among every value of
    the range in vain. Without ``checked`` all k sums solve (one difference
    more), for a small range, where a wrong answer costs a short search for
    roots and the fingerprint check that follows catches it.
    """
    assert len(mine) == len(theirs)
    k = len(mine)
    diff = [(a - b) % P for a, b in zip(mine, theirs)]
    series = [1]
    backwards = [1]  # series reversed: r_(n-1), ..., r_0
    for n in range(1, k + 1):
        # n r_n = -sum d_i r_(n-i), the sum of products in C
        term = -sum(map(mul, diff, backwards)) * _SMALL_INVERSES[n] % P
        series.append(term)
        backwards.insert(0, term)
    if k <= VERIFIED_FROM or not checked:
        return _reconstruct(series, k, surplus)
    solved = _reconstruct(series, k - 1, surplus)
    if solved is None:
        return None
    numerator, denominator = solved
    # N = R D mod u^(k+1) must hold for the k-th coefficient too.
    product = sum(denominator[i] * series[k - i] for i in range(min(k, len(denominator) - 1) + 1)) % P
    if product != (numerator[k] if k < len(numerator) else 0):
        return None
    return solved


#: Up to this many sums every one of them is used to solve (one difference
#: on each side needs two); beyond it one sum is kept back to check.
VERIFIED_FROM = 2


def _reconstruct(series: list[int], k: int, surplus: int) -> tuple[list[int], list[int]] | None:
    """Rational reconstruction of ``series`` mod u^(k+1): see the module's
    theory; returns the normalised (N, D) or None."""
    s_max = (k + surplus) // 2
    if s_max < 0 or k - s_max < 0:
        return None
    r0, r1 = [0] * (k + 1) + [1], _trim(series[: k + 1])
    v0, v1 = [0], [1]
    while r1 and len(r1) - 1 > s_max:
        quotient, remainder = _divmod(r0, r1)
        r0, r1 = r1, remainder
        v0, v1 = v1, _sub_mul(v0, quotient, v1)
    if not r1 or not v1 or v1[0] == 0 or len(v1) - 1 > k - s_max:
        return None
    scale = _inverse(v1[0])
    numerator = [c * scale % P for c in r1]
    denominator = [c * scale % P for c in v1]
    if numerator[0] != 1 or (len(numerator) - 1) - (len(denominator) - 1) != surplus:
        return None
    return numerator, denominator


def roots_among(coefficients: Sequence[int], values: Sequence[int]) -> list[int]:
    """Positions in ``values`` that are roots of the polynomial (highest
    degree first), by Horner's rule."""
    if len(coefficients) == 1:
        return []
    if len(coefficients) == 2:  # z + c: the root is -c, found by list.index (in C)
        root = (-coefficients[1]) % P
        values = values if isinstance(values, list) else list(values)
        positions: list[int] = []
        at = -1
        try:
            while True:
                at = values.index(root, at + 1)
                positions.append(at)
        except ValueError:
            return positions
    # Horner's rule one pass per four coefficients over all values (list
    # comprehensions, reducing mod P once per four steps: exact, as Python
    # integers do not overflow, and far fewer interpreter steps and divisions
    # than a loop per value).
    values = list(values)
    accs = [coefficients[0] % P] * len(values)
    rest = list(coefficients[1:])
    while len(rest) >= _HORNER_STEPS:
        c1, c2, c3, c4 = rest[:_HORNER_STEPS]
        del rest[:_HORNER_STEPS]
        accs = [((((acc * x + c1) * x + c2) * x + c3) * x + c4) % P for acc, x in zip(accs, values)]
    for coefficient in rest:
        accs = [(acc * x + coefficient) % P for acc, x in zip(accs, values)]
    return [position for position, acc in enumerate(accs) if acc == 0]
