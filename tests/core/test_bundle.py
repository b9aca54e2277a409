"""Sneakernet bundles: the codec refuses every damaged file with its own
error, and a summary says exactly what its owner lacks."""

from __future__ import annotations

import struct

import pytest

from meshpantry.core import bundle as b
from meshpantry.core.ingest import IngestReport, Rejection
from protocol.errors import BadSignature
from tests.core.records import T0, TestNeighbourhood, fork_of, keypair


def chains_of(records) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault(r.author, []).append((r.seq, r.id))
    return {a: sorted(v) for a, v in out.items()}


@pytest.fixture
def nb() -> TestNeighbourhood:
    hood = TestNeighbourhood()
    bea = hood.join(2, name="Bea")
    hood.offer(hood.founder, "tomatoes", 5, "kg")
    hood.offer(bea, "rice", 2, "kg")
    return hood


def make(nb: TestNeighbourhood, raws=None, **kw) -> bytes:
    _, secret = keypair(1)
    raws = [r.raw for r in nb.records] if raws is None else raws
    return b.encode_bundle(secret, neighbourhood=nb.id, created=T0, raws=raws,
                           summary=b.summarise(chains_of(nb.records)), **kw)


def test_a_bundle_round_trips_every_field(nb):
    """What was written is read back: records in order, manifest signed by the exporter."""
    data = make(nb, since=T0 - 5, answers=b"\x07" * 32)
    got = b.decode_bundle(data)
    assert got.raws == tuple(r.raw for r in nb.records)
    m = got.manifest
    assert (m.neighbourhood, m.exporter, m.created, m.count) == (nb.id, keypair(1)[0], T0, len(nb.records))
    assert (m.since, m.answers) == (T0 - 5, b"\x07" * 32)
    assert m.summary == b.summarise(chains_of(nb.records))
    assert got.id == b.read_manifest(data)[1]


def test_an_empty_bundle_is_valid(nb):
    assert b.decode_bundle(make(nb, raws=[])).raws == ()


@pytest.mark.parametrize("cut", [3, 10, 40, -1, -200])
def test_a_truncated_bundle_is_refused(nb, cut):
    """A copy cut short anywhere fails before any record is used."""
    data = make(nb)
    with pytest.raises((b.Truncated, b.NotABundle)):
        b.decode_bundle(data[:cut])


def test_extra_bytes_after_the_records_are_refused(nb):
    with pytest.raises(b.Corrupt, match="follow the records"):
        b.decode_bundle(make(nb) + b"\x00")


def test_a_flipped_byte_in_the_records_is_refused(nb):
    data = bytearray(make(nb))
    data[-20] ^= 0x01
    with pytest.raises(b.Corrupt, match="digest"):
        b.decode_bundle(bytes(data))


def test_a_manifest_signed_by_another_key_is_forged(nb):
    """Swapping the exporter's key for another member's breaks the signature."""
    data = make(nb)
    other = keypair(2)[0]
    mine = keypair(1)[0]
    assert data.count(mine) >= 1
    at = data.index(mine)
    forged = data[:at] + other + data[at + 32:]
    with pytest.raises(b.ForgedManifest):
        b.decode_bundle(forged)


def test_other_files_and_newer_versions_are_named(nb):
    with pytest.raises(b.NotABundle):
        b.decode_bundle(b"PK\x03\x04 a zip file")
    data = bytearray(make(nb))
    data[8] = 2
    with pytest.raises(b.UnsupportedBundle, match="version 2"):
        b.decode_bundle(bytes(data))


def test_a_manifest_claiming_too_much_is_refused_before_reading(nb):
    data = make(nb)
    huge = data[:9] + struct.pack(">I", b.MAX_MANIFEST_BYTES + 10_000) + data[13:]
    with pytest.raises(b.Corrupt, match="over the limit"):
        b.decode_bundle(huge)


def test_judge_names_the_first_refused_record():
    report = IngestReport(rejected=[Rejection(3, b"\x01" * 32, BadSignature(b"\x01" * 32))])
    with pytest.raises(b.RecordRefused, match="record 14 .*nothing of the bundle was applied"):
        b.judge(report, offset=10)
    b.judge(IngestReport())  # nothing refused: no error


def test_a_bundle_from_another_neighbourhood_is_named(nb):
    got = b.decode_bundle(make(nb))
    with pytest.raises(b.WrongNeighbourhoodBundle):
        b.check_neighbourhood(got, b"\x09" * 32)


# -- what the other side lacks ---------------------------------------------------------


def test_lacking_is_exactly_the_difference_of_two_islands(nb):
    """
    both:   genesis .. offers          (before the outage)
    island A writes 3, island B writes 4; B's answer to A's summary is B's 4.
    """
    shared = list(nb.records)
    bea = nb.devices[2]
    a_only = [nb.offer(nb.founder, f"a{i}", 1, "kg", observe=False) for i in range(3)]
    b_only = [nb.offer(bea, f"b{i}", 1, "kg", observe=False) for i in range(4)]
    summary_a = b.summarise(chains_of(shared + a_only))
    got = b.lacking(summary_a, chains_of(shared + b_only))
    assert set(got.ids) == {r.id for r in b_only} and got.unproven == 0
    assert b.lacking(summary_a, chains_of(shared + a_only)).ids == ()


def test_lacking_finds_forks_below_the_head_with_the_sums(nb):
    """A fork the other side lacks, below its head, is found by the power sums."""
    founder = nb.devices[1]
    target = nb.records[3] if nb.records[3].author == founder.public else nb.records[0]
    forked = fork_of(founder, target, {"name": "a fork"})
    summary = b.summarise(chains_of(nb.records))
    got = b.lacking(summary, chains_of(nb.records + [forked]))
    assert got.ids == (forked.id,) and got.unproven == 0


def test_more_differences_than_the_sums_decode_are_sent_unproven(nb):
    """Past SUMMARY_SUMS forks, the author's records below the head go as a whole."""
    founder = nb.devices[1]
    mine = [r for r in nb.records if r.author == founder.public]
    forks = [fork_of(founder, mine[0], {"name": f"fork {i}"}) for i in range(b.SUMMARY_SUMS + 2)]
    summary = b.summarise(chains_of(nb.records))
    got = b.lacking(summary, chains_of(nb.records + forks))
    assert {r.id for r in forks} <= set(got.ids)
    assert got.unproven == len(mine) + len(forks)
