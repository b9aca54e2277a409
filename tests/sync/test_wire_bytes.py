"""Bytes on the wire follow the size of the difference: a few differences in a
large set cost a few hundred bytes besides their records, and the stratum
counts that locate a large difference are sent only when the sums of the
whole set say it is large."""

from __future__ import annotations

import hashlib
import random

from meshpantry.core.sync.items import ItemIndex
from meshpantry.core.sync.reconcile import respond
from protocol import sync as wire

from .replicas import Link, Replica, chains


def _records(total: int, seed: int = 7) -> list[bytes]:
    return chains(total // 20, 20, random.Random(seed), body_bytes=64)


def _overhead(raws: list[bytes], missing_a: set[int], missing_b: set[int]) -> tuple[Link, int]:
    """The session, and its wire bytes beyond the records that were missing."""
    a = Replica(r for i, r in enumerate(raws) if i not in missing_a)
    b = Replica(r for i, r in enumerate(raws) if i not in missing_b)
    union = a.ids | b.ids
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids == union
    return link, link.wire_bytes - sum(len(raws[i]) for i in missing_a | missing_b)


def test_one_record_missing_on_each_side_of_a_large_set_costs_a_few_hundred_bytes():
    """Both sides hold 19,999 of 20,000 records, each lacking another one:
    the opening's two sums settle it, with no estimating split (~1.5 KB)."""
    raws = _records(20_000)
    link, overhead = _overhead(raws, {1_234}, {15_000})
    assert overhead < 400
    assert link.flights <= 6


def test_the_opening_of_a_large_set_carries_its_stratum_counts():
    """From ESTIMATE_FROM items on, the initiator opens with the sums and
    stratum counts of its whole set, so the responder knows at once how
    much differs; a smaller set opens with a fingerprint."""
    for total, mode in ((4_000, wire.Sums), (1_000, wire.Fingerprint)):
        a = Replica(_records(total))
        link = Link(a, Replica(()))
        frames = [wire.decode_frame(body) for body in wire.FrameReader().feed(bytes(link.queues[0]))]
        opening = next(frame for frame in frames if isinstance(frame, wire.Reconcile))
        assert [type(entry.mode) for entry in opening.entries] == [mode]
        if mode is wire.Sums:
            assert len(opening.entries[0].mode.strata) == wire.STRATA


def test_a_large_two_sided_difference_is_still_located_by_an_estimating_split():
    """300 records missing on each side among the newest of 20,000: the
    whole set's sums cannot solve it, so the responder cuts the set into
    parts with their stratum counts, and the session ends in four round
    trips."""
    raws = _records(20_000)
    rng = random.Random(3)
    chosen = rng.sample(range(19_000, 20_000), 600)
    link, overhead = _overhead(raws, set(chosen[:300]), set(chosen[300:]))
    assert link.flights <= 8


def _indexes(common: int, only_mine: int, only_theirs: int) -> tuple[ItemIndex, ItemIndex]:
    rng = random.Random(common + 7 * only_mine + 13 * only_theirs)
    items = [(rng.randrange(1, 500), hashlib.sha256(rng.randbytes(16)).digest()) for _ in range(common + only_mine + only_theirs)]
    shared, mine, theirs = items[:common], items[common : common + only_mine], items[common + only_mine :]
    return ItemIndex(sorted(shared + mine)), ItemIndex(sorted(shared + theirs))


def _sums_of(index: ItemIndex, k: int) -> wire.Reconcile:
    sums = wire.Sums(len(index), index.fingerprint(0, len(index)), tuple(index.power_sums(0, len(index), k)), ())
    return wire.Reconcile((wire.Entry(wire.INF, sums),))


def test_a_part_whose_sums_fell_short_is_answered_with_more_sums_not_a_list():
    """A part of a fine split (16 sums, no stratum counts) holding 30
    differences: the peer answers with as many sums as may help (64 here,
    512 bytes) instead of listing its 165 ids (5 KB), and those solve it."""
    a, b = _indexes(150, 15, 15)
    reply = respond(b, _sums_of(a, 16))
    assert [type(entry.mode) for entry in reply.entries] == [wire.Sums]
    retry = reply.entries[0].mode
    assert len(retry.sums) == wire.MAX_SUMS and retry.strata == ()
    answer = respond(a, wire.Reconcile(tuple(reply.entries)))
    assert [type(entry.mode) for entry in answer.entries] == [wire.Roots]
    assert len(answer.send) == 15  # my extras, found from the peer's sums


def test_a_retry_that_fell_short_again_is_listed():
    """More than 63 differences behind 64 sums: the range is listed, which
    settles it whatever it holds."""
    a, b = _indexes(150, 40, 40)
    reply = respond(b, _sums_of(a, wire.MAX_SUMS))
    assert [type(entry.mode) for entry in reply.entries] == [wire.IdList]
    assert len(reply.entries[0].mode.ids) == 190
