"""What a bundle's exporter holds, and what it lacks of another log.

The manifest of a bundle (:mod:`.bundle`) carries a summary of the
exporter's whole log, one entry per author: the highest seq held, the
count, the fingerprint of the ids (the sync layer's
:func:`.sync.items.fingerprint_of`) and ``SUMMARY_SUMS`` power sums of the
ids' values (as :mod:`.sync.sums`). From it, :func:`lacking` finds which of
another log's records the exporter does not hold: per author, those above
the exporter's head for certain; below it, nothing when the fingerprints
agree, else the records the power sums single out (up to ``SUMMARY_SUMS``
differences, the forks an honest chain never has); past that, the author's
records below the head are all given and counted as ``unproven``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocol.sync import SUMS_PRIME

from .sync.items import fingerprint_of, powers_of, sum_value
from .sync.sums import difference_polynomials, roots_among

#: Power sums per author in the summary: an honest chain differs between two
#: replicas only above the lower head, so below it a difference is a fork;
#: eight find up to eight such records for 64 bytes per author.
SUMMARY_SUMS = 8


@dataclass(frozen=True, slots=True)
class ChainSummary:
    """What one replica holds of one author's chain."""

    author: bytes  #: the device key (32 bytes)
    head: int  #: the highest seq held
    count: int  #: records held of this author (more than ``head`` only with forks)
    fingerprint: bytes  #: :func:`fingerprint_of` the ids held (16 bytes)
    sums: tuple[int, ...]  #: power sums p_1..p_SUMMARY_SUMS of the ids' values


Chains = Mapping[bytes, Sequence[tuple[int, bytes]]]  #: author -> (seq, id) of each record held


def _id_sum(ids: Iterable[bytes]) -> int:
    return sum(int.from_bytes(rid, "little") for rid in ids)


def _power_sums(ids: Sequence[bytes], k: int) -> tuple[int, ...]:
    sums = [0] * k
    for row in powers_of([sum_value(rid) for rid in ids], k):
        for j in range(k):
            sums[j] += row[j]
    return tuple(s % SUMS_PRIME for s in sums)


def summarise(chains: Chains) -> tuple[ChainSummary, ...]:
    """The summary of a log given as ``chains``, authors in byte order."""
    out = []
    for author in sorted(chains):
        held = chains[author]
        if not held:
            continue
        ids = [rid for _, rid in held]
        out.append(ChainSummary(
            author, max(seq for seq, _ in held), len(ids),
            fingerprint_of(_id_sum(ids), len(ids)), _power_sums(ids, SUMMARY_SUMS),
        ))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Lacking:
    """What a summary's owner lacks of a log."""

    ids: tuple[bytes, ...]  #: ids the owner lacks (and ``unproven`` more it may hold)
    unproven: int = 0  #: ids sent because the sums could not decide


def lacking(summary: Iterable[ChainSummary], chains: Chains) -> Lacking:
    """The ids of ``chains`` that the owner of ``summary`` does not hold.

    Exact whenever the two sides' records of each author below the owner's
    head differ in at most ``SUMMARY_SUMS`` records (see the module's theory);
    otherwise that author's records below the head are included too and
    counted in ``unproven``.
    """
    theirs = {entry.author: entry for entry in summary}
    out: list[bytes] = []
    unproven = 0
    for author in sorted(chains):
        held = chains[author]
        entry = theirs.get(author)
        if entry is None:
            out.extend(rid for _, rid in held)
            continue
        low = [rid for seq, rid in held if seq <= entry.head]
        out.extend(rid for seq, rid in held if seq > entry.head)
        if len(low) == entry.count and fingerprint_of(_id_sum(low), len(low)) == entry.fingerprint:
            continue
        found = _decode_differences(low, entry)
        if found is None:
            out.extend(low)
            unproven += len(low)
        else:
            out.extend(found)
    return Lacking(tuple(out), unproven)


def _decode_differences(low: list[bytes], entry: ChainSummary) -> list[bytes] | None:
    """The ids of ``low`` the entry's owner lacks, by the power sums; None
    when they cannot say."""
    if not low:
        return []
    solved = difference_polynomials(list(_power_sums(low, SUMMARY_SUMS)), list(entry.sums), len(low) - entry.count)
    if solved is None:
        return None
    mine_only, theirs_only = solved
    roots = roots_among(mine_only, [sum_value(rid) for rid in low])
    if len(roots) != len(mine_only) - 1:
        return None
    chosen = [low[r] for r in roots]
    if len(theirs_only) == 1:  # they hold nothing I lack: the rest must be theirs exactly
        rest = _id_sum(low) - _id_sum(chosen)
        if fingerprint_of(rest, len(low) - len(chosen)) != entry.fingerprint:
            return None
    return chosen
