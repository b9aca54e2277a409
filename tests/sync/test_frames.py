"""The sync frame codec: round trips, limits and typed errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import sync as wire
from protocol.errors import DecodeError, Malformed, OutOfRange, TooLarge

ids = st.binary(min_size=32, max_size=32)
counts = st.integers(0, 2**63 - 1)
fingerprints = st.binary(min_size=wire.FINGERPRINT_BYTES, max_size=wire.FINGERPRINT_BYTES)
sums = st.lists(st.integers(0, wire.SUMS_PRIME - 1), min_size=1, max_size=wire.MAX_SUMS).map(tuple)
modes = st.one_of(
    st.just(wire.Skip()),
    st.builds(wire.Fingerprint, counts, fingerprints),
    st.builds(wire.IdList, st.lists(ids, max_size=wire.MAX_LIST_IDS).map(tuple)),
    st.builds(wire.WantSums, st.integers(1, wire.MAX_SUMS)),
    st.builds(wire.Sums, counts, fingerprints, sums),
    st.lists(st.integers(0, 2**20), min_size=wire.STRATA, max_size=wire.STRATA).flatmap(
        lambda strata: st.builds(wire.Sums, st.just(sum(strata)), fingerprints, sums, st.just(tuple(strata)))
    ),
    st.builds(wire.Roots, fingerprints, sums),
)


@st.composite
def entry_lists(draw):
    """Strictly increasing bounds ending at INF."""
    keys = draw(
        st.lists(
            st.tuples(st.integers(0, 2**63 - 1), st.binary(max_size=32).map(lambda p: p.rstrip(b"\0"))),
            max_size=12,
            unique_by=lambda k: (k[0], k[1].ljust(32, b"\0")),
        )
    )
    bounds = [wire.Bound(lamport, prefix) for lamport, prefix in sorted(keys, key=lambda k: (k[0], k[1].ljust(32, b"\0")))]
    bounds.append(wire.INF)
    return tuple(wire.Entry(bound, draw(modes)) for bound in bounds)


frames = st.one_of(
    st.builds(wire.Hello, st.integers(0, 2**32)),
    st.builds(wire.Reconcile, entry_lists(), st.lists(ids, max_size=8).map(tuple), st.booleans()),
    st.builds(wire.Records, st.lists(st.binary(min_size=1, max_size=400), max_size=20).map(tuple)),
    st.builds(wire.Ack, st.integers(0, 2**63 - 1)),
    st.builds(wire.End, st.booleans()),
    st.builds(wire.WantAuthor, ids),
    st.builds(wire.Abort, st.integers(0, 255), st.text(max_size=50)),
)


@given(frames)
def test_every_frame_round_trips(frame):
    encoded = wire.encode_frame(frame)
    (body,) = wire.FrameReader().feed(encoded)
    assert wire.decode_frame(body) == frame
    assert wire.encode_frame(wire.decode_frame(body)) == encoded


@given(st.lists(frames, min_size=1, max_size=6), st.data())
def test_frame_reader_cuts_any_chunking(frame_list, data):
    stream = b"".join(wire.encode_frame(f) for f in frame_list)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = wire.FrameReader()
    bodies = []
    start = 0
    for cut in cuts + [len(stream)]:
        bodies += reader.feed(stream[start:cut])
        start = cut
    assert [wire.decode_frame(b) for b in bodies] == frame_list
    assert reader.buffered == 0


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_a_decode_error(body):
    try:
        wire.decode_frame(body)
    except DecodeError:
        pass


@given(frames, st.data())
def test_truncated_frames_raise_decode_errors(frame, data):
    body = wire.encode_body(frame)
    cut = data.draw(st.integers(0, len(body) - 1))
    try:
        decoded = wire.decode_frame(body[:cut])
    except DecodeError:
        return
    # a prefix can only decode if it happens to be a complete shorter frame
    assert wire.encode_body(decoded) == body[:cut]


def test_oversized_length_is_refused_before_the_body_arrives():
    reader = wire.FrameReader()
    with pytest.raises(TooLarge) as caught:
        reader.feed(wire.encode_varint(wire.MAX_FRAME_BYTES + 1))
    assert caught.value.limit == wire.MAX_FRAME_BYTES


def test_empty_frame_is_never_a_marker():
    with pytest.raises(Malformed):
        wire.FrameReader().feed(b"\x00")
    with pytest.raises(Malformed):
        wire.decode_frame(b"")


def test_unknown_frame_type():
    with pytest.raises(wire.UnknownFrameType) as caught:
        wire.decode_frame(b"\x7f")
    assert caught.value.code == 0x7F


def test_non_minimal_varint_is_refused():
    with pytest.raises(Malformed):
        wire.decode_frame(bytes([wire.ACK, 0x81, 0x00]))


def test_trailing_bytes_are_refused():
    with pytest.raises(Malformed):
        wire.decode_frame(wire.encode_body(wire.End()) + b"\x00")


def test_record_batches_are_bounded():
    too_many = bytes([wire.RECORDS]) + wire.encode_varint(wire.MAX_BATCH_RECORDS + 1)
    with pytest.raises(OutOfRange):
        wire.decode_frame(too_many)
    huge = bytes([wire.RECORDS, 1]) + wire.encode_varint(32 * 1024 + 1)
    with pytest.raises(OutOfRange):
        wire.decode_frame(huge)


def test_reconcile_bounds_must_increase_and_end_at_inf():
    fp = wire.Fingerprint(1, bytes(16))
    unordered = wire.Reconcile((wire.Entry(wire.Bound(5), fp), wire.Entry(wire.Bound(5), fp), wire.Entry(wire.INF, fp)))
    with pytest.raises(Malformed):
        wire.decode_frame(wire.encode_body(unordered))
    no_inf = bytes([wire.RECONCILE, 0, 1, 3, 0, wire.SKIP, 0])
    with pytest.raises(Malformed):
        wire.decode_frame(no_inf)


def test_sums_must_be_field_elements():
    body = bytearray(wire.encode_body(wire.Reconcile((wire.Entry(wire.INF, wire.Sums(1, bytes(16), (5,))),))))
    body[-10:-2] = (2**64 - 1).to_bytes(8, "big")  # the sum, before "no strata" and "no needs"
    with pytest.raises(OutOfRange):
        wire.decode_frame(bytes(body))


def test_golden_equal_set_opening():
    """An initiator holding one record (id 00..01) opens with its id list:
    length 39, RECONCILE, idle, 1 entry, INF, ID_LIST of 1 id, no needs."""
    frame = wire.Reconcile((wire.Entry(wire.INF, wire.IdList((bytes(31) + b"\x01",))),), (), True)
    assert wire.encode_frame(frame).hex() == "27" + "0201" + "01" + "00" + "02" + "01" + "00" * 31 + "01" + "00"


def _sums_entry(strata: tuple[int, ...], count: int) -> bytes:
    return wire.encode_body(wire.Reconcile((wire.Entry(wire.INF, wire.Sums(count, bytes(16), (5,), strata)),)))


def test_stratum_counts_are_none_or_all_of_them():
    body = bytearray(_sums_entry((1,) * wire.STRATA, wire.STRATA))
    assert wire.decode_frame(bytes(body)).entries[0].mode.strata == (1,) * wire.STRATA
    at = body.index(bytes([wire.STRATA]) + b"\x01" * wire.STRATA)
    body[at] = 3  # three stratum counts, followed by thirteen stray bytes
    with pytest.raises(OutOfRange):
        wire.decode_frame(bytes(body))


def test_stratum_counts_must_add_up_to_the_count():
    with pytest.raises(Malformed):
        wire.decode_frame(_sums_entry((1,) * wire.STRATA, wire.STRATA + 1))


def test_a_bound_prefix_never_ends_with_a_zero_byte():
    """The shortest bound between two ids never ends in 0x00 (the longer id's
    first differing byte is the larger); a prefix that does is refused."""
    ok = wire.encode_body(wire.Reconcile((wire.Entry(wire.Bound(5, b"\x01"), wire.Skip()), wire.Entry(wire.INF, wire.Skip()))))
    wire.decode_frame(ok)
    padded = ok.replace(b"\x01\x01\x00", b"\x02\x01\x00\x00", 1)  # prefix 01 00
    with pytest.raises(Malformed):
        wire.decode_frame(padded)


def test_id_lists_are_limited_to_max_list_ids():
    listed = wire.Reconcile((wire.Entry(wire.INF, wire.IdList((bytes(32),) * wire.MAX_LIST_IDS)),))
    wire.decode_frame(wire.encode_body(listed))
    body = bytearray(wire.encode_body(listed))
    too_many = body[:5] + wire.encode_varint(wire.MAX_LIST_IDS + 1) + body[7:] + bytes(32)
    with pytest.raises(OutOfRange):
        wire.decode_frame(bytes(too_many))
