"""Chain integrity of a record set: which records stand on an unbroken chain.

Every author writes seq 1, 2, 3..., each record naming the previous one. Given
any set of records, this module decides for each one, from the set alone:

* **counts**: every record of the author from seq 1 up to it is held, each
  links to the one before (:func:`~meshpantry.core.validation.check_chain_link`),
  and no seq up to it is forked;
* **waits**: a record before it is missing (a gap that sync will fill); it is
  reported waiting for the ``prev`` id of the first record after the gap;
* **rejected**:

  - *fork rule*: when an author signed two different records with the same
    seq ``f``, every record of that author with ``seq >= f`` is rejected with
    :class:`~meshpantry.core.validation.ForkDetected` (``seq = f``, the ids held
    at ``f``). Neither branch wins: picking one would make two replicas that
    hold different branches disagree about what the author said. Records
    before ``f`` still count. The fork is reported in ``forks``.
  - *broken link*: the first record that fails the link check is rejected with
    that check's error, and every later record of the author with
    :class:`~meshpantry.core.validation.ChainBroken`.

The result depends only on the set, never on the order records are given in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from protocol import Record

from .validation import ChainBroken, ForkDetected, ValidationError, check_chain_link


@dataclass
class ChainVerdicts:
    """What chain integrity says about each record of a set.

    ``counting`` holds the records that stand on an unbroken chain; every other
    record is in exactly one of ``waiting`` (id -> missing id) or ``rejected``
    (id -> error). ``forks`` holds one error per forked author, sorted by author.
    """

    counting: list[Record] = field(default_factory=list)
    waiting: dict[bytes, bytes] = field(default_factory=dict)
    rejected: dict[bytes, ValidationError] = field(default_factory=dict)
    forks: list[ForkDetected] = field(default_factory=list)


def check_chains(records: Iterable[Record]) -> ChainVerdicts:
    """Judge every record of ``records`` (distinct ids) against its author's chain.

    Returns a :class:`ChainVerdicts`. Never raises for bad records: failures
    are reported in the verdicts.
    """
    by_author: dict[bytes, list[Record]] = {}
    for record in records:
        chain = by_author.get(record.author)
        if chain is None:
            by_author[record.author] = [record]
        else:
            chain.append(record)
    verdicts = ChainVerdicts()
    for author in sorted(by_author):
        chain = by_author[author]
        chain.sort(key=_seq)
        judge_chain(author, chain, verdicts)
    return verdicts


def _seq(record: Record) -> int:
    return record.seq


def judge_chain(author: bytes, chain: list[Record], out: ChainVerdicts) -> None:
    """Judge one author's chain into ``out``. ``chain``: the author's records
    of this neighbourhood sorted by seq (equal seqs side by side); only their
    ``seq``, ``prev``, ``id``, ``lamport``, ``kind`` and ``author`` are read."""
    fork = None
    for before, after in zip(chain, chain[1:]):
        if before.seq == after.seq:
            forked = [r.id for r in chain if r.seq == before.seq]
            fork = ForkDetected(author, before.seq, tuple(forked))
            out.forks.append(fork)
            break
    previous: Record | None = None
    broken_at: int | None = None
    missing: bytes | None = None
    for record in chain:
        seq = record.seq
        if fork is not None and seq >= fork.seq:
            out.rejected[record.id] = fork
        elif broken_at is not None:
            out.rejected[record.id] = ChainBroken(author, seq, broken_at)
        else:
            if missing is None and seq != (previous.seq + 1 if previous else 1):
                # The first record after a gap names the last record missing.
                missing = record.prev if record.prev is not None else record.id
            if missing is not None:
                out.waiting[record.id] = missing
                continue
            try:
                check_chain_link(record, previous)
            except ValidationError as error:
                out.rejected[record.id] = error.with_traceback(None)  # keep no frames alive
                broken_at = seq
                continue
            out.counting.append(record)
            previous = record
