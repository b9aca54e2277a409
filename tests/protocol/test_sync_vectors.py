"""Sync vectors (protocol/vectors/sync_*.json, SYNC.md section 11): the codec
reproduces every frame byte for byte and refuses every invalid one with the
named error; the item index reproduces every fingerprint, sum and bound; and
two sessions on the given item sets exchange exactly the recorded frames."""

from __future__ import annotations

import json

import pytest

from meshpantry.core.sync import SyncSession
from meshpantry.core.sync.items import ItemIndex, fingerprint_of
from meshpantry.core.sync.sums import difference_polynomials, roots_among
from protocol import errors
from protocol import sync as wire
from protocol.make_vectors import VECTOR_DIR
from protocol.sync_vectors import (
    RANGE_SUMS,
    TestReplica,
    bound_from_json,
    frame_from_json,
    frame_to_json,
)


def _load(name: str) -> dict:
    return json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))


FRAMES = _load("sync_frames.json")
RANGES = _load("sync_ranges.json")
SESSIONS = _load("sync_sessions.json")


def _int(value) -> int:
    return int(value["$int"]) if isinstance(value, dict) else value


@pytest.mark.parametrize("vector", FRAMES["frames"], ids=lambda v: v["name"])
def test_every_frame_encodes_and_decodes_to_its_vector(vector):
    frame = frame_from_json(vector["frame"])
    encoded = bytes.fromhex(vector["encoded"])
    assert wire.encode_frame(frame) == encoded
    (body,) = wire.FrameReader().feed(encoded)
    assert wire.decode_frame(body) == frame
    assert frame_to_json(frame) == vector["frame"]


def test_frame_vectors_cover_every_type_and_mode():
    types = {v["frame"]["type"] for v in FRAMES["frames"]}
    assert types == {"HELLO", "RECONCILE", "RECORDS", "ACK", "END", "WANT_AUTHOR", "ABORT"}
    modes = {e["mode"] for v in FRAMES["frames"] if v["frame"]["type"] == "RECONCILE" for e in v["frame"]["entries"]}
    assert modes == {"SKIP", "FINGERPRINT", "ID_LIST", "WANT_SUMS", "SUMS", "ROOTS", "SHORT_LIST", "WANT_LISTED"}


@pytest.mark.parametrize("vector", FRAMES["invalid"], ids=lambda v: v["name"])
def test_every_invalid_frame_is_refused_with_its_error(vector):
    with pytest.raises(errors.DecodeError) as caught:
        for body in wire.FrameReader().feed(bytes.fromhex(vector["encoded"])):
            wire.decode_frame(body)
    assert type(caught.value).__name__ == vector["error"]


@pytest.mark.parametrize("vector", RANGES["sets"], ids=lambda v: v["name"])
def test_fingerprints_sums_strata_and_bounds_of_item_sets(vector):
    index = ItemIndex([(_int(item["lamport"]), bytes.fromhex(item["id"])) for item in vector["items"]])
    count = vector["count"]
    assert len(index) == count
    assert index.fingerprint(0, count).hex() == vector["fingerprint"]
    assert index.values(0, count) == [_int(v) for v in vector["sum_values"]]
    assert index.power_sums(0, count, RANGE_SUMS) == [_int(v) for v in vector["power_sums"]]
    assert list(index.strata(0, count)) == vector["strata"]
    assert [index.bound_before(p) for p in range(1, count)] == [bound_from_json(b) for b in vector["bounds"]]


@pytest.mark.parametrize("vector", RANGES["solves"], ids=lambda v: v["name"])
def test_solving_both_sides_sums(vector):
    mine = ItemIndex(sorted((0, bytes.fromhex(i)) for i in vector["mine"]))
    theirs = ItemIndex(sorted((0, bytes.fromhex(i)) for i in vector["theirs"]))
    k = vector["k"]
    assert mine.power_sums(0, len(mine), k) == [_int(v) for v in vector["my_sums"]]
    assert theirs.power_sums(0, len(theirs), k) == [_int(v) for v in vector["their_sums"]]
    solved = difference_polynomials(
        [_int(v) for v in vector["my_sums"]], [_int(v) for v in vector["their_sums"]], len(mine) - len(theirs)
    )
    if vector["solved"] is None:
        assert solved is None
        return
    expected = vector["solved"]
    numerator, denominator = solved
    assert numerator == [_int(c) for c in expected["mine_polynomial"]]
    assert denominator == [_int(c) for c in expected["their_polynomial"]]
    found_mine = sorted(mine.keys[p][1].hex() for p in roots_among(numerator, mine.values(0, len(mine))))
    found_theirs = sorted(theirs.keys[p][1].hex() for p in roots_among(denominator, theirs.values(0, len(theirs))))
    assert found_mine == expected["mine_only"] and found_theirs == expected["theirs_only"]
    common = [bytes.fromhex(i) for i in vector["mine"] if i not in expected["mine_only"]]
    total = sum(int.from_bytes(i, "little") for i in common)
    assert fingerprint_of(total, len(common)).hex() == expected["common_fingerprint"]


def test_session_vectors_include_the_three_kinds_of_difference():
    names = [s["name"] for s in SESSIONS["sessions"]]
    assert "equal sets" in names
    assert any("missing at the responder" in n for n in names)
    assert sum("two-sided" in n for n in names) >= 2


@pytest.mark.parametrize("vector", SESSIONS["sessions"], ids=lambda v: v["name"])
def test_sessions_replay_frame_for_frame(vector):
    raws = [bytes.fromhex(raw) for raw in SESSIONS[vector["records"]]]
    a = TestReplica(raws[i] for i in vector["initiator_holds"])
    b = TestReplica(raws[i] for i in vector["responder_holds"])
    union = set(a.raws) | set(b.raws)
    sessions = (SyncSession.initiator(a, now=0), SyncSession.responder(b, now=0))
    replicas = (a, b)
    for flight in vector["flights"]:
        side = ("initiator", "responder").index(flight["from"])
        data = sessions[side].data_to_send()
        expected = b"".join(bytes.fromhex(f["encoded"]) for f in flight["frames"])
        assert data == expected, f"flight {vector['flights'].index(flight) + 1} from the {flight['from']}"
        for frame in flight["frames"]:
            assert wire.encode_frame(frame_from_json(frame["frame"])).hex() == frame["encoded"]
        sessions[1 - side].receive_data(data, now=0)
        for session, replica in zip(sessions, replicas):
            for event in session.events():
                raws_in = getattr(event, "raws", None)
                if raws_in is not None:
                    replica.ingest(raws_in)
    assert all(session.finished for session in sessions)
    assert all(session.data_to_send() == b"" for session in sessions)
    assert set(a.raws) == set(b.raws) == union
    assert len(a.raws) == vector["initiator_ends_with"] and len(b.raws) == vector["responder_ends_with"]
