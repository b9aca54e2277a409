"""Finding which k of my items a peer lacks, from k power sums.

Theory: if the peer holds a subset of my items in a range and lacks exactly
``k`` of them, with values ``x_1..x_k`` in GF(P), then the difference of our
power sums is ``d_j = x_1^j + ... + x_k^j`` for j = 1..k. Newton's identities
turn ``d_1..d_k`` into the coefficients of ``(z - x_1)...(z - x_k)``; the
items of mine that are roots of that polynomial are exactly the missing ones.
The peer's sums cost 8 bytes per missing record: the least any scheme can send
that names which records are missing.

If the peer is not a subset (both sides hold items the other lacks), the
polynomial is garbage: the caller finds the wrong number of roots or a
fingerprint that does not match, and falls back to splitting the range.
"""

from __future__ import annotations

from typing import Sequence

from protocol.sync import SUMS_PRIME


def missing_polynomial(mine: Sequence[int], theirs: Sequence[int]) -> list[int]:
    """Coefficients (highest degree first, leading 1) of the polynomial whose
    roots are the values in my range that the peer lacks.

    ``mine`` and ``theirs`` are power sums p_1..p_k of the same range, mod P.
    """
    assert len(mine) == len(theirs)
    prime = SUMS_PRIME
    k = len(mine)
    diff = [(a - b) % prime for a, b in zip(mine, theirs)]
    # Newton: j * e_j = sum_{i=1..j} (-1)^(i-1) e_{j-i} p_i
    elementary = [1] + [0] * k
    for j in range(1, k + 1):
        acc = 0
        for i in range(1, j + 1):
            term = elementary[j - i] * diff[i - 1]
            acc = acc + term if i % 2 else acc - term
        elementary[j] = acc % prime * pow(j, prime - 2, prime) % prime
    return [elementary[j] if j % 2 == 0 else (-elementary[j]) % prime for j in range(k + 1)]


def roots_among(coefficients: Sequence[int], values: Sequence[int]) -> list[int]:
    """Positions in ``values`` that are roots of the polynomial (Horner)."""
    prime = SUMS_PRIME
    found = []
    for position, x in enumerate(values):
        acc = 0
        for coefficient in coefficients:
            acc = (acc * x + coefficient) % prime
        if acc == 0:
            found.append(position)
    return found
