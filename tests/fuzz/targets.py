"""The two fuzz targets: the record decoder and the sync-frame decoder.

Each target takes any bytes and either decodes them or raises the decoder's
typed error (:class:`protocol.errors.DecodeError`, and for a record whose
bytes decode, :class:`protocol.errors.BadSignature`); anything else (an
IndexError, a RecursionError, a MemoryError, a failed round trip) is a bug
the fuzzer reports. What decodes must also survive a round trip:

* a record's ``raw`` is the input itself (records are stored and forwarded as
  received, so a decoder that accepted two encodings of one record would let
  a peer fork the bytes of someone else's record);
* a frame encodes back to the exact body it was read from (one frame, one
  encoding), and a byte stream cut into frames by
  :class:`protocol.sync.FrameReader` yields bodies that each meet the same rule.

Used by the coverage-guided fuzzer (:mod:`tests.fuzz.run`, ``make soak``) and
by the default suite, which replays the committed corpus through both
(:mod:`tests.fuzz.test_corpus`).
"""

from __future__ import annotations

from protocol import decode_record, verify_record
from protocol.errors import BadSignature, DecodeError
from protocol.sync import FrameReader, decode_frame, encode_body

TARGETS = ("record", "frame")


def record_target(data: bytes) -> str:
    """Decode ``data`` as a record and check its signature. Returns the
    outcome's name (``ok`` or the typed error's class name)."""
    try:
        record = decode_record(data)
    except DecodeError as error:
        return type(error).__name__
    assert record.raw == data, "a decoded record keeps the exact bytes it came from"
    try:
        verify_record(record)
    except BadSignature:
        return "BadSignature"
    return "ok"


def frame_target(data: bytes) -> str:
    """Decode ``data`` as one frame body, then as a stream of frames. Returns
    the outcome of the first (``ok`` or the typed error's class name)."""
    outcome = _one_frame(data)
    reader = FrameReader()
    try:
        bodies = reader.feed(data)
    except DecodeError:
        return outcome
    for body in bodies:
        _one_frame(body)
    return outcome


def _one_frame(body: bytes) -> str:
    try:
        frame = decode_frame(body)
    except DecodeError as error:
        return type(error).__name__
    assert encode_body(frame) == body, f"{type(frame).__name__} does not encode back to its bytes"
    return "ok"


def target(name: str):
    """The target called ``name`` (one of :data:`TARGETS`)."""
    return {"record": record_target, "frame": frame_target}[name]
