"""All-or-nothing ingest (bundles): a refusal rolls back every slice, and
the store then behaves as if the batch had never been offered."""

from __future__ import annotations

import pytest

from meshpantry.core.sync.items import index_of


class Refuse(Exception):
    pass


def test_a_refusal_in_a_later_slice_rolls_back_the_earlier_ones(store, nb):
    raws = [r.raw for r in nb.records]
    seen = []

    def judge(report, offset):
        seen.append((offset, len(report.added)))
        if offset >= 2:
            raise Refuse()

    with pytest.raises(Refuse):
        store.ingest_whole(raws, nb.clock, judge=judge, slice_size=2)
    assert seen[0] == (0, 2)  # the first slice was logged, inside the transaction
    assert store.count() == 0 and store.heads() == {} and len(store.sync_index()) == 0
    report = store.ingest_whole(raws, nb.clock, judge=lambda r, o: None, slice_size=2)
    assert len(report.added) == len(raws) == store.count()
    assert store.sync_index().fingerprint(0, len(raws)) == index_of(store).fingerprint(0, len(raws))


def test_last_sees_every_record_and_may_refuse(store, nb):
    raws = [r.raw for r in nb.records]
    joined = nb.devices[2].public

    def last():
        assert store.is_member_device(joined)  # membership grew inside the transaction
        raise Refuse()

    with pytest.raises(Refuse):
        store.ingest_whole(raws, nb.clock, judge=lambda r, o: None, last=last)
    assert store.count() == 0 and not store.is_member_device(joined)


def test_progress_is_told_after_each_slice(store, nb):
    raws = [r.raw for r in nb.records]
    told = []
    store.ingest_whole(raws, nb.clock, judge=lambda r, o: None, progress=lambda d, t: told.append((d, t)), slice_size=3)
    assert told[-1] == (len(raws), len(raws)) and len(told) == -(-len(raws) // 3)
