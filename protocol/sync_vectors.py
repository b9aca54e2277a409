"""Golden vectors of the sync protocol (``protocol/SYNC.md``), for
``protocol/make_vectors.py``.

Three files, every value computed by the Python implementation:

* ``sync_frames.json``: frames of every type and every entry mode, each as a
  JSON description and its encoding (length prefix included), and encodings a
  receiver must refuse, each with the error class it raises;
* ``sync_ranges.json``: item sets with their fingerprints, power sums,
  stratum counts, sum values and shortest bounds, and pairs of sets with what
  solving their sums gives (the polynomials a SUMS receiver finds and ROOTS
  carries);
* ``sync_sessions.json``: whole sessions between two given item sets, every
  frame each side sent, flight by flight (everything one side had to say,
  then the other), with the rules of SYNC.md section 6. Another
  implementation must accept every frame in turn; one that also answers by
  section 6 reproduces them byte for byte.

JSON conventions: byte strings are lowercase hex strings; integers of 2^53 or
more are ``{"$int": "<decimal>"}``. Records in sessions are opaque test
bytes, ``author (4) || seq (4) || lamport (8) || body (8)`` (big-endian),
whose id is their SHA-256: the session never looks inside a record, and chain
order is (author, seq).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Sequence

from meshpantry.core.sync import Failed, RecordsReceived, SyncSession
from meshpantry.core.sync.items import ItemIndex, fingerprint_of
from meshpantry.core.sync.sums import difference_polynomials, roots_among

from . import errors
from . import sync as wire

#: Power sums given for each item set of ``sync_ranges.json``.
RANGE_SUMS = 4


# --- JSON forms ----------------------------------------------------------------------


def _int(value: int) -> Any:
    return {"$int": str(value)} if abs(value) >= 2**53 else value


def _from_int(value: Any) -> int:
    return int(value["$int"]) if isinstance(value, dict) else value


def bound_to_json(bound: wire.Bound) -> Any:
    return "INF" if bound.infinite else {"lamport": _int(bound.lamport), "prefix": bound.prefix.hex()}


def bound_from_json(doc: Any) -> wire.Bound:
    return wire.INF if doc == "INF" else wire.Bound(_from_int(doc["lamport"]), bytes.fromhex(doc["prefix"]))


def mode_to_json(mode: wire.Mode) -> dict:
    if isinstance(mode, wire.Skip):
        return {"mode": "SKIP"}
    if isinstance(mode, wire.Fingerprint):
        return {"mode": "FINGERPRINT", "count": _int(mode.count), "fingerprint": mode.fingerprint.hex()}
    if isinstance(mode, wire.IdList):
        return {"mode": "ID_LIST", "ids": [item_id.hex() for item_id in mode.ids]}
    if isinstance(mode, wire.WantSums):
        return {"mode": "WANT_SUMS", "k": mode.k}
    if isinstance(mode, wire.Sums):
        return {
            "mode": "SUMS",
            "count": _int(mode.count),
            "fingerprint": mode.fingerprint.hex(),
            "sums": [_int(value) for value in mode.sums],
            "strata": list(mode.strata),
        }
    if isinstance(mode, wire.ShortList):
        return {"mode": "SHORT_LIST", "ids": [short.hex() for short in mode.ids]}
    if isinstance(mode, wire.WantListed):
        return {"mode": "WANT_LISTED", "count": mode.count, "bits": mode.bits.hex()}
    assert isinstance(mode, wire.Roots)
    return {"mode": "ROOTS", "common": mode.common.hex(), "coefficients": [_int(c) for c in mode.coefficients]}


def mode_from_json(doc: dict) -> wire.Mode:
    name = doc["mode"]
    if name == "SKIP":
        return wire.Skip()
    if name == "FINGERPRINT":
        return wire.Fingerprint(_from_int(doc["count"]), bytes.fromhex(doc["fingerprint"]))
    if name == "ID_LIST":
        return wire.IdList(tuple(bytes.fromhex(item_id) for item_id in doc["ids"]))
    if name == "WANT_SUMS":
        return wire.WantSums(doc["k"])
    if name == "SUMS":
        return wire.Sums(
            _from_int(doc["count"]),
            bytes.fromhex(doc["fingerprint"]),
            tuple(_from_int(v) for v in doc["sums"]),
            tuple(doc["strata"]),
        )
    if name == "SHORT_LIST":
        return wire.ShortList(tuple(bytes.fromhex(short) for short in doc["ids"]))
    if name == "WANT_LISTED":
        return wire.WantListed(doc["count"], bytes.fromhex(doc["bits"]))
    assert name == "ROOTS", name
    return wire.Roots(bytes.fromhex(doc["common"]), tuple(_from_int(c) for c in doc["coefficients"]))


def frame_to_json(frame: wire.Frame) -> dict:
    """A frame as a JSON object: ``type`` and its fields."""
    if isinstance(frame, wire.Hello):
        return {"type": "HELLO", "version": frame.version}
    if isinstance(frame, wire.Reconcile):
        return {
            "type": "RECONCILE",
            "idle": frame.idle,
            "entries": [{"upper": bound_to_json(e.upper), **mode_to_json(e.mode)} for e in frame.entries],
            "needs": [item_id.hex() for item_id in frame.needs],
        }
    if isinstance(frame, wire.Records):
        return {"type": "RECORDS", "records": [raw.hex() for raw in frame.raws]}
    if isinstance(frame, wire.Ack):
        return {"type": "ACK", "batches": _int(frame.batches)}
    if isinstance(frame, wire.End):
        return {"type": "END", "final": frame.final}
    if isinstance(frame, wire.WantAuthor):
        return {"type": "WANT_AUTHOR", "author": frame.author.hex()}
    assert isinstance(frame, wire.Abort)
    return {"type": "ABORT", "code": frame.code, "reason": frame.reason}


def frame_from_json(doc: dict) -> wire.Frame:
    """The frame :func:`frame_to_json` described."""
    kind = doc["type"]
    if kind == "HELLO":
        return wire.Hello(doc["version"])
    if kind == "RECONCILE":
        entries = tuple(wire.Entry(bound_from_json(e["upper"]), mode_from_json(e)) for e in doc["entries"])
        return wire.Reconcile(entries, tuple(bytes.fromhex(n) for n in doc["needs"]), doc["idle"])
    if kind == "RECORDS":
        return wire.Records(tuple(bytes.fromhex(raw) for raw in doc["records"]))
    if kind == "ACK":
        return wire.Ack(_from_int(doc["batches"]))
    if kind == "END":
        return wire.End(doc["final"])
    if kind == "WANT_AUTHOR":
        return wire.WantAuthor(bytes.fromhex(doc["author"]))
    assert kind == "ABORT", kind
    return wire.Abort(doc["code"], doc["reason"])


# --- test records ----------------------------------------------------------------------


def test_record(author: int, seq: int, lamport: int, label: str) -> bytes:
    """An opaque record for session vectors (see the module docstring)."""
    body = hashlib.sha256(label.encode()).digest()[:8]
    return author.to_bytes(4, "big") + seq.to_bytes(4, "big") + lamport.to_bytes(8, "big") + body


def test_records(count: int, authors: int = 7) -> list[bytes]:
    """``count`` records by ``authors`` chains, about three per Lamport counter."""
    seqs = [0] * authors
    out = []
    for number in range(count):
        author = (number * 5 + number // 3) % authors
        seqs[author] += 1
        out.append(test_record(author, seqs[author], number // 3 + 1, f"record {number}"))
    return out


def item_of(raw: bytes) -> tuple[int, bytes]:
    return int.from_bytes(raw[8:16], "big"), hashlib.sha256(raw).digest()


class TestReplica:
    """An item source over test records, as a session needs it."""

    __test__ = False  # not a pytest class

    def __init__(self, raws: Iterable[bytes]) -> None:
        self.raws = {item_of(raw)[1]: raw for raw in raws}

    def sync_items(self) -> list[tuple[int, bytes]]:
        return sorted(item_of(raw) for raw in self.raws.values())

    def raws_in_chain_order(self, ids: Iterable[bytes]) -> list[bytes]:
        found = [self.raws[item_id] for item_id in ids if item_id in self.raws]
        return sorted(found, key=lambda raw: raw[:8])

    def ingest(self, raws: list[bytes]) -> None:
        for raw in raws:
            self.raws[item_of(raw)[1]] = raw


# --- frames ----------------------------------------------------------------------------


def _ids(count: int, label: str) -> list[bytes]:
    return [hashlib.sha256(f"{label} {n}".encode()).digest() for n in range(count)]


def _sample_frames() -> list[tuple[str, wire.Frame]]:
    ids = _ids(4, "frame id")
    index = ItemIndex(sorted([(5, ids[0]), (5, ids[1]), (9, ids[2]), (2**40, ids[3])]))
    strata = index.strata(0, 4)
    entries = (
        wire.Entry(index.bound_before(1), wire.Fingerprint(1, index.fingerprint(0, 1))),
        wire.Entry(index.bound_before(2), wire.IdList((ids[1],))),
        wire.Entry(index.bound_before(3), wire.WantSums(3)),
        wire.Entry(wire.Bound(2**40, ids[3][:2].rstrip(b"\0") or b"\x01"), wire.Skip()),
        wire.Entry(wire.Bound(2**62 + 5), wire.Sums(4, index.fingerprint(0, 4), tuple(index.power_sums(0, 4, 3)), strata)),
        wire.Entry(wire.INF, wire.Roots(index.fingerprint(0, 2), (7, wire.SUMS_PRIME - 1))),
    )
    raws = test_records(3)
    return [
        ("hello", wire.Hello()),
        ("reconcile: an opening fingerprint, idle", wire.Reconcile((wire.Entry(wire.INF, index_fingerprint(index)),), (), True)),
        ("reconcile: an opening id list of one id", wire.Reconcile((wire.Entry(wire.INF, wire.IdList((ids[0],))),), (), True)),
        ("reconcile: a routine opening below a horizon", wire.Reconcile(
            (wire.Entry(wire.Bound(9), wire.Fingerprint(3, index.fingerprint(0, 3))), wire.Entry(wire.INF, wire.Skip())), (), True)),
        ("reconcile: every mode, bounds with and without prefixes, needs", wire.Reconcile(entries, (ids[2], ids[3]))),
        ("reconcile: sums without stratum counts", wire.Reconcile(
            (wire.Entry(wire.INF, wire.Sums(2, index.fingerprint(1, 3), tuple(index.power_sums(1, 3, 2)))),))),
        ("reconcile: an empty id list (send me everything)", wire.Reconcile((wire.Entry(wire.INF, wire.IdList(())),))),
        ("records: three", wire.Records(tuple(raws))),
        ("ack: 5 batches", wire.Ack(5)),
        ("ack: a large count", wire.Ack(2**60)),
        ("end", wire.End()),
        ("end: final", wire.End(final=True)),
        ("want author", wire.WantAuthor(bytes(range(32)))),
        ("abort: protocol violation", wire.Abort(wire.ABORT_PROTOCOL, "RECONCILE out of turn")),
        ("abort: no reason", wire.Abort(wire.ABORT_TIMEOUT)),
        ("abort: withdrawn, giving way to another session",
         wire.Abort(wire.ABORT_WITHDRAWN, "this node gives way to a session another member started with it")),
        ("reconcile: short lists and the bits answering one", wire.Reconcile((
            wire.Entry(index.bound_before(2), wire.ShortList(tuple(i[: wire.SHORT_ID_BYTES] for i in index.ids(0, 2)))),
            wire.Entry(index.bound_before(3), wire.WantListed.of(10, [0, 3, 9])),
            wire.Entry(wire.INF, wire.ShortList((index.ids(3, 4)[0][: wire.SHORT_ID_BYTES],))),
        ))),
    ]


def index_fingerprint(index: ItemIndex) -> wire.Fingerprint:
    return wire.Fingerprint(len(index), index.fingerprint(0, len(index)))


def _invalid_frames() -> list[tuple[str, bytes]]:
    """Frame encodings (length prefix included) a receiver must refuse."""

    def frame(body: bytes) -> bytes:
        return wire.encode_varint(len(body)) + body

    reconcile = wire.encode_body(wire.Reconcile((wire.Entry(wire.INF, wire.Skip()),)))
    sums = wire.encode_body(wire.Reconcile((wire.Entry(wire.INF, wire.Sums(16, bytes(16), (5,), (1,) * 16)),)))
    prefixed = wire.encode_body(wire.Reconcile((wire.Entry(wire.Bound(5, b"\x01"), wire.Skip()), wire.Entry(wire.INF, wire.Skip()))))
    return [
        ("zero length", b"\x00"),
        ("length over MAX_FRAME_BYTES", wire.encode_varint(wire.MAX_FRAME_BYTES + 1) + b"\x01"),
        ("length varint not shortest", b"\x82\x00\x01\x02"),
        ("unknown frame type", frame(b"\x08")),
        ("hello: trailing byte", frame(b"\x01\x02\x00")),
        ("hello: version varint not shortest", frame(b"\x01\x82\x00")),
        ("reconcile: flag bit 1 set", frame(b"\x02\x02" + reconcile[2:])),
        ("reconcile: no entries", frame(b"\x02\x00\x00\x00")),
        ("reconcile: last entry not INF", frame(b"\x02\x00\x01\x06\x00\x00\x00")),
        ("reconcile: INF before the last entry", frame(b"\x02\x00\x02\x00\x00\x00\x00\x00")),
        ("reconcile: bounds not increasing", frame(b"\x02\x00\x03\x06\x00\x00\x01\x00\x00\x00\x00\x00")),
        ("reconcile: prefix longer than 32", frame(b"\x02\x00\x02\x06\x21" + bytes(33) + b"\x00\x00\x00\x00")),
        ("reconcile: prefix ends with a zero byte", frame(prefixed.replace(b"\x01\x01\x00", b"\x02\x01\x00\x00", 1))),
        ("reconcile: unknown mode", frame(b"\x02\x00\x01\x00\x08\x00")),
        ("reconcile: id list over MAX_LIST_IDS", frame(b"\x02\x00\x01\x00\x02" + wire.encode_varint(wire.MAX_LIST_IDS + 1))),
        ("reconcile: want 0 sums", frame(b"\x02\x00\x01\x00\x03\x00\x00")),
        ("reconcile: want 65 sums", frame(b"\x02\x00\x01\x00\x03\x41\x00")),
        ("reconcile: a sum not below P", frame(sums[:-27] + (2**64 - 1).to_bytes(8, "big") + sums[-18:])),
        ("reconcile: 3 stratum counts", frame(sums[:-18] + b"\x03" + sums[-17:])),
        ("reconcile: stratum counts not adding up to the count", frame(sums[:-2] + b"\x02\x00")),
        ("reconcile: trailing byte after the needs", frame(reconcile + b"\x00")),
        ("records: over MAX_BATCH_RECORDS", frame(b"\x03" + wire.encode_varint(wire.MAX_BATCH_RECORDS + 1))),
        ("records: an empty record", frame(b"\x03\x01\x00")),
        ("records: a record over MAX_RECORD_BYTES", frame(b"\x03\x01" + wire.encode_varint(32 * 1024 + 1))),
        ("records: truncated", frame(b"\x03\x01\x05abc")),
        ("end: flag bit 1 set", frame(b"\x05\x02")),
        ("want author: 31 bytes", frame(b"\x06" + bytes(31))),
        ("abort: reason over 200 bytes", frame(b"\x07\x02" + wire.encode_varint(201) + b"x" * 201)),
        ("abort: reason not UTF-8", frame(b"\x07\x02\x01\xff")),
        ("varint of 11 bytes", frame(b"\x04" + b"\x80" * 10 + b"\x01")),
        ("varint of 2^64", frame(b"\x04" + b"\x80" * 9 + b"\x02")),
        ("reconcile: a short list of no ids", frame(b"\x02\x00\x01\x00\x06\x00")),
        ("reconcile: a short list over MAX_SHORT_IDS",
         frame(b"\x02\x00\x01\x00\x06" + wire.encode_varint(wire.MAX_SHORT_IDS + 1))),
        ("reconcile: a short list cut short", frame(b"\x02\x00\x01\x00\x06\x02" + bytes(20))),
        ("reconcile: bits of no listed items", frame(b"\x02\x00\x01\x00\x07\x00\x00")),
        ("reconcile: a bit set past the listed items", frame(b"\x02\x00\x01\x00\x07\x03\x09\x00")),
    ]


def _refusal(encoded: bytes) -> errors.DecodeError:
    try:
        for body in wire.FrameReader().feed(encoded):
            wire.decode_frame(body)
    except errors.DecodeError as error:
        return error
    raise AssertionError(f"{encoded.hex()} decoded")


def build_frames() -> dict:
    return {
        "about": "Frames of SYNC.md section 4: a description and the encoding (length prefix included).",
        "frames": [
            {"name": name, "frame": frame_to_json(frame), "encoded": wire.encode_frame(frame).hex()}
            for name, frame in _sample_frames()
        ],
        "invalid": [
            {"name": name, "encoded": encoded.hex(), "error": type(_refusal(encoded)).__name__}
            for name, encoded in _invalid_frames()
        ],
    }


# --- ranges ----------------------------------------------------------------------------


def _range_doc(name: str, items: Sequence[tuple[int, bytes]]) -> dict:
    index = ItemIndex(sorted(items))
    count = len(index)
    return {
        "name": name,
        "items": [{"lamport": _int(lamport), "id": item_id.hex()} for lamport, item_id in index.keys[:count]],
        "count": count,
        "fingerprint": index.fingerprint(0, count).hex(),
        "sum_values": [_int(value) for value in index.values(0, count)],
        "power_sums": [_int(value) for value in index.power_sums(0, count, RANGE_SUMS)],
        "strata": list(index.strata(0, count)),
        "bounds": [bound_to_json(index.bound_before(p)) for p in range(1, count)],
    }


def _solve_doc(name: str, mine: list[tuple[int, bytes]], theirs: list[tuple[int, bytes]], k: int) -> dict:
    a, b = ItemIndex(sorted(mine)), ItemIndex(sorted(theirs))
    sums_a, sums_b = a.power_sums(0, len(a), k), b.power_sums(0, len(b), k)
    solved = difference_polynomials(sums_a, sums_b, len(a) - len(b))
    doc: dict[str, Any] = {
        "name": name,
        "mine": [item_id.hex() for _lamport, item_id in a.keys[: len(a)]],
        "theirs": [item_id.hex() for _lamport, item_id in b.keys[: len(b)]],
        "k": k,
        "my_sums": [_int(v) for v in sums_a],
        "their_sums": [_int(v) for v in sums_b],
    }
    if solved is None:
        doc["solved"] = None
        return doc
    numerator, denominator = solved
    mine_only = [a.keys[p][1].hex() for p in roots_among(numerator, a.values(0, len(a)))]
    theirs_only = [b.keys[p][1].hex() for p in roots_among(denominator, b.values(0, len(b)))]
    common = set(a.ids(0, len(a))) - {bytes.fromhex(i) for i in mine_only}
    doc["solved"] = {
        "mine_polynomial": [_int(c) for c in numerator],
        "their_polynomial": [_int(c) for c in denominator],
        "mine_only": sorted(mine_only),
        "theirs_only": sorted(theirs_only),
        "common_fingerprint": fingerprint_of(sum(int.from_bytes(i, "little") for i in common), len(common)).hex(),
    }
    return doc


def build_ranges() -> dict:
    three = [hashlib.sha256(bytes([n])).digest() for n in range(3)]
    fifty = [item_of(raw) for raw in test_records(50)]
    shared = fifty[:40]
    return {
        "about": (
            "SYNC.md section 3: fingerprints, sum values, power sums p_1..p_4, stratum counts and the shortest "
            "bound before each item after the first; solves: both sides' sums and what solving them gives "
            "(polynomials highest degree first, leading 1; the peer's is what ROOTS carries without its 1)."
        ),
        "sets": [
            _range_doc("empty", []),
            _range_doc("three ids SHA-256(00), SHA-256(01), SHA-256(02) at lamports 5, 5, 7",
                       [(5, three[0]), (5, three[1]), (7, three[2])]),
            _range_doc("fifty test records", fifty),
        ],
        "solves": [
            _solve_doc("one extra on my side, k = 2", shared + fifty[40:41], shared, 2),
            _solve_doc("one extra on each side, k = 2", shared + fifty[40:41], shared + fifty[41:42], 2),
            _solve_doc("three mine, two theirs, k = 6", shared + fifty[40:43], shared + fifty[43:45], 6),
            _solve_doc("too many differences for k = 3", shared + fifty[40:44], shared + fifty[44:48], 3),
        ],
    }


# --- sessions --------------------------------------------------------------------------


def _transcript(name: str, raws: list[bytes], initiator: set[int], responder: set[int]) -> dict:
    a = TestReplica(raws[i] for i in sorted(initiator))
    b = TestReplica(raws[i] for i in sorted(responder))
    sessions = (SyncSession.initiator(a, now=0), SyncSession.responder(b, now=0))
    flights = []
    side = quiet = 0
    while not all(s.finished for s in sessions) and quiet < 2:
        data = sessions[side].data_to_send()
        if data:
            quiet = 0
            frames = [wire.decode_frame(body) for body in wire.FrameReader().feed(data)]
            flights.append({
                "from": ("initiator", "responder")[side],
                "frames": [{"frame": frame_to_json(f), "encoded": wire.encode_frame(f).hex()} for f in frames],
            })
            sessions[1 - side].receive_data(data, now=0)
        else:
            quiet += 1
        for session, replica in zip(sessions, (a, b)):
            for event in session.events():
                if isinstance(event, RecordsReceived):
                    replica.ingest(event.raws)
                assert not isinstance(event, Failed), event
        side = 1 - side
    assert all(s.finished for s in sessions)
    return {
        "name": name,
        "initiator_holds": sorted(initiator),
        "responder_holds": sorted(responder),
        "flights": flights,
        "initiator_ends_with": len(a.raws),
        "responder_ends_with": len(b.raws),
    }


def build_sessions() -> dict:
    small = test_records(300)
    every = set(range(300))
    large = test_records(2_100, authors=40)  # at least ESTIMATE_FROM (2,048) items
    everything = set(range(2_100))
    spread = [(n * 7919) % 2_100 for n in range(120)]  # 120 distinct positions
    newest = [1_700 + (n * 123) % 400 for n in range(240)]  # 240 distinct positions among the newest 400
    return {
        "about": (
            "Whole sessions in lockstep (a flight is everything one side had to say), answered by SYNC.md "
            "section 6. records: the test records (module docstring of protocol/sync_vectors.py); each side "
            "holds the records at the listed positions."
        ),
        "records_small": [raw.hex() for raw in small],
        "records_large": [raw.hex() for raw in large],
        "sessions": [
            {"records": "records_small", **_transcript("equal sets", small, every, every)},
            {"records": "records_small", **_transcript(
                "three missing at the responder", small, every, every - {17, 150, 299})},
            {"records": "records_small", **_transcript(
                "two-sided: two missing at the initiator, three at the responder", small,
                every - {3, 201}, every - {40, 41, 260})},
            {"records": "records_small", **_transcript(
                "one-sided beyond 16 sums: 40 missing at the initiator", small, every - set(range(100, 140)), every)},
            {"records": "records_large", **_transcript(
                "one missing on each side of 2,100 (an opening with stratum counts)", large,
                everything - {5}, everything - {1_500})},
            {"records": "records_large", **_transcript(
                "two-sided, 120 differing in 2,100 (a fine split)", large,
                everything - set(spread[:60]), everything - set(spread[60:]))},
            {"records": "records_large", **_transcript(
                "two-sided, 240 among the newest 400 of 2,100 (parts retried with the peer's sums, one listed, "
                "needs and records in one flight)", large,
                everything - set(newest[:120]), everything - set(newest[120:]))},
            {"records": "records_large", **_transcript(
                "two-sided, 1,200: each side lacks 600 of the newest 1,200 of 2,100 (short lists)", large,
                everything - set(range(900, 2_100, 2)), everything - set(range(901, 2_100, 2)))},
        ],
    }


def documents() -> dict[str, Any]:
    """File name -> JSON document of the sync vectors."""
    return {
        "sync_frames.json": build_frames(),
        "sync_ranges.json": build_ranges(),
        "sync_sessions.json": build_sessions(),
    }
